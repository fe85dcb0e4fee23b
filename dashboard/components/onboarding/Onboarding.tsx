"use client";

import Link from "next/link";
import { useRef, useState, type ChangeEvent, type DragEvent, type ReactNode } from "react";
import { api, errorMessage, type Page } from "@/lib/api";
import { channelLabel, createSandboxChannel } from "@/lib/channels";
import { cn } from "@/lib/cn";
import { useForm } from "@/lib/hooks/useForm";
import { useList } from "@/lib/hooks/useList";
import { bytes } from "@/lib/format";
import type { Channel, Document } from "@/lib/types";
import { PageContainer } from "@/components/AppShell";
import { useSession } from "@/components/session";
import { CheckIcon, FileIcon } from "@/components/icons";
import { Badge, Button, Card, ErrorState, InlineError, Input, Skeleton, Spinner, useToast } from "@/components/ui";

const ACCEPT = ".pdf,.docx,.doc,.txt,.md,.html,.htm,.csv";

const firstPage = async <T,>(path: string): Promise<T[]> => (await api<Page<T>>(path)).items;

function Step({
  n,
  title,
  done,
  children,
  description,
}: {
  n: number;
  title: string;
  done: boolean;
  description: ReactNode;
  children: ReactNode;
}) {
  return (
    <Card className="p-5" data-testid={`step-${n}`} data-done={done}>
      <div className="flex gap-4">
        <div
          aria-hidden
          className={cn(
            "grid h-8 w-8 shrink-0 place-items-center rounded-full text-sm font-semibold",
            done ? "bg-emerald-500 text-white" : "bg-zinc-100 text-zinc-600 ring-1 ring-zinc-200",
          )}
        >
          {done ? <CheckIcon className="h-4 w-4" /> : n}
        </div>
        <div className="min-w-0 flex-1">
          <h2 className="text-base font-semibold text-zinc-900">
            {title} {done && <span className="sr-only">(done)</span>}
          </h2>
          <p className="mt-0.5 text-sm text-zinc-500">{description}</p>
          <div className="mt-4">{children}</div>
        </div>
      </div>
    </Card>
  );
}

export function Onboarding() {
  const { me } = useSession();
  const channelList = useList<Channel>("/api/channels");
  // The first documents are enough to know whether one is indexed; read again while processing.
  const documentList = useList<Document>("/api/documents?limit=20", {
    load: firstPage,
    order: "start",
    refreshEvery: 1500,
    refreshWhile: (docs) => docs.some((d) => d.status === "processing"),
  });
  const channels = channelList.items;
  const documents = documentList.items;
  const error = channelList.error ?? documentList.error;
  const load = () => Promise.all([channelList.refresh(), documentList.refresh()]);

  const hasChannel = (channels?.length ?? 0) > 0;
  const hasDocument = (documents ?? []).some((d) => d.status === "indexed");
  const sandbox = channels?.find((c) => c.mode === "sandbox");

  return (
    <PageContainer
      title={me ? `Welcome, ${me.user.name.split(" ")[0]}` : "Get started"}
      description="Three steps and your AI answers customers on WhatsApp."
      className="max-w-3xl"
    >
      {error ? (
        <Card>
          <ErrorState error={error} onRetry={() => void load()} />
        </Card>
      ) : channels === null || documents === null ? (
        <div className="space-y-4">
          <Skeleton className="h-40" />
          <Skeleton className="h-40" />
          <Skeleton className="h-24" />
        </div>
      ) : (
        <div className="space-y-4">
          <Step
            n={1}
            title="Connect a WhatsApp number"
            done={hasChannel}
            description="Your number from Meta's WhatsApp Business Platform, or a sandbox number to try everything first."
          >
            <ConnectChannel channels={channels} onConnected={channelList.add} />
          </Step>
          <Step
            n={2}
            title="Add your first document"
            done={hasDocument}
            description="Prices, opening hours, delivery and returns policy, FAQ… The AI answers from these."
          >
            <FirstDocument documents={documents} onChange={documentList.add} />
          </Step>
          <Step
            n={3}
            title="Try the AI"
            done={false}
            description="Write as a customer and watch the answer arrive in your inbox."
          >
            <div className="flex flex-wrap gap-2">
              {sandbox ? (
                <Link
                  href="/simulator"
                  className="inline-flex h-10 items-center rounded-lg bg-emerald-700 px-4 text-sm font-medium text-white hover:bg-emerald-800 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-emerald-600"
                >
                  Open the simulator
                </Link>
              ) : (
                <p className="text-sm text-zinc-500">The simulator needs a sandbox number (step 1).</p>
              )}
              <Link
                href="/ai"
                className="inline-flex h-10 items-center rounded-lg border border-zinc-300 bg-white px-4 text-sm font-medium text-zinc-800 hover:bg-zinc-50"
              >
                Tune the AI
              </Link>
              <Link
                href="/inbox"
                className="inline-flex h-10 items-center rounded-lg px-4 text-sm font-medium text-zinc-700 hover:bg-zinc-100"
              >
                Go to the inbox
              </Link>
            </div>
          </Step>
        </div>
      )}
    </PageContainer>
  );
}

