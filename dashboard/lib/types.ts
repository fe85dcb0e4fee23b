// Shapes of the services' JSON (docs/api.md), generated from their OpenAPI documents: lib/api/*.ts
// is written by `npm run gen:types` from the snapshots in docs/openapi/, and
// tests/test_dashboard_unit.py fails when the two drift. Only what the API declares loosely (a
// JSON object) is narrowed here, to the fields the screens read.
import type { components as Auth } from "./api/auth";
import type { components as Ingest } from "./api/ingest";
import type { components as Knowledge } from "./api/knowledge";

type IngestSchemas = Ingest["schemas"];

export type Role = "owner" | "admin" | "agent" | string;
export type User = Auth["schemas"]["UserOut"];
export type Tenant = Auth["schemas"]["TenantOut"];
export type Me = Auth["schemas"]["MeOut"];

export type Channel = IngestSchemas["ChannelOut"];

export type Conversation = IngestSchemas["ConversationOut"];
export type ConversationStatus = Conversation["status"];

// An AI reply's passage (the API declares `sources` as a list of objects).
export type MessageSource = {
  document_id: string;
  chunk_id: string;
  filename: string;
  page?: number | null;
  section?: string | null;
  score?: number | null;
  text?: string | null;
};

export type Message = Omit<IngestSchemas["MessageOut"], "context" | "sources"> & {
  conversation_id?: string;
  // WhatsApp's context: `id` is the wamid this message quotes or reacts to.
  context?: { id?: string; from?: string; [key: string]: unknown } | null;
  sources?: MessageSource[] | null;
};

export type Document = Knowledge["schemas"]["DocumentOut"];
