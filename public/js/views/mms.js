// Address spaces: each mm, its VMAs along the address space, a page grid per VMA (pte state,
// young/dirty, and which secondary MMU maps each page), and its notifiers with their counters.
// A modern world's mm (one with `intervals`) also shows its interval side and OOM flags, and
// its notifiers how they subscribed: an interval's range and seq beside the mm's, a get's users.

import { h, replace, plural } from '../dom.js';
import { parseAddr, hex, size, PAGE } from '../api.js';
import { setWindow, vmaPages, insideVMA, WINDOW_PAGES } from '../state.js';

/** The colour slot of a notifier within its mm (1-4), so marks and table rows match. */
function slot(mm, id) {
  return (mm.notifierList.findIndex((n) => n.id === id) % 4) + 1;
}

/** The pte's state in one word: none, ro, rw, swap or migration. */
function pteState(pte) {
  if (!pte) return 'none';
  if (pte.state === 'present') return pte.write ? 'rw' : 'ro';
  return pte.state;
}

const PTE_WORDS = {
  none: 'no pte',
  ro: 'present, read-only',
  rw: 'present, writable',
  swap: 'swapped out',
  migration: 'migration entry',
};

function protText(prot) {
  const p = prot === 'none' ? '' : prot;
  return ['r', 'w', 'x'].map((c) => (p.includes(c) ? c : '-')).join('');
}

/** The VMAs as blocks along the address space; the gaps between them are drawn short. */
function addressBar(mm) {
  const vmas = mm.vmas ?? [];
  if (!vmas.length) return h('p', { class: 'muted', text: 'No VMA.' });
  const total = vmas.reduce((sum, v) => sum + Number(parseAddr(v.end) - parseAddr(v.start)), 0);
  const parts = [];
  vmas.forEach((vma, i) => {
    if (i > 0) {
      const gap = parseAddr(vma.start) - parseAddr(vmas[i - 1].end);
      if (gap > 0n) parts.push(h('span', { class: 'gap', title: `gap of ${size(gap)}`, 'aria-hidden': 'true' }));
    }
    const bytes = Number(parseAddr(vma.end) - parseAddr(vma.start));
    const share = Math.max(4, Math.round((bytes / total) * 100));
    const kind = vma.file ? `file ${vma.file}` : 'anon';
    parts.push(
      h(
        'span',
        {
          class: `vma-block prot-${vma.prot === 'none' ? 'none' : vma.prot.includes('w') ? 'w' : 'r'}`,
          style: `flex-grow:${share}`,
          title: `${vma.start}–${vma.end} ${protText(vma.prot)} ${vma.flags.join(' ')} ${kind} (${size(bytes)})`,
          dataset: { vmaStart: vma.start, vmaEnd: vma.end },
        },
        h('span', { class: 'vma-label', text: `${protText(vma.prot)} ${size(bytes)}` }),
      ),
    );
  });
  return h(
    'div',
    { class: 'address-bar', role: 'img', 'aria-label': `${plural(vmas.length, 'VMA')} along the address space` },
    h('span', { class: 'addr-end', text: vmas[0].start }),
    h('div', { class: 'blocks' }, parts),
    h('span', { class: 'addr-end', text: vmas[vmas.length - 1].end }),
  );
}

/** Indexes every secondary entry by address: address → [{notifier, kind: spte|tlb, entry}]. */
function secondaryIndex(mm) {
  const index = new Map();
  for (const n of mm.notifierList) {
    for (const [list, what] of [
      [n.spteList, 'spte'],
      [n.tlbList, 'tlb'],
    ]) {
      for (const entry of list) {
        const key = parseAddr(entry.address).toString();
        if (!index.has(key)) index.set(key, []);
        index.get(key).push({ notifier: n.id, what, entry });
      }
    }
  }
  return index;
}

