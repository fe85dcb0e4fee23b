// @ts-check
// Plain JavaScript (checked by tsc through JSDoc) so `node --test` runs its unit test.

/**
 * Whether the proxy may renew the session on this request's response.
 *
 * Only on page loads and the app's own page navigations, never on /api/* calls nor on
 * prefetches: a poll still in flight when the user logs out would otherwise come back with a
 * renewed cookie after the logout cleared it, and sign the browser in again.
 *
 * @param {string} pathname
 * @param {{ get(name: string): string | null }} headers the request's headers
 * @returns {boolean}
 */
export function mayRenewOn(pathname, headers) {
  if (pathname.startsWith("/api/")) return false;
  return headers.get("next-router-prefetch") === null && headers.get("purpose") !== "prefetch";
}
