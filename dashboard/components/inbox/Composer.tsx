"use client";

import { useEffect, useState, type FormEvent, type KeyboardEvent } from "react";
import { ApiError, api, errorMessage } from "@/lib/api";
import { duration } from "@/lib/format";
import type { Message } from "@/lib/types";
import { ClockIcon, SendIcon } from "@/components/icons";
import { Button } from "@/components/ui";

const WINDOW_MS = 24 * 3600 * 1000;

/** The 24-hour customer service window: free text only while it is open. */
export function useWindow(lastInboundAt: string | null) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(t);
  }, []);
  if (!lastInboundAt) return { open: false, closesAt: null, left: 0, now };
  const closesAt = new Date(lastInboundAt).getTime() + WINDOW_MS;
  return { open: closesAt > now, closesAt, left: closesAt - now, now };
}

export function Composer({
  conversationId,
  lastInboundAt,
  aiEnabled,
  onSent,
}: {
  conversationId: string;
  lastInboundAt: string | null;
  aiEnabled: boolean;
  onSent: (m: Message) => void;
}) {
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const win = useWindow(lastInboundAt);

  async function send(event?: FormEvent) {
    event?.preventDefault();
    const body = text.trim();
    if (!body || busy || !win.open) return;
    setBusy(true);
    setError(null);
    try {
      const m = await api<Message>(`/api/conversations/${conversationId}/messages`, {
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
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    }
  }

  const closedReason = lastInboundAt
    ? `The 24-hour window closed ${duration(win.now - (win.closesAt ?? 0))} ago. WhatsApp only lets a business send free text within 24 hours of the customer's last message; you can reply when they write again.`
    : "The customer has not written yet, so the 24-hour window is not open: WhatsApp only lets a business send free text within 24 hours of the customer's last message.";

  return (
    <form onSubmit={send} className="border-t border-zinc-200 bg-white p-3" aria-label="Reply">
      <div className="mb-2 flex flex-wrap items-center gap-x-3 gap-y-1 text-xs">
        <span
          data-testid="window-status"
          className={win.open ? "inline-flex items-center gap-1 text-zinc-500" : "inline-flex items-center gap-1 font-medium text-amber-700"}
        >
          <ClockIcon className="h-3.5 w-3.5" />
          {win.open ? `Reply window open · closes in ${duration(win.left)}` : "Reply window closed"}
        </span>
        {aiEnabled && win.open && <span className="text-zinc-500">The AI is on and answers too: take over to reply alone.</span>}
      </div>
      {!win.open && (
        <p role="status" className="mb-2 rounded-md bg-amber-50 px-3 py-2 text-xs text-amber-800">
          {closedReason}
        </p>
      )}
      {error && (
        <p role="alert" className="mb-2 rounded-md bg-red-50 px-3 py-2 text-xs text-red-700" data-testid="send-error">
          {error}
        </p>
      )}
      <div className="flex items-end gap-2">
        <label htmlFor="reply" className="sr-only">
          Your reply
        </label>
        <textarea
          id="reply"
          value={text}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={onKeyDown}
          disabled={!win.open}
          rows={1}
          maxLength={4096}
          placeholder={win.open ? "Write a reply…" : "Free text is not allowed outside the window"}
          title="Enter sends; Shift+Enter starts a new line"
          className="max-h-40 min-h-10 flex-1 resize-none rounded-lg border border-zinc-300 bg-white px-3 py-2 text-sm placeholder:text-zinc-400 focus:border-emerald-600 focus:outline-none focus:ring-2 focus:ring-emerald-600/20 disabled:bg-zinc-50 [field-sizing:content]"
        />
        <Button type="submit" loading={busy} disabled={!win.open || !text.trim()} aria-label="Send reply">
          {!busy && <SendIcon className="h-4 w-4" />}
          <span className="hidden sm:inline">Send</span>
        </Button>
      </div>
    </form>
  );
}
