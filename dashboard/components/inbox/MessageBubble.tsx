"use client";

import { useEffect, useState } from "react";
import { cn } from "@/lib/cn";
import { timeOfDay } from "@/lib/format";
import type { Message } from "@/lib/types";
import { formatWhatsApp } from "@/lib/whatsapp-format";
import { AlertIcon, CheckIcon, ClockIcon, FileIcon, PinIcon, UserIcon } from "@/components/icons";

const mediaUrl = (m: Message) => `/api/messages/${m.id}/media`;

function str(value: unknown): string | null {
  return typeof value === "string" && value ? value : null;
}

/** A short line for a quoted message. */
export function summary(m: Message): string {
  if (m.text) return m.text;
  const kind = str(m.media?.kind) ?? m.type;
  return { image: "Photo", video: "Video", audio: "Audio", document: "Document", sticker: "Sticker" }[kind] ?? `[${m.type}]`;
}

/** Queued → sent → delivered → read, or failed (with WhatsApp's reason under the bubble). */
export function Ticks({ status }: { status: string }) {
  const label = { queued: "Queued", sent: "Sent", delivered: "Delivered", read: "Read", failed: "Failed", played: "Played" }[status] ?? status;
  let icon;
  if (status === "queued") icon = <ClockIcon className="h-3.5 w-3.5" />;
  else if (status === "sent") icon = <CheckIcon className="h-3.5 w-3.5" />;
  else if (status === "delivered" || status === "read" || status === "played")
    icon = (
      <span className="relative inline-flex w-[18px]">
        <CheckIcon className="h-3.5 w-3.5" />
        <CheckIcon className="absolute left-[5px] h-3.5 w-3.5" />
      </span>
    );
  else if (status === "failed") icon = <AlertIcon className="h-3.5 w-3.5" />;
  return (
    <span
      role="img"
      title={label}
      aria-label={label}
      data-status={status}
      className={cn(
        "inline-flex items-center",
        status === "read" || status === "played" ? "text-sky-600" : status === "failed" ? "text-red-600" : "text-zinc-500",
      )}
    >
      {icon}
    </span>
  );
}

// Media is fetched from WhatsApp after the message arrives (its status stays "pending" in
// this message until then): the browser retries the bytes a few times before giving up.
const MEDIA_RETRIES = 10;

function MediaBody({ m }: { m: Message }) {
  const [broken, setBroken] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const kind = str(m.media?.kind) ?? m.type;
  const failed = m.media?.status === "failed";
  const src = `${mediaUrl(m)}${attempt ? `?try=${attempt}` : ""}`;
  const filename = str(m.media?.filename);
  const caption = str(m.media?.caption);

  useEffect(() => {
    if (!broken || attempt >= MEDIA_RETRIES) return;
    const t = setTimeout(() => {
      setBroken(false);
      setAttempt((n) => n + 1);
    }, 1500);
    return () => clearTimeout(t);
  }, [broken, attempt]);
  const onError = () => setBroken(true);

  if (failed || (broken && attempt >= MEDIA_RETRIES)) {
    return (
      <div className="flex items-center gap-2 rounded-md bg-zinc-100 px-3 py-2 text-xs text-zinc-600">
        <FileIcon className="h-4 w-4" />
        <span>{failed ? `The ${kind} could not be downloaded from WhatsApp.` : `The ${kind} is not available yet.`}</span>
        {!failed && (
          <button
            type="button"
            className="font-medium text-emerald-700 hover:underline"
            onClick={() => {
              setBroken(false);
              setAttempt((n) => n + 1 - MEDIA_RETRIES);
            }}
          >
            Retry
          </button>
        )}
      </div>
    );
  }
  if (broken && kind !== "document") {
    return <div className="h-32 w-48 animate-pulse rounded-md bg-zinc-200" aria-label={`Loading ${kind}`} />;
  }
  switch (kind) {
    case "image":
      return (
        <a href={src} target="_blank" rel="noreferrer" className="block">
          {/* eslint-disable-next-line @next/next/no-img-element -- bytes from our API, not optimisable */}
          <img
            src={src}
            alt={caption ?? "Image from the customer"}
            loading="lazy"
            onError={onError}
            className="max-h-72 max-w-full rounded-md object-contain"
          />
        </a>
      );
    case "sticker":
      // eslint-disable-next-line @next/next/no-img-element -- bytes from our API
      return <img src={src} alt="Sticker" loading="lazy" onError={onError} className="h-32 w-32 object-contain" />;
    case "video":
      return <video src={src} controls preload="metadata" onError={onError} className="max-h-72 max-w-full rounded-md" />;
    case "audio":
      return (
        <div className="flex flex-col gap-1">
          <audio src={src} controls preload="none" onError={onError} className="h-10 w-64 max-w-full" />
          {m.media?.voice === true && <span className="text-[11px] text-zinc-500">Voice message</span>}
        </div>
      );
    default:
      return (
        <a
          href={src}
          download={filename ?? undefined}
          className="flex items-center gap-2 rounded-md border border-zinc-200 bg-white/70 px-3 py-2 text-sm hover:bg-white"
        >
          <FileIcon className="h-5 w-5 text-zinc-500" />
          <span className="min-w-0">
            <span className="block truncate font-medium text-zinc-800">{filename ?? "Document"}</span>
            <span className="block text-xs text-zinc-500">{str(m.media?.mime_type) ?? "Download"}</span>
          </span>
        </a>
      );
  }
}

