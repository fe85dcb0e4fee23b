"use client";

import Link from "next/link";
import { useCallback, useEffect, useRef, useState } from "react";
import { api, type Page } from "@/lib/api";
import { cn } from "@/lib/cn";
import { isNewer, recordIfNewer } from "@/lib/conversation-version.mjs";
import { useLiveEvents } from "@/lib/events";
import { contactName, initials, shortWhen } from "@/lib/format";
import type { Conversation, ConversationStatus } from "@/lib/types";
import type { InboxConversation, LabelBrief } from "@/lib/inbox-types";
import { EmptyState, ErrorState, Skeleton, Spinner } from "@/components/ui";
import { SearchIcon, UserIcon } from "@/components/icons";
import { useSession } from "@/components/session";
import { memberName, useLabels, useMembers } from "./team-data";

const FILTERS: { value: ConversationStatus | ""; label: string }[] = [
  { value: "", label: "All" },
  { value: "open", label: "Open" },
  { value: "handoff", label: "Handoff" },
  { value: "resolved", label: "Resolved" },
];
// Whose conversations: the caller's, nobody's, or everyone's (`assignee=me|none`).
type Scope = "mine" | "none" | "";
const SCOPES: { value: Scope; label: string }[] = [
  { value: "mine", label: "Mine" },
  { value: "none", label: "Unassigned" },
  { value: "", label: "All" },
];
const PAGE = 30;

/** A label as a small coloured chip (its colour as a dot: any colour stays readable). */
export function LabelChip({ label, onRemove }: { label: LabelBrief; onRemove?: () => void }) {
  return (
    <span
      data-testid="label-chip"
      className="inline-flex max-w-40 items-center gap-1 rounded-full bg-white px-1.5 py-0.5 text-[11px] font-medium text-zinc-700 ring-1 ring-inset ring-zinc-200"
    >
      <span aria-hidden className="h-2 w-2 shrink-0 rounded-full" style={{ backgroundColor: label.color }} />
      <span className="truncate">{label.name}</span>
      {onRemove && (
        <button
          type="button"
          onClick={onRemove}
          aria-label={`Remove label ${label.name}`}
          className="-mr-0.5 rounded-full px-0.5 text-zinc-500 hover:bg-zinc-100 hover:text-zinc-900"
        >
          ×
        </button>
      )}
    </span>
  );
}

function newestFirst(a: Conversation, b: Conversation): number {
  return (b.last_message_at ?? "").localeCompare(a.last_message_at ?? "");
}

export function Avatar({ name, className }: { name: string; className?: string }) {
  return (
    <div
      aria-hidden
      className={cn(
        "grid h-10 w-10 shrink-0 place-items-center rounded-full bg-zinc-200 text-xs font-semibold text-zinc-600",
        className,
      )}
    >
      {initials(name)}
    </div>
  );
}

export function StatusBadge({ status }: { status: ConversationStatus }) {
  const style = {
    open: "bg-emerald-50 text-emerald-700 ring-emerald-200",
    handoff: "bg-amber-50 text-amber-800 ring-amber-200",
    resolved: "bg-zinc-100 text-zinc-600 ring-zinc-200",
  }[status];
  return (
    <span className={cn("rounded px-1.5 py-0.5 text-[11px] font-medium ring-1 ring-inset", style)}>
      {status === "handoff" ? "needs a person" : status}
    </span>
  );
}

