// The timeline of notifier calls per task: invalidate_range_start/end pairs as spans,
// invalidate_page, clear_flush_young and release as ticks, along the trace's seq axis.
// Hovering or focusing an entry shows its locks (event.locks) in the detail line.
// In a modern world a span names its range's event (hatched when not blockable), an interval
// subscription's invalidate is a tick marked with its cur_seq, and the mm's seq changes, the
// interval tree's inserts and removes, puts and OOM reaper attempts are context ticks.

import { h, replace } from '../dom.js';
import { eventData, eventNote, NOTIFIER_CALLS } from '../api.js';

/** The timeline shows the calls among the newest this many trace events. */
const WINDOW_EVENTS = 160;
/** Model events drawn as small ticks, for context: the secondary side and the frame frees. */
const CONTEXT = new Set(['spte_set', 'fault_retry', 'frame_free', 'invalidate_seq', 'interval_insert', 'interval_remove', 'notifier_put', 'oom_reap']);

/** The short mark drawn beside a modern tick: a callback's cur_seq, the mm's new seq, a reaper's errno. */
function tickMark(e) {
  if (e.call === 'invalidate' || e.call === 'invalidate_seq') return String(e.ret);
  if (e.call === 'oom_reap' && e.ret !== 0) return e.ret === -16 ? 'EBUSY' : 'EAGAIN';
  return null;
}

/** Pairs each task's range starts with their ends (same notifier, same range). */
function pairSpans(events) {
  const spans = [];
  const ticks = [];
  const open = new Map();
  for (const e of events) {
    if (!NOTIFIER_CALLS.has(e.call) && !CONTEXT.has(e.call)) continue;
    const key = `${e.task}|${e.notifier}|${e.start}|${e.end}`;
    if (e.call === 'invalidate_range_start') {
      const span = { task: e.task, notifier: e.notifier, op: e.op, mm: e.mm, begin: e, finish: null };
      if (!open.has(key)) open.set(key, []);
      open.get(key).push(span);
      spans.push(span);
    } else if (e.call === 'invalidate_range_end') {
      const span = open.get(key)?.pop();
      if (span) span.finish = e;
      else spans.push({ task: e.task, notifier: e.notifier, op: e.op, mm: e.mm, begin: null, finish: e });
    } else {
      ticks.push(e);
    }
  }
  return { spans, ticks };
}

function describe(e) {
  const parts = [`seq ${e.seq}`, e.call];
  const note = eventNote(e);
  if (note) parts.push(note);
  if (e.notifier !== undefined) parts.push(`notifier ${e.notifier}`);
  if (e.start) parts.push(`${e.start}–${e.end}`);
  if (e.address) parts.push(`at ${e.address}`);
  if (e.ret !== undefined && e.ret !== 0) parts.push(`ret ${e.ret}`);
  parts.push(`locks: ${e.locks.length ? e.locks.join(', ') : 'none'}`);
  if (e.atomic) parts.push('atomic');
  return parts.join(' · ');
}

