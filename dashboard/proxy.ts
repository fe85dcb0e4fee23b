import { NextResponse, type NextRequest } from "next/server";
import {
  SESSION_COOKIE,
  authUrl,
  cookieOptions,
  isSecure,
  renewBeforeS,
  tokenExpiry,
  type TokenResponse,
} from "@/lib/session";
import { upstream } from "@/lib/routes";
import { mayRenewOn } from "@/lib/renewal.mjs";

// Pages anyone may see; every other page needs a session.
const PUBLIC_PAGES = ["/login", "/signup"];

/**
 * The session cookie (httpOnly: page scripts never see the token) becomes
 * `Authorization: Bearer` on /api/*, which is rewritten to the service that serves it
 * (lib/routes.ts; targets from the environment at request time — next.config's `rewrites`
 * would freeze them at build time). Pages without a session go to /login; a token with under a
 * day left is renewed when a page loads (lib/renewal.mjs says why not on API calls).
 */
export async function proxy(request: NextRequest) {
  const { pathname, search } = request.nextUrl;
  let token = request.cookies.get(SESSION_COOKIE)?.value;
  const now = Math.floor(Date.now() / 1000);
  const exp = token ? tokenExpiry(token) : null;
  if (token && (exp === null || exp <= now)) token = undefined;

  let renewed: TokenResponse | null = null;
  if (token && exp !== null && exp - now < renewBeforeS() && mayRenewOn(pathname, request.headers)) {
    renewed = await renew(token);
    if (renewed) token = renewed.access_token;
  }

  let response: NextResponse;
  if (pathname.startsWith("/api/")) {
    const target = upstream(pathname, search);
    if (!target) return NextResponse.json({ detail: "not found" }, { status: 404 });
    const headers = new Headers(request.headers);
    // The cookie is the browser's session; without one, a caller's own bearer token (an
    // integration script) passes through as it came.
    if (token) headers.set("authorization", `Bearer ${token}`);
    headers.delete("cookie"); // the services need no cookie, and must not see the token twice
    response = NextResponse.rewrite(target, { request: { headers } });
  } else if (PUBLIC_PAGES.includes(pathname)) {
    if (token) return NextResponse.redirect(new URL("/inbox", request.url));
    response = NextResponse.next();
  } else if (!token) {
    const login = new URL("/login", request.url);
    if (pathname !== "/") login.searchParams.set("next", pathname + search);
    response = NextResponse.redirect(login);
    response.cookies.delete(SESSION_COOKIE);
    return response;
  } else if (pathname === "/") {
    response = NextResponse.redirect(new URL("/inbox", request.url));
  } else {
    response = NextResponse.next();
  }
  if (renewed) response.cookies.set(cookieOptions(renewed.access_token, isSecure(request)));
  return response;
}

async function renew(token: string): Promise<TokenResponse | null> {
  try {
    const r = await fetch(`${authUrl()}/api/auth/refresh`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      cache: "no-store",
    });
    return r.ok ? ((await r.json()) as TokenResponse) : null;
  } catch {
    return null;
  }
}

export const config = {
  // Not for static assets, nor the /session/* handlers that read the cookie themselves.
  matcher: ["/((?!_next/static|_next/image|favicon.ico|session/).*)"],
};
