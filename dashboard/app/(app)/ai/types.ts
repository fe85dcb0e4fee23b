export type AISettings = {
  enabled: boolean;
  model: string;
  persona: string;
  instructions: string;
  temperature: number;
  max_output_tokens: number;
  history_messages: number;
  handoff_keywords: string[];
  fallback_message: string;
  prompt_template_id: string | null;
  media_without_text?: "reply" | "handoff";
};

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

export type PromptTemplate = {
  id: string;
  name: string;
  body: string;
  created_at: string;
  updated_at: string;
};

export type PreviewSource = {
  chunk_id?: string | null;
  document_id?: string | null;
  filename: string;
  page?: number | null;
  section?: string | null;
  text: string;
  score: number;
};

export type Preview = {
  reply: string;
  handoff: boolean;
  handoff_reason: string | null;
  sources: PreviewSource[];
  prompt: string;
  model: string | null;
  tokens_in: number;
  tokens_out: number;
  latency_ms: number;
};
