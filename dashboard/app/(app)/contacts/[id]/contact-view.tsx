"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { ApiError, api, errorMessage } from "@/lib/api";
import { formatWhen } from "@/lib/figures";
import { useForm } from "@/lib/hooks/useForm";
import { useList } from "@/lib/hooks/useList";
import { useResource } from "@/lib/hooks/useResource";
import type { ContactProfile } from "@/lib/settings-types";
import type { Conversation, ConversationStatus } from "@/lib/types";
import { PageContainer } from "@/components/AppShell";
import { useSession } from "@/components/session";
import {
  Badge,
  Button,
  Card,
  CardBody,
  CardHeader,
  EmptyState,
  ErrorState,
  Modal,
  Skeleton,
  Textarea,
  useToast,
  type Tone,
} from "@/components/ui";

const STATUS: Record<ConversationStatus, [string, Tone]> = {
  open: ["open", "green"],
  handoff: ["needs a person", "amber"],
  resolved: ["resolved", "neutral"],
};

type Row = { key: string; value: string };
const FORM_FIELDS = ["notes", "attributes"] as const;

function rowsOf(attributes: Record<string, string> | undefined): Row[] {
  return Object.entries(attributes ?? {}).map(([key, value]) => ({ key, value }));
}

/** The attribute rows as the API's object; a second row of the same key is an error. */
function attributesOf(rows: Row[]): { attributes: Record<string, string>; error: string | null } {
  const attributes: Record<string, string> = {};
  for (const { key, value } of rows) {
    const k = key.trim();
    if (!k && !value.trim()) continue; // an empty row left over
    if (!k) return { attributes, error: "Every attribute needs a name." };
    if (k in attributes) return { attributes, error: `“${k}” is there twice.` };
    attributes[k] = value;
  }
  return { attributes, error: null };
}

