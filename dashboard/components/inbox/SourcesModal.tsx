"use client";

import Link from "next/link";
import { api } from "@/lib/api";
import { useResource } from "@/lib/hooks/useResource";
import type { Message } from "@/lib/types";
import { formatWhatsApp } from "@/lib/whatsapp-format";
import { EmptyState, Modal, Spinner } from "@/components/ui";

type SearchResult = { chunk_id: string; text: string };

const searchPath = (question: string) => `/api/knowledge/search?q=${encodeURIComponent(question.slice(0, 500))}&limit=20`;

/** The passages' texts by chunk id (none when the search fails), with the search they answer. */
const passagesOf = (path: string) =>
  api<{ results: SearchResult[] }>(path)
    .then((r) => ({ path, texts: Object.fromEntries(r.results.map((x) => [x.chunk_id, x.text])) }))
    .catch(() => ({ path, texts: {} as Record<string, string> }));

/** The passages an AI reply was grounded on (`sources` of the message). A source names its
 * chunk but carries no text: the text comes from the knowledge search for the question the
 * reply answered (the same search the AI ran), matched by chunk id. */
export function SourcesModal({
  message,
  question,
  onClose,
}: {
  message: Message | null;
  question: string | null;
  onClose: () => void;
}) {
  const sources = message?.sources ?? [];
  const wanted = sources.filter((s) => !s.text && s.chunk_id).length > 0 && question;
  const path = wanted && question ? searchPath(question) : null;
  const { data: found } = useResource(path, { load: passagesOf });
  // An answer for another question (the message shown before) is not this one's.
  const texts = found && found.path === path ? found.texts : null;
  return (
    <Modal open={message !== null} onClose={onClose} title="What the AI answered from">
      {message && (
        <div className="space-y-4">
          <blockquote className="max-h-40 overflow-y-auto whitespace-pre-wrap rounded-md bg-violet-50 px-3 py-2 text-sm text-zinc-800 ring-1 ring-violet-200">
            {message.text ? formatWhatsApp(message.text) : null}
          </blockquote>
          {sources.length === 0 ? (
            <EmptyState
              className="py-6"
              title="No passages"
              description="This reply used no document passage (a greeting, a fallback or a handoff message), or it was sent before sources were recorded."
            />
          ) : (
            <ol className="space-y-2" data-testid="sources">
              {sources.map((s, i) => (
                <li key={`${s.chunk_id}-${i}`} className="rounded-md border border-zinc-200 px-3 py-2 text-sm">
                  <div className="flex items-baseline justify-between gap-2">
                    <span className="truncate font-medium text-zinc-900">
                      {i + 1}. {s.filename}
                    </span>
                    {typeof s.score === "number" && (
                      <span className="shrink-0 font-mono text-xs text-zinc-500">score {s.score.toFixed(3)}</span>
                    )}
                  </div>
                  {(s.page != null || s.section) && (
                    <p className="mt-0.5 text-xs text-zinc-500">
                      {[s.page != null ? `page ${s.page}` : null, s.section].filter(Boolean).join(" · ")}
                    </p>
                  )}
                  {(s.text ?? texts?.[s.chunk_id]) ? (
                    <p className="mt-1.5 line-clamp-6 whitespace-pre-wrap text-zinc-700">{s.text ?? texts?.[s.chunk_id]}</p>
                  ) : wanted && texts === null ? (
                    <Spinner className="mt-1.5 text-zinc-400" label="Loading the passage" />
                  ) : null}
                </li>
              ))}
            </ol>
          )}
          <p className="text-xs text-zinc-500">
            Documents live in{" "}
            <Link href="/knowledge" className="font-medium text-emerald-700 hover:underline">
              Knowledge
            </Link>
            ; try questions in{" "}
            <Link href="/ai" className="font-medium text-emerald-700 hover:underline">
              AI settings
            </Link>
            .
          </p>
        </div>
      )}
    </Modal>
  );
}
