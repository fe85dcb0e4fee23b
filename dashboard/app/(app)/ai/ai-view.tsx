"use client";

import { useEffect, useRef, useState, type KeyboardEvent } from "react";
import { cn } from "@/lib/cn";
import { useList } from "@/lib/hooks/useList";
import { useResource } from "@/lib/hooks/useResource";
import { PageContainer } from "@/components/AppShell";
import { useSession } from "@/components/session";
import { ErrorState, Skeleton } from "@/components/ui";
import { PreviewPanel } from "./preview-panel";
import { PromptsPanel } from "./prompts-panel";
import { SettingsForm } from "./settings-form";
import type { AISettings, PromptTemplate } from "./types";

const TABS = [
  { id: "settings", label: "Settings" },
  { id: "prompts", label: "Prompt templates" },
  { id: "preview", label: "Preview" },
] as const;
type TabId = (typeof TABS)[number]["id"];

/** AI settings, prompt templates and a preview, as tabs (the URL hash keeps the tab). */
export function AIView() {
  const [tab, setTab] = useState<TabId>("settings");
  const buttons = useRef<Record<string, HTMLButtonElement | null>>({});
  const { me } = useSession();
  const canEdit = me ? me.user.role === "owner" || me.user.role === "admin" : false;
  const { data: settings, setData: setSettings, error: settingsError, refresh: loadSettings } =
    useResource<AISettings>("/api/ai/settings");
  const {
    items: templates,
    setItems: setTemplates,
    error: templatesError,
    refresh: loadTemplates,
  } = useList<PromptTemplate>("/api/prompts");

  useEffect(() => {
    // The hash is only known in the browser, and links to /ai#prompts change only the hash.
    const follow = () => {
      const fromHash = window.location.hash.slice(1);
      if (TABS.some((t) => t.id === fromHash)) setTab(fromHash as TabId);
    };
    follow();
    window.addEventListener("hashchange", follow);
    return () => window.removeEventListener("hashchange", follow);
  }, []);

  function choose(id: TabId, focus = false) {
    setTab(id);
    window.history.replaceState(null, "", `#${id}`);
    if (focus) buttons.current[id]?.focus();
  }

  function onKey(event: KeyboardEvent) {
    const i = TABS.findIndex((t) => t.id === tab);
    const next =
      event.key === "ArrowRight" ? (i + 1) % TABS.length
      : event.key === "ArrowLeft" ? (i - 1 + TABS.length) % TABS.length
      : event.key === "Home" ? 0
      : event.key === "End" ? TABS.length - 1
      : -1;
    if (next >= 0) {
      event.preventDefault();
      choose(TABS[next].id, true);
    }
  }

  return (
    <PageContainer
      title="AI settings"
      description="How the assistant answers: its settings, the prompt it is given, and a place to try it."
    >
      <div className="flex flex-col gap-4">
        <div role="tablist" aria-label="AI sections" className="flex gap-1 overflow-x-auto border-b border-zinc-200" onKeyDown={onKey}>
          {TABS.map((t) => (
            <button
              key={t.id}
              ref={(node) => {
                buttons.current[t.id] = node;
              }}
              role="tab"
              id={`tab-${t.id}`}
              aria-selected={tab === t.id}
              aria-controls={`panel-${t.id}`}
              tabIndex={tab === t.id ? 0 : -1}
              onClick={() => choose(t.id)}
              className={cn(
                "-mb-px shrink-0 border-b-2 px-3 py-2 text-sm font-medium focus-visible:outline-2 focus-visible:outline-emerald-600",
                tab === t.id ? "border-emerald-600 text-zinc-900" : "border-transparent text-zinc-500 hover:text-zinc-800",
              )}
            >
              {t.label}
            </button>
          ))}
        </div>
        {TABS.map((t) => (
          <div key={t.id} role="tabpanel" id={`panel-${t.id}`} aria-labelledby={`tab-${t.id}`} hidden={tab !== t.id}>
            {t.id === "settings" &&
              (settingsError ? (
                <ErrorState error={settingsError} title="Could not load the AI settings" onRetry={() => void loadSettings()} />
              ) : settings === null ? (
                <div className="flex flex-col gap-3" aria-busy aria-label="Loading the AI settings">
                  <Skeleton className="h-10 w-full" />
                  <Skeleton className="h-24 w-full" />
                  <Skeleton className="h-24 w-full" />
                </div>
              ) : (
                <SettingsForm settings={settings} templates={templates ?? []} canEdit={canEdit} onSaved={setSettings} />
              ))}
            {t.id === "prompts" && (
              <PromptsPanel
                templates={templates}
                loadError={templatesError}
                reload={() => void loadTemplates()}
                setTemplates={(update) => setTemplates((list) => update(list ?? []))}
                settings={settings}
                onSettings={setSettings}
                canEdit={canEdit}
              />
            )}
            {t.id === "preview" && <PreviewPanel />}
          </div>
        ))}
      </div>
    </PageContainer>
  );
}
