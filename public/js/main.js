// The dashboard's entry point: first render from plain GETs, then live updates, forms, the
// explorer, the guided tour and the scenario panel. `?live=poll` turns the event stream off (polling only) and
// `?live=stream` forces it on. Headless Chromium polls by default: its virtual time
// (--virtual-time-budget) never runs out while an EventSource is open, so --dump-dom and
// --screenshot would wait forever.

import { state, onChange, refresh, reloadTrace, loadSteps, appendEvents } from './state.js';
import { startLive, reloadAll } from './live.js';
import { renderMMs } from './views/mms.js';
import { renderFrames } from './views/frames.js';
import { renderTimeline } from './views/timeline.js';
import { renderInvariants } from './views/invariants.js';
import { renderTasks } from './views/tasks.js';
import { renderTrace, goToEvent } from './views/trace.js';
import { renderActions, updateTargets, showAnswer } from './views/actions.js';
import { setupExplorer } from './views/explorer.js';
import { setupDrivers } from './views/drivers.js';
import { setupTour } from './views/tour-panel.js';
import { setupScenarioPanel } from './views/scenario-panel.js';

const $ = (id) => document.getElementById(id);

/** After a form's or a task button's answer: take its trace events, then re-read the world. */
async function afterAnswer(answer, form) {
  if (form?.id === 'reset' && answer.ok) {
    await reloadAll();
    return;
  }
  if (answer.ok && Array.isArray(answer.data?.trace)) appendEvents(answer.data.trace);
  await refresh();
}

function draw() {
  renderMMs($('mms'), state);
  renderFrames($('frames'), state);
  renderTimeline($('timeline'), state, $('timeline-detail'));
  renderInvariants($('invariants'), state, (seq) => goToEvent($('trace'), state, seq, $('timeline-detail')));
  renderTasks($('tasks'), state, (answer, what) => {
    showAnswer($('tasks-answer'), answer, what);
    afterAnswer(answer);
  });
  renderTrace($('trace'), state);
  updateTargets($('actions'), state);
  // The world's kernel (GET /version): v17, the seed's protocol, or modern.
  $('kernel').textContent = `kernel: ${state.kernel ?? '…'}`;
  $('kernel').dataset.kernel = state.kernel ?? '';
  document.body.dataset.kernel = state.kernel ?? '';
  $('load-error').hidden = !state.error;
  $('load-error').textContent = state.error ? `Could not read the world: ${state.error}` : '';
  document.body.dataset.next = String(state.next);
  document.body.dataset.ready = 'true';
}

/**
 * `#tour=STEP` runs the tour up to STEP; `#explore=EXAMPLE` runs an explorer example (`&here=1`:
 * its tasks from the live world);
 * `#drivers=FILE` checks a policy of the driver library (`kvm`, `examples/end-only-before`);
 * `#scenario=NAME` loads a library scenario, `&steps=all` (or `&steps=N`) resets the world and
 * plays all (or N) of its steps against this server, `&server=run` runs it with POST /scenarios/run.
 */
function followHash(tour, explorer, scenarios, drivers) {
  const policy = /^#drivers=([\w/-]+)$/.exec(location.hash);
  if (policy) drivers.then((d) => d?.run(policy[1]));
  const tourStep = /^#tour=([\w-]+)$/.exec(location.hash);
  if (tourStep) tour.goTo(tourStep[1]);
  const example = /^#explore=([\w-]+)(&here=1)?$/.exec(location.hash);
  if (example) explorer.then((e) => e?.run(example[1], Boolean(example[2])));
  if (/^#scenario=[\w-]+(&|$)/.test(location.hash)) {
    const params = new URLSearchParams(location.hash.slice(1));
    const steps = params.get('steps');
    scenarios.then((s) => s?.run(params.get('scenario'), steps === 'all' || /^\d+$/.test(steps ?? '') ? steps : null, params.get('server') === 'run'));
  }
}

async function main() {
  const asked = new URLSearchParams(location.search).get('live');
  const live = asked === 'poll' || asked === 'stream' ? asked : /HeadlessChrome/.test(navigator.userAgent) ? 'poll' : 'stream';
  onChange(draw);
  await loadSteps();
  renderActions($('actions'), state, afterAnswer);
  await reloadTrace();
  await refresh();

  const tour = setupTour($('tour'), async () => {
    await reloadTrace();
    await refresh();
  });
  $('tour-open').addEventListener('click', () => tour.open());
  const explorer = setupExplorer($('explorer')).catch((error) => {
    $('explore-description').textContent = `Could not load the examples: ${error.message}`;
    return null;
  });
  const drivers = setupDrivers($('drivers')).catch((error) => {
    $('drivers-description').textContent = `Could not load the policies: ${error.message}`;
    return null;
  });
  const scenarioPanel = $('scenario');
  const scenarioOpen = $('scenario-open');
  const showScenarios = (open) => {
    scenarioPanel.hidden = !open;
    scenarioOpen.setAttribute('aria-expanded', String(open));
  };
  const scenarios = setupScenarioPanel(scenarioPanel, state, (answer, reset) => afterAnswer(answer, reset ? { id: 'reset' } : undefined)).catch((error) => {
    $('scenario-status').textContent = `Could not load the scenarios: ${error.message}`;
    return null;
  });
  scenarioOpen.addEventListener('click', () => {
    showScenarios(scenarioPanel.hidden);
    if (!scenarioPanel.hidden) $('scenario-file').focus();
  });
  $('scenario-close').addEventListener('click', () => {
    showScenarios(false);
    if (location.hash.startsWith('#scenario=')) history.replaceState(null, '', location.pathname + location.search);
    scenarioOpen.focus();
  });
  new MutationObserver(() => scenarioOpen.setAttribute('aria-expanded', String(!scenarioPanel.hidden))).observe(scenarioPanel, { attributes: true, attributeFilter: ['hidden'] });
  window.addEventListener('hashchange', () => followHash(tour, explorer, scenarios, drivers));
  followHash(tour, explorer, scenarios, drivers);
  startLive(live, $('live-status'));
}

main().catch((error) => {
  const box = $('load-error');
  box.hidden = false;
  box.textContent = `The dashboard could not start: ${error.message}`;
});
