// Which service answers which public path (docs/api.md). Read at request time, so one build runs
// against any deployment's URLs; /internal/* is never routed.

type Service = "auth" | "ingest" | "knowledge" | "responder";

const PREFIXES: [string, Service][] = [
  ["/api/auth/", "auth"],
  ["/api/team/", "auth"],
  ["/api/channels", "ingest"],
  ["/api/conversations", "ingest"],
  ["/api/contacts", "ingest"],
  ["/api/messages/", "ingest"],
  ["/api/events/", "ingest"],
  // The team inbox (labels, canned replies, inbox settings).
  ["/api/labels", "ingest"],
  ["/api/canned-replies", "ingest"],
  ["/api/inbox/", "ingest"],
  ["/api/documents", "knowledge"],
  ["/api/knowledge/", "knowledge"],
  ["/api/ai/", "responder"],
  ["/api/prompts", "responder"],
  ["/api/analytics/", "responder"],
  ["/api/business-hours", "responder"],
  ["/api/csat", "responder"],
];

function base(service: Service): string {
  const env = {
    auth: process.env.AUTH_URL ?? "http://127.0.0.1:8001",
    ingest: process.env.INGEST_URL ?? "http://127.0.0.1:8002",
    knowledge: process.env.KNOWLEDGE_URL ?? "http://127.0.0.1:8003",
    responder: process.env.RESPONDER_URL ?? "http://127.0.0.1:8004",
  };
  return env[service].replace(/\/+$/, "");
}

/** The service URL for a browser path, or null when no service serves it. */
export function upstream(pathname: string, search: string): string | null {
  if (pathname.includes("/internal/") || pathname.includes("..")) return null;
  for (const [prefix, service] of PREFIXES) {
    // "/api/channels" matches itself and "/api/channels/…", not "/api/channelsX".
    const bare = prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
    if (pathname === bare || pathname.startsWith(`${bare}/`)) {
      return `${base(service)}${pathname}${search}`;
    }
  }
  return null;
}