function Body({ m }: { m: Message }) {
  const kind = m.media ? (str(m.media.kind) ?? m.type) : m.type;
  if (m.media || ["image", "video", "audio", "document", "sticker"].includes(kind)) {
    const caption = str(m.media?.caption);
    return (
      <div className="flex flex-col gap-1.5">
        <MediaBody m={m} />
        {caption && <p className="whitespace-pre-wrap break-words">{caption}</p>}
      </div>
    );
  }
  if (m.type === "location") {
    const coords = m.text?.match(/^(-?\d+(?:\.\d+)?),\s*(-?\d+(?:\.\d+)?)$/);
    const href = coords
      ? `https://www.openstreetmap.org/?mlat=${coords[1]}&mlon=${coords[2]}#map=16/${coords[1]}/${coords[2]}`
      : `https://www.openstreetmap.org/search?query=${encodeURIComponent(m.text ?? "")}`;
    return (
      <div className="flex items-start gap-2">
        <PinIcon className="mt-0.5 h-5 w-5 text-red-500" />
        <div>
          <p className="font-medium">Location</p>
          <p className="text-zinc-700">{m.text}</p>
          <a href={href} target="_blank" rel="noreferrer" className="text-xs font-medium text-emerald-700 hover:underline">
            Open map
          </a>
        </div>
      </div>
    );
  }
  if (m.type === "contacts") {
    return (
      <div className="flex flex-col gap-1">
        {(m.text ?? "Contact card").split("; ").map((card) => (
          <div key={card} className="flex items-center gap-2 rounded-md border border-zinc-200 bg-white/70 px-3 py-2">
            <UserIcon className="h-5 w-5 text-zinc-500" />
            <span className="text-sm">{card}</span>
          </div>
        ))}
      </div>
    );
  }
  if (m.type === "interactive" || m.type === "button") {
    return (
      <div>
        <p className="text-[11px] uppercase tracking-wide text-zinc-500">Chose</p>
        <p className="font-medium">{m.text}</p>
      </div>
    );
  }
  if (m.type === "template") {
    // An approved template (sent outside or inside the window): its rendered text.
    return (
      <div>
        <p className="mb-0.5 text-[11px] font-semibold uppercase tracking-wide text-emerald-800" data-testid="template-tag">
          Template
        </p>
        <p className="whitespace-pre-wrap break-words">{m.text ? formatWhatsApp(m.text) : "[template]"}</p>
      </div>
    );
  }
  if (m.type === "revoke") return <p className="italic text-zinc-500">This message was deleted</p>;
  if (m.type === "unsupported" || m.type === "system" || m.type === "order") {
    return <p className="italic text-zinc-600">{m.text ?? `[${m.type}]`}</p>;
  }
  return <p className="whitespace-pre-wrap break-words">{m.text ? formatWhatsApp(m.text) : `[${m.type}]`}</p>;
}

