"use client";

// One item (a settings object, a profile): loaded on mount, with its loading and error
// state, refreshed on demand and, when asked, on live events.

import { useCallback, useEffect, useState, type Dispatch, type SetStateAction } from "react";
import { api } from "@/lib/api";
import type { LiveEventName } from "@/lib/events";
import { useLiveRefresh } from "./useLiveRefresh";

export type ResourceOptions<T> = {
  /** How to read it (default: GET `path`). */
  load?: (path: string) => Promise<T>;
  refreshOn?: readonly LiveEventName[];
};

export type Resource<T> = {
  data: T | null;
  error: unknown;
  loading: boolean;
  refresh: () => Promise<void>;
  setData: Dispatch<SetStateAction<T | null>>;
};

const get = <T,>(path: string) => api<T>(path);

export function useResource<T>(path: string | null, options: ResourceOptions<T> = {}): Resource<T> {
  const { load = get as (path: string) => Promise<T>, refreshOn } = options;
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(path !== null);

  const refresh = useCallback(async () => {
    if (!path) return;
    setError(null);
    setLoading(true);
    try {
      setData(await load(path));
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

  return { data, error, loading, refresh, setData };
}