export function ConversationList({ selectedId }: { selectedId: string | null }) {
  const [status, setStatus] = useState<ConversationStatus | "">("");
  const [scope, setScope] = useState<Scope>("");
  const [label, setLabel] = useState("");
  const { me } = useSession();
  const { items: members } = useMembers();
  const { items: labels } = useLabels();
  const [query, setQuery] = useState("");
  const [q, setQ] = useState(""); // debounced
  const [items, setItems] = useState<InboxConversation[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const sentinel = useRef<HTMLDivElement>(null);
  const generation = useRef(0);
  // The highest version met per conversation, listed or not (lib/conversation-version.mjs).
  const versions = useRef(new Map<string, number>());

  useEffect(() => {
    const t = setTimeout(() => setQ(query.trim()), 300);
    return () => clearTimeout(t);
  }, [query]);

  const params = useCallback(
    (after: string | null) => {
      const p = new URLSearchParams({ limit: String(PAGE) });
      if (status) p.set("status", status);
      if (q) p.set("q", q);
      if (scope) p.set("assignee", scope === "mine" ? "me" : scope);
      if (label) p.set("label", label);
      if (after) p.set("cursor", after);
      return p.toString();
    },
    [status, q, scope, label],
  );

  // An event during the fetch may predate or postdate the page: fetch again if one came.
  const inFlight = useRef(false);
  const missed = useRef(false);
  const loadFirst = useCallback(
    async (quiet = false) => {
      const mine = ++generation.current;
      if (!quiet) setLoading(true);
      inFlight.current = true;
      try {
        for (let round = 0; round < 3; round += 1) {
          missed.current = false;
          const page = await api<Page<InboxConversation>>(`/api/conversations?${params(null)}`);
          if (mine !== generation.current) return;
          for (const c of page.items) recordIfNewer(versions.current, c, { orSame: true });
          setItems(page.items);
          setCursor(page.next_cursor);
          setError(null);
          if (!missed.current) break;
        }
      } catch (e) {
        if (mine === generation.current) {
          setError(e);
          // A new filter that failed must not look like it matched the old filter's rows.
          if (!quiet) setItems([]);
        }
      } finally {
        if (mine === generation.current) {
          setLoading(false);
          inFlight.current = false;
        }
      }
    },
    [params],
  );

  useEffect(() => {
    // eslint-disable-next-line react-hooks/set-state-in-effect -- fetch on filter change
    void loadFirst();
  }, [loadFirst]);

  const loadMore = useCallback(async () => {
    if (!cursor || loadingMore) return;
    const mine = generation.current;
    setLoadingMore(true);
    try {
      const page = await api<Page<InboxConversation>>(`/api/conversations?${params(cursor)}`);
      if (mine !== generation.current) return;
      for (const c of page.items) recordIfNewer(versions.current, c, { orSame: true });
      setItems((list) => {
        const seen = new Set(list.map((c) => c.id));
        return [...list, ...page.items.filter((c) => !seen.has(c.id))];
      });
      setCursor(page.next_cursor);
    } catch (e) {
      setError(e);
    } finally {
      setLoadingMore(false);
    }
  }, [cursor, loadingMore, params]);

  // Infinite scroll: the next page loads when the end of the list comes into view.
  useEffect(() => {
    const el = sentinel.current;
    if (!el || !cursor) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) void loadMore();
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, [cursor, loadMore]);

  const refetchSoon = useRef<ReturnType<typeof setTimeout> | null>(null);
  const settle = useRef(new Map<string, ReturnType<typeof setTimeout>>());
  // The filter now, not when the settling request left: the reader may have changed it since.
  const userId = me?.user.id ?? null;
  const filter = useRef({ q, status, scope, label, userId });
  useEffect(() => {
    filter.current = { q, status, scope, label, userId };
  }, [q, status, scope, label, userId]);
  // Whether a conversation's state (from an event or the server) fits the current filter;
  // labels are not in the events, so a label filter keeps what it listed.
  const fits = useCallback((c: InboxConversation) => {
    const f = filter.current;
    if (f.status && c.status !== f.status) return false;
    if (f.scope === "mine" && c.assignee_id !== f.userId) return false;
    if (f.scope === "none" && c.assignee_id) return false;
    if (f.label && c.labels && !c.labels.some((l) => l.id === f.label)) return false;
    return true;
  }, []);
  // The server's state of a conversation already listed replaces what the events said (unless
  // a newer update came meanwhile); one the current list does not show is left to the list's
  // own loading.
  const settled = useCallback(
    (c: InboxConversation) => {
      setItems((list) => {
        if (filter.current.q || !list.some((x) => x.id === c.id)) return list;
        if (!isNewer({ id: c.id, version: versions.current.get(c.id) }, c, { orSame: true })) return list;
        const rest = list.filter((x) => x.id !== c.id);
        if (!fits(c)) return rest;
        return [{ ...list.find((x) => x.id === c.id), ...c }, ...rest].sort(newestFirst);
      });
    },
    [fits],
  );
  useLiveEvents((event) => {
    if (inFlight.current) missed.current = true;
    if (event.name === "conversation.updated") {
      const c = event.data;
      // A search or a label filter is answered by the server; status and assignee here.
      if (q || (label && !items.some((x) => x.id === c.id))) {
        if (refetchSoon.current) clearTimeout(refetchSoon.current);
        refetchSoon.current = setTimeout(() => void loadFirst(true), 400);
        return;
      }
      // Updates can arrive out of order (a reply's "open" after the handoff that followed
      // it): one not newer than any met before is dropped, shown or filtered out.
      if (!recordIfNewer(versions.current, c)) return;
      const apply = (c: Conversation) =>
        setItems((list) => {
          const rest = list.filter((x) => x.id !== c.id);
          const merged = { ...list.find((x) => x.id === c.id), ...c };
          if (!fits(merged)) return rest;
          return [merged, ...rest].sort(newestFirst);
        });
      apply(c);
      // The event carries the conversation's own unread count, not this member's
      // (docs/api.md): the member's comes from the API.
      clearTimeout(settle.current.get(c.id));
      settle.current.set(
        c.id,
        setTimeout(() => {
          settle.current.delete(c.id);
          api<InboxConversation>(`/api/conversations/${c.id}`).then(settled, () => undefined);
        }, 500),
      );
    } else if (event.name === "message.created") {
      const m = event.data;
      if (!items.some((c) => c.id === m.conversation_id)) {
        if (refetchSoon.current) clearTimeout(refetchSoon.current);
        refetchSoon.current = setTimeout(() => void loadFirst(true), 400);
      }
    }
  });

  return (
    <div className="flex h-full min-h-0 flex-col">
      <div className="space-y-3 border-b border-zinc-200 p-3">
        <div className="flex items-center justify-between">
          <h1 className="text-base font-semibold text-zinc-900">Inbox</h1>
          {loading && items.length > 0 && <Spinner className="text-zinc-400" />}
        </div>
        <label className="relative block">
          <span className="sr-only">Search conversations</span>
          <SearchIcon className="pointer-events-none absolute left-2.5 top-2.5 h-4 w-4 text-zinc-400" />
          <input
            type="search"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            placeholder="Search name, number or text"
            className="h-9 w-full rounded-lg border border-zinc-300 bg-white pl-8 pr-3 text-sm placeholder:text-zinc-400 focus:border-emerald-600 focus:outline-none focus:ring-2 focus:ring-emerald-600/20"
          />
        </label>
        <div role="group" aria-label="Filter by assignee" className="flex gap-1 rounded-lg bg-zinc-100 p-0.5">
          {SCOPES.map((f) => (
            <button
              key={f.value}
              type="button"
              aria-pressed={scope === f.value}
              onClick={() => setScope(f.value)}
              className={cn(
                "flex-1 rounded-md px-2 py-1 text-xs font-medium transition-colors focus-visible:outline-2 focus-visible:outline-emerald-600",
                scope === f.value ? "bg-white text-zinc-900 shadow-xs" : "text-zinc-600 hover:text-zinc-900",
              )}
            >
              {f.label}
            </button>
          ))}
        </div>
        <div role="group" aria-label="Filter by status" className="flex gap-1 rounded-lg bg-zinc-100 p-0.5">
          {FILTERS.map((f) => (
            <button
              key={f.value}
              type="button"
              aria-pressed={status === f.value}
              onClick={() => setStatus(f.value)}
              className={cn(
                "flex-1 rounded-md px-2 py-1 text-xs font-medium transition-colors focus-visible:outline-2 focus-visible:outline-emerald-600",
                status === f.value ? "bg-white text-zinc-900 shadow-xs" : "text-zinc-600 hover:text-zinc-900",
              )}
            >
              {f.label}
            </button>
          ))}
        </div>
        {labels && labels.length > 0 && (
          <label className="flex items-center gap-2 text-xs text-zinc-600">
            <span className="shrink-0">Label</span>
            <select
              value={label}
              onChange={(e) => setLabel(e.target.value)}
              aria-label="Filter by label"
              className="h-8 min-w-0 flex-1 rounded-lg border border-zinc-300 bg-white px-2 text-xs focus:border-emerald-600 focus:outline-none focus:ring-2 focus:ring-emerald-600/20"
            >
              <option value="">Any label</option>
              {labels.map((l) => (
                <option key={l.id} value={l.id}>
                  {l.name}
                </option>
              ))}
            </select>
          </label>
        )}
      </div>

      <div className="min-h-0 flex-1 overflow-y-auto" aria-busy={loading}>
        {loading && items.length === 0 ? (
          <ul aria-label="Loading conversations">
            {Array.from({ length: 6 }, (_, i) => (
              <li key={i} className="flex gap-3 px-3 py-3">
                <Skeleton className="h-10 w-10 rounded-full" />
                <div className="flex-1 space-y-2">
                  <Skeleton className="h-3 w-1/2" />
                  <Skeleton className="h-3 w-4/5" />
                </div>
              </li>
            ))}
          </ul>
        ) : error && items.length === 0 ? (
          <ErrorState error={error} title="Could not load conversations" onRetry={() => void loadFirst()} />
        ) : items.length === 0 ? (
          <EmptyState
            title={q || status || scope || label ? "No conversation matches" : "No conversations yet"}
            description={
              q || status || scope || label
                ? "Try another search or filter."
                : "When a customer writes to your number, the conversation appears here. Try the simulator."
            }
            action={
              !q && !status && !scope && !label ? (
                <Link href="/simulator" className="text-sm font-medium text-emerald-700 hover:underline">
                  Open the simulator
                </Link>
              ) : undefined
            }
          />
        ) : (
          <ul aria-label="Conversations" data-testid="conversation-list">
            {items.map((c) => {
              const name = contactName(c.contact);
              const active = c.id === selectedId;
              const unread = active ? 0 : c.unread_count;
              return (
                <li key={c.id}>
                  <Link
                    href={`/inbox/${c.id}`}
                    aria-current={active ? "page" : undefined}
                    data-testid="conversation-item"
                    className={cn(
                      "flex gap-3 border-b border-zinc-100 px-3 py-3 transition-colors focus-visible:outline-2 focus-visible:-outline-offset-2 focus-visible:outline-emerald-600",
                      active ? "bg-emerald-50/70" : "hover:bg-zinc-50",
                    )}
                  >
                    <Avatar name={name} />
                    <div className="min-w-0 flex-1">
                      <div className="flex items-baseline justify-between gap-2">
                        <p className={cn("truncate text-sm", unread ? "font-semibold text-zinc-900" : "font-medium text-zinc-800")}>
                          {name}
                        </p>
                        <span className="shrink-0 text-xs text-zinc-500">{shortWhen(c.last_message_at)}</span>
                      </div>
                      <div className="mt-0.5 flex items-center justify-between gap-2">
                        <p className={cn("truncate text-sm", unread ? "text-zinc-800" : "text-zinc-600")}>
                          {c.last_message_preview ?? "No messages"}
                        </p>
                        {unread > 0 && (
                          <span
                            role="img"
                            aria-label={`${unread} unread`}
                            className="grid h-5 min-w-5 shrink-0 place-items-center rounded-full bg-emerald-700 px-1.5 text-[11px] font-semibold text-white"
                          >
                            {unread}
                          </span>
                        )}
                      </div>
                      <div className="mt-1.5 flex items-center gap-1.5">
                        <StatusBadge status={c.status} />
                        {!c.ai_enabled && (
                          <span className="rounded px-1.5 py-0.5 text-[11px] font-medium text-zinc-500 ring-1 ring-inset ring-zinc-200">
                            AI off
                          </span>
                        )}
                        {c.assignee_id && (
                          <span data-testid="row-assignee" className="inline-flex min-w-0 items-center gap-0.5 text-[11px] text-zinc-500">
                            <UserIcon className="h-3 w-3 shrink-0" />
                            <span className="truncate">{c.assignee_id === userId ? "You" : memberName(members, c.assignee_id)}</span>
                          </span>
                        )}
                      </div>
                      {c.labels && c.labels.length > 0 && (
                        <div className="mt-1 flex flex-wrap gap-1">
                          {c.labels.map((l) => (
                            <LabelChip key={l.id} label={l} />
                          ))}
                        </div>
                      )}
                    </div>
                  </Link>
                </li>
              );
            })}
          </ul>
        )}
        <div ref={sentinel} className="h-8">
          {loadingMore && (
            <div className="flex justify-center py-2 text-zinc-400">
              <Spinner label="Loading more conversations" />
            </div>
          )}
        </div>
      </div>
    </div>
  );
}
