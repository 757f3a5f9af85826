// The trace log: the newest events as a table, each row addressable as #event-SEQ, so that a
// violation's link can bring its event into view. In a modern world an "event / seq" column
// says what an event adds to its call (eventNote): a range's event, nonblock, cur_seq, the mm's seq.

import { h, replace } from '../dom.js';
import { callLabel, eventData, eventNote, get, NOTIFIER_CALLS } from '../api.js';

const SHOWN = 200;
let pinned = null;

/** The modern column's cell: the event's note, non-blockable ranges marked (the explorer's too). */
export function noteCell(e) {
  return h('td', { class: `note${e.blockable === false ? ' nonblock' : ''}`, text: eventNote(e) });
}

function row(e, mark, notes) {
  const where = e.start ? `${e.start}–${e.end}` : (e.address ?? '');
  return h(
    'tr',
    {
      id: `event-${e.seq}`,
      tabindex: '-1',
      class: [NOTIFIER_CALLS.has(e.call) ? 'notifier-call' : 'model-event', mark ? 'marked' : ''].join(' '),
      dataset: { seq: e.seq, call: e.call, task: e.task ?? '', notifier: e.notifier ?? '', ...eventData(e) },
    },
    h('td', { class: 'num', text: e.seq }),
    h('td', { class: 'num', text: e.task ?? '' }),
    h('td', { text: e.op ?? '' }),
    h('td', {}, h('code', { text: callLabel(e) })),
    notes ? noteCell(e) : null,
    h('td', { class: 'num', text: e.notifier ?? '' }),
    h('td', {}, h('code', { text: where })),
    h('td', { class: 'num', text: e.pfn ?? '' }),
    h('td', { class: 'locks', text: e.locks.join(', ') + (e.atomic ? ' (atomic)' : '') }),
    h('td', { class: 'num', text: e.ret ?? '' }),
  );
}

export function renderTrace(container, state) {
  const events = state.events;
  let shown = events.slice(-SHOWN);
  const marked = new Set(state.invariants.violations.map((v) => v.seq));
  if (pinned !== null) {
    const at = events.findIndex((e) => e.seq >= pinned);
    if (at >= 0 && events[at].seq === pinned && at < events.length - SHOWN) shown = events.slice(Math.max(0, at - 20), at - 20 + SHOWN);
  }
  // The "event / seq" column only when an event has something to say (a modern world).
  const notes = shown.some((e) => eventNote(e));
  const columns = ['seq', 'task', 'op', 'call', ...(notes ? ['event / seq'] : []), 'notifier', 'range / address', 'pfn', 'locks held', 'ret'];
  const scroller = container.querySelector('.trace-scroll');
  const atBottom = !scroller || scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 8;
  replace(
    container,
    h(
      'div',
      { class: 'table-scroll trace-scroll', tabindex: '0', 'aria-label': 'trace events' },
      h(
        'table',
        { class: 'trace' },
        h('caption', { class: 'visually-hidden', text: 'Trace events, oldest first' }),
        h('thead', {}, h('tr', {}, columns.map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', {}, shown.map((e) => row(e, marked.has(e.seq), notes))),
      ),
    ),
    h('p', { class: 'muted', text: `${events.length} events kept (newest seq ${state.next}); the table shows ${shown.length}.` }),
  );
  const fresh = container.querySelector('.trace-scroll');
  if (pinned === null && atBottom) fresh.scrollTop = fresh.scrollHeight;
}

/** Brings the event `seq` into view and focuses it; reads it from the server if it is not kept. */
export async function goToEvent(container, state, seq, detail) {
  pinned = seq;
  renderTrace(container, state);
  const target = container.querySelector(`#event-${seq}`);
  if (target) {
    target.scrollIntoView({ block: 'center' });
    target.focus({ preventScroll: true });
    target.classList.add('flash');
    history.replaceState(null, '', `#event-${seq}`);
    return;
  }
  try {
    const answer = await get(`/trace?since=${Math.max(0, seq - 1)}`);
    const event = answer.events.find((e) => e.seq === seq);
    detail.textContent = event ? `Event ${seq} (no longer kept on the page): ${JSON.stringify(event)}` : `Event ${seq} is gone from the server's trace ring.`;
  } catch (error) {
    detail.textContent = String(error.message);
  }
}