export function MessageBubble({
  m,
  quoted,
  reaction,
  onQuoteClick,
  onShowSources,
  authorName,
}: {
  m: Message;
  quoted: Message | null | undefined; // undefined: not a reply; null: the quoted one is not loaded
  reaction: string | null;
  onQuoteClick: (id: string) => void;
  onShowSources: (m: Message) => void;
  // The team member who wrote a note or reply, when known.
  authorName?: string | null;
}) {
  if (m.direction === "internal") {
    // The team's private note: in the thread, never sent to the customer.
    return (
      <div id={`m-${m.id}`} data-testid="message" data-author={m.author} data-type={m.type} className="flex justify-center">
        <div className="max-w-[85%] rounded-xl border border-dashed border-amber-300 bg-yellow-50 px-3 py-2 text-sm text-zinc-900 sm:max-w-[70%]">
          <span className="block text-[11px] font-semibold text-amber-800" data-testid="note-author">
            Private note{authorName ? ` · ${authorName}` : ""}
          </span>
          <p className="whitespace-pre-wrap break-words">{m.text}</p>
          <time dateTime={m.created_at} className="mt-1 block text-right text-[11px] text-zinc-600">
            {timeOfDay(m.created_at)}
          </time>
        </div>
      </div>
    );
  }
  const outbound = m.direction === "outbound";
  const ai = m.author === "ai";
  return (
    <div
      id={`m-${m.id}`}
      data-testid="message"
      data-author={m.author}
      data-type={m.type}
      className={cn("flex", outbound ? "justify-end" : "justify-start")}
    >
      <div className={cn("relative flex max-w-[85%] flex-col sm:max-w-[70%]", outbound ? "items-end" : "items-start", reaction && "mb-3")}>
        <div
          className={cn(
            "rounded-2xl px-3 py-2 text-sm shadow-xs ring-1",
            outbound
              ? ai
                ? "rounded-br-md bg-violet-50 text-zinc-900 ring-violet-200"
                : "rounded-br-md bg-emerald-50 text-zinc-900 ring-emerald-200"
              : "rounded-bl-md bg-white text-zinc-900 ring-zinc-200",
          )}
        >
          {quoted !== undefined && (
            <button
              type="button"
              onClick={() => quoted && onQuoteClick(quoted.id)}
              disabled={!quoted}
              className="mb-1.5 block w-full rounded-md border-l-4 border-emerald-500 bg-zinc-900/5 px-2 py-1 text-left text-xs disabled:cursor-default"
              aria-label="Quoted message"
            >
              <span className="block font-medium text-emerald-700">
                {quoted ? (quoted.direction === "inbound" ? "Customer" : quoted.author === "ai" ? "AI" : "You") : "Reply to"}
              </span>
              <span className="line-clamp-2 text-zinc-600">{quoted ? summary(quoted) : "a message not shown here"}</span>
            </button>
          )}
          <Body m={m} />
          <div className="mt-1 flex items-center justify-end gap-1.5 text-[11px] text-zinc-600">
            {ai && (
              <button
                type="button"
                onClick={() => onShowSources(m)}
                className="rounded bg-violet-600 px-1 font-semibold text-white hover:bg-violet-700 focus-visible:outline-2 focus-visible:outline-violet-600"
                aria-label="AI reply: show the passages it used"
                title="Answered by the AI: show the passages it used"
                data-testid="ai-badge"
              >
                AI
              </button>
            )}
            {m.author === "agent" && <span>You</span>}
            <time dateTime={m.created_at}>{timeOfDay(m.created_at)}</time>
            {outbound && <Ticks status={m.status} />}
          </div>
        </div>
        {m.status === "failed" && (
          <p role="alert" className="mt-1 max-w-full text-xs text-red-600">
            Not delivered{m.error ? `: ${m.error}` : ""}
          </p>
        )}
        {reaction && (
          <span
            role="img"
            aria-label={`Reaction ${reaction}`}
            className={cn(
              "absolute -bottom-3 rounded-full bg-white px-1.5 py-0.5 text-sm shadow-sm ring-1 ring-zinc-200",
              outbound ? "right-2" : "left-2",
            )}
          >
            {reaction}
          </span>
        )}
      </div>
    </div>
  );
}
