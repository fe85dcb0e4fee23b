"use client";

import { useRef, useState } from "react";
import { api, errorMessage } from "@/lib/api";
import { useForm } from "@/lib/hooks/useForm";
import { useList } from "@/lib/hooks/useList";
import type { CannedReply } from "@/lib/settings-types";
import { Button, Card, CardBody, CardHeader, EmptyState, ErrorState, InlineError, Input, Modal, Skeleton, Textarea, useToast } from "@/components/ui";

// The variables the composer fills in when a reply is picked (ingest's inbox: the API stores
// them as written).
const VARIABLES = [
  ["{{customer_name}}", "the customer's WhatsApp name"],
  ["{{agent_name}}", "your name, as the member sending"],
] as const;

const EMPTY = { shortcut: "", text: "" };
const FIELDS = ["shortcut", "text"] as const;

function byShortcut(a: CannedReply, b: CannedReply) {
  return a.shortcut.localeCompare(b.shortcut);
}

export function CannedRepliesSection({ manager }: { manager: boolean }) {
  const toast = useToast();
  const { items: replies, error: loadError, refresh: load, add: added, remove: removed } = useList<CannedReply>(
    "/api/canned-replies",
    { order: byShortcut },
  );
  const { values: form, set, setValues: setForm, errors, general, clearErrors, submitting: saving, submit } = useForm(
    EMPTY,
    FIELDS,
  );
  const [editing, setEditing] = useState<CannedReply | null>(null);
  const [confirm, setConfirm] = useState<CannedReply | null>(null);
  const [removing, setRemoving] = useState(false);
  const textRef = useRef<HTMLTextAreaElement>(null);

  /** The variable at the caret (or at the end), so it is typed where the agent is writing. */
  function insert(variable: string) {
    const area = textRef.current;
    const at = area ? area.selectionStart : form.text.length;
    const end = area ? area.selectionEnd : form.text.length;
    set("text", form.text.slice(0, at) + variable + form.text.slice(end));
    requestAnimationFrame(() => {
      area?.focus();
      area?.setSelectionRange(at + variable.length, at + variable.length);
    });
  }

  function edit(reply: CannedReply) {
    setEditing(reply);
    setForm({ shortcut: reply.shortcut, text: reply.text });
    clearErrors();
  }

  function cancel() {
    setEditing(null);
    setForm(EMPTY);
    clearErrors();
  }

  const save = submit(
    async (values) => {
      const body = { shortcut: values.shortcut.trim().replace(/^\//, ""), text: values.text };
      const reply = editing
        ? await api<CannedReply>(`/api/canned-replies/${editing.id}`, { method: "PUT", json: body })
        : await api<CannedReply>("/api/canned-replies", { method: "POST", json: body });
      added(reply);
      toast(editing ? `/${reply.shortcut} saved` : `/${reply.shortcut} created`);
      setEditing(null);
      setForm(EMPTY);
    },
    {
      explain: (fields) =>
        fields.shortcut?.includes("pattern")
          ? { ...fields, shortcut: "Lowercase letters, digits, - and _ (up to 32), starting with a letter or digit." }
          : fields,
      conflictField: "shortcut",
    },
  );

  async function remove(reply: CannedReply) {
    setRemoving(true);
    try {
      await api(`/api/canned-replies/${reply.id}`, { method: "DELETE" });
      removed(reply.id);
      if (editing?.id === reply.id) cancel();
      toast(`/${reply.shortcut} deleted`);
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
        title="Canned replies"
        description="Answers your team reuses: type / and the shortcut in the composer to pick one."
      />
      {loadError ? (
        <ErrorState error={loadError} title="Could not load the canned replies" onRetry={() => void load()} />
      ) : replies === null ? (
        <div className="flex flex-col gap-3 p-4" aria-busy aria-label="Loading the canned replies">
          <Skeleton className="h-5 w-2/3" />
        </div>
      ) : replies.length === 0 ? (
        <EmptyState title="No canned replies yet" description={manager ? "Write the first one below." : undefined} />
      ) : (
        <ul className="divide-y divide-zinc-100" aria-label="Canned replies">
          {replies.map((reply) => (
            <li key={reply.id} className="flex items-start gap-3 px-4 py-3" data-testid="canned-row">
              <code className="shrink-0 rounded bg-zinc-100 px-1.5 py-0.5 text-xs font-semibold text-zinc-800">
                /{reply.shortcut}
              </code>
              <p className="min-w-0 flex-1 whitespace-pre-wrap break-words text-sm text-zinc-700">{reply.text}</p>
              {manager && (
                <div className="flex shrink-0 gap-1">
                  <Button size="sm" variant="ghost" onClick={() => edit(reply)} aria-label={`Edit /${reply.shortcut}`}>
                    Edit
                  </Button>
                  <Button
                    size="sm"
                    variant="ghost"
                    className="text-red-700 hover:bg-red-50"
                    onClick={() => setConfirm(reply)}
                    aria-label={`Delete /${reply.shortcut}`}
                  >
                    Delete
                  </Button>
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
      {manager && (
        <CardBody className="border-t border-zinc-100">
          <form
            onSubmit={save}
            noValidate
            aria-label={editing ? "Edit canned reply" : "New canned reply"}
            className="flex flex-col gap-3"
          >
            <p className="text-sm font-semibold text-zinc-900">
              {editing ? `Editing /${editing.shortcut}` : "New canned reply"}
            </p>
            <Input
              label="Shortcut"
              name="shortcut"
              value={form.shortcut}
              maxLength={33}
              placeholder="hours"
              onChange={(e) => set("shortcut", e.target.value.toLowerCase())}
              error={errors.shortcut}
              hint="Typed as /shortcut: lowercase letters, digits, - and _."
              className="sm:w-64"
            />
            <Textarea
              ref={textRef}
              label="Text"
              name="canned_text"
              rows={3}
              value={form.text}
              maxLength={4096}
              onChange={(e) => set("text", e.target.value)}
              error={errors.text}
            />
            <div className="flex flex-wrap items-center gap-2 text-xs text-zinc-600" aria-label="Variables">
              <span>Variables, filled in when the reply is picked:</span>
              {VARIABLES.map(([variable, meaning]) => (
                <button
                  key={variable}
                  type="button"
                  onClick={() => insert(variable)}
                  title={`Insert ${variable}: ${meaning}`}
                  className="rounded border border-zinc-200 bg-zinc-50 px-1.5 py-0.5 font-mono text-zinc-800 hover:bg-zinc-100 focus-visible:outline-2 focus-visible:outline-emerald-600"
                >
                  {variable}
                </button>
              ))}
              <span className="basis-full">
                {VARIABLES.map(([variable, meaning]) => `${variable} is ${meaning}`).join("; ")}.
              </span>
            </div>
            <InlineError error={general} />
            <div className="flex justify-end gap-2">
              {editing && (
                <Button variant="secondary" onClick={cancel}>
                  Cancel
                </Button>
              )}
              <Button type="submit" loading={saving}>
                {editing ? "Save reply" : "Create reply"}
              </Button>
            </div>
          </form>
        </CardBody>
      )}
      <Modal
        open={confirm !== null}
        onClose={() => setConfirm(null)}
        title="Delete this canned reply?"
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
        <p className="text-sm text-zinc-700">/{confirm?.shortcut} will no longer be offered in the composer.</p>
      </Modal>
    </Card>
  );
}
