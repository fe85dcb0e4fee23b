"use client";

import { api } from "@/lib/api";
import { approvedTemplateNames, csatBody } from "@/lib/business-hours.mjs";
import { useForm } from "@/lib/hooks/useForm";
import { useResource } from "@/lib/hooks/useResource";
import { liveTemplates, optional } from "@/lib/settings-api";
import type { Csat } from "@/lib/settings-types";
import { Button, Card, CardBody, CardHeader, EmptyState, ErrorState, InlineError, Input, Select, Skeleton, useToast } from "@/components/ui";

const PATH = "/api/csat"; // the responder's
const FIELDS = ["enabled", "question", "template_name"] as const;
const EMPTY: Csat = { enabled: false, question: "", template_name: null };

/** The settings (null: the responder does not offer CSAT, 404) and the approved template names. */
async function loadCsat(path: string): Promise<{ csat: Csat | null; names: string[] }> {
  const [csat, templates] = await Promise.all([optional<Csat>(path), liveTemplates().catch(() => [])]);
  return { csat, names: approvedTemplateNames(templates) };
}

const draftOf = (csat: Csat): Csat => ({ ...csat, template_name: csat.template_name ?? null });

/** GET/PUT /api/csat; the template is one of the live channels' approved templates. */
export function CsatSection({ manager }: { manager: boolean }) {
  const toast = useToast();
  const { values: draft, set, setValues, errors, general, submitting: saving, submit } = useForm(EMPTY, FIELDS);
  const { data, setData, error: loadError, loading, refresh: load } = useResource(PATH, {
    load: loadCsat,
    onLoad: ({ csat }) => csat && setValues(draftOf(csat)),
  });
  const names = data?.names ?? [];

  const save = submit(
    async (values) => {
      const next = await api<Csat>(PATH, { method: "PUT", json: csatBody(values).body });
      setData({ csat: next, names });
      setValues(draftOf(next));
      toast("CSAT settings saved");
    },
    {
      validate: (values) => csatBody(values).errors,
      onError: () => toast("The CSAT settings were not saved", "error"),
    },
  );

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
      ) : loading && !data ? (
        <div className="p-4" aria-busy aria-label="Loading the CSAT settings">
          <Skeleton className="h-5 w-1/2" />
        </div>
      ) : !data?.csat ? (
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
                onChange={(e) => set("enabled", e.target.checked)}
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
              onChange={(e) => set("question", e.target.value)}
              error={errors.question}
              placeholder="How did we do today?"
            />
            <Select
              label="Template outside the 24-hour window"
              name="csat_template"
              value={draft.template_name ?? ""}
              disabled={disabled}
              onChange={(e) => set("template_name", e.target.value || null)}
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
            <InlineError error={general} />
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
