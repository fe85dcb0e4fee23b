"use client";

// One item (a settings object, a profile): loaded on mount and when its path changes (an
// answer for an older path is dropped), with its loading and error state, refreshed on demand
// and, when asked, on live events.

import { useCallback, useEffect, useRef, useState, type Dispatch, type SetStateAction } from "react";
import { api } from "@/lib/api";
import type { LiveEventName } from "@/lib/events";
import { useLatest } from "./useLatest";
import { useLiveRefresh } from "./useLiveRefresh";

export type ResourceOptions<T> = {
  /** How to read it (default: GET `path`). Keep it stable (module level or useCallback). */
  load?: (path: string) => Promise<T>;
  /** Live events after which it is read again (quietly). */
  refreshOn?: readonly LiveEventName[];
  /** How long a burst of live events settles first (ms). */
  refreshDelay?: number;
  /** Each time it is read (a form starts from it, say). */
  onLoad?: (data: T) => void;
};

export type Resource<T> = {
  data: T | null;
  error: unknown;
  loading: boolean;
  /** Reads it again; `quiet`: no loading state, and a failure keeps what is shown. */
  refresh: (quiet?: boolean) => Promise<void>;
  setData: Dispatch<SetStateAction<T | null>>;
};

const get = <T,>(path: string) => api<T>(path);

export function useResource<T>(path: string | null, options: ResourceOptions<T> = {}): Resource<T> {
  const { load = get as (path: string) => Promise<T>, refreshOn, refreshDelay, onLoad } = options;
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(path !== null);
  const latest = useRef(0);
  const loaded = useLatest(onLoad);

  const refresh = useCallback(
    async (quiet = false) => {
      if (!path) return;
      const id = ++latest.current;
      if (!quiet) {
        setError(null);
        setLoading(true);
      }
      try {
        const found = await load(path);
        if (id !== latest.current) return;
        setData(found);
        setError(null);
        loaded.current?.(found);
      } catch (e) {
        if (id === latest.current && !quiet) setError(e);
      } finally {
        if (id === latest.current && !quiet) setLoading(false);
      }
    },
    [path, load, loaded], // loaded: a ref, never changes
  );
  const quietly = useCallback(() => refresh(true), [refresh]);

  useEffect(() => {
    // eslint-disable-next-line react-hooks/set-state-in-effect -- loading on mount
    void refresh();
  }, [refresh]);
  useLiveRefresh(quietly, refreshOn, refreshDelay);

  return { data, error, loading, refresh, setData };
}
