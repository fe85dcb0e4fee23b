"use client";

import { PageContainer } from "@/components/AppShell";
import { useSession } from "@/components/session";
import { BusinessHoursSection } from "./business-hours-section";
import { CannedRepliesSection } from "./canned-section";
import { CsatSection } from "./csat-section";
import { LabelsSection } from "./labels-section";
import { RoundRobinSection } from "./round-robin-section";

/** The support team's settings: labels, canned replies, assignment, business hours, CSAT. */
export function SettingsView() {
  const { me } = useSession();
  const manager = me ? me.user.role === "owner" || me.user.role === "admin" : false;
  return (
    <PageContainer
      title="Inbox settings"
      description={
        manager || !me
          ? "How your team works the inbox. Owners and admins change these; everyone uses them."
          : "How your team works the inbox. Only owners and admins can change these."
      }
    >
      <div className="flex flex-col gap-6">
        <LabelsSection manager={manager} />
        <CannedRepliesSection manager={manager} />
        <RoundRobinSection manager={manager} />
        <BusinessHoursSection manager={manager} />
        <CsatSection manager={manager} />
      </div>
    </PageContainer>
  );
}
