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

/** Draws the verdict; `goToEvent(seq)` shows a trace event. */
export function renderInvariants(container, state, goToEvent) {
  const { ok, violations } = state.invariants;
  container.dataset.ok = String(ok);
  container.dataset.violations = String(violations.length);
  if (ok) {
    replace(container, h('p', { class: 'verdict ok' }, h('span', { class: 'icon', 'aria-hidden': 'true', text: '✔' }), ' All invariants hold.'));
    return;
  }
  const items = violations.map((v, i) =>
    h(
      'li',
      {
        class: 'violation',
        dataset: { invariant: v.invariant, seq: v.seq, mm: v.mm ?? '', notifier: v.notifier ?? '', address: v.address ?? '' },
      },
      h('strong', { class: 'invariant-name', text: v.invariant }),
      ' ',
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
      INVARIANTS[v.invariant] ? h('p', { class: 'explain', text: `The invariant: ${INVARIANTS[v.invariant]}` }) : null,
      h('p', {
        class: 'where',
        text: [v.mm !== undefined ? `mm ${v.mm}` : '', v.notifier !== undefined ? `notifier ${v.notifier}` : '', v.address ? `address ${v.address}` : '']
          .filter(Boolean)
          .join(' · '),
      }),
    ),
  );
  replace(
    container,
    h('p', { class: 'verdict bad' }, h('span', { class: 'icon', 'aria-hidden': 'true', text: '✖' }), ` ${violations.length} violation${violations.length === 1 ? '' : 's'}`),
    h('ol', { class: 'violations' }, items),
  );
}
