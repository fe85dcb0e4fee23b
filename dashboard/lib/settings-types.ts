// Shapes of the settings, channel-template, contact and CSAT screens, from the services'
// generated OpenAPI types (lib/api/*.ts; see lib/types.ts). The business-hours and CSAT forms
// keep their own form-state types in business-hours.mjs.
import type { components as Ingest } from "./api/ingest";
import type { components as Responder } from "./api/responder";

export type { BusinessHours, Csat, Day, Interval } from "./business-hours.mjs";
export type { CannedReply, Label, Template as MessageTemplate, TemplateComponent } from "./inbox-types";

type IngestSchemas = Ingest["schemas"];

export type InboxSettings = IngestSchemas["InboxSettingsOut"];
export type TemplateRef = IngestSchemas["TemplateRef"];

/** A channel's re-engagement settings (part of ChannelOut). */
export type ChannelSettings = Partial<
  Pick<IngestSchemas["ChannelOut"], "reengagement_template" | "auto_reengage">
>;

export type ContactProfile = IngestSchemas["ContactOut"];

export type CsatFigure = Responder["schemas"]["CSATShare"];
export type CsatReport = Responder["schemas"]["CSATFigures"];
