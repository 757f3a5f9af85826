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
]);

/** An event's call as the trace tables show it: a driver statement names its driver and the
 * statement's JSON pointer (`kvm /fault/3`), the other events their call. */
export function callLabel(e) {
  return e.call === 'driver' ? `${e.driver} ${e.statement}` : e.call;
}
