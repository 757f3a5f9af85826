// The scenario panel: pick one of the library's scenarios (GET /library/scenarios) or
// paste one; see its description, cites and steps; reset the world and play it one step at a
// time against the live server, each expectation marked pass or fail next to what happened;
// or run the whole file on the server (POST /scenarios/run) and show its report.

import { h, replace, plural } from '../dom.js';
import { get, post } from '../api.js';
import { Player, problem, stepLabel, summarize, show, project } from '../scenario.js';

const LIBRARY = '/library/scenarios';

/** A step's expectations before it runs: one short line each. */
function expectationSummary(step) {
  const keys = Object.keys(step.expect ?? {}).sort();
  if (!keys.length) return h('p', { class: 'scn-expect muted', text: 'no expectations (not counted)' });
  return h('ul', { class: 'scn-expect' }, keys.map((k) => h('li', { dataset: { key: k } }, h('code', { text: summarize(k, step.expect[k]) }))));
}

/** What the answer said: ret, errno, status (and a paused task's next step). */
function answerLine(record) {
  if (record.error && !record.answer?.ok) return h('p', { class: 'scn-answer error', text: record.error });
  const d = record.answer?.data ?? {};
  const parts = [`ret ${d.ret ?? '—'}`];
  if (d.errno) parts.push(d.errno);
  if (d.status) parts.push(d.status + (d.next_step ? ` before ${d.next_step}` : '') + (d.blocked_on ? ` on ${d.blocked_on}` : ''));
  if (d.task !== undefined) parts.push(`task ${d.task}`);
  if (d.id !== undefined && record.step.do?.op !== 'unregister') parts.push(`id ${d.id}`);
  const [method, path] = record.request ?? [];
  return h(
    'p',
    { class: 'scn-answer', dataset: { ret: d.ret ?? '', errno: d.errno ?? '', status: d.status ?? '' } },
    method ? h('code', { class: 'scn-request', text: `${method} ${path}` }) : null,
    method ? ' → ' : null,
    h('strong', { text: parts.join(' · ') }),
    record.error ? h('span', { class: 'error', text: ` ${record.error}` }) : null,
  );
}

const MARK = { pass: '✔', fail: '✖', skipped: '–' };

/** A checked step's expectations, each with expected and actual. */
function checkTable(record) {
  if (!record.checks.length) return null;
  return h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      { class: 'scn-checks' },
      h('caption', { class: 'visually-hidden', text: `Expectations of step ${record.index + 1}` }),
      h('thead', {}, h('tr', {}, ['', 'expectation', 'expected', 'actual'].map((t, i) => h('th', { scope: 'col', text: t, 'aria-label': i === 0 ? 'result' : null })))),
      h(
        'tbody',
        {},
        record.checks.map((c) =>
          h(
            'tr',
            { class: `scn-check ${c.result}`, dataset: { key: c.key, result: c.result } },
            h('td', { class: 'scn-mark' }, h('span', { 'aria-hidden': 'true', text: MARK[c.result] }), h('span', { class: 'visually-hidden', text: c.result })),
            h('th', { scope: 'row' }, h('code', { text: c.label })),
            h('td', {}, h('code', { text: show(c.expected) })),
            h('td', {}, c.why ? h('span', { class: 'muted', text: c.why }) : h('code', { text: show(project(c.expected, c.actual)) })),
          ),
        ),
      ),
    ),
  );
}

/** The verdict of one step: pending, unchecked (no expect), pass, fail. */
function stepResult(step, record) {
  if (!record) return 'pending';
  if (!record.passed) return 'fail';
  return step.expect ? 'pass' : 'unchecked';
}

