"use client";

import { useState } from "react";
import { api, errorMessage } from "@/lib/api";
import { useResource } from "@/lib/hooks/useResource";
import type { InboxSettings } from "@/lib/settings-types";
import { Card, CardBody, CardHeader, ErrorState, Skeleton, Spinner, useToast } from "@/components/ui";

/** GET/PUT /api/inbox/settings: saved as soon as it is switched. */
export function RoundRobinSection({ manager }: { manager: boolean }) {
  const toast = useToast();
  const { data: settings, setData: setSettings, error: loadError, refresh: load } = useResource<InboxSettings>(
    "/api/inbox/settings",
  );
  const [saving, setSaving] = useState(false);

  async function toggle(round_robin: boolean) {
    setSaving(true);
    setSettings({ round_robin }); // shown switched at once; switched back if not saved
    try {
      setSettings(await api<InboxSettings>("/api/inbox/settings", { method: "PUT", json: { round_robin } }));
      toast(round_robin ? "Round-robin assignment on" : "Round-robin assignment off");
    } catch (error) {
      setSettings({ round_robin: !round_robin });
      toast(`Not saved: ${errorMessage(error)}`, "error");
    } finally {
      setSaving(false);
    }
  }

  return (
    <Card>
      <CardHeader title="Assignment" />
      {loadError ? (
        <ErrorState error={loadError} title="Could not load the assignment setting" onRetry={() => void load()} />
      ) : settings === null ? (
        <div className="p-4" aria-busy aria-label="Loading the assignment setting">
          <Skeleton className="h-5 w-1/2" />
        </div>
      ) : (
        <CardBody>
          <label className="flex items-start gap-3">
            <input
              type="checkbox"
              name="round_robin"
              checked={settings.round_robin}
              disabled={!manager || saving}
              onChange={(e) => void toggle(e.target.checked)}
              className="mt-0.5 h-4 w-4 rounded border-zinc-300 accent-emerald-600"
            />
            <span>
              <span className="flex items-center gap-2 text-sm font-medium text-zinc-800">
                Round-robin assignment {saving && <Spinner label="Saving" />}
              </span>
              <span className="block text-xs text-zinc-500">
                A conversation the AI hands off goes to the least busy member online (seen in the last few minutes).
                Off: it waits unassigned for someone to take it.
              </span>
            </span>
          </label>
        </CardBody>
      )}
    </Card>
  );
}