function pageCell(mm, address, pte, marks) {
  const state = pteState(pte);
  const spte = marks.filter((m) => m.what === 'spte');
  const tlb = marks.filter((m) => m.what === 'tlb');
  const stale = marks.filter((m) => m.entry.valid === false);
  const words = [hex(address), PTE_WORDS[state]];
  if (pte?.pfn !== undefined) words.push(`pfn ${pte.pfn}`);
  if (pte?.slot !== undefined) words.push(`swap slot ${pte.slot}`);
  if (pte?.young) words.push('young');
  if (pte?.dirty) words.push('dirty');
  if (pte?.huge) words.push('in a huge page');
  for (const m of marks) {
    const flags = [m.entry.writable ? 'writable' : 'read-only', m.entry.dirty ? 'dirty' : null, m.entry.valid === false ? 'STALE: frame freed' : null];
    words.push(`notifier ${m.notifier} ${m.what} → pfn ${m.entry.pfn} (${flags.filter(Boolean).join(', ')})`);
  }
  return h(
    'li',
    {
      class: `page pte-${state}${stale.length ? ' stale' : ''}`,
      title: words.join('\n'),
      'aria-label': words.join(', '),
      tabindex: '-1',
      dataset: {
        focusKey: `page-${mm.id}-${hex(address)}`,
        addr: hex(address),
        pte: state,
        pfn: pte?.pfn ?? '',
        young: String(Boolean(pte?.young)),
        dirty: String(Boolean(pte?.dirty)),
        spte: spte.map((m) => m.notifier).join(' '),
        tlb: tlb.map((m) => m.notifier).join(' '),
        stale: stale.map((m) => m.notifier).join(' '),
      },
    },
    h('span', { class: 'pte', 'aria-hidden': 'true' }, pte?.young ? h('i', { class: 'young' }) : null, pte?.dirty ? h('i', { class: 'dirty' }) : null),
    h(
      'span',
      { class: 'sec', 'aria-hidden': 'true' },
      marks.map((m) =>
        h('i', {
          class: `mark ${m.what} n${slot(mm, m.notifier)}${m.entry.writable ? ' w' : ''}${m.entry.valid === false ? ' bad' : ''}`,
        }),
      ),
    ),
  );
}

function vmaSection(mm, vma, index) {
  const pages = vmaPages(vma);
  const first = vma.windowFirst ?? 0;
  const shown = vma.windowPages ?? 0;
  const start = parseAddr(vma.start);
  // A huge pte maps 512 pages: each is drawn with its own frame (the head's pfn + i).
  const byAddr = new Map(
    vma.ptes.flatMap((p) =>
      p.huge
        ? Array.from({ length: 512 }, (_, i) => [(parseAddr(p.address) + BigInt(i * PAGE)).toString(), { ...p, pfn: p.pfn + i }])
        : [[parseAddr(p.address).toString(), p]],
    ),
  );
  const cells = [];
  let populated = 0;
  let mapped = 0;
  for (let i = 0; i < shown; i++) {
    const address = start + BigInt((first + i) * PAGE);
    const key = address.toString();
    const pte = byAddr.get(key);
    const marks = index.get(key) ?? [];
    if (pte) populated++;
    if (marks.length) mapped++;
    cells.push(pageCell(mm, address, pte, marks));
  }
  const kind = vma.file ? `file “${vma.file}” at pgoff ${vma.pgoff}` : 'anonymous';
  const nav =
    pages > WINDOW_PAGES
      ? h(
          'div',
          { class: 'window-nav' },
          h('button', {
            type: 'button',
            text: '◀ earlier',
            disabled: first === 0,
            dataset: { focusKey: `prev-${mm.id}-${vma.start}` },
            on: { click: () => setWindow(mm.id, vma, first - WINDOW_PAGES) },
          }),
          h('span', { text: ` pages ${first}–${first + shown - 1} of ${pages} ` }),
          h('button', {
            type: 'button',
            text: 'later ▶',
            disabled: first + shown >= pages,
            dataset: { focusKey: `next-${mm.id}-${vma.start}` },
            on: { click: () => setWindow(mm.id, vma, first + WINDOW_PAGES) },
          }),
        )
      : null;
  return h(
    'section',
    { class: 'vma', dataset: { vmaStart: vma.start, vmaEnd: vma.end, prot: vma.prot, flags: vma.flags.join(' ') } },
    h(
      'h4',
      {},
      h('code', { text: `${vma.start}–${vma.end}` }),
      ` ${protText(vma.prot)} ${vma.flags.join(' ')} · ${kind} · ${plural(pages, 'page')}`,
    ),
    h('p', { class: 'vma-summary', text: `Shown: ${plural(shown, 'page')}, ${populated} with a pte, ${mapped} mapped by a secondary MMU.` }),
    nav,
    h('ol', { class: 'pages', 'aria-label': `pages of the VMA at ${vma.start}` }, cells),
  );
}

