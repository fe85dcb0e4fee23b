"use client";

import { useCallback, useEffect, useState, type FormEvent } from "react";
import { ApiError, api, errorMessage } from "@/lib/api";
import { approvedTemplateNames, csatBody } from "@/lib/business-hours.mjs";
import { splitDetail } from "@/lib/form-errors";
import { liveTemplates, optional } from "@/lib/settings-api";
import type { Csat } from "@/lib/settings-types";
import { Button, Card, CardBody, CardHeader, EmptyState, ErrorState, Input, Select, Skeleton, useToast } from "@/components/ui";

const PATH = "/api/csat"; // the responder's
const FIELDS = ["enabled", "question", "template_name"] as const;

/** GET/PUT /api/csat; the template is one of the live channels' approved templates. */
export function CsatSection({ manager }: { manager: boolean }) {
  const toast = useToast();
  const [saved, setSaved] = useState<Csat | null | undefined>(undefined);
  const [draft, setDraft] = useState<Csat>({ enabled: false, question: "", template_name: null });
  const [names, setNames] = useState<string[]>([]);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  const load = useCallback(async () => {
    setLoadError(null);
    try {
      const [found, templates] = await Promise.all([optional<Csat>(PATH), liveTemplates().catch(() => [])]);
      setNames(approvedTemplateNames(templates));
      setSaved(found);
      if (found) setDraft({ ...found, template_name: found.template_name ?? null });
    } catch (error) {
      setLoadError(error);
    }
  }, []);

  useEffect(() => {
    // eslint-disable-next-line react-hooks/set-state-in-effect -- loading on mount
    void load();
  }, [load]);

  async function save(event: FormEvent) {
    event.preventDefault();
    setGeneral(null);
    const { body, errors: found } = csatBody(draft);
    setErrors(found);
    if (Object.keys(found).length) return;
    setSaving(true);
    try {
      const next = await api<Csat>(PATH, { method: "PUT", json: body });
      setSaved(next);
      setDraft({ ...next, template_name: next.template_name ?? null });
      toast("CSAT settings saved");
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) {
        const split = splitDetail(error.detail, FIELDS);
        setErrors(split.fields);
        setGeneral(split.general ?? (Object.keys(split.fields).length ? null : errorMessage(error)));
      } else {
        setGeneral(errorMessage(error));
      }
      toast("The CSAT settings were not saved", "error");
    } finally {
      setSaving(false);
    }
  }

  // The saved template stays choosable even when no live channel lists it any more.
  const options = draft.template_name && !names.includes(draft.template_name) ? [draft.template_name, ...names] : names;
  const disabled = !manager || saving;
  return (
    <Card>
      <CardHeader
        title="Customer satisfaction (CSAT)"
        description="When a conversation is resolved, ask the customer to rate it. Ratings show in Analytics."
      />
      {loadError ? (
        <ErrorState error={loadError} title="Could not load the CSAT settings" onRetry={() => void load()} />
      ) : saved === undefined ? (
        <div className="p-4" aria-busy aria-label="Loading the CSAT settings">
          <Skeleton className="h-5 w-1/2" />
        </div>
      ) : saved === null ? (
        <EmptyState title="CSAT is not available yet" description="The AI service does not offer it on this installation." />
      ) : (
        <CardBody>
          <form onSubmit={save} noValidate aria-label="CSAT" className="flex flex-col gap-4">
            <label className="flex items-start gap-3">
              <input
                type="checkbox"
                name="csat_enabled"
                checked={draft.enabled}
                disabled={disabled}
                onChange={(e) => setDraft((d) => ({ ...d, enabled: e.target.checked }))}
                className="mt-0.5 h-4 w-4 rounded border-zinc-300 accent-emerald-600"
              />
              <span>
                <span className="block text-sm font-medium text-zinc-800">Ask for a rating on resolve</span>
                <span className="block text-xs text-zinc-500">Inside the 24-hour window with buttons; outside it with the template below.</span>
              </span>
            </label>
            <Input
              label="Question"
              name="csat_question"
              value={draft.question}
              maxLength={1024}
              disabled={disabled}
              onChange={(e) => {
                setDraft((d) => ({ ...d, question: e.target.value }));
                setErrors({});
              }}
              error={errors.question}
              placeholder="How did we do today?"
            />
            <Select
              label="Template outside the 24-hour window"
              name="csat_template"
              value={draft.template_name ?? ""}
              disabled={disabled}
              onChange={(e) => setDraft((d) => ({ ...d, template_name: e.target.value || null }))}
              error={errors.template_name}
              hint={
                names.length
                  ? "One of your live numbers' approved templates."
                  : "No approved template on a live number yet: sync them on the Channels page."
              }
            >
              <option value="">No template (ask only inside the window)</option>
              {options.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </Select>
            {general && (
              <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
                {general}
              </p>
            )}
            {manager && (
              <div className="flex justify-end">
                <Button type="submit" loading={saving}>
                  Save CSAT
                </Button>
              </div>
            )}
          </form>
        </CardBody>
      )}
    </Card>
  );
}
