// The HTTP/JSON API of the server, as small async functions. Nothing here touches the DOM.

/** The page size of the model, in bytes. */
export const PAGE = 4096;

/**
 * Sends one request and reads the JSON answer. A 4xx/5xx is not thrown: the answer carries
 * `status`, `ok` and the parsed body (an API error is `{"error": {"code", "message"}}`).
 * Only a network failure throws. A string `body` is sent as written (JSON text), anything
 * else as its JSON.
 */
export async function request(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: { code: 'not_json', message: text.slice(0, 200) } };
  }
  return { status: response.status, ok: response.ok, data };
}

/** GET that expects success: resolves to the body, rejects with the API's message. */
export async function get(path) {
  const answer = await request('GET', path);
  if (!answer.ok) {
    const message = answer.data?.error?.message ?? `HTTP ${answer.status}`;
    throw new Error(`GET ${path}: ${message}`);
  }
  return answer.data;
}

/** POST with a JSON body; resolves to the whole answer (see `request`). */
export function post(path, body = {}) {
  return request('POST', path, body);
}

/**
 * POSTs `text` as a JSON body exactly as written (a driver policy: its variants apply in the
 * order the document declares them, which a parse and stringify could change).
 */
export function postText(path, text) {
  return request('POST', path, String(text));
}

/** Parses an address given as "0x..." or decimal into a BigInt; null when it is not one. */
export function parseAddr(text) {
  if (typeof text === 'bigint') return text;
  if (typeof text === 'number') return BigInt(text);
  const trimmed = String(text ?? '').trim();
  if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(trimmed)) return null;
  return BigInt(trimmed);
}

/** Formats a BigInt address as the API does: "0x7f0000000000". */
export function hex(value) {
  return '0x' + BigInt(value).toString(16);
}

/** A byte count as pages or a short human size. */
export function size(bytes) {
  const n = Number(bytes);
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(n % (1 << 30) ? 1 : 0)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(n % (1 << 20) ? 1 : 0)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(n % (1 << 10) ? 1 : 0)} KiB`;
  return `${n} B`;
}

/** The notifier callbacks, as opposed to model events such as pte_set. */
export const NOTIFIER_CALLS = new Set([
  'release',
  'clear_flush_young',
  'invalidate_page',
  'invalidate_range_start',
  'invalidate_range_end',
  'invalidate',
]);

/** The errnos a modern event's ret may carry, by value. */
const ERRNO = { [-11]: 'EAGAIN', [-16]: 'EBUSY' };

/** A range's event and, when it is not blockable, a marker: "UNMAP", "CLEAR · nonblock". */
function rangeNote(e) {
  return `${e.event ?? ''}${e.blockable === false ? ' · nonblock' : ''}`;
}

/**
 * What a modern event says beyond its call, in a few words: a range's event and blockable
 * flag, an interval callback's cur_seq, the mm's interval seq, a subscription going in or
 * out of the tree, the users a put leaves, an OOM reaper attempt. '' for every v17 event.
 */
export function eventNote(e) {
  switch (e.call) {
    case 'invalidate_range_start':
    case 'invalidate_range_end':
      return e.event === undefined ? '' : rangeNote(e);
    case 'invalidate':
      return `${rangeNote(e)} · cur_seq ${e.ret}`;
    case 'invalidate_seq':
      return `mm seq → ${e.ret} (${e.ret % 2 ? 'odd: a round is on' : 'even: round over'})`;
    case 'interval_insert':
      return e.ret === undefined ? 'deferred: a round is on' : `in the tree, seq ${e.ret}`;
    case 'interval_remove':
      return e.ret === undefined ? 'out of the tree' : `deferred: waits for round ${e.ret}`;
    case 'notifier_put':
      return `${e.ret} ${e.ret === 1 ? 'user' : 'users'} left`;
    case 'oom_reap':
      if (e.ret === 0) return 'attempt: reaped';
      return `${e.start ? 'VMA skipped' : 'attempt failed'}: ${ERRNO[e.ret] ?? e.ret}${e.ret === -16 ? ' (mmap_read_trylock)' : ''}`;
    default:
      return '';
  }
}

/** A modern event's event and blockable flag as data attributes ({} for a v17 event). */
export function eventData(e) {
  const data = {};
  if (e.event !== undefined) data.event = e.event;
  if (e.blockable !== undefined) data.blockable = String(e.blockable);
  return data;
}

/** An event's call as the trace tables show it: a driver statement names its driver and the
 * statement's JSON pointer (`kvm /fault/3`), the other events their call. */
export function callLabel(e) {
  return e.call === 'driver' ? `${e.driver} ${e.statement}` : e.call;
}
