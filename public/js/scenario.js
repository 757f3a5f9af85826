// Scenario files (docs/scenarios.md) played one step at a time against the live server: each
// step becomes the API request the scenario runner would make, and its expectations are
// checked the way the runner checks them (ScenarioRunner.swift), from the request's answer
// and the GET endpoints. Nothing here touches the DOM.

import { request, get, hex, parseAddr, NOTIFIER_CALLS } from './api.js';

/** The world a scenario gets when it names no options (Scenario.config). */
export const WORLD_DEFAULTS = { frames: 256, swap_slots: 256, release_order: 'v17' };

/** The options POST /reset takes for a scenario's world. */
export function resetBody(scenario) {
  return { ...WORLD_DEFAULTS, ...(scenario.world ?? {}) };
}

/** How a step reads in a report, as the runner labels it ("exit as exit pausing at release"). */
export function stepLabel(step) {
  if (step.do) return `${step.do.op}${step.name ? ` as ${step.name}` : ''}${step.pause_at ? ` pausing at ${step.pause_at}` : ''}`;
  if (step.step) return `step ${step.step}`;
  if (step.resume) return `resume ${step.resume}`;
  return 'check';
}

/** Checks the shape of a parsed scenario; returns a message, or null when it is usable. */
export function problem(scenario) {
  if (!scenario || typeof scenario !== 'object' || Array.isArray(scenario)) return 'a scenario is a JSON object';
  if (typeof scenario.description !== 'string') return 'the scenario needs a "description" string';
  if (!Array.isArray(scenario.steps)) return 'the scenario needs a "steps" array';
  const bad = scenario.steps.findIndex((s) => !s || typeof s !== 'object' || (!s.do && !s.step && !s.resume && !s.expect));
  if (bad >= 0) return `step ${bad + 1} has no "do", "step", "resume" or "expect"`;
  const noOp = scenario.steps.findIndex((s) => s.do && typeof s.do.op !== 'string');
  if (noOp >= 0) return `step ${noOp + 1}: "do" needs an "op"`;
  return null;
}

const MM_OPS = new Set(['mmap', 'munmap', 'mprotect', 'mremap', 'madvise', 'touch', 'fork', 'exit', 'remap_file_pages', 'apply_to_page_range']);
const WORLD_OPS = new Set(['reclaim', 'writeback', 'migrate']);

/**
 * The request a `do` command makes: [method, path, body]. The command's fields are the API's
 * body fields, `mm` and `notifier` go into the path, and the runner's defaults (Command.swift)
 * are filled in where the API wants the field.
 */
export function commandRequest(command, pauseAt) {
  const { op, mm, notifier, ...fields } = command;
  const body = { ...fields };
  if (pauseAt) body.pause_at = pauseAt;
  if (op === 'create_mm') return ['POST', '/mms', body];
  if (op === 'mmap' && !body.flags) body.flags = ['private', body.file === undefined ? 'anonymous' : 'private'];
  if (op === 'madvise' && !body.advice) body.advice = 'dontneed';
  if (['touch', 'fault', 'access'].includes(op) && body.write === undefined) body.write = false;
  if (MM_OPS.has(op)) return ['POST', `/mms/${mm}/${op}`, body];
  if (WORLD_OPS.has(op)) return ['POST', `/${op}`, op === 'writeback' ? body : { mm, ...body }];
  if (op === 'register') return ['POST', `/mms/${mm}/notifiers`, body];
  if (op === 'unregister') return ['DELETE', `/mms/${mm}/notifiers/${notifier}`, body];
  if (op === 'fault' || op === 'access') return ['POST', `/mms/${mm}/notifiers/${notifier}/${op}`, body];
  throw new Error(`unknown op '${op}'`);
}

// --- Matching: the rule of JSONValue.matches.

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The value as an exact number (a canonical decimal string), when it is a number or a "0x" address. */
function numeric(v) {
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v).toString() : String(v);
  if (typeof v === 'string' && v.startsWith('0x')) return /^0x[0-9a-fA-F]+$/.test(v) ? BigInt(v).toString() : null;
  return null;
}

/**
 * True when `actual` has every field `expected` names, recursively; arrays match element by
 * element with the same length; numbers and hex strings compare by value; a field expected to
 * be null matches a missing one.
 */
