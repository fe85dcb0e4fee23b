import { NextResponse } from "next/server";
import { cookieOptions, isSecure, authUrl, type TokenResponse } from "./session";

/** Another site's form cannot post here: those send no JSON content type (without a CORS
 * preflight, which this origin never grants) and carry their own Origin. */
export function crossSiteRefusal(request: Request): NextResponse | null {
  const origin = request.headers.get("origin");
  const host = request.headers.get("x-forwarded-host") ?? request.headers.get("host");
  if (origin && host && new URL(origin).host !== host) {
    return NextResponse.json({ detail: "cross-site request refused" }, { status: 403 });
  }
  if (request.method === "POST" && request.headers.get("content-length") !== "0") {
    const type = request.headers.get("content-type") ?? "";
    if (type && !type.startsWith("application/json")) {
      return NextResponse.json({ detail: "send JSON (application/json)" }, { status: 415 });
    }
  }
  return null;
}

/** Calls auth server-side and turns its token into the httpOnly cookie; the body the
 * browser gets back has the user and tenant but never the token. */
export async function exchange(
  request: Request,
  path: string,
  init: { body?: string; bearer?: string },
): Promise<NextResponse> {
  const refused = crossSiteRefusal(request);
  if (refused) return refused;
  let upstream: Response;
  try {
    upstream = await fetch(`${authUrl()}${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        ...(init.bearer ? { authorization: `Bearer ${init.bearer}` } : {}),
        ...forwarded(request),
      },
      body: init.body,
      cache: "no-store",
    });
  } catch {
    return NextResponse.json({ detail: "the sign-in service is unreachable" }, { status: 503 });
  }
  const payload = await upstream.json().catch(() => ({ detail: upstream.statusText }));
  if (!upstream.ok) {
    return NextResponse.json(payload, { status: upstream.status });
  }
  const data = payload as TokenResponse;
  const response = NextResponse.json(
    { user: data.user, tenant: data.tenant, expires_at: data.expires_at },
    { status: upstream.status },
  );
  response.cookies.set(cookieOptions(data.access_token, isSecure(request)));
  return response;
}

// Auth rate-limits sign-ins per client address: pass the browser's on.
function forwarded(request: Request): Record<string, string> {
  const value = request.headers.get("x-forwarded-for");
  return value ? { "x-forwarded-for": value } : {};
}