/**
 * Pages outside every VMA that still have a pte (a munmap paused between detaching its VMAs
 * and zapping them) or that a secondary MMU still maps (a stale spte after the VMA went).
 */
function outsideSection(mm, index) {
  const ptes = new Map((mm.outsidePtes ?? []).map((p) => [parseAddr(p.address).toString(), p]));
  const keys = new Set(ptes.keys());
  for (const [key, marks] of index) if (marks.length && !insideVMA(mm, BigInt(key))) keys.add(key);
  if (!keys.size) return null;
  const sorted = [...keys].map(BigInt).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const shown = sorted.slice(0, WINDOW_PAGES);
  return h(
    'section',
    { class: 'vma outside', dataset: { outside: String(sorted.length) } },
    h('h4', {}, `Outside any VMA · ${plural(sorted.length, 'page')}`),
    h('p', { class: 'vma-summary', text: 'Ptes of VMAs already detached by an unmap in flight, or secondary mappings whose VMA is gone.' }),
    h(
      'ol',
      { class: 'pages', 'aria-label': 'pages outside any VMA' },
      shown.map((address) => pageCell(mm, address, ptes.get(address.toString()), index.get(address.toString()) ?? [])),
    ),
  );
}

/** The ids of a list as "#1 #4", or a dash. */
function idList(ids) {
  return ids.length ? ids.map((id) => `#${id}`).join(' ') : '—';
}

/** Whether an interval seq is odd: an invalidation round is on. */
const odd = (seq) => seq % 2 === 1;

/**
 * Modern: the mm's interval side (struct mmu_notifier_subscriptions): its invalidate_seq, odd
 * while a round that hit a subscription is on; the active ranges; the subscriptions in the
 * tree and those deferred until the round ends; and the OOM reaper's MMF_UNSTABLE/MMF_OOM_SKIP.
 */
function intervalsLine(mm) {
  const iv = mm.intervals;
  if (!iv) return null;
  const flag = (name, on, meaning) => h('span', { class: `flag${on ? ' on' : ''}`, title: meaning, text: `${name} ${on ? 'set' : 'clear'}` });
  return h(
    'p',
    {
      class: 'intervals',
      dataset: {
        hasItree: String(iv.has_itree),
        invalidateSeq: iv.invalidate_seq,
        activeRanges: iv.active_invalidate_ranges,
        itree: iv.itree.join(' '),
        deferred: iv.deferred.join(' '),
        unstable: String(mm.unstable),
        oomSkip: String(mm.oom_skip),
      },
    },
    h('span', { class: `seq-badge${odd(iv.invalidate_seq) ? ' odd' : ''}`, text: `interval seq ${iv.invalidate_seq}` }),
    odd(iv.invalidate_seq) ? ' odd: an invalidation round is on' : ' even: no round on',
    ` · ${plural(iv.active_invalidate_ranges, 'active range')} · tree ${iv.has_itree ? idList(iv.itree) : 'none yet'} · deferred ${idList(iv.deferred)} `,
    flag('unstable', mm.unstable, 'MMF_UNSTABLE: the OOM reaper has started; a fault needing a page gets -EFAULT'),
    ' ',
    flag('oom_skip', mm.oom_skip, 'MMF_OOM_SKIP: the OOM reaper (or exit_mmap) is done with the mm'),
  );
}

