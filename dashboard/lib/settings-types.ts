// Shapes of the settings, channel-template, contact and CSAT screens (issue 14): ingest's
// schemas.py and the responder's business-hours/CSAT contract. Kept apart from types.ts.
export type { BusinessHours, Csat, Day, Interval } from "./business-hours.mjs";

export type Label = {
  id: string;
  name: string;
  color: string; // "#rrggbb"
  conversation_count: number;
  created_at: string;
};

export type CannedReply = {
  id: string;
  shortcut: string;
  // May hold {{customer_name}} and {{agent_name}}, filled in by the composer.
  text: string;
  created_at: string;
  updated_at: string;
};

export type InboxSettings = { round_robin: boolean };

export type TemplateComponent = {
  type: string; // HEADER, BODY, FOOTER, BUTTONS
  format?: string;
  text?: string;
  [key: string]: unknown;
};

export type MessageTemplate = {
  id: string;
  name: string;
  language: string;
  status: string; // APPROVED, PENDING, REJECTED, PAUSED, DISABLED…
  category: string | null;
  components: TemplateComponent[];
};

export type TemplateRef = { name: string; language: string };

/** A channel with its re-engagement settings (ingest's ChannelOut). */
export type ChannelSettings = {
  reengagement_template?: TemplateRef | null;
  auto_reengage?: boolean;
};

export type ContactProfile = {
  id: string;
  wa_id: string;
  name: string | null;
  first_seen_at: string;
  last_seen_at: string;
  conversation_count: number;
  notes?: string | null;
  attributes?: Record<string, string>;
};

export type CsatFigure = { responses: number; percent: number | null };

export type CsatReport = CsatFigure & {
  by_agent: ({ agent_id: string } & CsatFigure)[];
  ai: CsatFigure;
  human: CsatFigure;
};
