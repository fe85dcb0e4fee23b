"use client";

// The team's shared lists the inbox reads (members, labels, canned replies, a channel's
// templates): loaded once per mounted component, small enough for one page of 200.

import { useCallback, useEffect, useState } from "react";
import { api, type Page } from "@/lib/api";
import type { CannedReply, Label, TeamMember, Template } from "@/lib/inbox-types";

function useList<T>(path: string | null): { items: T[] | null; error: unknown; reload: () => Promise<void> } {
  const [items, setItems] = useState<T[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const reload = useCallback(async () => {
    if (!path) return;
    try {
      const page = await api<Page<T>>(path);
      setItems(page.items);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [path]);
  useEffect(() => {
    // eslint-disable-next-line react-hooks/set-state-in-effect -- fetch on mount
    void reload();
  }, [reload]);
  return { items, error, reload };
}

export const useMembers = () => useList<TeamMember>("/api/team/members?limit=200");
export const useLabels = () => useList<Label>("/api/labels?limit=200");
export const useCanned = () => useList<CannedReply>("/api/canned-replies?limit=200");
/** The channel's templates (not paged: `{items}`). */
export const useTemplates = (channelId: string | null) =>
  useList<Template>(channelId ? `/api/channels/${channelId}/templates` : null);

/** A member's display name, or a short fallback while the team loads. */
export function memberName(members: TeamMember[] | null, id: string | null | undefined): string | null {
  if (!id) return null;
  return members?.find((m) => m.id === id)?.name ?? "a team member";
}
