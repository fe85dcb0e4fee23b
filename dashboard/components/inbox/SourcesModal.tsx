"use client";

import Link from "next/link";
import type { Message } from "@/lib/types";
import { EmptyState, Modal } from "@/components/ui";

/** The passages an AI reply was grounded on (`sources` of the message). */
export function SourcesModal({ message, onClose }: { message: Message | null; onClose: () => void }) {
  const sources = message?.sources ?? [];
  return (
    <Modal open={message !== null} onClose={onClose} title="What the AI answered from">
      {message && (
        <div className="space-y-4">
          <blockquote className="rounded-md bg-violet-50 px-3 py-2 text-sm text-zinc-800 ring-1 ring-violet-200">
            {message.text}
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
                  {s.text && <p className="mt-1.5 whitespace-pre-wrap text-zinc-700">{s.text}</p>}
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
