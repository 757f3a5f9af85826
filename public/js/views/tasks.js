// Paused and blocked tasks (GET /tasks) with Step and Resume.

import { h, replace } from '../dom.js';
import { post } from '../api.js';

/** Draws the tasks; `after(answer)` is called with each Step/Resume answer. */
export function renderTasks(container, state, after) {
  const tasks = state.tasks.filter((t) => t.status !== 'done');
  container.dataset.count = String(tasks.length);
  if (!tasks.length) {
    replace(container, h('p', { class: 'muted', text: 'No task is paused or blocked. Give an action a “pause at” step to stop it inside its critical section.' }));
    return;
  }
  const act = (task, verb) => async () => {
    const answer = await post(`/tasks/${task.id}/${verb}`);
    after(answer, `${verb} task ${task.id}`);
  };
  replace(
    container,
    h(
      'ul',
      { class: 'tasks' },
      tasks.map((t) =>
        h(
          'li',
          { class: `task status-${t.status}`, dataset: { taskId: t.id, status: t.status, op: t.op, nextStep: t.next_step ?? '' } },
          h('div', { class: 'task-head' }, h('strong', { text: `task ${t.id}` }), ` ${t.op}${t.mm ? ` · mm ${t.mm}` : ''} `, h('span', { class: `state state-${t.status}`, text: t.status })),
          h(
            'p',
            { class: 'task-detail' },
            `next step `,
            h('code', { text: t.next_step ?? '—' }),
            t.blocked_on ? [' · blocked on ', h('code', { text: t.blocked_on })] : null,
            ` · ${t.steps_run} steps run`,
          ),
          h('p', { class: 'task-detail' }, 'holds ', t.locks.length ? h('code', { text: t.locks.join(', ') }) : 'no lock', t.atomic ? ' (atomic)' : ''),
          h(
            'div',
            { class: 'buttons' },
            h('button', { type: 'button', text: 'Step', dataset: { focusKey: `step-${t.id}`, action: 'step' }, 'aria-label': `Step task ${t.id} by one step`, on: { click: act(t, 'step') } }),
            h('button', { type: 'button', text: 'Resume', dataset: { focusKey: `resume-${t.id}`, action: 'resume' }, 'aria-label': `Resume task ${t.id}`, on: { click: act(t, 'resume') } }),
          ),
        ),
      ),
    ),
  );
}