export function renderTimeline(container, state, detail) {
  const events = state.events;
  if (!events.length) {
    replace(container, h('p', { class: 'muted', text: 'No trace events yet.' }));
    return;
  }
  const windowEvents = events.slice(-WINDOW_EVENTS);
  const first = windowEvents[0].seq;
  const hi = windowEvents[windowEvents.length - 1].seq;
  const { spans, ticks } = pairSpans(events);
  const visibleSpans = spans.filter((s) => (s.finish?.seq ?? Infinity) >= first && (s.begin?.seq ?? -Infinity) <= hi);
  const visibleTicks = ticks.filter((t) => t.seq >= first);
  // The axis starts just before the first entry drawn, so the entries use the width.
  const starts = [...visibleSpans.map((s) => s.begin?.seq ?? first), ...visibleTicks.map((t) => t.seq)];
  const lo = starts.length ? Math.max(first, Math.min(...starts) - 1) : first;
  const width = Math.max(1, hi - lo + 1);
  const x = (seq) => ((Math.min(Math.max(seq, lo), hi + 1) - lo) / width) * 100;

  const tasks = new Map();
  const taskOf = (task, op, mm, seq) => {
    const id = task ?? 'none';
    if (!tasks.has(id)) tasks.set(id, { id, op, mm, first: seq, lanes: new Map() });
    return tasks.get(id);
  };
  const laneOf = (row, notifier) => {
    if (!row.lanes.has(notifier)) row.lanes.set(notifier, { notifier, items: [] });
    return row.lanes.get(notifier);
  };
  const show = (text) => () => {
    detail.textContent = text;
  };

  for (const span of visibleSpans) {
    const first = span.begin ?? span.finish;
    const row = taskOf(span.task, span.op, span.mm, first.seq);
    const from = span.begin ? x(span.begin.seq) : 0;
    const to = span.finish ? x(span.finish.seq + 1) : 100;
    const note = eventNote(first);
    const text =
      `task ${span.task} ${span.op ?? ''}: invalidate_range ${first.start}–${first.end}${note ? ` ${note}` : ''}, notifier ${span.notifier}` +
      (span.begin ? ` | start ${describe(span.begin)}` : ' | start before the window') +
      (span.finish ? ` | end ${describe(span.finish)}` : ' | still open (no end yet)');
    laneOf(row, span.notifier).items.push(
      h(
        'button',
        {
          type: 'button',
          class: `span${span.finish ? '' : ' open'}${first.blockable === false ? ' nonblock' : ''}`,
          style: `left:${from}%;width:${Math.max(0.8, to - from)}%`,
          'aria-label': text,
          title: text,
          dataset: {
            call: 'invalidate_range',
            task: span.task ?? '',
            notifier: span.notifier ?? '',
            startSeq: span.begin?.seq ?? '',
            endSeq: span.finish?.seq ?? '',
            open: String(!span.finish),
            locks: (span.begin ?? span.finish).locks.join(' '),
            ...eventData(first),
          },
          on: { mouseenter: show(text), focus: show(text) },
        },
        note ? h('span', { class: 'span-event', 'aria-hidden': 'true', text: note }) : null,
      ),
    );
  }
  for (const tick of visibleTicks) {
    const row = taskOf(tick.task, tick.op, tick.mm, tick.seq);
    const text = `task ${tick.task} ${tick.op ?? ''}: ${describe(tick)}`;
    const mark = tickMark(tick);
    laneOf(row, tick.notifier).items.push(
      h('button', {
        type: 'button',
        class: `tick tick-${tick.call}${CONTEXT.has(tick.call) ? ' context' : ''}${tick.atomic ? ' atomic' : ''}${tick.blockable === false ? ' nonblock' : ''}`,
        style: `left:${x(tick.seq)}%`,
        'aria-label': text,
        title: text,
        dataset: { call: tick.call, seq: tick.seq, task: tick.task ?? '', notifier: tick.notifier ?? '', locks: tick.locks.join(' '), ...(mark ? { mark } : {}), ...eventData(tick) },
        on: { mouseenter: show(text), focus: show(text) },
      }),
    );
  }

  const violations = state.invariants.violations.filter((v) => v.seq >= lo && v.seq <= hi);
  const rows = [...tasks.values()]
    .sort((a, b) => a.first - b.first)
    .map((row) =>
      h(
        'div',
        { class: 'tl-row', role: 'listitem', dataset: { task: row.id } },
        h('div', { class: 'tl-label' }, h('strong', { text: row.id === 'none' ? 'no task' : `task ${row.id}` }), ` ${row.op ?? ''}${row.mm ? ` · mm ${row.mm}` : ''}`),
        h(
          'div',
          { class: 'tl-lanes' },
          [...row.lanes.values()].map((lane) =>
            h(
              'div',
              { class: 'tl-lane', dataset: { notifier: lane.notifier ?? '' } },
              h('span', { class: 'tl-lane-name', text: lane.notifier === undefined ? '' : `n${lane.notifier}` }),
              lane.items,
            ),
          ),
          violations.map((v) => h('span', { class: 'tl-violation', style: `left:${x(v.seq)}%`, title: `${v.invariant} at seq ${v.seq}`, 'aria-hidden': 'true' })),
        ),
      ),
    );

  replace(
    container,
    h('div', { class: 'tl-axis', 'aria-hidden': 'true' }, h('span', { text: `seq ${lo}` }), h('span', { text: `seq ${hi}` })),
    rows.length
      ? h('div', { class: 'tl-rows', role: 'list', 'aria-label': 'notifier calls by task' }, rows)
      : h('p', { class: 'muted', text: `No notifier call among seq ${lo}–${hi}.` }),
  );
}