export function matches(expected, actual) {
  if (isObject(expected) && isObject(actual)) {
    return Object.entries(expected).every(([k, v]) => (actual[k] === undefined ? v === null : matches(v, actual[k])));
  }
  if (Array.isArray(expected) && Array.isArray(actual)) {
    return expected.length === actual.length && expected.every((e, i) => matches(e, actual[i]));
  }
  const a = numeric(expected);
  const b = numeric(actual);
  if (a !== null && b !== null) return a === b;
  if (isObject(expected) || Array.isArray(expected) || isObject(actual) || Array.isArray(actual)) return false;
  return expected === (actual === undefined ? null : actual);
}

function inAnyOrder(expected, actual) {
  if (!Array.isArray(expected) || expected.length !== actual.length) return false;
  const unused = [...actual];
  return expected.every((item) => {
    const i = unused.findIndex((a) => matches(item, a));
    if (i < 0) return false;
    unused.splice(i, 1);
    return true;
  });
}

function inOrder(expected, actual) {
  if (!Array.isArray(expected)) return false;
  let cursor = 0;
  return expected.every((item) => {
    const pattern = typeof item === 'string' ? { call: item } : item;
    const found = actual.findIndex((a, i) => i >= cursor && matches(pattern, a));
    if (found < 0) return false;
    cursor = found + 1;
    return true;
  });
}

/** The answer fields the value expectations read. */
export const ANSWER_KEYS = new Set([
  'ret', 'errno', 'status', 'next_step', 'values', 'faults', 'retries', 'locks_taken', 'child', 'addr', 'scanned', 'referenced',
  'swapped_out', 'kept', 'failed', 'cleaned', 'migrated', 'value', 'tlb_hit', 'spte', 'id',
]);

/**
 * The part of `actual` that `expected` talks about: the fields an expected object names, element
 * by element for arrays (an extra trace event keeps its call and notifier), so that the actual
 * column reads against the expected one.
 */
export function project(expected, actual) {
  if (isObject(expected) && isObject(actual)) {
    return Object.fromEntries(Object.keys(expected).map((k) => [k, project(expected[k], actual[k])]));
  }
  if (Array.isArray(actual)) {
    return actual.map((a, i) => {
      if (Array.isArray(expected) && i < expected.length) return project(expected[i], a);
      if (isObject(a) && a.call) return Object.fromEntries(Object.entries(a).filter(([k]) => ['call', 'notifier'].includes(k)));
      return a;
    });
  }
  return actual;
}

/** A compact JSON text for a value, for the expected/actual columns. */
export function show(value) {
  if (value === undefined) return '(absent)';
  return JSON.stringify(value);
}

// --- Reading the state the state expectations name.

async function findNotifier(id) {
  const { mms } = await get('/mms');
  for (const mm of mms) {
    if (!(mm.notifiers ?? []).length) continue;
    const { notifiers } = await get(`/mms/${mm.id}/notifiers`);
    const n = notifiers.find((x) => x.id === id);
    if (n) return n;
  }
  return null;
}

async function ptesAt(mm, address) {
  const answer = await request('GET', `/mms/${mm}/ptes?addr=${hex(address)}&length=4096`);
  if (!answer.ok) return undefined;
  return answer.data.ptes.find((p) => parseAddr(p.address) === address) ?? null;
}

const toInt = (v) => (v === undefined || v === null ? undefined : Number(parseAddr(v)));

