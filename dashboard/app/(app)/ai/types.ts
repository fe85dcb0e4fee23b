// The responder's shapes, from its generated OpenAPI types (lib/api/responder.ts).
import type { components } from "@/lib/api/responder";

type Schemas = components["schemas"];

export type AISettings = Schemas["AISettingsOut"];

export const SETTINGS_FIELDS = [
  "enabled",
  "model",
  "persona",
  "instructions",
  "temperature",
  "max_output_tokens",
  "history_messages",
  "handoff_keywords",
  "fallback_message",
  "prompt_template_id",
  "media_without_text",
] as const;

export type PromptTemplate = Schemas["PromptOut"];

export type PreviewSource = Schemas["SourceOut"];

export type Preview = Schemas["PreviewOut"];