/** A contact: profile, the team's notes and attributes, every conversation, export, erasure. */
export function ContactView({ id }: { id: string }) {
  const toast = useToast();
  const router = useRouter();
  const { me } = useSession();
  const manager = me ? me.user.role === "owner" || me.user.role === "admin" : false;
  const { values, set, setValues, errors, general, submitting: saving, submit } = useForm(
    { notes: "", rows: [] as Row[] },
    FORM_FIELDS,
  );
  const { notes, rows } = values;
  const seed = (found: ContactProfile) => setValues({ notes: found.notes ?? "", rows: rowsOf(found.attributes) });
  const profile = useResource<ContactProfile>(`/api/contacts/${id}`, { onLoad: seed });
  const list = useList<Conversation>(`/api/conversations?contact_id=${encodeURIComponent(id)}`);
  const contact = profile.data;
  const conversations = list.items;
  const loadError = profile.error ?? list.error;
  const load = () => Promise.all([profile.refresh(), list.refresh()]);
  const formError = errors.attributes ?? errors.notes ?? general;
  const [exporting, setExporting] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const [erasing, setErasing] = useState(false);

  const save = submit(
    async (v) => {
      const next = await api<ContactProfile>(`/api/contacts/${id}`, {
        method: "PATCH",
        json: { notes: v.notes.trim() ? v.notes : null, attributes: attributesOf(v.rows).attributes },
      });
      profile.setData(next);
      seed(next);
      toast("Contact saved");
    },
    {
      validate: (v) => {
        const { error } = attributesOf(v.rows);
        return error ? { attributes: error } : null;
      },
    },
  );

  async function download() {
    setExporting(true);
    try {
      const data = await api<unknown>(`/api/contacts/${id}/export`);
      const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = `contact-${contact?.wa_id ?? id}.json`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (error) {
      toast(`Export failed: ${errorMessage(error)}`, "error");
    } finally {
      setExporting(false);
    }
  }

  async function erase() {
    setErasing(true);
    try {
      await api(`/api/contacts/${id}`, { method: "DELETE" });
      toast("Contact erased");
      setConfirm(false);
      router.replace("/contacts");
    } catch (error) {
      toast(errorMessage(error), "error");
      setErasing(false);
    }
  }

  const title = contact ? contact.name || `+${contact.wa_id}` : "Contact";
  if (loadError) {
    const gone = loadError instanceof ApiError && loadError.status === 404;
    return (
      <PageContainer title="Contact">
        <Card>
          {gone ? (
            <EmptyState
              title="No such contact"
              description="It may have been erased."
              action={
                <Link href="/contacts" className="text-sm font-medium text-emerald-700 hover:underline">
                  All contacts
                </Link>
              }
            />
          ) : (
            <ErrorState error={loadError} title="Could not load the contact" onRetry={() => void load()} />
          )}
        </Card>
      </PageContainer>
    );
  }

  return (
    <PageContainer
      title={<span data-testid="contact-name">{title}</span>}
      description={contact ? `+${contact.wa_id} on WhatsApp` : undefined}
      actions={
        contact && (
          <>
            <Button variant="secondary" loading={exporting} onClick={() => void download()}>
              Export JSON
            </Button>
            {manager && (
              <Button variant="danger" onClick={() => setConfirm(true)}>
                Erase contact
              </Button>
            )}
          </>
        )
      }
    >
      <div className="grid gap-6 lg:grid-cols-3">
        <div className="flex flex-col gap-6 lg:col-span-1">
          <Card>
            <CardHeader title="Profile" />
            <CardBody>
              {contact === null ? (
                <div aria-busy aria-label="Loading the contact" className="flex flex-col gap-2">
                  <Skeleton className="h-4 w-2/3" />
                  <Skeleton className="h-4 w-1/2" />
                </div>
              ) : (
                <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1.5 text-sm" data-testid="contact-profile">
                  <dt className="text-zinc-500">Name</dt>
                  <dd className="text-zinc-900">{contact.name || "—"}</dd>
                  <dt className="text-zinc-500">WhatsApp</dt>
                  <dd className="text-zinc-900">+{contact.wa_id}</dd>
                  <dt className="text-zinc-500">First seen</dt>
                  <dd className="text-zinc-900">{formatWhen(contact.first_seen_at)}</dd>
                  <dt className="text-zinc-500">Last seen</dt>
                  <dd className="text-zinc-900">{formatWhen(contact.last_seen_at)}</dd>
                  <dt className="text-zinc-500">Conversations</dt>
                  <dd className="text-zinc-900 tabular-nums">{contact.conversation_count}</dd>
                </dl>
              )}
            </CardBody>
          </Card>

          {contact && (
            <Card>
              <CardHeader title="Notes and attributes" description="The team's own; never shown to the customer." />
              <CardBody>
                <form onSubmit={save} noValidate aria-label="Contact notes" className="flex flex-col gap-4">
                  <Textarea
                    label="Notes"
                    name="contact_notes"
                    rows={4}
                    maxLength={8192}
                    value={notes}
                    onChange={(e) => set("notes", e.target.value)}
                  />
                  <fieldset className="flex flex-col gap-2">
                    <legend className="mb-1 text-sm font-medium text-zinc-800">Attributes</legend>
                    {rows.length === 0 && <p className="text-xs text-zinc-500">None yet, e.g. plan = gold, city = Porto.</p>}
                    {rows.map((row, i) => (
                      <div key={i} className="flex items-center gap-2">
                        <input
                          aria-label={`Attribute ${i + 1} name`}
                          value={row.key}
                          maxLength={64}
                          placeholder="name"
                          onChange={(e) => set("rows", rows.map((r, j) => (j === i ? { ...r, key: e.target.value } : r)))}
                          className="h-9 w-28 min-w-0 rounded-lg border border-zinc-300 px-2 text-sm"
                        />
                        <input
                          aria-label={`Attribute ${i + 1} value`}
                          value={row.value}
                          maxLength={1024}
                          placeholder="value"
                          onChange={(e) => set("rows", rows.map((r, j) => (j === i ? { ...r, value: e.target.value } : r)))}
                          className="h-9 min-w-0 flex-1 rounded-lg border border-zinc-300 px-2 text-sm"
                        />
                        <Button size="sm" variant="ghost" onClick={() => set("rows", rows.filter((_, j) => j !== i))} aria-label={`Remove attribute ${row.key || i + 1}`}>
                          ×
                        </Button>
                      </div>
                    ))}
                    <div>
                      <Button size="sm" variant="secondary" disabled={rows.length >= 50} onClick={() => set("rows", [...rows, { key: "", value: "" }])}>
                        Add attribute
                      </Button>
                    </div>
                  </fieldset>
                  {formError && (
                    <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
                      {formError}
                    </p>
                  )}
                  <div className="flex justify-end">
                    <Button type="submit" loading={saving}>
                      Save
                    </Button>
                  </div>
                </form>
              </CardBody>
            </Card>
          )}
        </div>

        <Card className="lg:col-span-2">
          <CardHeader title="Conversations" description={conversations ? `${conversations.length} in all, newest first` : undefined} />
          {conversations === null ? (
            <div className="flex flex-col gap-3 p-4" aria-busy aria-label="Loading the conversations">
              <Skeleton className="h-5 w-2/3" />
            </div>
          ) : conversations.length === 0 ? (
            <EmptyState title="No conversations" />
          ) : (
            <ul className="divide-y divide-zinc-100" aria-label="Conversations of the contact">
              {conversations.map((c) => {
                const [label, tone] = STATUS[c.status] ?? [c.status, "neutral"];
                return (
                  <li key={c.id} data-testid="contact-conversation">
                    <Link
                      href={`/inbox/${c.id}`}
                      className="flex flex-col gap-1 px-4 py-3 hover:bg-zinc-50 focus-visible:outline-2 focus-visible:outline-emerald-600"
                    >
                      <span className="flex flex-wrap items-center gap-2 text-sm">
                        <Badge tone={tone}>{label}</Badge>
                        {(c.labels ?? []).map((l) => (
                          <span key={l.id} className="inline-flex items-center gap-1 text-xs text-zinc-600">
                            <span aria-hidden className="h-2 w-2 rounded-full" style={{ backgroundColor: l.color }} />
                            {l.name}
                          </span>
                        ))}
                        <span className="ml-auto text-xs text-zinc-500">
                          {c.last_message_at ? formatWhen(c.last_message_at) : ""}
                        </span>
                      </span>
                      <span className="truncate text-sm text-zinc-700">{c.last_message_preview || "—"}</span>
                    </Link>
                  </li>
                );
              })}
            </ul>
          )}
        </Card>
      </div>

      <Modal
        open={confirm}
        onClose={() => setConfirm(false)}
        title="Erase this contact?"
        footer={
          <>
            <Button variant="secondary" onClick={() => setConfirm(false)}>
              Cancel
            </Button>
            <Button variant="danger" loading={erasing} onClick={() => void erase()}>
              Erase for good
            </Button>
          </>
        }
      >
        <p className="text-sm text-zinc-700">
          {title}, their {contact?.conversation_count ?? 0} conversation{contact?.conversation_count === 1 ? "" : "s"}, every
          message, note and media file are deleted everywhere (GDPR erasure). This cannot be undone: export the data first
          if you need a copy.
        </p>
      </Modal>
    </PageContainer>
  );
}
