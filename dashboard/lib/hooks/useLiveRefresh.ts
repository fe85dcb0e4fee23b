"use client";

import { useEffect, useRef } from "react";
import { useLiveEvents, type LiveEventName } from "@/lib/events";
import { useLatest } from "./useLatest";

/** Calls `refresh` shortly after any of `events` arrives live (a burst makes one call); no
 * events: no live stream is opened. */
export function useLiveRefresh(refresh: () => unknown, events: readonly LiveEventName[] = [], delayMs = 400) {
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => {
    if (timer.current) clearTimeout(timer.current);
  }, []);
  useLiveEvents((event) => {
    if (!events.includes(event.name)) return;
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(() => void refresh(), delayMs);
  }, events.length > 0);
}

/** Calls `refresh` every `everyMs` while `active` (null: never), one round at a time: the
 * next round is timed from the end of the last, so a slow answer never overlaps the next.
 * The one place the dashboard polls (a document while it is processing, say). */
export function useRefreshEvery(refresh: () => Promise<unknown>, everyMs: number | null | undefined, active: boolean) {
  const latest = useLatest(refresh);
  useEffect(() => {
    if (!active || !everyMs) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout>;
    const round = async () => {
      await latest.current().catch(() => undefined);
      if (!stopped) timer = setTimeout(round, everyMs);
    };
    timer = setTimeout(round, everyMs);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [active, everyMs, latest]); // latest: a ref, never changes
}