/**
 * Modern: how a notifier subscribed. An interval shows its range and its seq beside the mm's:
 * equal and odd while a round is on that reached it (set_seq copied the mm's, or it was inserted
 * during the round): read_begin waits for the round's end, and a read begun before fails
 * read_retry. A get subscription shows its users.
 */
function subscriptionCell(mm, n) {
  if (n.subscribe === 'interval' && n.interval) {
    const { start, end, invalidate_seq: seq } = n.interval;
    const mmSeq = mm.intervals.invalidate_seq;
    const invalidating = odd(mmSeq) && seq === mmSeq;
    return h(
      'td',
      { class: 'subscription' },
      'interval ',
      h('code', { text: `${start}–${end}` }),
      h('br'),
      `seq ${seq} · mm seq ${mmSeq} `,
      h('span', { class: `seq-state${invalidating ? ' odd' : ''}`, text: invalidating ? 'in a round: read_begin waits' : 'stable' }),
    );
  }
  if (n.subscribe === 'get') return h('td', { class: 'subscription', text: `get · ${plural(n.users ?? 0, 'user')}` });
  return h('td', { class: 'subscription', text: n.subscribe ?? '—' });
}

/** Modern: a notifier's subscription as data attributes ({} in a v17 world). */
function subscriptionData(mm, n) {
  if (n.subscribe === undefined) return {};
  const data = { subscribe: n.subscribe };
  if (n.counters.invalidate !== undefined) data.invalidate = n.counters.invalidate;
  if (n.users !== undefined) data.users = n.users;
  if (n.interval) {
    Object.assign(data, { intervalStart: n.interval.start, intervalEnd: n.interval.end, intervalSeq: n.interval.invalidate_seq, mmSeq: mm.intervals.invalidate_seq });
  }
  return data;
}

/** A driver variable's column: in a modern world a driver without that variable shows a dash. */
function driverVar(n, key) {
  return n.subscribe !== undefined && n.vars && !(key in n.vars) ? '—' : n[key];
}

function notifierTable(mm) {
  if (!mm.notifierList.length) return h('p', { class: 'muted', text: 'No secondary MMU attached.' });
  const modern = Boolean(mm.intervals);
  const rows = mm.notifierList.map((n) =>
    h(
      'tr',
      {
        dataset: {
          notifier: n.id,
          kind: n.kind,
          state: n.state,
          seq: n.seq,
          count: n.count,
          sptes: n.sptes,
          tlbEntries: n.tlb_entries,
          invalidateRangeStart: n.counters.invalidate_range_start,
          invalidateRangeEnd: n.counters.invalidate_range_end,
          invalidatePage: n.counters.invalidate_page,
          ...subscriptionData(mm, n),
        },
      },
      h('th', { scope: 'row' }, h('span', { class: `swatch n${slot(mm, n.id)}`, 'aria-hidden': 'true' }), ` #${n.id} ${n.kind}`),
      h('td', {}, h('span', { class: `state state-${n.state}`, text: n.state }), n.frozen ? ' frozen' : '', n.freed ? ' freed' : ''),
      modern ? subscriptionCell(mm, n) : null,
      h('td', { class: 'bugs', text: n.bugs.length ? n.bugs.join(', ') : '—' }),
      h('td', { class: 'num', text: driverVar(n, 'seq') }),
      h('td', { class: 'num', text: driverVar(n, 'count') }),
      h('td', { class: 'num', text: `${n.sptes} / ${n.tlb_entries}${n.tooMany ? ' (too many to draw)' : ''}` }),
      h('td', { class: 'num', text: n.counters.release }),
      h('td', { class: 'num', text: n.counters.clear_flush_young }),
      h('td', { class: 'num', text: n.counters.invalidate_page }),
      h('td', { class: 'num', text: `${n.counters.invalidate_range_start} / ${n.counters.invalidate_range_end}` }),
      modern ? h('td', { class: 'num', text: n.counters.invalidate ?? '—' }) : null,
      h('td', { class: 'num', text: `${n.counters.faults} / ${n.counters.retries}` }),
    ),
  );
  const columns = modern
    ? ['notifier', 'state', 'subscription', 'bugs', 'driver seq', 'driver count', 'sptes / tlb', 'release', 'clear_flush_young', 'invalidate_page', 'range start / end', 'invalidate', 'faults / retries']
    : ['notifier', 'state', 'bugs', 'seq', 'count', 'sptes / tlb', 'release', 'clear_flush_young', 'invalidate_page', 'range start / end', 'faults / retries'];
  return h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      { class: 'notifiers' },
      h('caption', { text: `Notifiers of mm ${mm.id} (newest is called first)` }),
      h(
        'thead',
        {},
        h('tr', {}, columns.map((t) => h('th', { scope: 'col', text: t }))),
      ),
      h('tbody', {}, rows),
    ),
  );
}

