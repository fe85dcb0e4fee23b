"use client";

import { useMemo, useState, type FormEvent } from "react";
import { ApiError, api, errorMessage } from "@/lib/api";
import type { Message } from "@/lib/types";
import type { Template } from "@/lib/inbox-types";
import { SendIcon } from "@/components/icons";
import { Button, Spinner } from "@/components/ui";
import { useTemplates } from "./team-data";
import { buildParameters, fieldOfDetail, preview, templateForm } from "@/lib/template-fill.mjs";

const inputClass =
  "h-9 w-full rounded-lg border border-zinc-300 bg-white px-2.5 text-sm placeholder:text-zinc-400 focus:border-emerald-600 focus:outline-none focus:ring-2 focus:ring-emerald-600/20 aria-[invalid=true]:border-red-500";

/** Outside the 24-hour window only an approved template reaches the customer: pick one of the
 * channel's, fill its parameters, see what they will read, send. */
export function TemplatePicker({
  conversationId,
  channelId,
  onSent,
}: {
  conversationId: string;
  channelId: string;
  onSent: (m: Message) => void;
}) {
  const { items, error: loadError, refresh: reload } = useTemplates(channelId);
  const approved = useMemo(() => (items ?? []).filter((t) => t.status === "APPROVED"), [items]);
  const [chosenId, setChosenId] = useState("");
  const [values, setValues] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [fieldError, setFieldError] = useState<{ key: string; text: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const chosen: Template | undefined = approved.find((t) => t.id === chosenId);
  const form = useMemo(() => (chosen ? templateForm(chosen) : null), [chosen]);
  const fields = form ? [...form.header.fields, ...form.body.fields] : [];

  async function send(event: FormEvent) {
    event.preventDefault();
    if (!chosen || !form || busy) return;
    setBusy(true);
    setError(null);
    setFieldError(null);
    try {
      const m = await api<Message>(`/api/conversations/${conversationId}/messages`, {
        method: "POST",
        json: { template: { name: chosen.name, language: chosen.language, parameters: buildParameters(form, values) } },
      });
      setValues({});
      setChosenId("");
      onSent(m);
    } catch (e) {
      // A 422 names the parameter that does not fit: shown next to its field.
      const detail = errorMessage(e);
      const key = e instanceof ApiError && e.status === 422 ? fieldOfDetail(detail) : null;
      if (key && fields.some((f) => f.key === key)) setFieldError({ key, text: detail });
      else setError(e instanceof ApiError ? detail : `Not sent: ${detail}`);
    } finally {
      setBusy(false);
    }
  }

  if (items === null && !loadError) {
    return (
      <div className="flex items-center gap-2 py-2 text-xs text-zinc-500">
        <Spinner /> Loading the channel&apos;s templates…
      </div>
    );
  }
  if (loadError) {
    return (
      <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-xs text-red-700">
        Could not load the templates: {errorMessage(loadError)}{" "}
        <button type="button" className="font-medium underline" onClick={() => void reload()}>
          Retry
        </button>
      </p>
    );
  }
  if (approved.length === 0) {
    return (
      <p className="rounded-md bg-zinc-50 px-3 py-2 text-xs text-zinc-600" data-testid="no-templates">
        This number has no approved message template. Templates are created and approved in WhatsApp
        Manager and synced on the Channels page (a sandbox number has none).
      </p>
    );
  }

  return (
    <form onSubmit={send} aria-label="Send a template" data-testid="template-picker" className="space-y-2">
      <label className="flex items-center gap-2 text-xs text-zinc-600">
        <span className="shrink-0 font-medium">Template</span>
        <select
          aria-label="Template"
          value={chosenId}
          onChange={(e) => {
            setChosenId(e.target.value);
            setValues({});
            setFieldError(null);
            setError(null);
          }}
          className="h-9 min-w-0 flex-1 rounded-lg border border-zinc-300 bg-white px-2 text-sm focus:border-emerald-600 focus:outline-none focus:ring-2 focus:ring-emerald-600/20"
        >
          <option value="">Choose an approved template…</option>
          {approved.map((t) => (
            <option key={t.id} value={t.id}>
              {t.name} ({t.language}){t.category ? ` · ${t.category.toLowerCase()}` : ""}
            </option>
          ))}
        </select>
      </label>
      {form && (
        <div className="grid gap-3 sm:grid-cols-2">
          <div className="space-y-2">
            {fields.length === 0 && <p className="text-xs text-zinc-500">This template takes no parameters.</p>}
            {fields.map((f) => {
              const invalid = fieldError?.key === f.key;
              return (
                <div key={f.key}>
                  <label className="mb-0.5 block text-xs font-medium text-zinc-700" htmlFor={`tpl-${f.key}`}>
                    {f.key.startsWith("header") ? `Header ${f.label}` : `Body ${f.label}`}
                  </label>
                  <input
                    id={`tpl-${f.key}`}
                    value={values[f.key] ?? ""}
                    onChange={(e) => {
                      setValues((v) => ({ ...v, [f.key]: e.target.value }));
                      if (invalid) setFieldError(null); // edited: the service's word on it is stale
                    }}
                    aria-invalid={invalid || undefined}
                    aria-describedby={invalid ? `tpl-${f.key}-error` : undefined}
                    className={inputClass}
                    type={f.key === "header.link" ? "url" : "text"}
                  />
                  {invalid && (
                    <p id={`tpl-${f.key}-error`} role="alert" className="mt-0.5 text-xs text-red-600" data-testid="template-field-error">
                      {fieldError.text}
                    </p>
                  )}
                </div>
              );
            })}
          </div>
          <div>
            <p className="mb-0.5 text-xs font-medium text-zinc-700">Preview</p>
            <div
              data-testid="template-preview"
              className="whitespace-pre-wrap break-words rounded-2xl rounded-br-md bg-emerald-50 px-3 py-2 text-sm text-zinc-900 ring-1 ring-emerald-200"
            >
              {preview(form, values)}
            </div>
          </div>
        </div>
      )}
      {error && (
        <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-xs text-red-700" data-testid="send-error">
          {error}
        </p>
      )}
      <div className="flex justify-end">
        <Button type="submit" loading={busy} disabled={!chosen} aria-label="Send template">
          {!busy && <SendIcon className="h-4 w-4" />}
          <span>Send template</span>
        </Button>
      </div>
    </form>
  );
}
