// The action forms: one small declarative spec per operation, drawn by one renderer. Each form
// shows the answer's ret and errno (or, for a 4xx, the error object's code and message).
// A form or field with `kernel` shows only in a world of that kernel (the OOM reaper, an
// interval's start and length are modern; v17's release order is v17's).

import { h, plural } from '../dom.js';
import { request } from '../api.js';

// The drivers and their bug switches, as GET /drivers serves them (state.drivers).
const KINDS = (state) => state.drivers.map((d) => d.name);
const BUGS = (state) => [...new Set(state.drivers.flatMap((d) => d.variants.map((v) => v.name)))];
const PROTS = ['rw', 'r', 'rx', 'rwx', 'none'];
const ADDR = '0x7f0000000000';

/** Field makers. `name` is the key the request builder reads. */
const mm = () => ({ name: 'mm', label: 'mm', type: 'mm' });
const notifier = () => ({ name: 'target', label: 'notifier', type: 'notifier' });
const text = (name, label, value, hint) => ({ name, label, type: 'text', value, hint });
const number = (name, label, value) => ({ name, label, type: 'number', value });
const check = (name, label, checked = false) => ({ name, label, type: 'checkbox', checked });
const choice = (name, label, options, value) => ({ name, label, type: 'select', options, value });
const many = (name, label, options) => ({ name, label, type: 'checkboxes', options });
/** A field (or form) shown only in a world of this kernel. */
const only = (kernel) => (spec) => ({ ...spec, kernel });
const modern = only('modern');

const opt = (value) => (value === '' || value === undefined ? undefined : value);
const int = (value) => (value === '' || value === undefined ? undefined : Number(value));
const [mmOf, nOf] = [(v) => v.target.split(':')[0], (v) => v.target.split(':')[1]];