/** The actual object a state expectation item is compared with (ScenarioRunner.items). */
async function stateItem(key, item, defaultMM) {
  if (!isObject(item)) return { label: key, actual: 'an object per item' };
  const mm = toInt(item.mm) ?? defaultMM;
  const address = item.address === undefined ? null : parseAddr(item.address);
  const notifier = toInt(item.notifier) ?? 1;
  const named = Object.fromEntries(Object.entries(item).filter(([k]) => ['mm', 'address', 'notifier', 'id', 'name'].includes(k)));
  const label = `${key} ${JSON.stringify(named)}`;
  switch (key) {
    case 'ptes': {
      if (address === null) return { label, actual: 'no such mm or no address' };
      const pte = await ptesAt(mm, address);
      if (pte === undefined) return { label, actual: 'no such mm or no address' };
      return { label, actual: { ...(pte ?? { state: 'none' }), mm, address: hex(address) } };
    }
    case 'sptes':
    case 'tlb': {
      const n = address === null ? null : await findNotifier(notifier);
      if (!n) return { label, actual: 'no such notifier or no address' };
      const what = key === 'tlb' ? ['tlb', 'entries'] : ['sptes', 'sptes'];
      const list = (await get(`/mms/${n.mm}/notifiers/${n.id}/${what[0]}?addr=${hex(address)}&length=4096`))[what[1]];
      const entry = list.find((e) => parseAddr(e.address) === address);
      return { label, actual: { ...(entry ? { ...entry, present: true } : { present: false }), notifier, address: hex(address) } };
    }
    case 'frame_at': {
      const pte = address === null ? null : await ptesAt(mm, address);
      if (!pte || pte.state !== 'present') return { label, actual: 'no page mapped there' };
      const frame = (await get(`/frames?from=${pte.pfn}&limit=1`)).frames.find((f) => f.pfn === pte.pfn);
      return { label, actual: frame ? { ...frame, mm, address: hex(address) } : 'no page mapped there' };
    }
    case 'frames': {
      const frames = await get('/frames?limit=1');
      return { label, actual: { in_use: frames.total - frames.free, free: frames.free } };
    }
    case 'notifiers': {
      const id = toInt(item.id) ?? notifier;
      const n = await findNotifier(id);
      return { label, actual: n ?? `no notifier ${id}` };
    }
    case 'mm':
    case 'mms': {
      const id = toInt(item.id) ?? mm;
      const answer = await request('GET', `/mms/${id}`);
      if (!answer.ok) return { label, actual: `no mm ${id}` };
      return { label, actual: { ...answer.data, vma_count: (answer.data.vmas ?? []).length } };
    }
    default:
      return { label, actual: undefined, skipped: true };
  }
}

/**
 * Checks a step's expectations. `answer` is the request's answer (null when the step sent
 * none), `createdMM` the id a create_mm made. Resolves to a list of
 * `{key, label, expected, actual, result: "pass" | "fail" | "skipped", why}`.
 */
export async function checkStep(step, answer, violationsBefore = 0) {
  const expect = step.expect;
  if (!expect) return [];
  const data = answer?.ok ? answer.data : null;
  const trace = Array.isArray(data?.trace) ? data.trace : [];
  const calls = trace.filter((e) => NOTIFIER_CALLS.has(e.call));
  const isCreate = step.do?.op === 'create_mm';
  const createdMM = isCreate ? data?.id : undefined;
  const defaultMM = toInt(step.do?.mm) ?? createdMM ?? 1;
  const checks = [];
  const add = (key, label, expected, actual, ok) => checks.push({ key, label, expected, actual, result: ok ? 'pass' : 'fail' });
  for (const key of Object.keys(expect).sort()) {
    const expected = expect[key];
    if (ANSWER_KEYS.has(key)) {
      // The runner reads a finished create_mm as {"ret": 0}; every other step as the task's answer.
      const fields = isCreate ? { ret: data?.ret ?? 0 } : (data ?? {});
      const actual = fields[key];
      add(key, key, expected, actual, data !== null && matches(expected, actual ?? null));
    } else if (key === 'calls') {
      add(key, key, expected, calls, matches(expected, calls));
    } else if (key === 'calls_any_order') {
      add(key, key, expected, calls, inAnyOrder(expected, calls));
    } else if (key === 'events') {
      add(key, 'events (in this order)', expected, trace.map((e) => e.call), inOrder(expected, trace));
    } else if (key === 'invariants' || key === 'violations') {
      // invariants: every invariant violated so far; violations: those this step broke.
      const { violations } = await get('/invariants');
      const since = key === 'invariants' ? 0 : violationsBefore;
      const found = [...new Set(violations.slice(since).map((v) => v.invariant))].sort();
      const wanted = expected === 'ok' ? [] : Array.isArray(expected) ? [...expected].sort() : expected;
      add(key, key, expected, found.length ? found : 'ok', matches(wanted, found));
    } else {
      const items = Array.isArray(expected) ? expected : [expected];
      for (const item of items) {
        const { label, actual, skipped } = await stateItem(key, item, defaultMM);
        if (skipped) {
          checks.push({ key, label, expected: item, actual, result: 'skipped', why: 'not readable over the API; “Run all on the server” checks it' });
        } else {
          add(key, label, item, actual, matches(item, actual));
        }
      }
    }
  }
  return checks;
}

