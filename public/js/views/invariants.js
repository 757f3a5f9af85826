// The invariant panel: green while every invariant holds; otherwise each violation with the
// checker's message, what the invariant promises, and a link to the trace event (seq).

import { h, replace } from '../dom.js';

/** What each invariant promises (DESIGN.md, "Invariants"). */
export const INVARIANTS = {
  'no-stale-spte': 'No spte or TLB entry names a freed (or reused) frame unless the secondary MMU pins it; with no operation in flight, every spte names the frame its pte maps.',
  'no-spte-in-invalidate-window': 'No spte is installed for an address inside an active invalidate_range_start/end window.',
  'no-stale-write': 'With no operation in flight, a writable spte implies a writable pte.',
  'balanced-ranges': 'Every invalidate_range_start has its invalidate_range_end, on the same task.',
  'release-before-free': 'Every listed notifier gets ->release before exit_mmap frees a page; no callback runs after unregister returns.',
  'no-sleep-in-atomic': 'No callback sleeps under rcu_read_lock or a spinlock.',
  'data-integrity': 'Page content survives swap, migration, COW and writeback; a dirty spte reaches set_page_dirty before its frame goes.',
  'notifier-use-after-free': 'No RCU reader touches a freed notifier.',
};

/** At most this many violations are drawn. */
const SHOWN = 50;

/** Draws the verdict; `goToEvent(seq)` shows a trace event. */
export function renderInvariants(container, state, goToEvent) {
  const { ok, violations } = state.invariants;
  container.dataset.ok = String(ok);
  container.dataset.violations = String(violations.length);
  if (ok) {
    replace(container, h('p', { class: 'verdict ok' }, h('span', { class: 'icon', 'aria-hidden': 'true', text: '✔' }), ' All invariants hold.'));
    return;
  }
  const item = (v, i) =>
    h(
      'li',
      {
        class: 'violation',
        dataset: { invariant: v.invariant, seq: v.seq, mm: v.mm ?? '', notifier: v.notifier ?? '', address: v.address ?? '' },
      },
      h('a', {
        href: `#event-${v.seq}`,
        class: 'event-link',
        text: `trace event ${v.seq}`,
        dataset: { focusKey: `violation-${i}` },
        on: {
          click: (event) => {
            event.preventDefault();
            goToEvent(v.seq);
          },
        },
      }),
      h('p', { class: 'message', text: v.message }),
      h('p', {
        class: 'where',
        text: [v.mm !== undefined ? `mm ${v.mm}` : '', v.notifier !== undefined ? `notifier ${v.notifier}` : '', v.address ? `address ${v.address}` : '']
          .filter(Boolean)
          .join(' · '),
      }),
    );
  // One group per invariant: its name and promise once, then each violation.
  const groups = new Map();
  violations.slice(0, SHOWN).forEach((v, i) => {
    if (!groups.has(v.invariant)) groups.set(v.invariant, []);
    groups.get(v.invariant).push(item(v, i));
  });
  const items = [...groups].map(([name, list]) =>
    h(
      'li',
      { class: 'invariant-group', dataset: { group: name } },
      h('strong', { class: 'invariant-name', text: name }),
      ` · ${list.length}`,
      INVARIANTS[name] ? h('p', { class: 'explain', text: INVARIANTS[name] }) : null,
      h('ol', { class: 'violations' }, list),
    ),
  );
  if (violations.length > SHOWN) items.push(h('li', { class: 'muted', text: `and ${violations.length - SHOWN} more (GET /invariants lists them all)` }));
  replace(
    container,
    h('p', { class: 'verdict bad' }, h('span', { class: 'icon', 'aria-hidden': 'true', text: '✖' }), ` ${violations.length} violation${violations.length === 1 ? '' : 's'}`),
    h('ul', { class: 'invariant-groups' }, items),
  );
}
