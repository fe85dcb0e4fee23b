// Small helpers for lists a page loads and changes at the same time.

/**
 * A freshly loaded list, plus the items this page added (`added` ids) that the list does not
 * have yet: a list that was asked for before an add may arrive after it.
 */
export function keepAdded<T extends { id: string }>(current: T[] | null, fresh: T[], added: Set<string>): T[] {
  const listed = new Set(fresh.map((item) => item.id));
  const newer = (current ?? []).filter((item) => added.has(item.id) && !listed.has(item.id));
  return [...newer, ...fresh];
}
