// Shapes of the team inbox's JSON, from the services' generated OpenAPI types (lib/api/*.ts; see
// lib/types.ts). Template components are narrowed to the fields the screens read.

import type { components as Auth } from "./api/auth";
import type { components as Ingest } from "./api/ingest";
import type { Conversation } from "./types";

type IngestSchemas = Ingest["schemas"];

export type LabelBrief = IngestSchemas["LabelBrief"];
export type Label = IngestSchemas["LabelOut"];

/** `text` may hold {{customer_name}} and {{agent_name}}, filled in when the reply is picked. */
export type CannedReply = IngestSchemas["CannedReplyOut"];

export type TeamMember = Auth["schemas"]["MemberOut"];

/** One of Meta's template components, as synced (`type` HEADER | BODY | FOOTER | BUTTONS). */
export type TemplateComponent = {
  type: string;
  format?: string;
  text?: string;
  [key: string]: unknown;
};

export type Template = Omit<IngestSchemas["TemplateOut"], "components"> & {
  components: TemplateComponent[];
};

/** `parameters` of a template send: positional body as a list, named as an object. */
export type TemplateParameters = {
  body?: string[] | Record<string, string>;
  header?: { text?: string[] | Record<string, string>; link?: string; filename?: string };
};

/** The inbox reads the conversation as the API gives it. */
export type InboxConversation = Conversation;

export type CSATRating = IngestSchemas["CSATRating"];
