// The dashboard's view of the world: a snapshot read from the GET endpoints, plus the tail of
// the trace. `refresh()` re-reads the snapshot; `appendEvents()` adds trace events as they
// arrive. Views subscribe with `onChange` and redraw from `state`.

import { get, parseAddr, hex, PAGE } from './api.js';

/** How many pages of a VMA the page grid shows at once. */
export const WINDOW_PAGES = 256;
/** A secondary table with more entries than this is not drawn (see loadMM). */
const SECONDARY_READ_MAX = 16384;
/** Ptes outside every VMA are looked for only in mms with at most this many resident pages. */
const OUTSIDE_READ_RSS = 4096;
/** How many trace events the page keeps. */
export const TRACE_KEEP = 1500;

export const state = {
  mms: [],
  frames: { total: 0, free: 0, frames: [] },
  tasks: [],
  invariants: { ok: true, violations: [] },
  steps: {},
  drivers: [],
  /** The world's kernel, as GET /version reports it: v17 or modern. */
  kernel: null,
  events: [],
  /** The seq of the newest event seen (GET /trace's `next`). */
  next: 0,
  /** Per VMA (`mm:start`), the first page the grid shows, as a page index into the VMA. */
  windows: new Map(),
  loaded: false,
  error: null,
};

const listeners = new Set();

/** Calls `fn(state)` after every refresh. */
export function onChange(fn) {
  listeners.add(fn);
}

function emit() {
  for (const fn of listeners) {
    try {
      fn(state);
    } catch (error) {
      console.warn('a view failed to draw', error);
    }
  }
}

/** The key of a VMA's window. */
export function windowKey(mm, vma) {
  return `${mm}:${vma.start}`;
}

/** The first page shown of a VMA, clamped to the VMA. */
export function windowStart(mm, vma) {
  const pages = vmaPages(vma);
  const offset = state.windows.get(windowKey(mm, vma)) ?? 0;
  return Math.max(0, Math.min(offset, Math.max(0, pages - WINDOW_PAGES)));
}

/** Moves a VMA's window (in pages) and redraws. */
export function setWindow(mm, vma, offset) {
  state.windows.set(windowKey(mm, vma), Math.max(0, offset));
  scheduleRefresh();
}

/** The number of pages in a VMA. */
export function vmaPages(vma) {
  return Number((parseAddr(vma.end) - parseAddr(vma.start)) / BigInt(PAGE));
}

/** True when `address` lies in one of the mm's VMAs. */
export function insideVMA(mm, address) {
  const a = parseAddr(address);
  return (mm.vmas ?? []).some((v) => parseAddr(v.start) <= a && a < parseAddr(v.end));
}

async function loadMM(summary) {
  const mm = await get(`/mms/${summary.id}`);
  const notifiers = mm.notifiers.length ? (await get(`/mms/${mm.id}/notifiers`)).notifiers : [];
  // Only the secondary tables that hold something are read, and only while they are small:
  // GET .../sptes and .../tlb take no address range, so a huge table is not read at all.
  await Promise.all(
    notifiers.map(async (n) => {
      n.tooMany = n.sptes > SECONDARY_READ_MAX || n.tlb_entries > SECONDARY_READ_MAX;
      const read = (count, what, key) =>
        count > 0 && count <= SECONDARY_READ_MAX ? get(`/mms/${mm.id}/notifiers/${n.id}/${what}`).then((a) => a[key]) : [];
      [n.spteList, n.tlbList] = await Promise.all([read(n.sptes, 'sptes', 'sptes'), read(n.tlb_entries, 'tlb', 'entries')]);
    }),
  );
  // One bounded window of ptes per VMA: the cost does not grow with the VMA's size.
  await Promise.all(
    (mm.vmas ?? []).map(async (vma) => {
      const first = windowStart(mm.id, vma);
      const pages = Math.min(WINDOW_PAGES, vmaPages(vma) - first);
      vma.windowFirst = first;
      vma.windowPages = pages;
      const addr = parseAddr(vma.start) + BigInt(first * PAGE);
      vma.ptes = pages > 0 ? (await get(`/mms/${mm.id}/ptes?addr=${hex(addr)}&length=${pages * PAGE}`)).ptes : [];
    }),
  );
  // Ptes outside every VMA (a munmap paused after detaching its VMAs still has them): read
  // only when the mm is small enough for one whole-space read to be cheap.
  mm.outsidePtes = [];
  if (mm.rss > 0 && mm.rss <= OUTSIDE_READ_RSS) {
    const all = (await get(`/mms/${mm.id}/ptes`)).ptes;
    mm.outsidePtes = all.filter((p) => !insideVMA(mm, p.address));
  }
  mm.notifierList = notifiers;
  return mm;
}

async function loadSnapshot() {
  const [mms, frames, tasks, invariants, version] = await Promise.all([
    get('/mms'),
    get('/frames'),
    get('/tasks'),
    get('/invariants'),
    get('/version'),
  ]);
  state.kernel = version.kernel;
  state.mms = await Promise.all(mms.mms.map(loadMM));
  state.frames = frames;
  state.tasks = tasks.tasks;
  state.invariants = invariants;
}

/** Reads the step names and the drivers once (they do not change while the server runs). */
export async function loadSteps() {
  const [steps, drivers] = await Promise.all([get('/steps'), get('/drivers')]);
  state.steps = steps.steps;
  state.drivers = drivers.drivers;
}

/**
 * Reads the newest part of the trace: the tail of at most TRACE_KEEP events. Used on load
 * and after a reset (when seq numbers start again).
 */
export async function reloadTrace() {
  const head = await get(`/trace?since=${Number.MAX_SAFE_INTEGER}`);
  const since = Math.max(0, head.next - TRACE_KEEP);
  const tail = await get(`/trace?since=${since}`);
  state.events = tail.events;
  state.next = tail.next;
}

/** Adds events that arrived (from the stream or a poll), keeping seq order and the bound. */
export function appendEvents(events) {
  let added = false;
  for (const event of events) {
    if (event.seq <= state.next) continue;
    state.events.push(event);
    state.next = event.seq;
    added = true;
  }
  if (state.events.length > TRACE_KEEP) state.events.splice(0, state.events.length - TRACE_KEEP);
  return added;
}

let running = null;
let again = false;
let timer = null;

/** Re-reads the snapshot and redraws; calls made while one runs coalesce into one more. */
export function refresh() {
  if (running) {
    again = true;
    return running;
  }
  running = (async () => {
    try {
      do {
        again = false;
        await loadSnapshot();
        state.error = null;
      } while (again);
    } catch (error) {
      state.error = String(error.message ?? error);
    } finally {
      state.loaded = true;
      running = null;
    }
    emit();
  })();
  return running;
}

/** Asks for a refresh soon, so that a burst of events costs one. */
export function scheduleRefresh() {
  if (timer) return;
  timer = setTimeout(() => {
    timer = null;
    refresh();
  }, 40);
}

/** Waits until no refresh is pending or running. */
export async function settled() {
  while (timer || running) {
    if (running) await running;
    else await new Promise((resolve) => setTimeout(resolve, 45));
  }
}
