"use client";

import Link from "next/link";
import { useState } from "react";
import { api, errorMessage } from "@/lib/api";
import type { InboxConversation, TeamMember } from "@/lib/inbox-types";
import { UserIcon } from "@/components/icons";
import { Spinner, useToast } from "@/components/ui";
import { LabelChip } from "./ConversationList";
import { useLabels } from "./team-data";

const selectClass =
  "h-8 rounded-lg border border-zinc-300 bg-white px-2 text-xs focus:border-emerald-600 focus:outline-none focus:ring-2 focus:ring-emerald-600/20 disabled:bg-zinc-50";

/** Under the conversation's header: who works on it, its labels, the contact's page. */
export function TeamBar({
  conversation,
  members,
  myId,
  busy,
  onAssign,
  onChanged,
}: {
  conversation: InboxConversation;
  members: TeamMember[] | null;
  myId: string | null;
  busy: boolean;
  onAssign: (assigneeId: string | null) => void;
  onChanged: (c: InboxConversation) => void;
}) {
  const { items: labels } = useLabels();
  const [saving, setSaving] = useState(false);
  const toast = useToast();
  const current = conversation.labels ?? [];
  const addable = (labels ?? []).filter((l) => !current.some((c) => c.id === l.id));
  const assignee = conversation.assignee_id ?? "";
  // A member the list does not show (yet): kept as an option so the select tells the truth.
  const known = !assignee || (members ?? []).some((m) => m.id === assignee);

  async function setLabels(ids: string[], done: string) {
    setSaving(true);
    try {
      onChanged(
        await api<InboxConversation>(`/api/conversations/${conversation.id}/labels`, {
          method: "PUT",
          json: { label_ids: ids },
        }),
      );
      toast(done);
    } catch (e) {
      toast(errorMessage(e), "error");
    } finally {
      setSaving(false);
    }
  }

  return (
    <div
      className="flex flex-wrap items-center gap-x-4 gap-y-2 border-b border-zinc-200 bg-white px-3 py-2 text-xs text-zinc-600"
      data-testid="team-bar"
    >
      <label className="flex items-center gap-1.5">
        <UserIcon className="h-3.5 w-3.5" />
        <span>Assignee</span>
        <select
          aria-label="Assignee"
          value={assignee}
          disabled={busy || !members}
          onChange={(e) => onAssign(e.target.value || null)}
          className={selectClass}
        >
          <option value="">Unassigned</option>
          {!known && <option value={assignee}>A team member</option>}
          {(members ?? []).map((m) => (
            <option key={m.id} value={m.id}>
              {m.id === myId ? `${m.name} (you)` : m.name}
            </option>
          ))}
        </select>
        {busy && <Spinner className="text-zinc-400" />}
      </label>

      <div className="flex min-w-0 flex-wrap items-center gap-1.5" role="group" aria-label="Labels">
        <span>Labels</span>
        {current.map((l) => (
          <LabelChip
            key={l.id}
            label={l}
            onRemove={() =>
              void setLabels(
                current.filter((x) => x.id !== l.id).map((x) => x.id),
                `Label “${l.name}” removed`,
              )
            }
          />
        ))}
        {labels && labels.length === 0 && current.length === 0 && <span className="text-zinc-500">none defined yet</span>}
        {addable.length > 0 && (
          <select
            aria-label="Add a label"
            value=""
            disabled={saving}
            onChange={(e) => {
              const chosen = addable.find((l) => l.id === e.target.value);
              if (chosen) void setLabels([...current.map((x) => x.id), chosen.id], `Labelled “${chosen.name}”`);
            }}
            className={selectClass}
          >
            <option value="">+ Add label</option>
            {addable.map((l) => (
              <option key={l.id} value={l.id}>
                {l.name}
              </option>
            ))}
          </select>
        )}
        {saving && <Spinner className="text-zinc-400" />}
      </div>

      {conversation.csat && (
        <span
          data-testid="csat-rating"
          title={`Rated ${new Date(conversation.csat.responded_at).toLocaleString()}`}
          className="inline-flex items-center gap-1 rounded-md bg-sky-50 px-1.5 py-0.5 font-medium text-sky-800 ring-1 ring-inset ring-sky-200"
        >
          Customer rating: {{ 3: "😀", 2: "😐", 1: "🙁" }[conversation.csat.score]} {conversation.csat.label}
        </span>
      )}

      <Link
        href={`/contacts/${conversation.contact.id}`}
        className="ml-auto font-medium text-emerald-700 hover:underline"
        data-testid="contact-link"
      >
        Contact page
      </Link>
    </div>
  );
}
