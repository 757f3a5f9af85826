// The explorer: load an example spec (GET /library/explore), edit it, run it
// with POST /explore, and show the counts, the violations and the counterexample's trace.

import { h, replace } from '../dom.js';
import { callLabel, eventData, eventNote, get, post, NOTIFIER_CALLS } from '../api.js';
import { showAnswer } from './actions.js';
import { noteCell } from './trace.js';

const EXAMPLES = '/library/explore';

function counts(answer) {
  const facts = [
    ['schedules', answer.schedules],
    ['distinct states', answer.distinct_states],
    ['transitions', answer.transitions],
    ['deadlocks', answer.deadlocks],
    ['truncated', answer.truncated ? 'yes (a bound was hit)' : 'no'],
  ];
  return h(
    'dl',
    { class: 'facts-list' },
    facts.map(([k, v]) => [h('dt', { text: k }), h('dd', { text: String(v), dataset: { fact: k.replace(' ', '_') } })]),
  );
}

function verdict(answer) {
  const names = Object.entries(answer.violations ?? {});
  const list = names.length
    ? h(
        'ul',
        { class: 'explore-violations' },
        names.map(([name, n]) => h('li', { dataset: { invariant: name, count: n } }, h('strong', { text: name }), ` at ${n} place${n === 1 ? '' : 's'} (mm, notifier, address)`)),
      )
    : h('p', { class: 'verdict ok', text: '✔ No interleaving violates an invariant.' });
  const expected = answer.verdict
    ? h(
        'p',
        { class: answer.verdict.expected ? 'verdict ok' : 'verdict bad', dataset: { expected: String(answer.verdict.expected) } },
        answer.verdict.expected ? 'As the spec expects.' : `Not as expected: ${answer.verdict.mismatches.join('; ')}`,
      )
    : null;
  return [list, expected];
}

function counterexample(ce) {
  if (!ce) return null;
  // A modern exploration's trace gets the "event / seq" column (eventNote), as the trace panel does.
  const notes = ce.trace.some((e) => eventNote(e));
  const columns = ['seq', 'task', 'op', 'call', ...(notes ? ['event / seq'] : []), 'notifier', 'range / address', 'locks'];
  return h(
    'section',
    { class: 'counterexample', dataset: { schedule: ce.schedule.join(' ') } },
    h('h4', { text: 'First counterexample' }),
    h('p', {}, 'Schedule (the task run at each step): ', h('code', { text: ce.schedule.join(' → ') })),
    h(
      'ul',
      {},
      ce.violations.map((v) => h('li', { dataset: { invariant: v.invariant, seq: v.seq } }, h('strong', { text: v.invariant }), ` at seq ${v.seq}: ${v.message}`)),
    ),
    h(
      'div',
      { class: 'table-scroll ce-scroll', tabindex: '0', 'aria-label': 'counterexample trace' },
      h(
        'table',
        { class: 'trace' },
        h('caption', { class: 'visually-hidden', text: 'The counterexample’s trace' }),
        h('thead', {}, h('tr', {}, columns.map((t) => h('th', { scope: 'col', text: t })))),
        h(
          'tbody',
          {},
          ce.trace.map((e) =>
            h(
              'tr',
              {
                class: `${NOTIFIER_CALLS.has(e.call) ? 'notifier-call' : 'model-event'}${ce.violations.some((v) => v.seq === e.seq) ? ' marked' : ''}`,
                dataset: { seq: e.seq, call: e.call, ...eventData(e) },
              },
              h('td', { class: 'num', text: e.seq }),
              h('td', { class: 'num', text: e.task ?? '' }),
              h('td', { text: e.op ?? '' }),
              h('td', {}, h('code', { text: callLabel(e) })),
              notes ? noteCell(e) : null,
              h('td', { class: 'num', text: e.notifier ?? '' }),
              h('td', {}, h('code', { text: e.start ? `${e.start}–${e.end}` : (e.address ?? '') })),
              h('td', { class: 'locks', text: e.locks.join(', ') }),
            ),
          ),
        ),
      ),
    ),
  );
}

/** Sets up the explorer panel once. */
export async function setupExplorer(container) {
  const select = container.querySelector('#explore-example');
  const spec = container.querySelector('#explore-spec');
  const description = container.querySelector('#explore-description');
  const output = container.querySelector('#explore-answer');
  const results = container.querySelector('#explore-results');
  const index = await get(EXAMPLES);
  select.replaceChildren(...index.examples.map((e) => h('option', { value: e.file, text: e.title })));
  const load = async () => {
    const example = index.examples.find((e) => e.file === select.value);
    const text = await (await fetch(`${EXAMPLES}/${select.value}`)).text();
    spec.value = text;
    description.textContent = example?.description ?? '';
  };
  select.addEventListener('change', load);
  select.value = '01-release-v17.json';
  await load();
  /** Explores the spec; `here`: its tasks only, from a copy of the live world (no setup). */
  const explore = async (here = false) => {
    let body;
    try {
      body = JSON.parse(spec.value);
    } catch (error) {
      output.className = 'answer error';
      output.textContent = `The spec is not JSON: ${error.message}`;
      return;
    }
    if (here) body = { tasks: body.tasks, drivers: body.drivers, max_states: body.max_states };
    output.textContent = here ? 'exploring from the live world…' : 'exploring…';
    results.dataset.state = 'running';
    results.dataset.from = here ? 'here' : 'setup';
    const answer = await post('/explore', body);
    showAnswer(output, answer);
    if (answer.ok) {
      output.textContent = `explored ${answer.data.schedules} schedules`;
      renderExploreResult(results, answer.data);
    } else {
      replace(results);
    }
    results.dataset.state = answer.ok ? 'done' : 'failed';
  };
  container.querySelector('#explore-form').addEventListener('submit', (event) => {
    event.preventDefault();
    explore();
  });
  container.querySelector('#explore-here').addEventListener('click', () => explore(true));
  return {
    /** Loads the example `name` (its file name without .json) and explores it; `here`: its
     * tasks from the live world. */
    async run(name, here = false) {
      if (!index.examples.some((e) => e.file === `${name}.json`)) return;
      select.value = `${name}.json`;
      await load();
      container.scrollIntoView();
      await explore(here);
    },
  };
}

/** Draws an exploration's result. */
export function renderExploreResult(results, answer) {
  results.dataset.schedules = String(answer.schedules);
  results.dataset.violations = Object.keys(answer.violations ?? {}).join(' ');
  replace(results, counts(answer), verdict(answer), counterexample(answer.counterexample));
}