/** Every form: its id, title, fields, the step catalog entry for pause_at, and its request. */
export const FORMS = [
  { id: 'create-mm', title: 'Create an mm', open: true, fields: [text('name', 'name (optional)', 'guest')], build: (v) => ['POST', '/mms', { name: opt(v.name) }] },
  {
    id: 'mmap',
    title: 'mmap',
    open: true,
    pause: 'mmap',
    fields: [
      mm(),
      text('addr', 'addr (empty: kernel picks)', ''),
      number('length', 'length (bytes)', 16384),
      choice('prot', 'prot', PROTS, 'rw'),
      choice('sharing', 'sharing', ['private', 'shared'], 'private'),
      text('file', 'file (empty: anonymous)', ''),
      many('flags', 'more flags', ['fixed', 'locked', 'hugetlb']),
    ],
    build: (v) => [
      'POST',
      `/mms/${v.mm}/mmap`,
      {
        addr: opt(v.addr),
        length: int(v.length),
        prot: v.prot,
        flags: [v.sharing, ...(v.file ? [] : ['anonymous']), ...v.flags],
        file: opt(v.file),
      },
    ],
  },
  {
    id: 'touch',
    title: 'touch (CPU access)',
    pause: 'touch',
    fields: [mm(), text('addr', 'addr', ADDR), number('length', 'length (bytes)', 16384), check('write', 'write', true), number('value', 'value written', 1)],
    build: (v) => ['POST', `/mms/${v.mm}/touch`, { addr: v.addr, length: int(v.length), write: v.write, value: v.write ? int(v.value) : undefined }],
  },
  {
    id: 'register',
    title: 'Register a secondary MMU',
    pause: 'register',
    fields: [
      mm(),
      choice('kind', 'kind', KINDS, 'kvm'),
      many('bugs', 'driver bugs', BUGS),
      check('signal_pending', 'signal pending (EINTR)'),
      modern(text('start', 'interval start (dmirror; empty: 0)', '')),
      modern(number('length', 'interval length (empty: all)', '')),
    ],
    build: (v) => [
      'POST',
      `/mms/${v.mm}/notifiers`,
      { kind: v.kind, bugs: v.bugs, signal_pending: v.signal_pending || undefined, start: opt(v.start), length: int(v.length) },
    ],
  },
  {
    id: 'fault',
    title: 'Secondary fault',
    pause: 'fault',
    fields: [notifier(), text('address', 'address', ADDR), check('write', 'write', true)],
    build: (v) => ['POST', `/mms/${mmOf(v)}/notifiers/${nOf(v)}/fault`, { address: v.address, write: v.write }],
  },
  {
    id: 'access',
    title: 'Secondary access',
    pause: 'access',
    fields: [notifier(), text('address', 'address', ADDR), check('write', 'write'), number('value', 'value written', 2)],
    build: (v) => ['POST', `/mms/${mmOf(v)}/notifiers/${nOf(v)}/access`, { address: v.address, write: v.write, value: v.write ? int(v.value) : undefined }],
  },
  {
    id: 'unregister',
    title: 'Unregister a notifier',
    pause: 'unregister',
    fields: [notifier()],
    build: (v) => ['DELETE', `/mms/${mmOf(v)}/notifiers/${nOf(v)}`, {}],
  },
  {
    id: 'munmap',
    title: 'munmap',
    pause: 'munmap',
    fields: [mm(), text('addr', 'addr', ADDR), number('length', 'length (bytes)', 16384)],
    build: (v) => ['POST', `/mms/${v.mm}/munmap`, { addr: v.addr, length: int(v.length) }],
  },
  {
    id: 'mprotect',
    title: 'mprotect',
    pause: 'mprotect',
    fields: [mm(), text('addr', 'addr', ADDR), number('length', 'length (bytes)', 16384), choice('prot', 'prot', PROTS, 'r')],
    build: (v) => ['POST', `/mms/${v.mm}/mprotect`, { addr: v.addr, length: int(v.length), prot: v.prot }],
  },
  {
    id: 'mremap',
    title: 'mremap',
    pause: 'mremap',
    fields: [
      mm(),
      text('old_addr', 'old_addr', ADDR),
      number('old_length', 'old_length', 16384),
      number('new_length', 'new_length', 32768),
      many('flags', 'flags', ['maymove', 'fixed']),
      text('new_addr', 'new_addr (with fixed)', ''),
    ],
    build: (v) => [
      'POST',
      `/mms/${v.mm}/mremap`,
      { old_addr: v.old_addr, old_length: int(v.old_length), new_length: int(v.new_length), flags: v.flags, new_addr: opt(v.new_addr) },
    ],
  },
  {
    id: 'madvise',
    title: 'madvise(DONTNEED)',
    pause: 'madvise',
    fields: [mm(), text('addr', 'addr', ADDR), number('length', 'length (bytes)', 4096)],
    build: (v) => ['POST', `/mms/${v.mm}/madvise`, { addr: v.addr, length: int(v.length), advice: 'dontneed' }],
  },
  { id: 'fork', title: 'fork', pause: 'fork', fields: [mm()], build: (v) => ['POST', `/mms/${v.mm}/fork`, {}] },
  {
    id: 'reclaim',
    title: 'reclaim (age, then swap out)',
    pause: 'reclaim',
    fields: [
      { name: 'mm', label: 'mm (empty: every mm)', type: 'mm', optional: true },
      text('addr', 'addr (needs mm)', ''),
      number('length', 'length (bytes)', ''),
      number('pages', 'pages to scan', ''),
    ],
    build: (v) => ['POST', '/reclaim', { mm: int(v.mm), addr: opt(v.addr), length: int(v.length), pages: int(v.pages) }],
  },
  {
    id: 'writeback',
    title: 'writeback (page_mkclean)',
    pause: 'writeback',
    fields: [text('file', 'file (empty: every file)', '')],
    build: (v) => ['POST', '/writeback', { file: opt(v.file) }],
  },
  {
    id: 'migrate',
    title: 'migrate',
    pause: 'migrate',
    fields: [mm(), text('addr', 'addr', ADDR), number('length', 'length (bytes)', 4096)],
    build: (v) => ['POST', '/migrate', { mm: int(v.mm), addr: v.addr, length: int(v.length) }],
  },
  { id: 'exit', title: 'exit', pause: 'exit', fields: [mm()], build: (v) => ['POST', `/mms/${v.mm}/exit`, {}] },
  modern({
    id: 'oom-reap',
    title: 'OOM reaper',
    pause: 'oom_reap',
    fields: [mm()],
    build: (v) => ['POST', `/mms/${v.mm}/oom_reap`, {}],
  }),
  {
    id: 'reset',
    title: 'Reset the world',
    fields: [
      { name: 'kernel', label: 'kernel', type: 'kernel' },
      only('v17')(choice('release_order', 'release order', ['v17', 'fixed'], 'v17')),
      number('frames', 'frames', ''),
      number('swap_slots', 'swap slots', ''),
    ],
    // A modern world has the fixed release order and refuses v17's: it is not sent there.
    build: (v) => [
      'POST',
      '/reset',
      { kernel: v.kernel, release_order: v.kernel === 'modern' ? undefined : v.release_order, frames: int(v.frames), swap_slots: int(v.swap_slots) },
    ],
  },
];