/**
 * A scenario being played against the live server: `reset()` starts it over, `next()` runs one
 * step and resolves to that step's record `{index, request, answer, error, checks, passed}`.
 */
export class Player {
  constructor(scenario, stepNames = {}) {
    this.scenario = scenario;
    this.knownSteps = new Set(Object.values(stepNames).flat());
    this.position = 0;
    this.started = false;
    this.names = new Map();
    this.records = [];
  }

  get done() {
    return this.position >= this.scenario.steps.length;
  }

  /** POST /reset with the scenario's world options; resolves to the answer. */
  async reset() {
    const answer = await request('POST', '/reset', resetBody(this.scenario));
    this.position = 0;
    this.names = new Map();
    this.records = [];
    this.started = answer.ok;
    return answer;
  }

  /** The request the step at `index` makes, or an error message. */
  requestFor(step) {
    if (step.do) return commandRequest(step.do, step.pause_at);
    const name = step.step ?? step.resume;
    if (name === undefined) return null;
    const task = this.names.get(name);
    if (task === undefined) throw new Error(`no task named '${name}' is running`);
    return ['POST', `/tasks/${task}/${step.step !== undefined ? 'step' : 'resume'}`, undefined];
  }

  /** Runs the next step and checks it. */
  async next() {
    const index = this.position;
    const step = this.scenario.steps[index];
    this.position += 1;
    const record = { index, step, request: null, answer: null, error: null, checks: [], passed: true };
    this.records[index] = record;
    try {
      if (step.pause_at && this.knownSteps.size && !this.knownSteps.has(step.pause_at)) {
        record.error = `pause_at names no step: '${step.pause_at}'`;
      }
      const violationsBefore = step.expect?.violations === undefined ? 0 : (await get('/invariants')).violations.length;
      const req = this.requestFor(step);
      if (req) {
        record.request = req;
        record.answer = await request(...req);
        if (!record.answer.ok) {
          const e = record.answer.data?.error;
          record.error = `the operation cannot run: ${e ? `${e.code}: ${e.message}` : `HTTP ${record.answer.status}`}`;
        } else if (step.do && step.name && record.answer.data?.task !== undefined) {
          this.names.set(step.name, record.answer.data.task);
        }
      }
      if (!record.error || record.answer?.ok) record.checks = await checkStep(step, record.answer, violationsBefore);
    } catch (error) {
      record.error = String(error.message ?? error);
    }
    record.passed = !record.error && record.checks.every((c) => c.result !== 'fail');
    return record;
  }
}

/** The one-line summary of an expectation, for the step list before it runs. */
export function summarize(key, expected) {
  if (key === 'invariants') return expected === 'ok' ? 'invariants ok' : `invariants: ${[].concat(expected).join(', ')}`;
  if (key === 'violations') return expected === 'ok' ? 'this step breaks nothing' : `this step breaks: ${[].concat(expected).join(', ')}`;
  if (key === 'calls' || key === 'calls_any_order') {
    const list = [].concat(expected);
    const words = list.map((c) => (typeof c === 'object' && c ? `${c.call ?? '?'}${c.notifier !== undefined ? `(n${c.notifier})` : ''}` : String(c)));
    return `${key === 'calls' ? 'calls' : 'calls in any order'}: ${words.length ? words.join(' → ') : 'none'}`;
  }
  if (key === 'events') return `events: ${[].concat(expected).map((e) => (typeof e === 'string' ? e : e?.call ?? '?')).join(' … ')}`;
  if (ANSWER_KEYS.has(key)) return `${key} ${JSON.stringify(expected)}`;
  const n = Array.isArray(expected) ? expected.length : 1;
  return `${key}: ${n === 1 ? JSON.stringify(Array.isArray(expected) ? expected[0] : expected) : `${n} items`}`;
}
