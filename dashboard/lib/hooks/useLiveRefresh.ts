"use client";

import { useEffect, useRef } from "react";
import { useLiveEvents, type LiveEventName } from "@/lib/events";

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
