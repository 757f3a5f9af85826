// The guided tour: the seed's story, step by step, each step a few API calls and a narration.
// Steps build on each other, so going to step k replays the tour from its start up to k.
// `#tour=ID` in the URL runs the tour up to and including the step ID.

import { request } from './api.js';

const GUEST = '0x7f0000000000';
const PAGES = 4;
const LENGTH = PAGES * 4096;
/** The tour is the seed's story: each reset asks for a v17 world (a reset keeps the world's kernel otherwise). */
const V17 = { kernel: 'v17', release_order: 'v17' };

/** Sends a request that must be accepted (2xx); returns the answer's body. */
async function call(method, path, body) {
  const answer = await request(method, path, body);
  if (!answer.ok) throw new Error(`${method} ${path}: ${answer.data?.error?.message ?? answer.status}`);
  return answer.data;
}
const post = (path, body = {}) => call('POST', path, body);

/** Creates an mm with one 16 KiB anonymous VMA whose pages the CPU has written; returns its id. */
async function guest(name, kind, bugs = []) {
  const mm = (await post('/mms', { name })).id;
  await post(`/mms/${mm}/mmap`, { length: LENGTH, prot: 'rw', flags: ['private', 'anonymous'] });
  await post(`/mms/${mm}/touch`, { addr: GUEST, length: LENGTH, write: true, value: 42 });
  const n = (await post(`/mms/${mm}/notifiers`, { kind, bugs })).id;
  return { mm, n };
}

async function faultAll(mm, n, write) {
  for (let i = 0; i < PAGES; i++) {
    await post(`/mms/${mm}/notifiers/${n}/fault`, { address: '0x' + (0x7f0000000000 + i * 4096).toString(16), write });
  }
}

/** "all hold", or the violated invariants with how often: "no-stale-spte ×4". */
function verdictWords(invariants) {
  if (invariants.ok) return 'all hold';
  const counts = new Map();
  for (const v of invariants.violations) counts.set(v.invariant, (counts.get(v.invariant) ?? 0) + 1);
  return [...counts].map(([name, n]) => (n > 1 ? `${name} ×${n}` : name)).join(', ');
}

const reclaimWords = (r) => `scanned ${r.scanned}, referenced ${r.referenced}, swapped out ${r.swapped_out}, failed ${r.failed}`;

/** The fault/munmap race: fault paused after gup, munmap paused inside its range, fault resumed. */
async function raceSetup(bugs) {
  await post('/reset', V17);
  const { mm, n } = await guest('race', 'kvm', bugs);
  const fault = await post(`/mms/${mm}/notifiers/${n}/fault`, { address: GUEST, write: true, pause_at: 'lock:mmu_lock' });
  const munmap = await post(`/mms/${mm}/munmap`, { addr: GUEST, length: LENGTH, pause_at: 'zap_pte_range' });
  const resumed = await post(`/tasks/${fault.task}/resume`);
  return { mm, n, fault, munmap, resumed };
}

async function releaseRace(order) {
  await post('/reset', { ...V17, release_order: order });
  const { mm, n } = await guest('guest', 'kvm');
  await faultAll(mm, n, false);
  await post('/reclaim', { mm, addr: GUEST, length: LENGTH });
  const exit = await post(`/mms/${mm}/exit`, { pause_at: 'release' });
  const reclaim = await post('/reclaim', {});
  await post(`/tasks/${exit.task}/resume`);
  const invariants = await call('GET', '/invariants');
  return { reclaim, invariants };
}

