"use client";

// The team's shared lists the inbox reads (members, labels, canned replies, a channel's
// templates): loaded once per mounted component, every page of them.

import { unpaged, useList } from "@/lib/hooks/useList";
import type { CannedReply, Label, TeamMember, Template } from "@/lib/inbox-types";

export const useMembers = () => useList<TeamMember>("/api/team/members");
export const useLabels = () => useList<Label>("/api/labels");
export const useCanned = () => useList<CannedReply>("/api/canned-replies");

/** The channel's templates (not paged: `{items}`). */
export const useTemplates = (channelId: string | null) =>
  useList<Template>(channelId ? `/api/channels/${channelId}/templates` : null, { load: unpaged });

/** A member's display name, or a short fallback while the team loads. */
export function memberName(members: TeamMember[] | null, id: string | null | undefined): string | null {
  if (!id) return null;
  return members?.find((m) => m.id === id)?.name ?? "a team member";
}
