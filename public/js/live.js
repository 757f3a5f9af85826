// Live updates: trace events from GET /trace/stream (Server-Sent Events), or, when the stream
// is off or fails, from polling GET /trace?since=. Each new event schedules a snapshot refresh.
// A poll also notices a reset (the server's `next` going backwards) and reloads everything.

import { get } from './api.js';
import { state, appendEvents, reloadTrace, scheduleRefresh, refresh } from './state.js';

const FAST_POLL_MS = 1000;
const SLOW_POLL_MS = 5000;

let source = null;
let streaming = false;
let pollTimer = null;
let statusElement = null;

function setStatus(text, mode) {
  if (!statusElement) return;
  statusElement.textContent = text;
  statusElement.dataset.mode = mode;
}

/** Reloads trace and snapshot, as after a reset. */
export async function reloadAll() {
  await reloadTrace();
  await refresh();
}

let lastRefresh = 0;

/** Takes events however they came; a seq at or below the last one seen means a reset. */
function take(events) {
  if (events.length && events[0].seq <= state.next && state.next > 0 && events[0].seq === 1) {
    reloadAll();
    return;
  }
  if (appendEvents(events)) {
    lastRefresh = Date.now();
    scheduleRefresh();
  }
}

async function poll() {
  pollTimer = null;
  try {
    const answer = await get(`/trace?since=${state.next}`);
    if (answer.next < state.next) {
      await reloadAll();
    } else {
      take(answer.events);
    }
    // Creating an mm leaves no trace event: re-read the world now and then regardless.
    if (Date.now() - lastRefresh >= SLOW_POLL_MS) {
      lastRefresh = Date.now();
      scheduleRefresh();
    }
    if (!streaming) setStatus('polling /trace', 'poll');
  } catch {
    setStatus('server unreachable, retrying', 'down');
  }
  pollTimer = setTimeout(poll, streaming ? SLOW_POLL_MS : FAST_POLL_MS);
}

function openStream() {
  source = new EventSource('/trace/stream');
  source.addEventListener('open', () => {
    streaming = true;
    setStatus('live (event stream)', 'stream');
    // Catch up with whatever happened between the first load and the stream's start.
    get(`/trace?since=${state.next}`).then((answer) => take(answer.events), () => {});
  });
  source.addEventListener('trace', (message) => {
    try {
      take([JSON.parse(message.data)]);
    } catch (error) {
      console.warn('unreadable stream event', error);
    }
  });
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) {
      streaming = false;
      source = null;
      setStatus('polling /trace (stream closed)', 'poll');
    }
  });
}

/**
 * Starts live updates. `mode` is "stream" (EventSource, with a slow poll that notices
 * resets) or "poll" (polling only).
 */
export function startLive(mode, status) {
  statusElement = status;
  if (mode === 'stream' && 'EventSource' in window) {
    setStatus('connecting…', 'poll');
    openStream();
  } else {
    setStatus('polling /trace', 'poll');
  }
  pollTimer = setTimeout(poll, mode === 'stream' ? SLOW_POLL_MS : FAST_POLL_MS);
}
