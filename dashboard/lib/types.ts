// Shapes of the services' JSON (docs/api.md); extra fields the services add are optional here.

export type Role = "owner" | "admin" | "agent" | string;
export type User = { id: string; email: string; name: string; role: Role };
export type Tenant = { id: string; name: string };
export type Me = { user: User; tenant: Tenant };

export type Channel = {
  id: string;
  phone_number_id: string;
  display_phone_number: string | null;
  mode: "live" | "sandbox";
  needs_reauth?: boolean;
  created_at: string;
};

export type ConversationStatus = "open" | "handoff" | "resolved";

export type Conversation = {
  id: string;
  channel_id: string;
  contact: { id: string; wa_id: string; name: string | null };
  status: ConversationStatus;
  ai_enabled: boolean;
  last_message_at: string | null;
  last_message_preview: string | null;
  unread_count: number;
  last_inbound_at?: string | null;
  handoff_reason?: string | null;
  // The team member working on it (a user id); null: unassigned.
  assignee_id?: string | null;
  labels?: { id: string; name: string; color: string }[];
};

export type MessageSource = {
  document_id: string;
  chunk_id: string;
  filename: string;
  page?: number | null;
  section?: string | null;
  score?: number | null;
  text?: string | null;
};

export type Message = {
  id: string;
  conversation_id?: string;
  wamid: string | null;
  // "internal": a private note of the team (type "note"), never sent to the customer.
  direction: "inbound" | "outbound" | "internal";
  author: "customer" | "ai" | "agent";
  author_id?: string | null;
  type: string;
  text: string | null;
  media: Record<string, unknown> | null;
  status: string;
  error: string | null;
  created_at: string;
  context?: { id?: string; from?: string; [key: string]: unknown } | null;
  reaction?: string | null;
  sources?: MessageSource[] | null;
};

export type Document = {
  id: string;
  filename: string;
  content_type: string;
  size_bytes: number;
  status: "processing" | "indexed" | "failed";
  chunk_count?: number | null;
  error?: string | null;
  created_at: string;
};
