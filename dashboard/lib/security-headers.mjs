// @ts-check
// Plain JavaScript so next.config.ts and `node --test` share it with no build step.

/**
 * What the dashboard's pages may load: its own scripts, styles, images and media, and its
 * own API (fetch, server-sent events); no frames, plugins, or forms posting elsewhere, and no
 * other site may frame it (clickjacking). Next's App Router writes its hydration data as
 * inline scripts, hence 'unsafe-inline' for scripts (a per-request nonce would make every page
 * dynamic). Customer media, the one content a stranger chooses, is served by the ingest
 * service as a sandboxed download (its own CSP), not as a page of this origin.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** Headers on every page (not on /api/*, whose answers carry the services' own headers). */
export const PAGE_HEADERS = [
  { key: "Content-Security-Policy", value: CONTENT_SECURITY_POLICY },
  { key: "X-Frame-Options", value: "DENY" },
  { key: "X-Content-Type-Options", value: "nosniff" },
  { key: "Referrer-Policy", value: "strict-origin-when-cross-origin" },
  { key: "Permissions-Policy", value: "camera=(), microphone=(), geolocation=()" },
];

/** HSTS only where the request came over HTTPS (a TLS edge sets X-Forwarded-Proto): sent
 * over plain HTTP it would be ignored, and on localhost it would pin http://127.0.0.1. */
export const HSTS = { key: "Strict-Transport-Security", value: "max-age=31536000; includeSubDomains" };

/** next.config's `headers()`. */
export function securityHeaders() {
  const pages = "/((?!api/).*)";
  return [
    { source: pages, headers: PAGE_HEADERS },
    {
      source: pages,
      has: [{ type: "header", key: "x-forwarded-proto", value: "https" }],
      headers: [HSTS],
    },
  ];
}
