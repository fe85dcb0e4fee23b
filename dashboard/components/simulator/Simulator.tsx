"use client";

import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { api, errorMessage, listAll, type Page } from "@/lib/api";
import { channelLabel, createSandboxChannel } from "@/lib/channels";
import { useForm } from "@/lib/hooks/useForm";
import { useList } from "@/lib/hooks/useList";
import { useResource } from "@/lib/hooks/useResource";
import { cn } from "@/lib/cn";
import { useLiveEvents } from "@/lib/events";
import { timeOfDay } from "@/lib/format";
import { compareMessages } from "@/lib/message-order.mjs";
import type { Channel, Conversation, Message } from "@/lib/types";
import { PageContainer } from "@/components/AppShell";
import { ConversationView } from "@/components/inbox/ConversationView";
import { Ticks, summary } from "@/components/inbox/MessageBubble";
import { SendIcon } from "@/components/icons";
import { Button, Card, EmptyState, ErrorState, Input, Select, Skeleton, useToast } from "@/components/ui";

const DEFAULT_NUMBER = "15550001234";

/** The sandbox numbers (the only ones the simulator writes to). */
const sandboxes = async (path: string) => (await listAll<Channel>(path)).filter((c) => c.mode === "sandbox");

/** Write as a customer on a sandbox number (left) and watch the inbox answer (right). */
export function Simulator() {
  const { items: channels, error, refresh: load, add } = useList<Channel>("/api/channels", { load: sandboxes });
  const [picked, setChannelId] = useState("");
  const channelId = picked || channels?.[0]?.id || "";
  const [from, setFrom] = useState(DEFAULT_NUMBER);
  const [name, setName] = useState("Test customer");
  const [creating, setCreating] = useState(false);
  const toast = useToast();

  async function createSandbox() {
    setCreating(true);
    try {
      const channel = await createSandboxChannel();
      add(channel);
      setChannelId(channel.id);
      toast("Sandbox number created");
    } catch (e) {
      toast(errorMessage(e), "error");
    } finally {
      setCreating(false);
    }
  }

  return (
    <PageContainer
      title="Simulator"
      description="Write as a customer on a sandbox number and watch the AI answer in the inbox, live."
      className="max-w-7xl"
    >
      {error ? (
        <Card>
          <ErrorState error={error} title="Could not load your numbers" onRetry={() => void load()} />
        </Card>
      ) : channels === null ? (
        <Skeleton className="h-96 w-full" />
      ) : channels.length === 0 ? (
        <Card>
          <EmptyState
            title="No sandbox number yet"
            description="A sandbox number works without a Meta account: you play the customer here, and the AI answers as it would on WhatsApp."
            action={
              <Button onClick={() => void createSandbox()} loading={creating}>
                Create a sandbox number
              </Button>
            }
          />
        </Card>
      ) : (
        <>
          <div className="mb-4 grid gap-3 sm:grid-cols-3">
            <Select label="Sandbox number" value={channelId} onChange={(e) => setChannelId(e.target.value)}>
              {channels.map((c) => (
                <option key={c.id} value={c.id}>
                  {channelLabel(c)}
                </option>
              ))}
            </Select>
            <Input
              label="Customer's WhatsApp number"
              value={from}
              inputMode="numeric"
              pattern="[0-9]+"
              onChange={(e) => setFrom(e.target.value.replace(/\D/g, ""))}
              hint="Digits only, with the country code"
            />
            <Input label="Customer's name" value={name} onChange={(e) => setName(e.target.value)} />
          </div>
          {channelId && from && <SimulatorPanes key={`${channelId}:${from}`} channelId={channelId} from={from} name={name} />}
        </>
      )}
    </PageContainer>
  );
}

