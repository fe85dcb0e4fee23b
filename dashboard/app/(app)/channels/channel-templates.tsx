"use client";

import { useState } from "react";
import { api, errorMessage } from "@/lib/api";
import { useForm } from "@/lib/hooks/useForm";
import { unpaged, useList } from "@/lib/hooks/useList";
import type { Channel } from "@/lib/types";
import type { ChannelSettings, MessageTemplate, TemplateRef } from "@/lib/settings-types";
import { Badge, Button, ErrorState, Select, Skeleton, useToast, type Tone } from "@/components/ui";

const SAVE_FIELDS = ["reengagement_template", "auto_reengage"] as const;
const STATUS_TONE: Record<string, Tone> = { APPROVED: "green", PENDING: "amber", REJECTED: "red", PAUSED: "amber" };

function bodyText(t: MessageTemplate): string {
  const body = t.components.find((c) => String(c.type).toUpperCase() === "BODY");
  return typeof body?.text === "string" ? body.text : "";
}

function refKey(ref: TemplateRef | null | undefined): string {
  return ref ? `${ref.name}\u0000${ref.language}` : "";
}

/** A live channel's message templates (synced from its WhatsApp Business Account) and the
 * re-engagement template that reopens a closed 24-hour window. */
export function ChannelTemplates({
  channel,
  manager,
  onChanged,
}: {
  channel: Channel & ChannelSettings;
  manager: boolean;
  onChanged: (next: Channel & ChannelSettings) => void;
}) {
  const toast = useToast();
  const {
    items: templates,
    setItems: setTemplates,
    error: loadError,
    refresh: load,
  } = useList<MessageTemplate>(`/api/channels/${channel.id}/templates`, { load: unpaged });
  const [syncing, setSyncing] = useState(false);
  const { values, set, errors, general, submitting: saving, submit } = useForm(
    { reengagement_template: refKey(channel.reengagement_template), auto_reengage: Boolean(channel.auto_reengage) },
    SAVE_FIELDS,
  );
  const { reengagement_template: chosen, auto_reengage: auto } = values;

  async function sync() {
    setSyncing(true);
    try {
      const { items } = await api<{ items: MessageTemplate[] }>(`/api/channels/${channel.id}/templates/sync`, {
        method: "POST",
      });
      setTemplates(items);
      toast(`${items.length} template${items.length === 1 ? "" : "s"} synced from Meta`);
    } catch (error) {
      toast(`Templates not synced: ${errorMessage(error)}`, "error");
    } finally {
      setSyncing(false);
    }
  }

  const save = submit(async () => {
    const [name, language] = chosen ? chosen.split("\u0000") : [];
    const next = await api<Channel & ChannelSettings>(`/api/channels/${channel.id}`, {
      method: "PATCH",
      json: { reengagement_template: chosen ? { name, language } : null, auto_reengage: auto },
    });
    onChanged(next);
    toast("Re-engagement settings saved");
  });
  const saveError = errors.reengagement_template ?? errors.auto_reengage ?? general;

  const approved = (templates ?? []).filter((t) => t.status === "APPROVED");
  const dirty = chosen !== refKey(channel.reengagement_template) || auto !== Boolean(channel.auto_reengage);
  return (
    <section className="mt-3 rounded-lg border border-zinc-200 bg-zinc-50/60" aria-label={`Templates of ${channel.display_phone_number || channel.phone_number_id}`}>
      <div className="flex flex-wrap items-center justify-between gap-2 border-b border-zinc-200 px-3 py-2">
        <h3 className="text-sm font-semibold text-zinc-900">
          Message templates {templates && <span className="font-normal text-zinc-500">({templates.length})</span>}
        </h3>
        {manager && (
          <Button size="sm" variant="secondary" loading={syncing} onClick={() => void sync()}>
            Sync templates
          </Button>
        )}
      </div>
      {loadError ? (
        <ErrorState error={loadError} title="Could not load the templates" onRetry={() => void load()} className="py-4" />
      ) : templates === null ? (
        <div className="p-3" aria-busy aria-label="Loading the templates">
          <Skeleton className="h-4 w-1/2" />
        </div>
      ) : templates.length === 0 ? (
        <p className="px-3 py-3 text-sm text-zinc-500">
          No templates yet. Create them in Meta&apos;s WhatsApp Manager, then sync.
        </p>
      ) : (
        <ul className="divide-y divide-zinc-200" aria-label="Templates">
          {templates.map((t) => (
            <li key={t.id} className="px-3 py-2" data-testid="template-row">
              <p className="flex flex-wrap items-center gap-2 text-sm">
                <span className="font-medium text-zinc-900">{t.name}</span>
                <span className="text-xs text-zinc-500">{t.language}</span>
                {t.category && <Badge tone="neutral">{t.category.toLowerCase()}</Badge>}
                <Badge tone={STATUS_TONE[t.status] ?? "neutral"}>{t.status.toLowerCase()}</Badge>
              </p>
              {bodyText(t) && <p className="mt-0.5 whitespace-pre-wrap text-xs text-zinc-600">{bodyText(t)}</p>}
            </li>
          ))}
        </ul>
      )}
      <div className="flex flex-col gap-3 border-t border-zinc-200 px-3 py-3">
        <Select
          label="Re-engagement template"
          name={`reengagement-${channel.id}`}
          value={chosen}
          disabled={!manager || saving}
          onChange={(e) => set("reengagement_template", e.target.value)}
          hint="Offered (or sent) when the AI or a handoff comes after the customer's 24-hour window has closed."
          error={saveError}
          className="sm:w-96"
        >
          <option value="">None</option>
          {chosen && !approved.some((t) => refKey(t) === chosen) && (
            <option value={chosen}>{chosen.replace("\u0000", " · ")} (not approved now)</option>
          )}
          {approved.map((t) => (
            <option key={t.id} value={refKey(t)}>
              {t.name} · {t.language}
            </option>
          ))}
        </Select>
        <label className="flex items-start gap-3">
          <input
            type="checkbox"
            name={`auto-reengage-${channel.id}`}
            checked={auto}
            disabled={!manager || saving}
            onChange={(e) => set("auto_reengage", e.target.checked)}
            className="mt-0.5 h-4 w-4 rounded border-zinc-300 accent-emerald-600"
          />
          <span>
            <span className="block text-sm font-medium text-zinc-800">Send it automatically</span>
            <span className="block text-xs text-zinc-500">
              When the AI&apos;s answer comes too late, send the template instead; off: the conversation is handed off to a person.
            </span>
          </span>
        </label>
        {manager && (
          <div className="flex justify-end">
            <Button size="sm" loading={saving} disabled={!dirty} onClick={() => void save()}>
              Save re-engagement
            </Button>
          </div>
        )}
      </div>
    </section>
  );
}
