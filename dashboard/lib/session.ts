// Shared by proxy.ts and the /session/* route handlers (server side only).
export const SESSION_COOKIE = "wa_session";
/** Renew when less than this remains of the token's 7 days (a day; the browser test sets
 * SESSION_RENEW_BEFORE_S near 7 days so that renewal happens all through the run). */
export function renewBeforeS(): number {
  const value = Number(process.env.SESSION_RENEW_BEFORE_S);
  return Number.isFinite(value) && value > 0 ? value : 24 * 60 * 60;
}

export function authUrl(): string {
  return process.env.AUTH_URL ?? "http://127.0.0.1:8001";
}

/** The `exp` claim of a JWT, read without verifying it (the services verify). */
export function tokenExpiry(token: string): number | null {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const json = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return typeof json.exp === "number" ? json.exp : null;
  } catch {
    return null;
  }
}

export type TokenResponse = {
  access_token: string;
  token_type: string;
  expires_at: string;
  user: { id: string; email: string; name: string; role: string };
  tenant: { id: string; name: string };
};

export function cookieOptions(token: string, secure: boolean) {
  const exp = tokenExpiry(token);
  const maxAge = exp ? Math.max(0, exp - Math.floor(Date.now() / 1000)) : 7 * 24 * 3600;
  return {
    name: SESSION_COOKIE,
    value: token,
    httpOnly: true,
    sameSite: "lax" as const,
    secure,
    path: "/",
    maxAge,
  };
}

export function isSecure(request: Request): boolean {
  const proto = request.headers.get("x-forwarded-proto");
  return proto ? proto === "https" : new URL(request.url).protocol === "https:";
}