/** The customer's open conversation on this number, else their latest (none: null). */
function conversationOf(channelId: string, from: string) {
  return async (path: string): Promise<string | null> => {
    const mine = (await api<Page<Conversation>>(path)).items.filter(
      (c) => c.channel_id === channelId && c.contact.wa_id === from,
    );
    return (mine.find((c) => c.status !== "resolved") ?? mine[0])?.id ?? null;
  };
}

function SimulatorPanes({ channelId, from, name }: { channelId: string; from: string; name: string }) {
  const find = useMemo(() => conversationOf(channelId, from), [channelId, from]);
  const { data: found } = useResource(`/api/conversations?q=${encodeURIComponent(from)}&limit=50`, { load: find });
  // One that opens (or changes) while we look: live news wins over the search.
  const [live, setLive] = useState<string | null>(null);
  const conversationId = live ?? found ?? null;

  useLiveEvents((event) => {
    if (event.name === "conversation.updated" && event.data.channel_id === channelId && event.data.contact.wa_id === from) {
      if (event.data.status !== "resolved" || !conversationId) setLive(event.data.id);
    }
  });

  return (
    <div className="grid gap-4 lg:grid-cols-[minmax(0,22rem)_minmax(0,1fr)]">
      <Phone channelId={channelId} from={from} name={name} conversationId={conversationId} />
      <Card className="flex h-[640px] min-h-0 flex-col overflow-hidden" aria-label="What your team sees in the inbox">
        <div className="border-b border-zinc-100 px-4 py-2 text-xs font-medium uppercase tracking-wide text-zinc-500">Inbox view</div>
        <div className="min-h-0 flex-1">
          {conversationId ? (
            <ConversationView key={conversationId} id={conversationId} />
          ) : (
            <EmptyState
              className="h-full"
              title="No conversation yet"
              description="Send a message as the customer: the conversation opens here, and the AI answers within seconds."
            />
          )}
        </div>
      </Card>
    </div>
  );
}

const NO_MESSAGES: Message[] = [];
const NO_TEXT = { text: "" };
const NO_FIELDS: readonly string[] = []; // a refused message is said above the composer

/** What the customer's phone shows: every conversation followed here (a resolved one stays
 * above the next), in the API's order (lib/message-order.mjs). */
function usePhoneThread(conversationId: string | null) {
  const [followed, setFollowed] = useState<string[]>([]);
  if (conversationId && !followed.includes(conversationId)) setFollowed([...followed, conversationId]);
  // The path names the read (a new conversation: read again); `load` reads all of them.
  const load = useCallback(
    async () =>
      (await Promise.all(followed.map((id) => listAll<Message>(`/api/conversations/${id}/messages`)))).flat().sort(compareMessages),
    [followed],
  );
  return useList<Message>(conversationId && `/api/conversations/${conversationId}/messages`, { load, order: compareMessages });
}

