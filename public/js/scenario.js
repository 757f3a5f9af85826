// Scenario files (docs/scenarios.md) played one step at a time against the live server: each
// step becomes the API request the scenario runner would make, and the server judges its
// expectations (POST /scenarios/judge, the runner's own rules, written once in Swift) from the
// request's answer and the live world. Nothing here touches the DOM.

import { request, get, post, parseAddr } from './api.js';

/** The world a scenario gets when it names no options (Scenario.config): a v17 kernel. */
export const WORLD_DEFAULTS = { frames: 256, swap_slots: 256, kernel: 'v17', release_order: 'v17' };

/**
 * The options POST /reset takes for a scenario's world. The kernel is always sent (a reset
 * keeps the world's otherwise); a modern world has the fixed release order, so v17's default
 * is not sent with it.
 */
export function resetBody(scenario) {
  const world = scenario.world ?? {};
  const defaults = world.kernel === 'modern' ? { ...WORLD_DEFAULTS, release_order: undefined } : WORLD_DEFAULTS;
  return { ...defaults, ...world };
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

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

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

const toInt = (v) => (v === undefined || v === null ? undefined : Number(parseAddr(v)));

/**
 * Has the server judge a step's expectations (POST /scenarios/judge) against `answer`, the
 * request's answer (null when the step sent none), and the live world. Resolves to a list of
 * `{key, label, expected, actual, result: "pass" | "fail"}`.
 */
export async function checkStep(step, answer, violationsBefore = 0) {
  const expect = step.expect;
  if (!expect) return [];
  const data = answer?.ok ? answer.data : null;
  const isCreate = step.do?.op === 'create_mm';
  // The runner reads a finished create_mm as {"ret": 0}; every other step as the task's answer.
  const judged = isCreate ? { ret: data?.ret ?? 0, trace: data?.trace ?? [] } : data;
  const mm = toInt(step.do?.mm) ?? (isCreate ? data?.id : undefined) ?? 1;
  const verdict = await post('/scenarios/judge', { expect, answer: judged, violations_before: violationsBefore, mm });
  if (!verdict.ok) throw new Error(`POST /scenarios/judge failed: ${verdict.data?.error?.message ?? verdict.status}`);
  return verdict.data.checks.map((c) => ({ key: c.key, label: c.label, expected: c.expected, actual: c.actual, result: c.passed ? 'pass' : 'fail' }));
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
