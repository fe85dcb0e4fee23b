"use client";

import { useState } from "react";
import { api, errorMessage } from "@/lib/api";
import { useForm } from "@/lib/hooks/useForm";
import { useList } from "@/lib/hooks/useList";
import type { Label } from "@/lib/settings-types";
import { Button, Card, CardBody, CardHeader, EmptyState, ErrorState, InlineError, Input, Modal, Skeleton, useToast } from "@/components/ui";

// A few distinct colours to start from; any #rrggbb goes through the colour picker.
const LABEL_FIELDS = ["name", "color"] as const;
const byName = (a: Label, b: Label) => a.name.localeCompare(b.name);

export const SWATCHES = ["#16a34a", "#2563eb", "#dc2626", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#52525b"];

export function LabelsSection({ manager }: { manager: boolean }) {
  const toast = useToast();
  const { items: labels, error: loadError, refresh: load, add: added, remove: removed } = useList<Label>("/api/labels", {
    order: byName,
  });
  const { values, set, setErrors, errors, general, submitting: adding, submit } = useForm(
    { name: "", color: SWATCHES[0] },
    LABEL_FIELDS,
  );
  const { name, color } = values;
  const [confirm, setConfirm] = useState<Label | null>(null);
  const [removing, setRemoving] = useState(false);

  const add = submit(
    async () => {
      const label = await api<Label>("/api/labels", { method: "POST", json: { name: name.trim(), color } });
      added(label);
      set("name", "");
      toast(`Label “${label.name}” created`);
    },
    { validate: (v) => (v.name.trim() ? null : { name: "Give the label a name." }), conflictField: "name" },
  );

  async function remove(label: Label) {
    setRemoving(true);
    try {
      await api(`/api/labels/${label.id}`, { method: "DELETE" });
      removed(label.id);
      toast(`Label “${label.name}” deleted`);
      setConfirm(null);
    } catch (error) {
      toast(errorMessage(error), "error");
    } finally {
      setRemoving(false);
    }
  }

  return (
    <Card>
      <CardHeader
        title="Labels"
        description="Tag conversations (“refund”, “VIP”…) and filter the inbox by them. The count is the conversations carrying each label now."
      />
      {loadError ? (
        <ErrorState error={loadError} title="Could not load the labels" onRetry={() => void load()} />
      ) : labels === null ? (
        <div className="flex flex-col gap-3 p-4" aria-busy aria-label="Loading the labels">
          <Skeleton className="h-5 w-1/2" />
        </div>
      ) : labels.length === 0 ? (
        <EmptyState title="No labels yet" description={manager ? "Create the first one below." : undefined} />
      ) : (
        <ul className="divide-y divide-zinc-100" aria-label="Labels">
          {labels.map((label) => (
            <li key={label.id} className="flex items-center gap-3 px-4 py-2.5" data-testid="label-row">
              <span
                aria-hidden
                className="h-4 w-4 shrink-0 rounded-full ring-1 ring-black/10"
                style={{ backgroundColor: label.color }}
              />
              <span className="min-w-0 flex-1 truncate text-sm font-medium text-zinc-900">{label.name}</span>
              <span className="text-xs text-zinc-500 tabular-nums" data-testid="label-count">
                {label.conversation_count} conversation{label.conversation_count === 1 ? "" : "s"}
              </span>
              {manager && (
                <Button
                  size="sm"
                  variant="ghost"
                  className="text-red-700 hover:bg-red-50"
                  onClick={() => setConfirm(label)}
                  aria-label={`Delete label ${label.name}`}
                >
                  Delete
                </Button>
              )}
            </li>
          ))}
        </ul>
      )}
      {manager && (
        <CardBody className="border-t border-zinc-100">
          <form onSubmit={add} noValidate aria-label="New label" className="flex flex-col gap-3 sm:flex-row sm:items-start">
            <Input
              label="Name"
              name="label_name"
              value={name}
              maxLength={64}
              onChange={(e) => {
                set("name", e.target.value);
                setErrors({});
              }}
              error={errors.name}
              className="sm:w-56"
            />
            <fieldset className="flex flex-col gap-1.5">
              <legend className="mb-1.5 text-sm font-medium text-zinc-800">Colour</legend>
              <div className="flex flex-wrap items-center gap-1.5">
                {SWATCHES.map((swatch) => (
                  <button
                    key={swatch}
                    type="button"
                    onClick={() => set("color", swatch)}
                    aria-label={`Colour ${swatch}`}
                    aria-pressed={color === swatch}
                    className="h-7 w-7 rounded-full ring-offset-2 focus-visible:outline-2 focus-visible:outline-emerald-600 aria-pressed:ring-2 aria-pressed:ring-zinc-900"
                    style={{ backgroundColor: swatch }}
                  />
                ))}
                <input
                  type="color"
                  aria-label="Any colour"
                  value={color}
                  onChange={(e) => set("color", e.target.value)}
                  className="h-8 w-10 cursor-pointer rounded border border-zinc-300 bg-white"
                />
              </div>
              {errors.color && <p className="text-sm text-red-600">{errors.color}</p>}
            </fieldset>
            <div className="sm:pt-7">
              <Button type="submit" loading={adding}>
                Create label
              </Button>
            </div>
          </form>
          <InlineError error={general} className="mt-3" />
        </CardBody>
      )}
      <Modal
        open={confirm !== null}
        onClose={() => setConfirm(null)}
        title="Delete this label?"
        footer={
          <>
            <Button variant="secondary" onClick={() => setConfirm(null)}>
              Cancel
            </Button>
            <Button variant="danger" loading={removing} onClick={() => confirm && void remove(confirm)}>
              Delete
            </Button>
          </>
        }
      >
        <p className="text-sm text-zinc-700">
          “{confirm?.name}” leaves the {confirm?.conversation_count ?? 0} conversation
          {confirm?.conversation_count === 1 ? "" : "s"} carrying it. The conversations stay.
        </p>
      </Modal>
    </Card>
  );
}