/** Sets up the panel. `afterStep(answer, reset)` refreshes the dashboard after a request. */
export async function setupScenarioPanel(panel, state, afterStep) {
  const $ = (sel) => panel.querySelector(sel);
  const select = $('#scenario-file');
  const text = $('#scenario-json');
  const useJSON = $('#scenario-use');
  const info = $('#scenario-info');
  const list = $('#scenario-steps');
  const start = $('#scenario-start');
  const next = $('#scenario-next');
  const rest = $('#scenario-rest');
  const serverRun = $('#scenario-server');
  const status = $('#scenario-status');
  const report = $('#scenario-report');
  const index = await get(LIBRARY);
  select.replaceChildren(
    ...index.scenarios.map((s) => h('option', { value: s.file, text: `${s.title} (${plural(s.steps, 'step')})` })),
    h('option', { value: '', text: 'pasted JSON (edit below)' }),
  );
  let scenario = null;
  let name = '';
  let player = null;
  let busy = false;

  const say = (message, kind = '') => {
    status.className = `answer ${kind}`;
    status.textContent = message;
  };

  const controls = () => {
    start.disabled = busy || !scenario;
    next.disabled = busy || !player?.started || player.done;
    rest.disabled = next.disabled;
    serverRun.disabled = busy || !scenario;
    select.disabled = busy;
    useJSON.disabled = busy;
    panel.dataset.busy = String(busy);
  };

  const drawSteps = () => {
    const records = player?.records ?? [];
    const checked = records.filter((r) => r && r.step.expect);
    const failedChecks = records.flatMap((r) => r?.checks ?? []).filter((c) => c.result === 'fail').length;
    panel.dataset.scenario = name;
    panel.dataset.position = String(player?.position ?? 0);
    panel.dataset.steps = String(scenario?.steps.length ?? 0);
    panel.dataset.checkedSteps = String(checked.length);
    panel.dataset.failedSteps = String(records.filter((r) => r && !r.passed).length);
    panel.dataset.failedChecks = String(failedChecks);
    panel.dataset.state = !player?.started ? 'idle' : player.done ? 'done' : 'running';
    if (!scenario) {
      replace(list);
      return;
    }
    const current = player?.started && !player.done ? player.position : -1;
    replace(
      list,
      scenario.steps.map((step, i) => {
        const record = records[i];
        const result = stepResult(step, record);
        return h(
          'li',
          {
            class: `scn-step ${result}${i === current ? ' current' : ''}`,
            'aria-current': i === current ? 'step' : null,
            dataset: { stepIndex: i + 1, result, checks: record ? record.checks.length : '', focusKey: `scn-step-${i}` },
          },
          h(
            'div',
            { class: 'scn-step-head' },
            h('span', { class: 'scn-num', text: String(i + 1) }),
            h('code', { class: 'scn-label', text: stepLabel(step) }),
            h('span', { class: `scn-badge ${result}`, text: { pending: i === current ? 'next' : '', unchecked: 'ran', pass: '✔ pass', fail: '✖ fail' }[result] }),
          ),
          step.note ? h('p', { class: 'scn-note', text: step.note }) : null,
          record ? [answerLine(record), checkTable(record)] : expectationSummary(step),
        );
      }),
    );
    const here = list.querySelector('li.current') ?? list.querySelector(`li[data-step-index="${player?.position ?? 0}"]`);
    if (here && player?.started) list.scrollTop = Math.max(0, here.offsetTop - list.offsetTop - 8);
  };

  const show = (parsed, label) => {
    scenario = parsed;
    name = label;
    player = null;
    replace(report);
    delete report.dataset.passed;
    info.replaceChildren(
      h('p', { class: 'scn-description', text: parsed.description }),
      parsed.cites?.length ? h('ul', { class: 'scn-cites', 'aria-label': 'cites' }, parsed.cites.map((c) => h('li', {}, h('cite', { text: c })))) : null,
      h('p', {
        class: 'muted',
        text: `World: ${Object.entries({ frames: 256, swap_slots: 256, release_order: 'v17', ...(parsed.world ?? {}) })
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}. ${plural(parsed.steps.length, 'step')}, ${parsed.steps.filter((s) => s.expect).length} with expectations.`,
      }),
    );
    drawSteps();
    controls();
  };

  const parseText = () => {
    let parsed;
    try {
      parsed = JSON.parse(text.value);
    } catch (error) {
      say(`The scenario is not JSON: ${error.message}`, 'error');
      return null;
    }
    const bad = problem(parsed);
    if (bad) {
      say(`Not a scenario: ${bad}`, 'error');
      return null;
    }
    return parsed;
  };

  const load = async (file) => {
    select.value = file;
    if (!file) return;
    const body = await (await fetch(`${LIBRARY}/${file}`)).text();
    text.value = body;
    const parsed = parseText();
    if (parsed) {
      show(parsed, file.replace(/\.json$/, ''));
      say('Loaded. “Reset and start” replaces the world with the scenario’s.');
    }
  };

  const resetAndStart = async () => {
    if (!scenario || busy) return false;
    busy = true;
    controls();
    player = new Player(scenario, state.steps);
    const answer = await player.reset();
    busy = false;
    if (!answer.ok) {
      say(`POST /reset failed: ${answer.data?.error?.message ?? answer.status}`, 'error');
    } else {
      say(`The world is reset (${Object.entries(answer.data).filter(([k]) => k !== 'trace' && k !== 'ret').map(([k, v]) => `${k} ${v}`).join(', ')}). Step 1 is next.`, 'ok');
    }
    await afterStep(answer, true);
    drawSteps();
    controls();
    return answer.ok;
  };

  const oneStep = async () => {
    if (!player?.started || player.done) return null;
    busy = true;
    controls();
    const record = await player.next();
    busy = false;
    const n = record.checks.length;
    const failed = record.checks.filter((c) => c.result === 'fail').length;
    const what = `Step ${record.index + 1} (${stepLabel(record.step)})`;
    if (record.error && !record.answer?.ok) say(`${what}: ${record.error}`, 'error');
    else if (!record.step.expect) say(`${what} ran; it has no expectations.`);
    else if (record.passed) say(`${what}: all ${plural(n, 'expectation')} pass.`, 'ok');
    else say(`${what}: ${failed} of ${plural(n, 'expectation')} fail${record.error ? `; ${record.error}` : ''}.`, 'error');
    if (player.done) {
      const failedSteps = player.records.filter((r) => !r.passed).length;
      status.textContent += failedSteps ? ` The scenario ended with ${plural(failedSteps, 'failed step')}.` : ' The scenario ended; every checked step passed.';
    }
    if (record.answer) await afterStep(record.answer, false);
    drawSteps();
    controls();
    return record;
  };

  const runRest = async () => {
    while (player?.started && !player.done) await oneStep();
  };

  const runOnServer = async () => {
    if (!scenario || busy) return;
    busy = true;
    controls();
    report.dataset.state = 'running';
    say('Running the scenario on the server (POST /scenarios/run, a world of its own)…');
    const answer = await post('/scenarios/run', scenario);
    busy = false;
    controls();
    if (!answer.ok) {
      report.dataset.state = 'failed';
      say(`POST /scenarios/run failed: ${answer.data?.error?.message ?? answer.status}`, 'error');
      replace(report);
      return;
    }
    const steps = answer.data.steps;
    const failed = steps.filter((s) => !s.passed);
    report.dataset.state = 'done';
    report.dataset.passed = String(answer.data.passed);
    report.dataset.failed = String(failed.length);
    report.dataset.steps = String(steps.length);
    const checked = steps.filter((s) => s.checked).length;
    const verdict = answer.data.passed ? `PASS: all ${plural(checked, 'checked step')} passed on the server.` : `FAIL: ${failed.length} of ${steps.length} steps failed on the server.`;
    say(verdict, answer.data.passed ? 'ok' : 'error');
    replace(
      report,
      h('h3', { text: 'Server report (POST /scenarios/run)' }),
      h('p', { class: `verdict ${answer.data.passed ? 'ok' : 'bad'}`, text: verdict }),
      h(
        'ol',
        { class: 'scn-report' },
        steps.map((s) =>
          h(
            'li',
            { class: s.passed ? 'pass' : 'fail', dataset: { stepIndex: s.index, passed: String(s.passed), checked: String(s.checked) } },
            h('strong', { text: s.passed ? (s.checked ? 'PASS' : 'ran') : 'FAIL' }),
            ' ',
            h('code', { text: s.label }),
            s.failures.length ? h('pre', { class: 'scn-failures', text: s.failures.join('\n') }) : null,
          ),
        ),
      ),
    );
  };

  select.addEventListener('change', () => {
    if (select.value) load(select.value);
    else text.focus();
  });
  useJSON.addEventListener('click', () => {
    const parsed = parseText();
    if (parsed) {
      select.value = '';
      show(parsed, 'pasted');
      say('Using the pasted scenario.');
    }
  });
  start.addEventListener('click', resetAndStart);
  next.addEventListener('click', oneStep);
  rest.addEventListener('click', runRest);
  serverRun.addEventListener('click', runOnServer);
  await load('seed-v17-release-race.json');

  return {
    /**
     * Loads the library scenario `file` (without .json); `steps` is "all", a step count, or
     * null (load only); `server` also runs it with POST /scenarios/run.
     */
    async run(file, steps, server) {
      if (!index.scenarios.some((s) => s.file === `${file}.json`)) {
        say(`No scenario named ${file} in the library.`, 'error');
        return;
      }
      panel.hidden = false;
      await load(`${file}.json`);
      panel.scrollIntoView();
      if (steps) {
        if (await resetAndStart()) {
          const count = steps === 'all' ? Infinity : Number(steps);
          for (let i = 0; i < count && !player.done; i++) await oneStep();
        }
      }
      if (server) await runOnServer();
      document.body.dataset.scenario = panel.dataset.state;
    },
  };
}
