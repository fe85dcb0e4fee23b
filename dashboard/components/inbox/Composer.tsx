"use client";

import { useEffect, useMemo, useState, type FormEvent, type KeyboardEvent } from "react";
import { ApiError, api, errorMessage } from "@/lib/api";
import { cn } from "@/lib/cn";
import { duration } from "@/lib/format";
import type { Message } from "@/lib/types";
import type { CannedReply } from "@/lib/inbox-types";
import { ClockIcon, SendIcon } from "@/components/icons";
import { Button } from "@/components/ui";
import { TemplatePicker } from "./TemplatePicker";
import { useCanned } from "./team-data";
import { fillCanned } from "@/lib/template-fill.mjs";

const WINDOW_MS = 24 * 3600 * 1000;
// A `/shortcut` being typed at the end of the text (after a space or at the start).
const SHORTCUT = /(^|\s)\/([a-z0-9_-]*)$/;

/** The 24-hour customer service window: free text only while it is open. The service's
 * `window_closes_at` when known (null: closed), else 24 h from the customer's last message. */
export function useWindow(lastInboundAt: string | null, windowClosesAt?: string | null) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(t);
  }, []);
  const fromInbound = lastInboundAt ? new Date(lastInboundAt).getTime() + WINDOW_MS : null;
  const closesAt = windowClosesAt ? new Date(windowClosesAt).getTime() : fromInbound;
  if (closesAt === null || (windowClosesAt === null && fromInbound !== null && fromInbound > now)) {
    // The service says closed (its clock) though ours says open: the service decides.
    return { open: false, closesAt: fromInbound, left: 0, now };
  }
  return { open: closesAt > now, closesAt, left: closesAt - now, now };
}

type Mode = "reply" | "note";

