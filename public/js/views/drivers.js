// The Drivers panel: pick or paste a driver policy (GET /library/drivers), check it against the
// workload catalogue (POST /drivers/check) and read a verdict a workload with the ladder of each
// counterexample; a policy the server refuses shows the statement its JSON pointer names.

import { h, replace } from '../dom.js';
import { get, postText } from '../api.js';
import { showAnswer } from './actions.js';

const LIBRARY = '/library/drivers';

/** The value a JSON pointer (RFC 6901) names in `document`, or undefined. */
function at(document, pointer) {
  if (pointer === '') return document;
  let value = document;
  for (const token of pointer.slice(1).split('/').map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'))) {
    if (value === null || typeof value !== 'object' || !(token in value)) return undefined;
    value = value[token];
  }
  return value;
}

/** A refused policy: the message, and the statement at its pointer. */
function refusal(text, error) {
  let statement;
  try {
    statement = at(JSON.parse(text), error.pointer ?? '');
  } catch {
    statement = undefined;
  }
  return h(
    'div',
    { class: 'driver-error', dataset: { pointer: error.pointer ?? '', code: error.code ?? '' } },
    h('p', {}, h('strong', { text: error.code ?? 'error' }), ' at ', h('code', { text: error.pointer || '(the document)' })),
    h('p', { text: error.message ?? '' }),
    statement === undefined ? null : h('pre', { class: 'statement', text: JSON.stringify(statement, null, 2) }),
  );
}

/** The verdicts of a check: a row a workload, then each failing one's ladder. */
function verdicts(answer) {
  const rows = answer.verdicts.map((v) =>
    h(
      'tr',
      { dataset: { workload: v.workload, clean: String(v.clean) } },
      h('td', {}, h('code', { text: v.workload })),
      h('td', { class: v.clean ? 'ok' : 'bad', text: v.clean ? 'clean' : [...v.violations, ...(v.deadlocks ? ['deadlock'] : [])].join(', ') }),
      h('td', { class: 'num', text: String(v.distinct_states) }),
    ),
  );
  const ladders = answer.verdicts
    .filter((v) => v.ladder)
    .map((v) => h('section', { class: 'driver-ladder', dataset: { workload: v.workload } }, h('h4', { text: v.workload }), h('pre', { class: 'ladder', text: v.ladder })));
  return [
    h('p', { class: answer.clean ? 'verdict ok' : 'verdict bad', dataset: { clean: String(answer.clean) } }, answer.clean ? '✔ Clean on every workload.' : `✘ ${answer.verdicts.filter((v) => !v.clean).length} of ${answer.verdicts.length} workloads fail.`),
    h(
      'div',
      { class: 'table-scroll', tabindex: '0', 'aria-label': 'verdicts' },
      h(
        'table',
        { class: 'driver-verdicts' },
        h('caption', { class: 'visually-hidden', text: 'A verdict a workload' }),
        h('thead', {}, h('tr', {}, ['workload', 'verdict', 'states'].map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', {}, rows),
      ),
    ),
    ...ladders,
  ];
}

/** Sets up the Drivers panel once. */
export async function setupDrivers(container, afterLoad) {
  const select = container.querySelector('#drivers-file');
  const policy = container.querySelector('#drivers-policy');
  const variants = container.querySelector('#drivers-variants');
  const description = container.querySelector('#drivers-description');
  const output = container.querySelector('#drivers-answer');
  const results = container.querySelector('#drivers-results');
  const index = await get(LIBRARY);
  select.replaceChildren(...index.policies.map((p) => h('option', { value: p.file, text: p.title })));
  const load = async () => {
    const entry = index.policies.find((p) => p.file === select.value);
    policy.value = await (await fetch(`${LIBRARY}/${select.value}`)).text();
    description.textContent = entry?.description ?? '';
    replace(results);
  };
  select.addEventListener('change', load);
  select.value = 'kvm.json';
  await load();
  const query = () => {
    const names = variants.value.split(',').map((v) => v.trim()).filter(Boolean);
    return names.length ? `?variants=${encodeURIComponent(names.join(','))}` : '';
  };
  const check = async () => {
    output.textContent = 'checking…';
    results.dataset.state = 'running';
    const answer = await postText(`/drivers/check${query()}`, policy.value);
    showAnswer(output, answer);
    if (answer.ok) {
      output.textContent = `${answer.data.verdicts.length} workloads`;
      replace(results, ...verdicts(answer.data));
    } else {
      replace(results, refusal(policy.value, answer.data?.error ?? {}));
    }
    results.dataset.state = answer.ok ? 'done' : 'refused';
  };
  container.querySelector('#drivers-form').addEventListener('submit', (event) => {
    event.preventDefault();
    check();
  });
  container.querySelector('#drivers-load').addEventListener('click', async () => {
    const answer = await postText('/drivers', policy.value);
    showAnswer(output, answer);
    if (answer.ok) {
      output.textContent = `loaded ${answer.data.name}: register it as kind “${answer.data.name}”`;
      afterLoad?.(answer.data);
    } else {
      replace(results, refusal(policy.value, answer.data?.error ?? {}));
      results.dataset.state = 'refused';
    }
  });
  return {
    /** Loads the library file `name` (without .json) and checks it. */
    async run(name) {
      if (!index.policies.some((p) => p.file === `${name}.json`)) return;
      select.value = `${name}.json`;
      await load();
      container.scrollIntoView();
      await check();
    },
  };
}