/** The few answer fields worth a word besides ret/errno. */
const EXTRA = ['id', 'addr', 'child', 'faults', 'retries', 'scanned', 'referenced', 'swapped_out', 'failed', 'cleaned', 'migrated', 'locks_taken', 'value', 'tlb_hit', 'frames', 'release_order', 'kernel', 'attempts'];

/** Writes an answer into an <output>: ret and errno, the task's status, or the 4xx error. */
export function showAnswer(output, answer, what = '') {
  const data = answer.data ?? {};
  output.dataset.http = String(answer.status);
  delete output.dataset.ret;
  delete output.dataset.errno;
  delete output.dataset.errorCode;
  const lines = [];
  if (!answer.ok) {
    const error = data.error ?? {};
    output.dataset.errorCode = error.code ?? '';
    output.className = 'answer error';
    lines.push(h('strong', { text: `HTTP ${answer.status} ${error.code ?? ''}` }), h('span', { class: 'message', text: `: ${error.message ?? 'no message'}` }));
  } else {
    output.dataset.ret = String(data.ret ?? '');
    if (data.errno) output.dataset.errno = data.errno;
    output.className = `answer ${data.ret < 0 ? 'failed' : 'ok'}`;
    lines.push(h('strong', { text: `ret ${data.ret ?? '—'}` }));
    if (data.errno) lines.push(' ', h('strong', { class: 'errno', text: data.errno }));
    if (data.status && data.status !== 'done') lines.push(` · task ${data.task} ${data.status}${data.next_step ? ` before ${data.next_step}` : ''}${data.blocked_on ? ` on ${data.blocked_on}` : ''}`);
    const extra = EXTRA.filter((k) => data[k] !== undefined && data[k] !== null).map((k) => `${k} ${JSON.stringify(data[k])}`);
    if (data.spte) extra.push(`spte → pfn ${data.spte.pfn}${data.spte.writable ? ' writable' : ''}`);
    if (extra.length) lines.push(h('br'), extra.join(' · '));
    if (data.trace) lines.push(h('br'), `${plural(data.trace.length, 'trace event')}`);
  }
  output.replaceChildren(what ? `${what}: ` : '', ...lines);
}

/** A field's control; one with `kernel` is marked with it (updateTargets hides it elsewhere). */
function fieldControl(form, field, state) {
  const control = fieldElement(form, field, state);
  if (field.kernel) control.dataset.kernel = field.kernel;
  return control;
}

function fieldElement(form, field, state) {
  const id = `${form.id}-${field.name}`;
  if (typeof field.options === 'function') field = { ...field, options: field.options(state) };
  if (field.type === 'checkboxes') {
    return h(
      'fieldset',
      { class: 'choices' },
      h('legend', { text: field.label }),
      field.options.map((o) => h('label', {}, h('input', { type: 'checkbox', name: field.name, value: o, id: `${id}-${o}` }), ` ${o}`)),
    );
  }
  if (field.type === 'checkbox') {
    return h('label', { class: 'check', for: id }, h('input', { type: 'checkbox', id, name: field.name, checked: field.checked }), ` ${field.label}`);
  }
  let control;
  if (field.type === 'select') {
    control = h('select', { id, name: field.name }, field.options.map((o) => h('option', { value: o, selected: o === field.value, text: o })));
  } else if (field.type === 'kernel') {
    // The world's kernel until the user picks another (followKernel).
    control = h('select', { id, name: field.name, dataset: { follow: 'kernel' } }, ['v17', 'modern'].map((k) => h('option', { value: k, text: k })));
  } else if (field.type === 'mm' || field.type === 'notifier') {
    control = h('select', { id, name: field.name, dataset: { source: field.type, optional: String(Boolean(field.optional)) } });
  } else if (field.type === 'pause') {
    const steps = state.steps[form.pause] ?? [];
    control = h(
      'select',
      { id, name: field.name, dataset: { pauseFor: form.pause } },
      h('option', { value: '', text: 'run to completion' }),
      steps.map((s) => h('option', { value: s, text: s })),
    );
  } else {
    control = h('input', {
      id,
      name: field.name,
      type: field.type === 'number' ? 'number' : 'text',
      value: field.value ?? '',
      min: field.type === 'number' ? '0' : null,
      spellcheck: 'false',
      autocomplete: 'off',
    });
  }
  return h('div', { class: 'field' }, h('label', { for: id, text: field.label }), control);
}

