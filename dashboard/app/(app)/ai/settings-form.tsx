"use client";

import { useState } from "react";
import { ApiError, api } from "@/lib/api";
import { useForm } from "@/lib/hooks/useForm";
import { Button, Card, CardBody, CardHeader, InlineError, Input, Select, Textarea, useToast } from "@/components/ui";
import { ChipsInput } from "@/components/ChipsInput";
import { SETTINGS_FIELDS, type AISettings, type PromptTemplate } from "./types";

type Draft = Omit<AISettings, "temperature" | "max_output_tokens" | "history_messages"> & {
  // Numbers are edited as text so a bad value reaches the API and its message shows.
  temperature: string;
  max_output_tokens: string;
  history_messages: string;
};

function toDraft(s: AISettings): Draft {
  return {
    ...s,
    temperature: String(s.temperature),
    max_output_tokens: String(s.max_output_tokens),
    history_messages: String(s.history_messages),
  };
}

/** A number when the text is one, else the text itself (the API says what is wrong). */
function numberOrText(text: string): number | string {
  const trimmed = text.trim();
  return trimmed !== "" && Number.isFinite(Number(trimmed)) ? Number(trimmed) : trimmed;
}

export function SettingsForm({
  settings,
  templates,
  canEdit,
  onSaved,
}: {
  settings: AISettings;
  templates: PromptTemplate[];
  canEdit: boolean;
  onSaved: (next: AISettings) => void;
}) {
  const toast = useToast();
  const { values: draft, set, setValues: setDraft, errors, general, clearErrors, submitting: saving, submit } = useForm<Draft>(
    toDraft(settings),
    SETTINGS_FIELDS,
  );
  const [base, setBase] = useState(settings);

  // When the settings change elsewhere (a template chosen on the prompts tab), start over.
  if (settings !== base) {
    setBase(settings);
    setDraft(toDraft(settings));
  }

  const dirty = JSON.stringify(toDraft(settings)) !== JSON.stringify(draft);

  const save = submit(
    async (values) => {
      const body = {
        enabled: values.enabled,
        model: values.model,
        persona: values.persona,
        instructions: values.instructions,
        temperature: numberOrText(values.temperature),
        max_output_tokens: numberOrText(values.max_output_tokens),
        history_messages: numberOrText(values.history_messages),
        handoff_keywords: values.handoff_keywords,
        fallback_message: values.fallback_message,
        prompt_template_id: values.prompt_template_id || null,
        ...(values.media_without_text ? { media_without_text: values.media_without_text } : {}),
      };
      onSaved(await api<AISettings>("/api/ai/settings", { method: "PUT", json: body }));
      toast("AI settings saved");
    },
    {
      invalid: [400],
      onError: (error) =>
        error instanceof ApiError && (error.status === 422 || error.status === 400)
          ? toast("Some settings need fixing", "error")
          : toast("Could not save the settings", "error"),
    },
  );

  return (
    <form onSubmit={save} noValidate aria-label="AI settings">
      <Card>
        <CardHeader
          title="Assistant"
          description={canEdit ? "Changes apply to the next message the AI answers." : "Only owners and admins can change these."}
        />
        <CardBody className="flex flex-col gap-5">
          <label className="flex items-start gap-3">
            <input
              type="checkbox"
              checked={draft.enabled}
              disabled={!canEdit}
              onChange={(e) => set("enabled", e.target.checked)}
              className="mt-0.5 h-4 w-4 rounded border-zinc-300 accent-emerald-600"
              name="enabled"
            />
            <span>
              <span className="block text-sm font-medium text-zinc-800">AI answers customers</span>
              <span className="block text-xs text-zinc-500">
                When off, every new message waits for a person in the inbox.
              </span>
              {errors.enabled && <span className="block text-sm text-red-600">{errors.enabled}</span>}
            </span>
          </label>

          <div className="grid gap-4 sm:grid-cols-2">
            <Input
              label="Model"
              name="model"
              value={draft.model}
              disabled={!canEdit}
              onChange={(e) => set("model", e.target.value)}
              error={errors.model}
              hint="One of the models your platform offers (GET /api/ai/models lists them with prices), e.g. openai/gpt-4o-mini."
            />
            <Select
              label="Prompt template"
              name="prompt_template_id"
              value={draft.prompt_template_id ?? ""}
              disabled={!canEdit}
              onChange={(e) => set("prompt_template_id", e.target.value || null)}
              error={errors.prompt_template_id}
              hint="Edit templates on the Prompt templates tab."
            >
              <option value="">Default template</option>
              {templates.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.name}
                </option>
              ))}
            </Select>
          </div>

          <Textarea
            label="Persona"
            name="persona"
            rows={2}
            value={draft.persona}
            disabled={!canEdit}
            onChange={(e) => set("persona", e.target.value)}
            error={errors.persona}
            hint="Who the assistant is, e.g. “Ana, the friendly assistant of a shoe shop”."
          />
          <Textarea
            label="Instructions"
            name="instructions"
            rows={4}
            value={draft.instructions}
            disabled={!canEdit}
            onChange={(e) => set("instructions", e.target.value)}
            error={errors.instructions}
            hint="House rules the assistant follows, e.g. “Always offer the store hours”."
          />

          <div className="grid gap-4 sm:grid-cols-3">
            <Input
              label="Temperature"
              name="temperature"
              inputMode="decimal"
              value={draft.temperature}
              disabled={!canEdit}
              onChange={(e) => set("temperature", e.target.value)}
              error={errors.temperature}
              hint="0 = steady, 2 = creative."
            />
            <Input
              label="Max reply tokens"
              name="max_output_tokens"
              inputMode="numeric"
              value={draft.max_output_tokens}
              disabled={!canEdit}
              onChange={(e) => set("max_output_tokens", e.target.value)}
              error={errors.max_output_tokens}
              hint="16 to 4096."
            />
            <Input
              label="History messages"
              name="history_messages"
              inputMode="numeric"
              value={draft.history_messages}
              disabled={!canEdit}
              onChange={(e) => set("history_messages", e.target.value)}
              error={errors.history_messages}
              hint="Earlier messages the AI reads (0 to 50)."
            />
          </div>

          <ChipsInput
            label="Handoff keywords"
            value={draft.handoff_keywords}
            disabled={!canEdit}
            onChange={(next) => set("handoff_keywords", next)}
            error={errors.handoff_keywords}
            placeholder="human, agent, complaint…"
            hint="A customer message with one of these goes to a person. Enter or comma adds one."
          />

          <Textarea
            label="Fallback message"
            name="fallback_message"
            rows={2}
            value={draft.fallback_message}
            disabled={!canEdit}
            onChange={(e) => set("fallback_message", e.target.value)}
            error={errors.fallback_message}
            hint="Sent when the AI hands over to a person or cannot answer."
          />

          {draft.media_without_text !== undefined && (
            <Select
              label="A photo, audio or file without text"
              name="media_without_text"
              value={draft.media_without_text}
              disabled={!canEdit}
              onChange={(e) => set("media_without_text", e.target.value as "reply" | "handoff")}
              error={errors.media_without_text}
            >
              <option value="reply">The AI replies (asks what they need)</option>
              <option value="handoff">Hand over to a person</option>
            </Select>
          )}

          <InlineError error={general} />
          {canEdit && (
            <div className="flex flex-wrap items-center justify-end gap-2">
              <Button variant="ghost" disabled={!dirty || saving} onClick={() => { setDraft(toDraft(settings)); clearErrors(); }}>
                Discard changes
              </Button>
              <Button type="submit" loading={saving} disabled={!dirty}>
                Save settings
              </Button>
            </div>
          )}
        </CardBody>
      </Card>
    </form>
  );
}
