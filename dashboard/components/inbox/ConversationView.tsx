"use client";

import Link from "next/link";
import { Fragment, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { api, errorMessage, type Page } from "@/lib/api";
import { cn } from "@/lib/cn";
import { useLiveEvents } from "@/lib/events";
import { contactName, dayLabel } from "@/lib/format";
import { applyFetched, applyLive } from "@/lib/conversation-version.mjs";
import { upsertMessage } from "@/lib/message-order.mjs";
import type { Message } from "@/lib/types";
import type { InboxConversation } from "@/lib/inbox-types";
import { AlertIcon, BackIcon } from "@/components/icons";
import { Button, ErrorState, Skeleton, useToast } from "@/components/ui";
import { useSession } from "@/components/session";
import { Composer } from "./Composer";
import { Avatar, StatusBadge } from "./ConversationList";
import { TeamBar } from "./TeamBar";
import { memberName, useMembers } from "./team-data";
import { MessageBubble } from "./MessageBubble";
import { SourcesModal } from "./SourcesModal";

// Reactions and edits change another message; they are not bubbles of their own.
const HIDDEN_TYPES = new Set(["reaction", "edit"]);

async function allMessages(id: string): Promise<Message[]> {
  const out: Message[] = [];
  let cursor: string | null = null;
  do {
    const qs: string = cursor ? `?limit=200&cursor=${encodeURIComponent(cursor)}` : "?limit=200";
    const page: Page<Message> = await api<Page<Message>>(`/api/conversations/${id}/messages${qs}`);
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}

export function ConversationView({ id }: { id: string }) {
  const [conversation, setConversation] = useState<InboxConversation | null>(null);
  const [messages, setMessages] = useState<Message[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [sourcesOf, setSourcesOf] = useState<Message | null>(null);
  const [flash, setFlash] = useState<string | null>(null);
  const toast = useToast();
  const { me } = useSession();
  const { items: members } = useMembers();
  const scroller = useRef<HTMLDivElement>(null);
  const stickToBottom = useRef(true);

  // A live event that lands while the snapshot is loading may be older or newer than it:
  // then the snapshot is taken again, so a handoff or a message is never lost in between.
  const loading = useRef(false);
  const missed = useRef(false);
  const load = useCallback(async () => {
    setError(null);
    loading.current = true;
    try {
      for (let round = 0; round < 3; round += 1) {
        missed.current = false;
        const [c, ms] = await Promise.all([api<InboxConversation>(`/api/conversations/${id}`), allMessages(id)]);
        setConversation(c);
        setMessages(ms);
        if (!missed.current) break;
      }
    } catch (e) {
      setError(e);
    } finally {
      loading.current = false;
    }
  }, [id]);

  useEffect(() => {
    stickToBottom.current = true;
    // eslint-disable-next-line react-hooks/set-state-in-effect -- fetch on open
    void load();
  }, [load]);

  // Opening it marks it read for this member (unread counts are per member); so does a
  // customer's message that arrives while it is open (debounced).
  const readSoon = useRef<ReturnType<typeof setTimeout> | null>(null);
  const markRead = useCallback(() => {
    if (readSoon.current) clearTimeout(readSoon.current);
    readSoon.current = setTimeout(() => {
      void api(`/api/conversations/${id}/read`, { method: "POST" }).catch(() => undefined);
    }, 300);
  }, [id]);
  useEffect(() => {
    markRead();
    return () => {
      if (readSoon.current) clearTimeout(readSoon.current);
    };
  }, [markRead]);

  useLiveEvents((event) => {
    const mine = event.name === "conversation.updated" ? event.data.id === id : event.data.conversation_id === id;
    if (mine && loading.current) missed.current = true;
    if (event.name === "conversation.updated" && event.data.id === id) {
      const data = event.data;
      // Updates can arrive out of order (a reply's "open" after the handoff that followed
      // it): one not newer than what is shown is dropped (lib/conversation-version.mjs).
      setConversation((c) => applyLive(c, data));
    } else if (event.name === "message.created" && event.data.conversation_id === id) {
      const data = event.data;
      // In the API's order (created_at as an instant, then id): see lib/message-order.mjs.
      setMessages((list) => (list ? upsertMessage(list, data) : list));
      if (data.direction === "inbound") markRead();
    } else if (event.name === "message.updated" && event.data.conversation_id === id) {
      const data = event.data;
      setMessages((list) => {
        if (!list) return list;
        const i = list.findIndex((x) => x.id === data.id);
        if (i === -1) return list;
        const next = list.slice();
        next[i] = { ...list[i], ...data };
        return next;
      });
    }
  });

  // Keep the newest message in view unless the reader scrolled up.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (el && stickToBottom.current) el.scrollTop = el.scrollHeight;
  }, [messages]);

  const byWamid = useMemo(() => {
    const map = new Map<string, Message>();
    for (const m of messages ?? []) if (m.wamid) map.set(m.wamid, m);
    return map;
  }, [messages]);

  // The customer's current reaction per message from the reaction messages aimed at it (the
  // last one wins; an empty one removes it), so a reaction shows up live.
  const reactions = useMemo(() => {
    const map = new Map<string, string | null>();
    for (const m of messages ?? []) {
      if (m.type === "reaction" && m.context?.id) map.set(m.context.id, m.text || null);
    }
    return map;
  }, [messages]);

  // Each shown message, with the day label when it starts a new day.
  const visible = useMemo(() => {
    const shown = (messages ?? []).filter((m) => !HIDDEN_TYPES.has(m.type));
    const days = shown.map((m) => dayLabel(m.created_at));
    return shown.map((m, i) => ({ m, newDay: i === 0 || days[i] !== days[i - 1] ? days[i] : null }));
  }, [messages]);

  const lastInboundAt = useMemo(() => {
    if (conversation?.last_inbound_at !== undefined) return conversation.last_inbound_at;
    const inbound = (messages ?? []).filter((m) => m.direction === "inbound");
    return inbound.length ? inbound[inbound.length - 1].created_at : null;
  }, [conversation, messages]);

  async function patch(
    body: Partial<Pick<InboxConversation, "ai_enabled" | "status" | "assignee_id">>,
    what: string,
    done: string,
  ) {
    setBusy(what);
    try {
      const changed = await api<InboxConversation>(`/api/conversations/${id}`, { method: "PATCH", json: body });
      // A live update of a later change may have come first.
      setConversation((c) => applyFetched(c, changed));
      toast(done);
    } catch (e) {
      toast(errorMessage(e), "error");
    } finally {
      setBusy(null);
    }
  }

  function jumpTo(messageId: string) {
    document.getElementById(`m-${messageId}`)?.scrollIntoView({ behavior: "smooth", block: "center" });
    setFlash(messageId);
    setTimeout(() => setFlash(null), 1500);
  }

  if (error) {
    return (
      <div className="flex h-full flex-col">
        <BackBar />
        <ErrorState error={error} title="Could not open this conversation" onRetry={() => void load()} />
      </div>
    );
  }
  if (!conversation || !messages) {
    return (
      <div className="flex h-full flex-col" aria-busy="true">
        <div className="flex items-center gap-3 border-b border-zinc-200 bg-white p-3">
          <Skeleton className="h-10 w-10 rounded-full" />
          <Skeleton className="h-4 w-40" />
        </div>
        <div className="flex-1 space-y-3 p-4">
          <Skeleton className="h-12 w-2/3" />
          <Skeleton className="ml-auto h-16 w-1/2" />
          <Skeleton className="h-10 w-1/3" />
        </div>
      </div>
    );
  }

  const name = contactName(conversation.contact);
  return (
    <div className="flex h-full min-h-0 flex-col" data-testid="conversation-view">
      <header className="flex flex-wrap items-center gap-x-3 gap-y-2 border-b border-zinc-200 bg-white px-3 py-2.5">
        <Link
          href="/inbox"
          aria-label="Back to conversations"
          className="-ml-1 rounded-lg p-1.5 text-zinc-500 hover:bg-zinc-100 lg:hidden"
        >
          <BackIcon />
        </Link>
        <Avatar name={name} className="h-9 w-9" />
        <div className="min-w-0 flex-1">
          <p className="truncate text-sm font-semibold text-zinc-900" data-testid="contact-name">
            {name}
          </p>
          <div className="flex items-center gap-1.5 text-xs text-zinc-500">
            <span className="truncate">+{conversation.contact.wa_id}</span>
            <StatusBadge status={conversation.status} />
          </div>
        </div>
        <div className="flex w-full items-center gap-2 sm:w-auto">
          <div
            className={cn(
              "hidden items-center gap-1.5 whitespace-nowrap rounded-lg px-2 py-1 text-xs font-medium sm:flex",
              conversation.ai_enabled ? "bg-violet-50 text-violet-700" : "bg-zinc-100 text-zinc-600",
            )}
            data-testid="ai-state"
          >
            <span className={cn("h-1.5 w-1.5 rounded-full", conversation.ai_enabled ? "bg-violet-500" : "bg-zinc-400")} />
            {conversation.ai_enabled ? "AI answering" : "You're answering"}
          </div>
          <Button
            size="sm"
            variant={conversation.ai_enabled ? "primary" : "secondary"}
            loading={busy === "ai"}
            onClick={() =>
              void patch(
                { ai_enabled: !conversation.ai_enabled },
                "ai",
                conversation.ai_enabled ? "You took over: the AI stays quiet here" : "Handed back to the AI",
              )
            }
          >
            {conversation.ai_enabled ? "Take over" : "Hand back to AI"}
          </Button>
          <Button
            size="sm"
            variant="secondary"
            loading={busy === "status"}
            onClick={() =>
              void patch(
                { status: conversation.status === "resolved" ? "open" : "resolved" },
                "status",
                conversation.status === "resolved" ? "Reopened" : "Resolved",
              )
            }
          >
            {conversation.status === "resolved" ? "Reopen" : "Resolve"}
          </Button>
        </div>
      </header>

      <TeamBar
        conversation={conversation}
        members={members}
        myId={me?.user.id ?? null}
        busy={busy === "assignee"}
        onAssign={(assignee_id) =>
          void patch(
            { assignee_id },
            "assignee",
            assignee_id ? `Assigned to ${assignee_id === me?.user.id ? "you" : memberName(members, assignee_id)}` : "Unassigned",
          )
        }
        onChanged={(changed) => setConversation((c) => applyFetched(c, changed))}
      />

      {conversation.status === "handoff" && (
        <div role="status" data-testid="handoff-banner" className="flex items-start gap-2 border-b border-amber-200 bg-amber-50 px-4 py-2.5 text-sm text-amber-900">
          <AlertIcon className="mt-0.5 h-4 w-4 shrink-0" />
          <div>
            <p className="font-medium">This customer needs a person.</p>
            <p className="text-amber-800">
              {conversation.handoff_reason ? `Reason: ${conversation.handoff_reason}. ` : ""}
              The AI stopped answering; reply below, then resolve or hand back to the AI.
            </p>
          </div>
        </div>
      )}

      <div
        ref={scroller}
        onScroll={(e) => {
          const el = e.currentTarget;
          stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
        }}
        className="min-h-0 flex-1 overflow-y-auto bg-zinc-50 px-3 py-4 sm:px-6"
        aria-live="polite"
        aria-label="Messages"
      >
        {visible.length === 0 ? (
          <p className="py-10 text-center text-sm text-zinc-500">No messages yet.</p>
        ) : (
          <div className="mx-auto flex max-w-3xl flex-col gap-2">
            {visible.map(({ m, newDay }) => {
              const quoted = m.context?.id && m.type !== "reaction" ? (byWamid.get(m.context.id) ?? null) : undefined;
              // An AI answer quotes the question it answers: no need to show that quote.
              const showQuote = quoted !== undefined && !(m.author === "ai" && quoted && quoted.direction === "inbound");
              // A reaction that arrived live (a reaction message) wins over the loaded field.
              const reaction = m.wamid && reactions.has(m.wamid) ? reactions.get(m.wamid) : m.reaction;
              return (
                <Fragment key={m.id}>
                  {newDay && (
                    <div className="my-2 flex justify-center">
                      <span className="rounded-full bg-white px-3 py-0.5 text-xs text-zinc-500 shadow-xs ring-1 ring-zinc-200">{newDay}</span>
                    </div>
                  )}
                  <div className={cn("rounded-xl transition-colors", flash === m.id && "bg-emerald-100/60")}>
                    <MessageBubble
                      m={m}
                      quoted={showQuote ? quoted : undefined}
                      reaction={reaction ?? null}
                      onQuoteClick={jumpTo}
                      onShowSources={setSourcesOf}
                      authorName={m.author_id ? (m.author_id === me?.user.id ? "You" : memberName(members, m.author_id)) : null}
                    />
                  </div>
                </Fragment>
              );
            })}
          </div>
        )}
      </div>

      <Composer
        conversationId={id}
        channelId={conversation.channel_id}
        lastInboundAt={lastInboundAt ?? null}
        windowClosesAt={conversation.window_closes_at}
        aiEnabled={conversation.ai_enabled}
        customerName={conversation.contact.name ?? ""}
        agentName={me?.user.name ?? ""}
        onSent={(m) => {
          stickToBottom.current = true;
          setMessages((list) => (list ? upsertMessage(list, m) : [m]));
        }}
      />
      <SourcesModal
        message={sourcesOf}
        question={sourcesOf?.context?.id ? (byWamid.get(sourcesOf.context.id)?.text ?? null) : null}
        onClose={() => setSourcesOf(null)}
      />
    </div>
  );
}

function BackBar() {
  return (
    <div className="border-b border-zinc-200 bg-white p-2 lg:hidden">
      <Link href="/inbox" className="inline-flex items-center gap-1 rounded-lg px-2 py-1 text-sm text-zinc-600 hover:bg-zinc-100">
        <BackIcon className="h-4 w-4" /> Conversations
      </Link>
    </div>
  );
}
