"use client";

// Every item of a paged list (listAll: each page to the end), with its loading and error
// state, refreshed on demand and, when asked, on live events. Local edits go through `add`
// and `remove`: an item added while a refresh was in flight stays when that (older) list lands.

import { useCallback, useEffect, useRef, useState, type Dispatch, type SetStateAction } from "react";
import { listAll } from "@/lib/api";
import { keepAdded } from "@/lib/lists";
import type { LiveEventName } from "@/lib/events";
import { useLiveRefresh } from "./useLiveRefresh";

export type ListOptions<T> = {
  /** How to read the list at `path` (default: every page, listAll). */
  load?: (path: string) => Promise<T[]>;
  /** Live events after which the list is read again. */
  refreshOn?: readonly LiveEventName[];
  /** Where `add` puts an item (default: at the end). */
  order?: (a: T, b: T) => number;
};

export type List<T> = {
  items: T[] | null;
  error: unknown;
  loading: boolean;
  refresh: () => Promise<void>;
  setItems: Dispatch<SetStateAction<T[] | null>>;
  /** A created or changed item, in its place. */
  add: (item: T) => void;
  remove: (id: string) => void;
};

export function useList<T extends { id: string }>(path: string | null, options: ListOptions<T> = {}): List<T> {
  const { load = listAll, refreshOn, order } = options;
  const [items, setItems] = useState<T[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(path !== null);
  const added = useRef(new Set<string>());

  const refresh = useCallback(async () => {
    if (!path) return;
    setError(null);
    setLoading(true);
    try {
      const all = await load(path);
      setItems((current) => keepAdded(current, all, added.current));
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  }, [path, load]);

  useEffect(() => {
    // eslint-disable-next-line react-hooks/set-state-in-effect -- loading on mount
    void refresh();
  }, [refresh]);
  useLiveRefresh(refresh, refreshOn);

  const add = useCallback(
    (item: T) => {
      added.current.add(item.id);
      setItems((list) => {
        const next = [...(list ?? []).filter((x) => x.id !== item.id), item];
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
