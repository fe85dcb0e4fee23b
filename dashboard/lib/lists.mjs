// @ts-check
// Small helpers for lists a page loads and changes at the same time.
// Plain JavaScript so `node --test lib/` tests it.

/**
 * A freshly loaded list, plus the items this page added (`added` ids) that the list does not
 * have yet: a list that was asked for before an add may arrive after it. Kept items go first,
 * or, given the list's `order`, where it puts them.
 * @template {{ id: string }} T
 * @param {T[] | null} current
 * @param {T[]} fresh
 * @param {Set<string>} added
 * @param {(a: T, b: T) => number} [order]
 * @returns {T[]}
 */
export function keepAdded(current, fresh, added, order) {
  const listed = new Set(fresh.map((item) => item.id));
  const newer = (current ?? []).filter((item) => added.has(item.id) && !listed.has(item.id));
  if (!order || newer.length === 0) return [...newer, ...fresh];
  const merged = fresh.slice();
  for (const item of newer) {
    const at = merged.findIndex((x) => order(item, x) < 0);
    merged.splice(at === -1 ? merged.length : at, 0, item);
  }
  return merged;
}
