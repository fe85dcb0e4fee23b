"use client";

import Link from "next/link";
import { useCallback, useEffect, useRef, useState } from "react";
import { api, type Page } from "@/lib/api";
import { cn } from "@/lib/cn";
import { useLiveEvents } from "@/lib/events";
import { contactName, initials, shortWhen } from "@/lib/format";
import type { Conversation, ConversationStatus } from "@/lib/types";
import { EmptyState, ErrorState, Skeleton, Spinner } from "@/components/ui";
import { SearchIcon } from "@/components/icons";

const FILTERS: { value: ConversationStatus | ""; label: string }[] = [
  { value: "", label: "All" },
  { value: "open", label: "Open" },
  { value: "handoff", label: "Handoff" },
  { value: "resolved", label: "Resolved" },
];
const PAGE = 30;

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
  const [query, setQuery] = useState("");
  const [q, setQ] = useState(""); // debounced
  const [items, setItems] = useState<Conversation[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const sentinel = useRef<HTMLDivElement>(null);
  const generation = useRef(0);

  useEffect(() => {
    const t = setTimeout(() => setQ(query.trim()), 300);
    return () => clearTimeout(t);
  }, [query]);

  const params = useCallback(
    (after: string | null) => {
      const p = new URLSearchParams({ limit: String(PAGE) });
      if (status) p.set("status", status);
      if (q) p.set("q", q);
      if (after) p.set("cursor", after);
      return p.toString();
    },
    [status, q],
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
          const page = await api<Page<Conversation>>(`/api/conversations?${params(null)}`);
          if (mine !== generation.current) return;
          setItems(page.items);
          setCursor(page.next_cursor);
          setError(null);
          if (!missed.current) break;
        }
      } catch (e) {
        if (mine === generation.current) setError(e);
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
      const page = await api<Page<Conversation>>(`/api/conversations?${params(cursor)}`);
      if (mine !== generation.current) return;
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
  const filter = useRef({ q, status });
  useEffect(() => {
    filter.current = { q, status };
  }, [q, status]);
  // The server's state of a conversation already listed replaces what the events said; one
  // the current list does not show is left to the list's own loading.
  const settled = useCallback((c: Conversation) => {
    setItems((list) => {
      if (filter.current.q || !list.some((x) => x.id === c.id)) return list;
      const rest = list.filter((x) => x.id !== c.id);
      if (filter.current.status && c.status !== filter.current.status) return rest;
      return [{ ...list.find((x) => x.id === c.id), ...c }, ...rest].sort(newestFirst);
    });
  }, []);
  useLiveEvents((event) => {
    if (inFlight.current) missed.current = true;
    if (event.name === "conversation.updated") {
      const c = event.data;
      // A search is answered by the server; a status filter can be applied here.
      if (q) {
        if (refetchSoon.current) clearTimeout(refetchSoon.current);
        refetchSoon.current = setTimeout(() => void loadFirst(true), 400);
        return;
      }
      const apply = (c: Conversation) =>
        setItems((list) => {
          const rest = list.filter((x) => x.id !== c.id);
          if (status && c.status !== status) return rest;
          return [{ ...list.find((x) => x.id === c.id), ...c }, ...rest].sort(newestFirst);
        });
      apply(c);
      // Updates can arrive out of order (a reply's "open" after the handoff that followed
      // it): the server's state of that conversation settles it.
      clearTimeout(settle.current.get(c.id));
      settle.current.set(
        c.id,
        setTimeout(() => {
          settle.current.delete(c.id);
          api<Conversation>(`/api/conversations/${c.id}`).then(settled, () => undefined);
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
            title={q || status ? "No conversation matches" : "No conversations yet"}
            description={
              q || status
                ? "Try another search or filter."
                : "When a customer writes to your number, the conversation appears here. Try the simulator."
            }
            action={
              !q && !status ? (
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
                      </div>
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
