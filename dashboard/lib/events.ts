"use client";

// One EventSource per tab (same origin: the proxy turns the cookie into a bearer token),
// shared by every component that subscribes. EventSource reconnects by itself and sends
// Last-Event-ID, so the service replays what was missed.

import { useEffect, useRef, useSyncExternalStore } from "react";
import type { Conversation, Message } from "./types";

export type LiveEvents = {
  "message.created": Message & { conversation_id: string };
  "message.updated": {
    id: string;
    conversation_id: string;
    wamid: string | null;
    status: string;
    error: string | null;
  } & Partial<Message>;
  "conversation.updated": Conversation;
};
export type LiveEventName = keyof LiveEvents;
/** `if (e.name === "message.created") e.data…` narrows the data. */
export type LiveEvent = { [K in LiveEventName]: { name: K; data: LiveEvents[K] } }[LiveEventName];

type Listener = (event: LiveEvent) => void;

const listeners = new Set<Listener>();
let source: EventSource | null = null;
let state: "connecting" | "open" | "closed" = "closed";
const stateListeners = new Set<() => void>();

function setState(next: typeof state) {
  state = next;
  stateListeners.forEach((l) => l());
}

function ensureSource() {
  if (source || typeof window === "undefined") return;
  setState("connecting");
  const es = new EventSource("/api/events/stream");
  source = es;
  es.onopen = () => setState("open");
  es.onerror = () => setState(es.readyState === EventSource.CLOSED ? "closed" : "connecting");
  for (const name of ["message.created", "message.updated", "conversation.updated"] as const) {
    es.addEventListener(name, (e) => {
      let data: unknown;
      try {
        data = JSON.parse((e as MessageEvent<string>).data);
      } catch {
        return;
      }
      const event = { name, data } as LiveEvent;
      listeners.forEach((l) => l(event));
    });
  }
}

function release() {
  if (listeners.size === 0 && source) {
    source.close();
    source = null;
    setState("closed");
  }
}

/** Calls `handler` for every live event while the component is mounted (and `enabled`: a
 * component that needs no live events opens no stream). */
export function useLiveEvents(handler: (event: LiveEvent) => void, enabled = true) {
  const ref = useRef(handler);
  useEffect(() => {
    ref.current = handler;
  });
  useEffect(() => {
    if (!enabled) return;
    const listener: Listener = (event) => ref.current(event);
    listeners.add(listener);
    ensureSource();
    return () => {
      listeners.delete(listener);
      // Let a page switch re-subscribe before closing the shared connection.
      setTimeout(release, 1000);
    };
  }, [enabled]);
}

/** "open" | "connecting" | "closed", for a small live indicator. */
export function useLiveState() {
  return useSyncExternalStore(
    (cb) => {
      stateListeners.add(cb);
      return () => stateListeners.delete(cb);
    },
    () => state,
    () => "closed" as const,
  );
}