function mmCard(mm) {
  const index = secondaryIndex(mm);
  const title = mm.name ? `mm ${mm.id} “${mm.name}”` : `mm ${mm.id}`;
  return h(
    'article',
    { class: 'mm', dataset: { mm: mm.id, state: mm.state, rss: mm.rss }, 'aria-labelledby': `mm-title-${mm.id}` },
    h(
      'h3',
      { id: `mm-title-${mm.id}` },
      title,
      ' ',
      h('span', { class: `state state-${mm.state}`, text: mm.state }),
      h('span', { class: 'facts', text: ` users ${mm.users} · count ${mm.count} · rss ${mm.rss} · notifiers ${mm.has_notifiers ? 'yes' : 'none'}` }),
    ),
    intervalsLine(mm),
    addressBar(mm),
    (mm.vmas ?? []).map((vma) => vmaSection(mm, vma, index)),
    outsideSection(mm, index),
    h('p', {
      class: 'detail page-detail',
      'aria-live': 'polite',
      text: details.get(String(mm.id)) ?? 'Hover a page, or focus a grid and use the arrow keys: its pte and secondary mappings show here.',
    }),
    notifierTable(mm),
  );
}

/**
 * Keyboard use of a page grid: the grid is one tab stop; arrow keys, Home and End move
 * between pages, and the focused page's description shows in the mm's detail line.
 */
function gridKeys(event) {
  const cells = [...event.currentTarget.querySelectorAll('li.page')];
  const at = cells.indexOf(document.activeElement);
  if (at < 0) return;
  const columns = Math.max(1, cells.filter((c) => c.offsetTop === cells[0].offsetTop).length);
  const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns, Home: -at, End: cells.length - 1 - at };
  if (!(event.key in moves)) return;
  event.preventDefault();
  const next = cells[Math.max(0, Math.min(cells.length - 1, at + moves[event.key]))];
  for (const c of cells) c.tabIndex = c === next ? 0 : -1;
  next.focus();
}

/** The last page description shown per mm, kept across redraws. */
const details = new Map();

function showPage(event) {
  const cell = event.target.closest?.('li.page');
  const article = event.currentTarget.closest('article');
  const detail = article?.querySelector('.page-detail');
  if (!cell || !detail) return;
  detail.textContent = cell.getAttribute('aria-label');
  details.set(article.dataset.mm, detail.textContent);
}

/** Makes each grid one tab stop (its first page, or the page focused before a redraw). */
function wireGrids(container) {
  for (const grid of container.querySelectorAll('ol.pages')) {
    const cells = grid.querySelectorAll('li.page');
    if (cells.length && ![...cells].some((c) => c === document.activeElement)) cells[0].tabIndex = 0;
    else for (const c of cells) c.tabIndex = c === document.activeElement ? 0 : -1;
    grid.addEventListener('keydown', gridKeys);
    grid.addEventListener('focusin', showPage);
    grid.addEventListener('mouseover', showPage);
  }
}

/** Draws every mm into `container`. */
export function renderMMs(container, state) {
  if (!state.mms.length) {
    replace(container, h('p', { class: 'muted', text: 'No mm yet: create one with the “Create an mm” form, or start the guided tour.' }));
    return;
  }
  replace(container, state.mms.map(mmCard));
  wireGrids(container);
}
