// @ts-check
// Plain JavaScript (checked by tsc through JSDoc) so `node --test` runs its unit test with no
// build step: the dashboard's other modules need Next's compiler.

const HERE = "https://dashboard.invalid";

/**
 * The path to go to after sign-in, or null when `value` could leave the site.
 *
 * Only a same-origin path is followed. Browsers read `\` as `/` and drop tabs and newlines
 * inside URLs, so `/\evil.example` or `/\t/evil.example` would become `//evil.example`, a
 * link to another site: any backslash or control character is refused, and what is left must
 * resolve to this origin with a path that does not itself start with `//`.
 *
 * @param {string | null | undefined} value the `next` query parameter
 * @returns {string | null}
 */
export function safeNext(value) {
  if (typeof value !== "string" || !value.startsWith("/") || value.startsWith("//")) return null;
  if (/[\\\u0000-\u001f\u007f]/.test(value)) return null;
  let url;
  try {
    url = new URL(value, HERE);
  } catch {
    return null;
  }
  if (url.origin !== HERE || url.pathname.startsWith("//")) return null;
  return url.pathname + url.search + url.hash;
}
