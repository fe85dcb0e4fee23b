"use client";

import { useState } from "react";
import { api, errorMessage } from "@/lib/api";
import { useForm } from "@/lib/hooks/useForm";
import { useList } from "@/lib/hooks/useList";
import { formatWhen } from "@/lib/figures";
import type { Channel } from "@/lib/types";
import type { ChannelSettings } from "@/lib/settings-types";
import { cn } from "@/lib/cn";
import { PageContainer } from "@/components/AppShell";
import { useSession } from "@/components/session";
import { Badge, Button, Card, CardBody, CardHeader, EmptyState, ErrorState, InlineError, Input, Modal, Skeleton, useToast } from "@/components/ui";
import { ChannelTemplates } from "./channel-templates";

const FIELDS = ["phone_number_id", "display_phone_number", "waba_id", "access_token"] as const;
const EMPTY = { phone_number_id: "", display_phone_number: "", waba_id: "", access_token: "", sandbox_number: "" };

export function ChannelsView() {
  const toast = useToast();
  const { me } = useSession();
  const manager = me ? me.user.role === "owner" || me.user.role === "admin" : false;
  const { items: channels, error: loadError, refresh: load, add: added, remove: removed } = useList<Channel>(
    "/api/channels",
    { order: "start" },
  );
  const [mode, setMode] = useState<"sandbox" | "live">("sandbox");
  const { values: live, set: setField, reset, errors, general, clearErrors, submitting: connecting, submit } = useForm(
    EMPTY,
    FIELDS,
  );
  const [confirm, setConfirm] = useState<Channel | null>(null);
  const [removing, setRemoving] = useState(false);

  const connect = submit(
    async (v) => {
      const body =
        mode === "sandbox"
          ? { display_phone_number: v.sandbox_number.trim() || null } // the platform names a sandbox
          : {
              phone_number_id: v.phone_number_id.trim(),
              display_phone_number: v.display_phone_number.trim() || null,
              waba_id: v.waba_id.trim() || null,
              access_token: v.access_token.trim(),
            };
      const channel = await api<Channel>("/api/channels/whatsapp", { method: "POST", json: body });
      added(channel);
      reset();
      toast(channel.mode === "sandbox" ? "Sandbox number connected" : "WhatsApp number connected");
    },
    {
      explain: (fields) =>
        fields.phone_number_id?.includes("pattern")
          ? { ...fields, phone_number_id: "Use only digits, letters, dots, dashes and underscores (Meta's ID is digits)." }
          : fields,
      // A sandbox has no ID field: its 409 is a general message.
      conflictField: mode === "live" ? "phone_number_id" : undefined,
      onError: () => toast("The number was not connected", "error"),
    },
  );

  async function remove(channel: Channel) {
    setRemoving(true);
    try {
      await api(`/api/channels/${channel.id}`, { method: "DELETE" });
      removed(channel.id);
      toast("Number disconnected");
      setConfirm(null);
    } catch (error) {
      toast(errorMessage(error), "error");
    } finally {
      setRemoving(false);
    }
  }

  return (
    <PageContainer
      title="Channels"
      description="The WhatsApp numbers your customers write to."
    >
      <div className="flex flex-col gap-6">
        <Card>
          <CardHeader title="Connected numbers" />
          {loadError ? (
            <ErrorState error={loadError} title="Could not load the channels" onRetry={() => void load()} />
          ) : channels === null ? (
            <div className="flex flex-col gap-3 p-4" aria-busy aria-label="Loading the channels">
              <Skeleton className="h-5 w-2/3" />
              <Skeleton className="h-5 w-1/2" />
            </div>
          ) : channels.length === 0 ? (
            <EmptyState
              title="No WhatsApp number yet"
              description="Connect your number with its Meta access token, or start with a sandbox number to try everything first."
            />
          ) : (
            <ul className="divide-y divide-zinc-100" aria-label="Channels">
              {channels.map((c) => (
                <li
                  key={c.id}
                  className={cn("flex flex-col gap-2 px-4 py-3 sm:flex-row", c.mode === "live" ? "sm:items-start" : "sm:items-center")}
                  data-testid="channel-row"
                >
                  <div className="min-w-0 flex-1">
                    <p className="flex flex-wrap items-center gap-2 text-sm font-medium text-zinc-900">
                      {c.display_phone_number || c.phone_number_id}
                      <Badge tone={c.mode === "live" ? "green" : "blue"}>{c.mode === "live" ? "Live" : "Sandbox"}</Badge>
                      {c.needs_reauth && <Badge tone="red">Needs a new token</Badge>}
                    </p>
                    <p className="truncate text-xs text-zinc-500">
                      ID {c.phone_number_id} · connected {formatWhen(c.created_at)}
                    </p>
                    {c.needs_reauth && (
                      <p role="note" className="mt-1 text-xs text-red-700">
                        Meta refused this number&apos;s access token, so replies are not being sent. Disconnect it and connect it
                        again with a fresh token.
                      </p>
                    )}
                    {c.mode === "sandbox" && (
                      <p className="mt-1 text-xs text-zinc-500">Nothing is sent to WhatsApp: write as a customer in the Simulator.</p>
                    )}
                    {c.mode === "live" && (
                      <ChannelTemplates
                        channel={c as Channel & ChannelSettings}
                        manager={manager}
                        onChanged={added}
                      />
                    )}
                  </div>
                  {manager && (
                    <Button
                      size="sm"
                      variant="ghost"
                      className="self-start text-red-700 hover:bg-red-50 sm:self-center"
                      onClick={() => setConfirm(c)}
                      aria-label={`Disconnect ${c.display_phone_number || c.phone_number_id}`}
                    >
                      Disconnect
                    </Button>
                  )}
                </li>
              ))}
            </ul>
          )}
        </Card>

        {manager && (
          <Card>
            <CardHeader title="Connect a number" />
            <CardBody className="flex flex-col gap-4">
              <div role="radiogroup" aria-label="Kind of number" className="grid gap-2 sm:grid-cols-2">
                {(
                  [
                    ["sandbox", "Sandbox", "Try the AI and the inbox without Meta. Messages come from the Simulator."],
                    ["live", "WhatsApp Cloud API", "Your real number: its phone number ID and a permanent access token."],
                  ] as const
                ).map(([value, title, text]) => (
                  <label
                    key={value}
                    className={cn(
                      "flex cursor-pointer gap-3 rounded-lg border p-3 focus-within:ring-2 focus-within:ring-emerald-600/30",
                      mode === value ? "border-emerald-600 bg-emerald-50/50" : "border-zinc-200 hover:bg-zinc-50",
                    )}
                  >
                    <input
                      type="radio"
                      name="mode"
                      value={value}
                      checked={mode === value}
                      onChange={() => {
                        setMode(value);
                        clearErrors();
                      }}
                      className="mt-1 accent-emerald-600"
                    />
                    <span>
                      <span className="block text-sm font-medium text-zinc-900">{title}</span>
                      <span className="block text-xs text-zinc-500">{text}</span>
                    </span>
                  </label>
                ))}
              </div>
              <form onSubmit={connect} noValidate className="flex flex-col gap-4" aria-label="Connect a number">
                {mode === "sandbox" ? (
                  <Input
                    label="Display number (optional)"
                    name="sandbox_display"
                    value={live.sandbox_number}
                    maxLength={32}
                    placeholder="+1 555 0100"
                    onChange={(e) => setField("sandbox_number", e.target.value)}
                    error={errors.display_phone_number}
                    hint="Just a label for the list."
                  />
                ) : (
                  <div className="grid gap-4 sm:grid-cols-2">
                    <Input
                      label="Phone number ID"
                      name="phone_number_id"
                      value={live.phone_number_id}
                      onChange={(e) => setField("phone_number_id", e.target.value)}
                      error={errors.phone_number_id}
                      hint="Meta › WhatsApp › API setup."
                      autoComplete="off"
                      required
                    />
                    <Input
                      label="Display number"
                      name="display_phone_number"
                      value={live.display_phone_number}
                      onChange={(e) => setField("display_phone_number", e.target.value)}
                      error={errors.display_phone_number}
                      placeholder="+1 555 0100"
                      autoComplete="off"
                    />
                    <Input
                      label="WhatsApp Business Account ID"
                      name="waba_id"
                      value={live.waba_id}
                      onChange={(e) => setField("waba_id", e.target.value)}
                      error={errors.waba_id}
                      hint="Meta checks that the token reads this number of this account."
                      autoComplete="off"
                      required
                    />
                    <Input
                      label="Access token"
                      name="access_token"
                      type="password"
                      value={live.access_token}
                      onChange={(e) => setField("access_token", e.target.value)}
                      error={errors.access_token}
                      hint="Stored encrypted; never shown again."
                      autoComplete="off"
                      required
                    />
                  </div>
                )}
                <InlineError error={general} />
                <div className="flex justify-end">
                  <Button type="submit" loading={connecting}>
                    {mode === "sandbox" ? "Create a sandbox number" : "Connect number"}
                  </Button>
                </div>
              </form>
            </CardBody>
          </Card>
        )}

        <Modal
          open={confirm !== null}
          onClose={() => setConfirm(null)}
          title="Disconnect this number?"
          footer={
            <>
              <Button variant="secondary" onClick={() => setConfirm(null)}>
                Cancel
              </Button>
              <Button variant="danger" loading={removing} onClick={() => confirm && void remove(confirm)}>
                Disconnect
              </Button>
            </>
          }
        >
          <p className="text-sm text-zinc-700">
            Messages to {confirm?.display_phone_number || confirm?.phone_number_id} will no longer reach the inbox, and the AI
            stops answering them. Its conversations and messages are kept.
          </p>
        </Modal>
      </div>
    </PageContainer>
  );
}
