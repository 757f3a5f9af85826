// The guided tour's panel: the steps as a list, the current narration, and Back/Next/Restart.

import { h, replace } from '../dom.js';
import { STEPS, runTo, stepIndex } from '../tour.js';

/**
 * Sets up the tour panel. `afterStep()` must resolve once the dashboard shows the new state.
 * Returns `goTo(id)`, which runs the tour up to and including the step `id`.
 */
export function setupTour(panel, afterStep) {
  const title = panel.querySelector('#tour-step-title');
  const narration = panel.querySelector('#tour-narration');
  const outcome = panel.querySelector('#tour-outcome');
  const list = panel.querySelector('#tour-steps');
  const back = panel.querySelector('#tour-back');
  const next = panel.querySelector('#tour-next');
  const close = panel.querySelector('#tour-close');
  let current = -1;
  let busy = false;

  const drawList = () => {
    replace(
      list,
      STEPS.map((s, i) =>
        h(
          'li',
          { class: i === current ? 'current' : i < current ? 'done' : '', 'aria-current': i === current ? 'step' : null },
          h('a', { href: `#tour=${s.id}`, title: s.title, 'aria-label': `Step ${i + 1}: ${s.title}`, dataset: { step: s.id } }, String(i + 1)),
        ),
      ),
    );
    back.disabled = busy || current <= 0;
    next.disabled = busy || current >= STEPS.length - 1;
    next.textContent = current < 0 ? 'Start' : 'Next step';
  };

  const goTo = async (id) => {
    const index = stepIndex(id);
    if (index < 0 || busy) return;
    panel.hidden = false;
    busy = true;
    document.body.dataset.tour = 'running';
    delete document.body.dataset.tourStep;
    drawList();
    title.textContent = `Step ${index + 1} of ${STEPS.length}: ${STEPS[index].title}`;
    narration.textContent = STEPS[index].text;
    outcome.textContent = 'Running…';
    try {
      await runTo(index, async (i, text) => {
        current = i;
        if (i === index) outcome.textContent = text ?? '';
        await afterStep();
      });
      document.body.dataset.tourStep = id;
      document.body.dataset.tour = 'done';
    } catch (error) {
      outcome.textContent = `The step failed: ${error.message}`;
      document.body.dataset.tour = 'failed';
    } finally {
      busy = false;
      drawList();
    }
  };

  next.addEventListener('click', () => {
    location.hash = `tour=${STEPS[Math.min(current + 1, STEPS.length - 1)].id}`;
  });
  back.addEventListener('click', () => {
    location.hash = `tour=${STEPS[Math.max(current - 1, 0)].id}`;
  });
  close.addEventListener('click', () => {
    panel.hidden = true;
    history.replaceState(null, '', location.pathname + location.search);
    document.getElementById('tour-open').focus();
  });
  drawList();
  return {
    goTo,
    open() {
      panel.hidden = false;
      title.textContent = 'The guided tour';
      narration.textContent =
        'Eight steps through the seed’s story: swapping a guest with notifiers against a pinning driver, the fault/invalidate race with and without the retry check, and the v17 release race. Each step resets or extends the world and explains what to look at. Start replaces the current world.';
      outcome.textContent = '';
      drawList();
      next.focus();
    },
  };
}