/** The tour's steps: id, title, narration (what to look at), and what the step does. */
export const STEPS = [
  {
    id: 'guest',
    title: 'A guest with a kvm secondary MMU',
    text: 'A fresh world. mm 1 (“guest”) maps 16 KiB of anonymous memory and the CPU writes every page: four ptes, present and writable, young and dirty. A kvm notifier registers (mm_take_all_locks, then hlist_add_head) and faults the four pages into its shadow page table: each page now carries a kvm spte mark under it.',
    run: async () => {
      await post('/reset', V17);
      const { mm, n } = await guest('guest', 'kvm');
      await faultAll(mm, n, false);
      return 'kvm now maps 4 pages.';
    },
  },
  {
    id: 'swap',
    title: 'Swapping the guest: kvm gets invalidate_page before frame_free',
    text: 'Reclaim runs twice. The first pass ages: page_referenced_one calls clear_flush_young, kvm reports its young bits, the pages stay. The second pass swaps out: try_to_unmap_one clears each pte, calls invalidate_page (kvm zaps its spte), writes the page to swap and only then frees the frame. Look at the timeline’s ticks and at the ptes, now “swap”.',
    run: async () => {
      const first = await post('/reclaim', { mm: 1 });
      const second = await post('/reclaim', { mm: 1 });
      return `First pass: ${reclaimWords(first)}. Second pass: ${reclaimWords(second)}.`;
    },
  },
  {
    id: 'pinning',
    title: 'The pinning driver: reclaim frees nothing',
    text: 'mm 2 gets the same memory but a driver without notifiers that keeps a page reference for each mapping (the pre-notifier way: get_user_pages and hold). Reclaim cannot free a page someone pins: the frames stay, marked pinned, and the guest’s memory is stuck in RAM.',
    run: async () => {
      const { mm, n } = await guest('pinned', 'pinning');
      await faultAll(mm, n, false);
      await post('/reclaim', { mm });
      const second = await post('/reclaim', { mm });
      return `Reclaim of mm ${mm}: ${reclaimWords(second)}.`;
    },
  },
  {
    id: 'race',
    title: 'The fault/invalidate race: the retry check holds the fault back',
    text: 'A new world. A kvm fault samples mmu_notifier_seq and does get_user_pages, then stops before taking mmu_lock (pause_at “lock:mmu_lock”). munmap then enters its critical section: invalidate_range_start has run (kvm count 1) and the task is paused before zap_pte_range. Resumed, the fault takes mmu_lock, sees count > 0, and retries instead of installing an spte: it is now blocked until the range ends. See the open span in the timeline and the two tasks.',
    run: async () => {
      const { resumed } = await raceSetup([]);
      return `The fault: ${resumed.status}${resumed.blocked_on ? ` (${resumed.blocked_on})` : ''}, retries ${resumed.retries ?? 0}.`;
    },
  },
  {
    id: 'race-resume',
    title: 'Resume munmap: the range ends, the fault finds no page',
    text: 'munmap zaps the ptes, frees the frames and calls invalidate_range_end (seq++, count--). The fault retries, finds no pte to get_user_pages and fails with EFAULT: no spte ever named a freed frame.',
    run: async () => {
      const tasks = (await call('GET', '/tasks')).tasks;
      const munmap = tasks.find((t) => t.op === 'munmap');
      if (munmap) await post(`/tasks/${munmap.id}/resume`);
      const fault = tasks.find((t) => t.op === 'fault');
      const result = fault ? await call('GET', `/tasks/${fault.id}`) : null;
      return result ? `The fault ended with ret ${result.ret}${result.errno ? ` ${result.errno}` : ''}.` : '';
    },
  },
  {
    id: 'skip-retry',
    title: 'The same race without the retry check',
    text: 'The same steps with a kvm driver that skips mmu_notifier_retry (bug switch skip_retry_check). The resumed fault installs its spte inside the invalidate window; munmap then frees the frame the spte names. The invariant panel reports both violations, each linked to its trace event.',
    run: async () => {
      const { munmap } = await raceSetup(['skip_retry_check']);
      await post(`/tasks/${munmap.task}/resume`);
      const inv = await call('GET', '/invariants');
      return `Invariants: ${verdictWords(inv)}.`;
    },
  },
  {
    id: 'release-v17',
    title: 'The v17 release race',
    text: 'A new world with the seed’s ordering (release_order v17). The guest exits and stops just before ->release (pause_at “release”): __mmu_notifier_release has already unlinked kvm. Reclaim runs meanwhile; its invalidate_page no longer reaches kvm, so the frames are freed under kvm’s sptes. Resumed, the exit calls ->release too late: no-stale-spte.',
    run: async () => {
      const { reclaim, invariants } = await releaseRace('v17');
      return `Reclaim meanwhile: ${reclaimWords(reclaim)}. Invariants: ${verdictWords(invariants)}.`;
    },
  },
  {
    id: 'release-fixed',
    title: 'The fixed ordering: release first, then unlink',
    text: 'The same schedule with release_order fixed (upstream 2012–2013): every ->release runs before any notifier is unlinked, so while the exit is paused kvm is still listed and reclaim’s invalidate_page reaches it. Clean.',
    run: async () => {
      const { reclaim, invariants } = await releaseRace('fixed');
      return `Reclaim meanwhile: ${reclaimWords(reclaim)}. Invariants: ${verdictWords(invariants)}.`;
    },
  },
];

/**
 * Runs the tour up to and including step `index`, from the start. `onStep(i, outcome)` is
 * called after each step.
 */
export async function runTo(index, onStep) {
  for (let i = 0; i <= index; i++) {
    const outcome = await STEPS[i].run();
    await onStep(i, outcome);
  }
}

/** The index of a step id, or -1. */
export function stepIndex(id) {
  return STEPS.findIndex((s) => s.id === id);
}