function ConnectChannel({ channels, onConnected }: { channels: Channel[]; onConnected: (c: Channel) => void }) {
  const [creating, setCreating] = useState(false);
  const [showLive, setShowLive] = useState(false);
  const toast = useToast();

  async function sandbox() {
    setCreating(true);
    try {
      onConnected(await createSandboxChannel());
      toast("Sandbox number connected");
    } catch (e) {
      toast(errorMessage(e), "error");
    } finally {
      setCreating(false);
    }
  }

  return (
    <div className="space-y-3">
      {channels.length > 0 && (
        <ul className="space-y-1.5" aria-label="Connected numbers">
          {channels.map((c) => (
            <li key={c.id} className="flex items-center gap-2 text-sm text-zinc-700">
              <CheckIcon className="h-4 w-4 text-emerald-600" />
              {channelLabel(c)}
              <Badge tone={c.mode === "sandbox" ? "blue" : "green"}>{c.mode}</Badge>
            </li>
          ))}
        </ul>
      )}
      <div className="flex flex-wrap gap-2">
        <Button onClick={() => void sandbox()} loading={creating} variant={channels.length ? "secondary" : "primary"}>
          {channels.some((c) => c.mode === "sandbox") ? "Add another sandbox number" : "Use a sandbox number"}
        </Button>
        <Button variant="secondary" onClick={() => setShowLive((v) => !v)} aria-expanded={showLive}>
          Connect my WhatsApp number
        </Button>
      </div>
      {showLive && (
        <LiveNumberForm
          onConnected={(channel) => {
            onConnected(channel);
            setShowLive(false);
            toast("WhatsApp number connected");
          }}
        />
      )}
    </div>
  );
}

const LIVE_FIELDS = ["phone_number_id", "display_phone_number", "waba_id", "access_token"] as const;
const NO_LIVE_NUMBER = { phone_number_id: "", display_phone_number: "", waba_id: "", access_token: "" };

/** Meta's ids and token for a number of the business's own (mounted while shown: closed, it
 * forgets what was typed). */