function readForm(element, form) {
  const values = {};
  for (const field of form.fields.concat(form.pause ? [{ name: 'pause_at', type: 'pause' }] : [])) {
    if (field.type === 'checkboxes') {
      values[field.name] = [...element.querySelectorAll(`input[name="${field.name}"]:checked`)].map((i) => i.value);
    } else if (field.type === 'checkbox') {
      values[field.name] = element.querySelector(`[name="${field.name}"]`).checked;
    } else {
      values[field.name] = element.querySelector(`[name="${field.name}"]`).value.trim();
    }
  }
  return values;
}

/** Sends a form's request; resolves to the answer (also shown in the form's output). */
export async function submit(element, form) {
  const values = readForm(element, form);
  const [method, path, body] = form.build(values);
  if (values.pause_at) body.pause_at = values.pause_at;
  const output = element.querySelector('output');
  output.textContent = '…';
  const answer = await request(method, path, body);
  showAnswer(output, answer);
  return answer;
}

/** Draws every form into `container`; `after(answer, form)` runs after each answer. */
export function renderActions(container, state, after) {
  container.replaceChildren(
    ...FORMS.map((form) => {
      const fields = form.fields.map((f) => fieldControl(form, f, state));
      if (form.pause) fields.push(fieldControl(form, { name: 'pause_at', label: 'pause at step', type: 'pause' }, state));
      const element = h(
        'form',
        { id: `form-${form.id}`, class: 'action', dataset: { form: form.id }, 'aria-label': form.title },
        fields,
        h('div', { class: 'submit-row' }, h('button', { type: 'submit', text: form.id === 'reset' ? 'Reset' : 'Run' }), h('output', { class: 'answer', 'aria-live': 'polite' })),
      );
      element.addEventListener('submit', async (event) => {
        event.preventDefault();
        const answer = await submit(element, form);
        after(answer, form);
      });
      const dataset = form.kernel ? { form: form.id, kernel: form.kernel } : { form: form.id };
      return h('details', { class: 'action-group', open: form.open, dataset }, h('summary', { text: form.title }), element);
    }),
  );
  updateTargets(container, state);
}

/** Shows the forms and fields of the world's kernel only (none of them until it is known). */
function showKernel(container, state) {
  for (const element of container.querySelectorAll('[data-kernel]')) element.hidden = element.dataset.kernel !== state.kernel;
}

/** A kernel selector shows the world's kernel; a choice of the user's stands until the world's kernel changes. */
function followKernel(container, state) {
  for (const select of container.querySelectorAll('select[data-follow="kernel"]')) {
    if (!state.kernel || select.dataset.world === state.kernel) continue;
    select.value = state.kernel;
    select.dataset.world = state.kernel;
  }
}

/** Keeps the mm and notifier selectors in step with the world, preserving the choice. */
export function updateTargets(container, state) {
  showKernel(container, state);
  followKernel(container, state);
  for (const select of container.querySelectorAll('select[data-source]')) {
    const before = select.value;
    const options = [];
    if (select.dataset.optional === 'true') options.push(h('option', { value: '', text: 'every mm' }));
    if (select.dataset.source === 'mm') {
      for (const m of state.mms) options.push(h('option', { value: m.id, text: `mm ${m.id}${m.name ? ` ${m.name}` : ''} (${m.state})` }));
    } else {
      for (const m of state.mms) for (const n of m.notifierList) options.push(h('option', { value: `${m.id}:${n.id}`, text: `mm ${m.id} · #${n.id} ${n.kind} (${n.state})` }));
    }
    if (!options.length) options.push(h('option', { value: '', text: select.dataset.source === 'mm' ? 'no mm yet' : 'no notifier yet' }));
    select.replaceChildren(...options);
    if ([...select.options].some((o) => o.value === before)) select.value = before;
    else if (select.dataset.optional !== 'true' && select.options.length) select.selectedIndex = select.options.length - 1;
  }
}