/** The customer's side: their messages on the right, the business's on the left. */
function Phone({
  channelId,
  from,
  name,
  conversationId,
}: {
  channelId: string;
  from: string;
  name: string;
  conversationId: string | null;
}) {
  const thread = usePhoneThread(conversationId);
  const messages = thread.items ?? NO_MESSAGES;
  const { values, set, general: error, submitting: busy, submit } = useForm(NO_TEXT, NO_FIELDS);
  const text = values.text;
  const [pending, setPending] = useState<{ id: string; text: string }[]>([]);
  const scroller = useRef<HTMLDivElement>(null);

  useLiveEvents((event) => {
    if (event.name === "message.created" && event.data.conversation_id === conversationId) {
      const m = event.data;
      // A message listed already keeps what it shows (a later status).
      if (!messages.some((x) => x.id === m.id)) thread.add(m);
      if (m.wamid) setPending((p) => p.filter((x) => x.id !== m.wamid));
    } else if (event.name === "message.updated" && event.data.conversation_id === conversationId) {
      const u = event.data;
      thread.setItems((list) => list && list.map((x) => (x.id === u.id ? { ...x, ...u } : x)));
    }
  });

  const shown = useMemo(() => {
    const known = new Set(messages.map((m) => m.wamid));
    return [...messages.filter((m) => m.type !== "reaction"), ...pending.filter((p) => !known.has(p.id)).map((p) => ({ pending: true as const, ...p }))];
  }, [messages, pending]);

  useEffect(() => {
    const el = scroller.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [shown.length]);

  const simulate = submit(async ({ text }) => {
    const body = text.trim();
    const { wamid } = await api<{ wamid: string }>(`/api/channels/${channelId}/simulate`, {
      method: "POST",
      json: { from, name: name || undefined, text: body },
    });
    setPending((p) => [...p, { id: wamid, text: body }]);
    set("text", "");
  });
  // Nothing to send: nothing happens.
  const send = (event: FormEvent) => {
    event.preventDefault();
    if (text.trim()) void simulate(event);
  };

  return (
    <div className="mx-auto w-full max-w-sm rounded-[2rem] border-8 border-zinc-900 bg-zinc-900 shadow-xl" aria-label="Customer's phone">
      <div className="flex h-[624px] flex-col overflow-hidden rounded-[1.5rem] bg-[#efeae2]">
        <div className="bg-emerald-700 px-4 py-3 text-white">
          <p className="text-sm font-semibold">Your business</p>
          <p className="text-xs text-emerald-100">as +{from} sees it</p>
        </div>
        <div ref={scroller} className="min-h-0 flex-1 space-y-1.5 overflow-y-auto p-3" data-testid="phone-messages">
          {shown.length === 0 && (
            <p className="mx-auto mt-6 max-w-[16rem] rounded-lg bg-amber-50 px-3 py-2 text-center text-xs text-amber-900">
              Write a question your customers ask, e.g. &ldquo;Do you deliver on Sundays?&rdquo;
            </p>
          )}
          {shown.map((m) => {
            const mine = "pending" in m || m.direction === "inbound";
            const key = "pending" in m ? `p-${m.id}` : m.id;
            return (
              <div key={key} className={cn("flex", mine ? "justify-end" : "justify-start")}>
                <div
                  className={cn(
                    "max-w-[85%] rounded-lg px-2.5 py-1.5 text-sm shadow-xs",
                    mine ? "bg-[#d9fdd3]" : "bg-white",
                  )}
                  data-testid={mine ? "phone-out" : "phone-in"}
                >
                  <p className="whitespace-pre-wrap break-words">{"pending" in m ? m.text : summary(m)}</p>
                  <div className="mt-0.5 flex justify-end gap-1 text-[10px] text-zinc-600">
                    {"pending" in m ? (
                      <Ticks status="queued" />
                    ) : (
                      <>
                        {m.author === "ai" && <span className="font-semibold text-violet-600">AI</span>}
                        <time dateTime={m.created_at}>{timeOfDay(m.created_at)}</time>
                      </>
                    )}
                  </div>
                </div>
              </div>
            );
          })}
        </div>
        {error && (
          <p role="alert" className="bg-red-50 px-3 py-1.5 text-xs text-red-700">
            {error}
          </p>
        )}
        <form onSubmit={send} className="flex items-center gap-2 bg-[#f0f2f5] p-2">
          <label htmlFor="sim-text" className="sr-only">
            Message as the customer
          </label>
          <input
            id="sim-text"
            value={text}
            onChange={(e) => set("text", e.target.value)}
            maxLength={4096}
            placeholder="Message"
            autoComplete="off"
            className="h-10 min-w-0 flex-1 rounded-full bg-white px-4 text-sm focus:outline-none focus:ring-2 focus:ring-emerald-600/30"
          />
          <Button type="submit" loading={busy} disabled={!text.trim()} aria-label="Send as the customer" className="h-10 w-10 rounded-full p-0">
            {!busy && <SendIcon className="h-4 w-4" />}
          </Button>
        </form>
      </div>
    </div>
  );
}