function LiveNumberForm({ onConnected }: { onConnected: (c: Channel) => void }) {
  const { values, set, errors, general, submitting, submit } = useForm(NO_LIVE_NUMBER, LIVE_FIELDS);
  // Only what was filled in is sent (as typed): the API words what is missing.
  const connect = submit(async (form) => {
    const json = Object.fromEntries(Object.entries(form).filter(([, v]) => v.trim() !== ""));
    onConnected(await api<Channel>("/api/channels/whatsapp", { method: "POST", json }));
  });
  const field = (name: (typeof LIVE_FIELDS)[number]) => ({
    name,
    value: values[name],
    onChange: (e: ChangeEvent<HTMLInputElement>) => set(name, e.target.value),
    error: errors[name],
  });

  return (
    <form onSubmit={connect} className="grid gap-3 rounded-lg border border-zinc-200 bg-zinc-50 p-4 sm:grid-cols-2">
      <Input {...field("phone_number_id")} label="Phone number ID" required hint="Meta → WhatsApp → API Setup" />
      <Input {...field("display_phone_number")} label="Display number" placeholder="+351 912 345 678" />
      <Input {...field("waba_id")} label="WhatsApp Business Account ID" required />
      <Input
        {...field("access_token")}
        type="password"
        label="Access token"
        required
        autoComplete="off"
        hint="A permanent System User token with whatsapp_business_messaging"
      />
      <div className="sm:col-span-2">
        <InlineError error={general} className="mb-3" />
        <Button type="submit" loading={submitting}>
          Connect
        </Button>
      </div>
    </form>
  );
}

function statusBadge(d: Document) {
  if (d.status === "indexed") return <Badge tone="green">indexed · {d.chunk_count ?? 0} {d.chunk_count === 1 ? "passage" : "passages"}</Badge>;
  if (d.status === "failed") return <Badge tone="red">failed</Badge>;
  return (
    <Badge tone="amber">
      <Spinner className="h-3 w-3" label="Processing" /> processing
    </Badge>
  );
}

function FirstDocument({ documents, onChange }: { documents: Document[]; onChange: (d: Document) => void }) {
  const [uploading, setUploading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [dragging, setDragging] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  async function upload(files: FileList | null) {
    if (!files?.length) return;
    setUploading(true);
    setError(null);
    try {
      for (const file of Array.from(files)) {
        const body = new FormData();
        body.append("file", file);
        onChange(await api<Document>("/api/documents", { method: "POST", body }));
      }
    } catch (e) {
      setError(e);
    } finally {
      setUploading(false);
      if (input.current) input.current.value = "";
    }
  }

  function onDrop(e: DragEvent) {
    e.preventDefault();
    setDragging(false);
    void upload(e.dataTransfer.files);
  }

  return (
    <div className="space-y-3">
      <div
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
        className={cn(
          "flex flex-col items-center gap-2 rounded-lg border-2 border-dashed px-4 py-6 text-center",
          dragging ? "border-emerald-500 bg-emerald-50" : "border-zinc-300 bg-zinc-50",
        )}
      >
        <FileIcon className="h-6 w-6 text-zinc-400" />
        <p className="text-sm text-zinc-600">Drop a file here, or</p>
        <input
          ref={input}
          id="first-document"
          type="file"
          aria-label="Upload documents"
          accept={ACCEPT}
          multiple
          className="sr-only"
          onChange={(e) => void upload(e.target.files)}
        />
        <Button variant="secondary" size="sm" loading={uploading} onClick={() => input.current?.click()}>
          Choose files
        </Button>
        <p className="text-xs text-zinc-500">PDF, Word, text, Markdown, HTML or CSV</p>
      </div>
      <InlineError error={error} />
      {documents.length > 0 && (
        <ul className="divide-y divide-zinc-100 rounded-lg border border-zinc-200" aria-label="Your documents">
          {documents.slice(0, 5).map((d) => (
            <li key={d.id} className="flex items-center justify-between gap-3 px-3 py-2 text-sm" data-testid="onboarding-document">
              <span className="min-w-0 truncate text-zinc-800">
                {d.filename} <span className="text-xs text-zinc-500">{bytes(d.size_bytes)}</span>
              </span>
              <span className="shrink-0" data-status={d.status}>
                {statusBadge(d)}
              </span>
            </li>
          ))}
        </ul>
      )}
      {documents.some((d) => d.status === "failed") && (
        <p className="text-xs text-red-600">{documents.find((d) => d.status === "failed")?.error}</p>
      )}
      <p className="text-xs text-zinc-500">
        Manage and search all documents in{" "}
        <Link href="/knowledge" className="font-medium text-emerald-700 hover:underline">
          Knowledge
        </Link>
        .
      </p>
    </div>
  );
}
