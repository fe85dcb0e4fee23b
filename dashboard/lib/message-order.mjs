// @ts-check
// The order of a conversation's thread, as the API gives it: `created_at`, then `id`
// (ingest's `ORDER BY created_at, id`). Plain JavaScript so `node --test lib/` tests it.
//
// Why not compare the strings: an inbound message's created_at is Meta's whole-second
// timestamp, serialized with no fraction ("…T10:00:05Z"), while our own outbound messages
// carry microseconds ("…T10:00:05.412000Z"). As strings "." sorts before "Z", so an AI reply
// sent within the same second as the customer's question sorted ABOVE it in a live thread.
// Date.parse keeps only milliseconds, which would tie two replies queued in the same one.

const ISO = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$/;

/**
 * An ISO 8601 instant as microseconds since the epoch (a Number is exact up to the year
 * 2255 at this resolution); NaN when it is not one.
 * @param {string} iso
 * @returns {number}
 */
export function epochMicros(iso) {
  const m = ISO.exec(iso);
  if (!m) return Number.NaN;
  const seconds = Date.parse(`${m[1]}${m[3] ?? "Z"}`);
  const fraction = Number((m[2] ?? "").padEnd(6, "0").slice(0, 6));
  return seconds * 1000 + fraction;
}

/**
 * Sort comparator for messages: oldest first, the id breaking ties (as the API does).
 * @param {{ created_at: string, id: string }} a
 * @param {{ created_at: string, id: string }} b
 * @returns {number}
 */
export function compareMessages(a, b) {
  const at = epochMicros(a.created_at);
  const bt = epochMicros(b.created_at);
  if (at !== bt && !Number.isNaN(at) && !Number.isNaN(bt)) return at < bt ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * The thread with `message` added (in its place) or, when already there, merged into it:
 * how a live `message.created` joins what the API listed.
 * @template {{ created_at: string, id: string }} M
 * @param {M[]} list
 * @param {M} message
 * @returns {M[]}
 */
export function upsertMessage(list, message) {
  const i = list.findIndex((x) => x.id === message.id);
  if (i === -1) return [...list, message].sort(compareMessages);
  const next = list.slice();
  next[i] = { ...list[i], ...message };
  return next;
}
