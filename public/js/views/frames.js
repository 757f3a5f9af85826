// Physical frames in use (GET /frames): refcount, mapcount, pinned, kind, dirty.

import { h, replace } from '../dom.js';

/** At most this many frames are listed; the summary counts them all. */
const SHOWN = 300;

export function renderFrames(container, state) {
  const { total, free, frames } = state.frames;
  const used = total - free;
  const pinned = frames.filter((f) => f.pinned).length;
  const summary = h(
    'p',
    { class: 'frames-summary', dataset: { total, free, used } },
    h('strong', { text: `${used}` }),
    ` of ${total} frames in use, ${free} free` + (pinned ? ` · ${pinned} pinned by a secondary MMU` : ''),
    h('span', { class: 'bar', 'aria-hidden': 'true' }, h('span', { style: `width:${total ? Math.max(0.5, (used / total) * 100) : 0}%` })),
  );
  if (!frames.length) {
    replace(container, summary);
    return;
  }
  const rows = frames.slice(0, SHOWN).map((f) =>
    h(
      'tr',
      {
        class: f.pinned ? 'pinned' : '',
        dataset: { pfn: f.pfn, refcount: f.refcount, mapcount: f.mapcount, pinned: String(f.pinned), kind: f.kind },
      },
      h('th', { scope: 'row', class: 'num', text: f.pfn }),
      h('td', { text: f.kind + (f.file ? ` ${f.file}` : '') }),
      h('td', { class: 'num', text: f.refcount }),
      h('td', { class: 'num', text: f.mapcount }),
      h('td', { text: f.pinned ? 'pinned' : '' }),
      h('td', { text: [f.dirty ? 'dirty' : '', f.referenced ? 'referenced' : ''].filter(Boolean).join(' ') }),
      h('td', { class: 'num', text: f.content }),
      h('td', { class: 'num', text: f.swap_slot ?? '' }),
    ),
  );
  replace(
    container,
    summary,
    h(
      'div',
      { class: 'table-scroll frames-scroll', tabindex: '0', 'aria-label': 'frames in use' },
      h(
        'table',
        { class: 'frames' },
        h('caption', { class: 'visually-hidden', text: 'Frames in use' }),
        h('thead', {}, h('tr', {}, ['pfn', 'kind', 'refcount', 'mapcount', 'pin', 'flags', 'content', 'swap slot'].map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', {}, rows),
      ),
    ),
    frames.length > SHOWN ? h('p', { class: 'muted', text: `Showing the first ${SHOWN} of ${frames.length}.` }) : null,
  );
}
