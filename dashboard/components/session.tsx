"use client";

import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { api } from "@/lib/api";
import type { Me } from "@/lib/types";

type SessionValue = {
  me: Me | null;
  error: unknown;
  reload: () => Promise<void>;
  logout: () => Promise<void>;
};

const SessionContext = createContext<SessionValue>({
  me: null,
  error: null,
  reload: async () => {},
  logout: async () => {},
});

/** The signed-in user and business (`me.user.role` for owner/admin-only screens). */
export function useSession(): SessionValue {
  return useContext(SessionContext);
}

export async function logout(): Promise<void> {
  await fetch("/session/logout", { method: "POST" }).catch(() => undefined);
  // A full page load: nothing of the session stays in memory.
  // eslint-disable-next-line @next/next/no-location-assign-relative-destination
  window.location.assign("/login");
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<unknown>(null);

  const reload = useCallback(async () => {
    try {
      setMe(await api<Me>("/api/auth/me"));
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, []);

  useEffect(() => {
    // eslint-disable-next-line react-hooks/set-state-in-effect -- loading on mount
    void reload();
  }, [reload]);

  return (
    <SessionContext.Provider value={{ me, error, reload, logout }}>{children}</SessionContext.Provider>
  );
}
