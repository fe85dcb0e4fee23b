// The one way client code calls the services (through this origin; the proxy adds the token).

export class ApiError extends Error {
  status: number;
  detail: string | unknown[];

  constructor(status: number, detail: string | unknown[]) {
    super(typeof detail === "string" ? detail : formatDetail(detail));
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }
}

/** FastAPI's validation list (`[{loc, msg}]`) as one readable line. */
export function formatDetail(detail: unknown): string {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => {
        if (d && typeof d === "object" && "msg" in d) {
          const loc = Array.isArray((d as { loc?: unknown[] }).loc)
            ? (d as { loc: unknown[] }).loc.filter((p) => p !== "body").join(".")
            : "";
          return loc ? `${loc}: ${(d as { msg: string }).msg}` : (d as { msg: string }).msg;
        }
        return String(d);
      })
      .join("; ");
  }
  return "Something went wrong";
}

/** A message for any error a call can throw (ApiError, network failure, …). */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message || `Request failed (${error.status})`;
  if (error instanceof TypeError) return "Network error: the server could not be reached";
  if (error instanceof Error) return error.message;
  return "Something went wrong";
}

let redirecting = false;

/** The session lapsed or was refused: drop the cookie (else the login page would send us
 * straight back) and go to /login, coming back here after signing in. */
export function loginRedirect(): void {
  if (typeof window === "undefined" || redirecting) return;
  if (window.location.pathname === "/login" || window.location.pathname === "/signup") return;
  redirecting = true;
  const here = window.location.pathname + window.location.search;
  void fetch("/session/logout", { method: "POST" })
    .catch(() => undefined)
    .finally(() => {
      // A full page load: nothing of the lapsed session stays in memory.
      // eslint-disable-next-line @next/next/no-location-assign-relative-destination
      window.location.assign(`/login?next=${encodeURIComponent(here)}`);
    });
}

export async function api<T>(
  path: string,
  init: RequestInit & { json?: unknown } = {},
): Promise<T> {
  const { json, headers, ...rest } = init;
  const h = new Headers(headers);
  if (!h.has("accept")) h.set("accept", "application/json");
  let body = rest.body;
  if (json !== undefined) {
    h.set("content-type", "application/json");
    body = JSON.stringify(json);
  }
  const response = await fetch(path, {
    credentials: "same-origin",
    cache: "no-store",
    ...rest,
    headers: h,
    body,
  });
  if (response.status === 401) {
    loginRedirect();
    throw new ApiError(401, "Your session has ended; please sign in again");
  }
  const type = response.headers.get("content-type") ?? "";
  const payload: unknown =
    response.status === 204
      ? undefined
      : type.includes("json")
        ? await response.json().catch(() => undefined)
        : await response.text().catch(() => undefined);
  if (!response.ok) {
    const detail =
      payload && typeof payload === "object" && "detail" in payload
        ? (payload as { detail: string | unknown[] }).detail
        : response.status >= 500
          ? `The service did not answer (${response.status}); try again in a moment`
          : typeof payload === "string" && payload
            ? payload
            : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, detail);
  }
  return payload as T;
}

export type Page<T> = { items: T[]; next_cursor: string | null };

/** Every item of a paged list: pages of 200 (the most the API gives), following `next_cursor`
 * to the end. Lists are never cut at one page. */
export async function listAll<T>(path: string): Promise<T[]> {
  const all: T[] = [];
  let cursor: string | null = null;
  const sep = path.includes("?") ? "&" : "?";
  do {
    const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const page: Page<T> = await api<Page<T>>(`${path}${sep}limit=200${query}`);
    all.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return all;
}
