"use client";

// Every item of a paged list (listAll: each page to the end), with its loading and error
// state, refreshed on demand, on live events and, while a condition holds, every few seconds.
// Local edits go through `add` and `remove`: an item added while a refresh was in flight stays
// when that (older) list lands.

import { useCallback, useEffect, useRef, useState, type Dispatch, type SetStateAction } from "react";
import { api, listAll } from "@/lib/api";
import { keepAdded } from "@/lib/lists.mjs";
import { readOrder } from "@/lib/read-order.mjs";
import type { LiveEventName } from "@/lib/events";
import { useLatest } from "./useLatest";
import { useLiveRefresh, useRefreshEvery } from "./useLiveRefresh";

export type ListOptions<T> = {
  /** How to read the list at `path` (default: every page, listAll). */
  load?: (path: string) => Promise<T[]>;
  /** Live events after which the list is read again (quietly). */
  refreshOn?: readonly LiveEventName[];
  /** Read the list again (quietly) every so many ms while `refreshWhile` holds. */
  refreshEvery?: number;
  refreshWhile?: (items: T[]) => boolean;
  /** Where `add` puts a new item (default: at the end; "start": first); a function also
   * places an item added during a refresh when that list lands. Keep it stable. */
  order?: ((a: T, b: T) => number) | "start";
};

export type List<T> = {
  items: T[] | null;
  error: unknown;
  loading: boolean;
  /** Reads the list again; `quiet`: no loading state, and a failure keeps the list shown. */
  refresh: (quiet?: boolean) => Promise<void>;
  setItems: Dispatch<SetStateAction<T[] | null>>;
  /** A created item, where `order` puts it; a changed one, in its place. */
  add: (item: T) => void;
  remove: (id: string) => void;
};

/** A list that is not paged: `{items}` (a channel's templates). */
export const unpaged = async <T,>(path: string): Promise<T[]> => (await api<{ items: T[] }>(path)).items;

export function useList<T extends { id: string }>(path: string | null, options: ListOptions<T> = {}): List<T> {
  const { load = listAll, refreshOn, refreshEvery, refreshWhile, order } = options;
  const [items, setItems] = useState<T[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(path !== null);
  const added = useRef(new Set<string>());
  // Overlapping reads: an older read's late answer is dropped (lib/read-order.mjs).
  const reads = useRef(readOrder());
  const placing = useLatest(order); // read when a list lands, not a reason to read again

  const refresh = useCallback(
    async (quiet = false) => {
      if (!path) return;
      if (!quiet) {
        setError(null);
        setLoading(true);
      }
      const read = reads.current.start();
      try {
        const all = await load(path);
        if (!reads.current.accept(read)) return;
        const kept = new Set(added.current);
        const place = typeof placing.current === "function" ? placing.current : undefined;
        setItems((current) => keepAdded(current, all, kept, place));
        for (const item of all) added.current.delete(item.id); // listed now: nothing to keep
        setError(null);
      } catch (e) {
        if (!quiet) setError(e);
      } finally {
        if (!quiet) setLoading(false);
      }
    },
    [path, load, placing], // placing: a ref, never changes
  );
  const quietly = useCallback(() => refresh(true), [refresh]);

  useEffect(() => {
    // eslint-disable-next-line react-hooks/set-state-in-effect -- loading on mount
    void refresh();
  }, [refresh]);
  useLiveRefresh(quietly, refreshOn);
  useRefreshEvery(quietly, refreshEvery, Boolean(items && refreshWhile?.(items)));

  const add = useCallback(
    (item: T) => {
      added.current.add(item.id);
      setItems((list) => {
        const current = list ?? [];
        if (current.some((x) => x.id === item.id) && typeof order !== "function") {
          return current.map((x) => (x.id === item.id ? item : x));
        }
        const rest = current.filter((x) => x.id !== item.id);
        if (order === "start") return [item, ...rest];
        const next = [...rest, item];
        return order ? next.sort(order) : next;
      });
    },
    [order],
  );
  const remove = useCallback((id: string) => {
    added.current.delete(id);
    setItems((list) => (list ?? []).filter((x) => x.id !== id));
  }, []);

  return { items, error, loading, refresh, setItems, add, remove };
}
