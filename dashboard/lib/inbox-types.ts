// Shapes of the team inbox's JSON (docs/api.md "Channels" and "The team inbox"; ingest's
// schemas.py and auth's team members). Kept apart from lib/types.ts so the inbox and the settings screens can
// grow in parallel.

import type { Conversation } from "./types";

export type LabelBrief = { id: string; name: string; color: string };

export type Label = LabelBrief & { conversation_count: number; created_at: string };

/** `text` may hold {{customer_name}} and {{agent_name}}, filled in when the reply is picked. */
export type CannedReply = { id: string; shortcut: string; text: string; created_at: string; updated_at: string };

export type TeamMember = { id: string; email: string; name: string; role: string; created_at: string };

/** One of Meta's template components, as synced (`type` HEADER | BODY | FOOTER | BUTTONS). */
export type TemplateComponent = {
  type: string;
  format?: string;
  text?: string;
  [key: string]: unknown;
};

export type Template = {
  id: string;
  name: string;
  language: string;
  status: string;
  category: string | null;
  components: TemplateComponent[];
};

/** `parameters` of a template send: positional body as a list, named as an object. */
export type TemplateParameters = {
  body?: string[] | Record<string, string>;
  header?: { text?: string[] | Record<string, string>; link?: string; filename?: string };
};

/** A conversation with the inbox's fields (all optional in lib/types.ts). */
export type InboxConversation = Conversation & {
  window_closes_at?: string | null;
  assignee_id?: string | null;
  labels?: LabelBrief[];
  // The customer's answer to the satisfaction question after a resolve (3 Great, 2 OK, 1 Poor).
  csat?: CSATRating | null;
};

export type CSATRating = { score: 1 | 2 | 3; label: "Great" | "OK" | "Poor"; responded_at: string };
