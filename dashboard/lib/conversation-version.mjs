// @ts-check
// Which of two states of one conversation to show. Every change to a conversation gives it a
// higher `version` (ingest counts them in the UPDATE), and live `conversation.updated` events
// can arrive out of order (a reply's "open" after the handoff that followed it): the version,
// not the arrival, says which is newer. Plain JavaScript so `node --test lib/` tests it.

/**
 * @typedef {{ id: string, version?: number | null }} Versioned
 */

/**
 * Whether `incoming` is a newer state than `held`. Nothing held (or another conversation):
 * yes. A state without a version (sent before the field existed) cannot be ordered, so it
 * applies, as before.
 * @param {Versioned | null | undefined} held
 * @param {Versioned} incoming
 * @param {{ orSame?: boolean }} [options] `orSame`: the same version is taken too (a
 *   fetched state of the same version says it fuller: the member's own unread count, labels)
 * @returns {boolean}
 */
export function isNewer(held, incoming, options = {}) {
  if (!held || held.id !== incoming.id || held.version == null || incoming.version == null) return true;
  return options.orSame ? incoming.version >= held.version : incoming.version > held.version;
}

/**
 * For a list that drops what its filter excludes: `seen` keeps the highest version met per
 * conversation (shown or not), so a late older update cannot bring one back. Says whether
 * `incoming` is newer than all met before, and records it when it is.
 * @param {Map<string, number>} seen
 * @param {Versioned} incoming
 * @param {{ orSame?: boolean }} [options]
 * @returns {boolean}
 */
export function recordIfNewer(seen, incoming, options = {}) {
  const version = seen.get(incoming.id);
  const held = version == null ? null : { id: incoming.id, version };
  if (!isNewer(held, incoming, options)) return false;
  if (incoming.version != null) seen.set(incoming.id, incoming.version);
  return true;
}

/**
 * The conversation the screen shows after a live update: the update merged in when it is
 * newer, else `held` itself (the same object: React then renders nothing).
 * @template {Versioned} C
 * @param {C | null | undefined} held
 * @param {Partial<C> & Versioned} update
 * @returns {C}
 */
export function applyLive(held, update) {
  if (!isNewer(held, update)) return /** @type {C} */ (held);
  return /** @type {C} */ ({ ...(held ?? {}), ...update });
}

/**
 * Like `applyLive` for a state fetched from the API (GET, or a PATCH's answer): taken when it
 * is at least as new as what the screen holds.
 * @template {Versioned} C
 * @param {C | null | undefined} held
 * @param {C} fetched
 * @returns {C}
 */
export function applyFetched(held, fetched) {
  if (!isNewer(held, fetched, { orSame: true })) return /** @type {C} */ (held);
  return { ...(held ?? {}), ...fetched };
}