export function Composer({
  conversationId,
  channelId,
  lastInboundAt,
  windowClosesAt,
  aiEnabled,
  customerName,
  agentName,
  onSent,
}: {
  conversationId: string;
  channelId: string;
  lastInboundAt: string | null;
  windowClosesAt?: string | null;
  aiEnabled: boolean;
  customerName: string;
  agentName: string;
  onSent: (m: Message) => void;
}) {
  const [mode, setMode] = useState<Mode>("reply");
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [highlight, setHighlight] = useState(0);
  const [dismissed, setDismissed] = useState<string | null>(null);
  const win = useWindow(lastInboundAt, windowClosesAt);
  const { items: canned } = useCanned();
  const note = mode === "note";
  const freeText = note || win.open;

  // The canned-reply picker: open while a `/shortcut` is being typed (Escape closes it).
  const typed = text.match(SHORTCUT);
  const matches = useMemo<CannedReply[]>(() => {
    if (!typed || !canned || dismissed === text) return [];
    return canned.filter((c) => c.shortcut.startsWith(typed[2])).slice(0, 8);
  }, [typed, canned, dismissed, text]);
  const picking = matches.length > 0;

  function pick(reply: CannedReply) {
    const filled = fillCanned(reply.text, { customer_name: customerName || "there", agent_name: agentName });
    setText((t) => t.replace(SHORTCUT, (_, before: string) => `${before}${filled}`));
    setHighlight(0);
  }

  async function send(event?: FormEvent) {
    event?.preventDefault();
    const body = text.trim();
    if (!body || busy || !freeText) return;
    setBusy(true);
    setError(null);
    try {
      const m = await api<Message>(`/api/conversations/${conversationId}/${note ? "notes" : "messages"}`, {
        method: "POST",
        json: { text: body },
      });
      setText("");
      onSent(m);
    } catch (e) {
      // 409 is the service's own reason (window closed…): shown as it says it.
      setError(e instanceof ApiError ? errorMessage(e) : `Not sent: ${errorMessage(e)}`);
    } finally {
      setBusy(false);
    }
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (picking) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        const step = e.key === "ArrowDown" ? 1 : -1;
        setHighlight((h) => (h + step + matches.length) % matches.length);
        return;
      }
      if ((e.key === "Enter" || e.key === "Tab") && !e.nativeEvent.isComposing) {
        e.preventDefault();
        pick(matches[Math.min(highlight, matches.length - 1)]);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        setDismissed(text);
        return;
      }
    }
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    }
  }

  const closedReason = lastInboundAt
    ? `The 24-hour window closed ${duration(win.now - (win.closesAt ?? 0))} ago. WhatsApp only lets a business send free text within 24 hours of the customer's last message: send an approved template instead.`
    : "The customer has not written yet, so the 24-hour window is not open: WhatsApp only lets a business send free text within 24 hours of the customer's last message. Send an approved template instead.";

  return (
    <div className={cn("border-t bg-white p-3", note ? "border-amber-300 bg-yellow-50/60" : "border-zinc-200")}>
      <div className="mb-2 flex flex-wrap items-center gap-x-3 gap-y-1 text-xs">
        <div role="group" aria-label="Compose" className="flex gap-0.5 rounded-lg bg-zinc-100 p-0.5">
          {(
            [
              ["reply", "Reply"],
              ["note", "Private note"],
            ] as const
          ).map(([value, label]) => (
            <button
              key={value}
              type="button"
              aria-pressed={mode === value}
              onClick={() => {
                setMode(value);
                setError(null);
              }}
              className={cn(
                "rounded-md px-2 py-0.5 font-medium transition-colors focus-visible:outline-2 focus-visible:outline-emerald-600",
                mode === value ? (value === "note" ? "bg-amber-200 text-amber-950" : "bg-white text-zinc-900 shadow-xs") : "text-zinc-600 hover:text-zinc-900",
              )}
            >
              {label}
            </button>
          ))}
        </div>
        <span
          data-testid="window-status"
          className={win.open ? "inline-flex items-center gap-1 text-zinc-500" : "inline-flex items-center gap-1 font-medium text-amber-700"}
        >
          <ClockIcon className="h-3.5 w-3.5" />
          {win.open ? `Reply window open · closes in ${duration(win.left)}` : "Reply window closed"}
        </span>
        {note ? (
          <span className="text-amber-800">Only your team sees notes; they are never sent to the customer.</span>
        ) : (
          aiEnabled && win.open && <span className="text-zinc-500">The AI is on and answers too: take over to reply alone.</span>
        )}
      </div>
      {!freeText ? (
        <>
          <p role="status" className="mb-2 rounded-md bg-amber-50 px-3 py-2 text-xs text-amber-800">
            {closedReason}
          </p>
          <TemplatePicker conversationId={conversationId} channelId={channelId} onSent={onSent} />
        </>
      ) : (
        <form onSubmit={send} aria-label={note ? "Private note" : "Reply"}>
          {error && (
            <p role="alert" className="mb-2 rounded-md bg-red-50 px-3 py-2 text-xs text-red-700" data-testid="send-error">
              {error}
            </p>
          )}
          <div className="relative flex items-end gap-2">
            {picking && (
              <ul
                role="listbox"
                aria-label="Canned replies"
                data-testid="canned-picker"
                className="absolute bottom-full left-0 z-10 mb-1 max-h-60 w-full max-w-md overflow-y-auto rounded-lg border border-zinc-200 bg-white py-1 text-sm shadow-lg"
              >
                {matches.map((c, i) => (
                  <li
                    key={c.id}
                    role="option"
                    aria-selected={i === highlight}
                    // mousedown: before the textarea loses focus.
                    onMouseDown={(e) => {
                      e.preventDefault();
                      pick(c);
                    }}
                    onMouseEnter={() => setHighlight(i)}
                    className={cn("cursor-pointer px-3 py-1.5", i === highlight ? "bg-emerald-50" : "hover:bg-zinc-50")}
                  >
                    <span className="font-mono text-xs font-semibold text-emerald-800">/{c.shortcut}</span>
                    <span className="block truncate text-xs text-zinc-600">{c.text}</span>
                  </li>
                ))}
              </ul>
            )}
            <label htmlFor="reply" className="sr-only">
              {note ? "Your private note" : "Your reply"}
            </label>
            <textarea
              id="reply"
              value={text}
              onChange={(e) => {
                setText(e.target.value);
                setHighlight(0);
              }}
              onKeyDown={onKeyDown}
              rows={1}
              maxLength={4096}
              placeholder={note ? "Write a note for your team…" : "Write a reply… (type / for canned replies)"}
              title="Enter sends; Shift+Enter starts a new line; / opens the canned replies"
              aria-autocomplete="list"
              className={cn(
                "max-h-40 min-h-10 flex-1 resize-none rounded-lg border bg-white px-3 py-2 text-sm placeholder:text-zinc-400 focus:outline-none focus:ring-2 [field-sizing:content]",
                note
                  ? "border-amber-300 focus:border-amber-500 focus:ring-amber-500/20"
                  : "border-zinc-300 focus:border-emerald-600 focus:ring-emerald-600/20",
              )}
            />
            <Button type="submit" loading={busy} disabled={!text.trim()} aria-label={note ? "Add note" : "Send reply"}>
              {!busy && <SendIcon className="h-4 w-4" />}
              <span className="hidden sm:inline">{note ? "Add note" : "Send"}</span>
            </Button>
          </div>
        </form>
      )}
    </div>
  );
}
