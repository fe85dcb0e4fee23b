"use client";

import { useEffect, useRef, useState } from "react";
import { api, errorMessage } from "@/lib/api";
import { formatWhen } from "@/lib/figures";
import { bytes } from "@/lib/format";
import { useList } from "@/lib/hooks/useList";
import type { Document as BaseDocument } from "@/lib/types";
import { PageContainer } from "@/components/AppShell";
import { Badge, Button, Card, CardHeader, EmptyState, ErrorState, Modal, Skeleton, useToast } from "@/components/ui";
import { Dropzone } from "./dropzone";
import { SearchTester } from "./search-tester";

// The knowledge service also says when indexing finished and the language it detected.
type Document = BaseDocument & { indexed_at?: string | null; language?: string | null };

const POLL_MS = 2000;
const processing = (docs: Document[]) => docs.some((d) => d.status === "processing");

export function KnowledgeView() {
  const toast = useToast();
  // Live status: while a document is processing, the list is read again every few seconds.
  // Uploads answered while the list loads are newer than the list: they are kept in front.
  const {
    items: docs,
    error: loadError,
    refresh: load,
    add: upsert,
    remove: removed,
  } = useList<Document>("/api/documents", { order: "start", refreshEvery: POLL_MS, refreshWhile: processing });
  const [busy, setBusy] = useState<Record<string, "delete" | "reindex">>({});
  const [confirm, setConfirm] = useState<Document | null>(null);

  // A document that was processing and is no longer: say how it went, once.
  const seen = useRef(new Map<string, Document["status"]>());
  useEffect(() => {
    for (const doc of docs ?? []) {
      if (seen.current.get(doc.id) === "processing" && doc.status !== "processing") {
        if (doc.status === "indexed") toast(`${doc.filename} is indexed (${doc.chunk_count ?? 0} passages)`);
        if (doc.status === "failed") toast(`${doc.filename} failed: ${doc.error ?? "unknown error"}`, "error");
      }
      seen.current.set(doc.id, doc.status);
    }
  }, [docs, toast]);

  async function reindex(doc: Document) {
    setBusy((b) => ({ ...b, [doc.id]: "reindex" }));
    try {
      upsert(await api<Document>(`/api/documents/${doc.id}/reindex`, { method: "POST" }));
      toast(`Re-indexing ${doc.filename}`, "info");
    } catch (error) {
      toast(errorMessage(error), "error");
    } finally {
      setBusy((b) => without(b, doc.id));
    }
  }

  async function remove(doc: Document) {
    setBusy((b) => ({ ...b, [doc.id]: "delete" }));
    try {
      await api(`/api/documents/${doc.id}`, { method: "DELETE" });
      removed(doc.id);
      toast(`${doc.filename} deleted`);
      setConfirm(null);
    } catch (error) {
      toast(errorMessage(error), "error");
    } finally {
      setBusy((b) => without(b, doc.id));
    }
  }

  return (
    <PageContainer
      title="Knowledge"
      description="The documents your AI answers from: PDF, Word, text, Markdown, HTML, CSV or Excel."
    >
      <div className="flex flex-col gap-6">
        <Dropzone onUploaded={upsert} />
        <Card>
          <CardHeader
            title="Documents"
            description={docs ? `${docs.length} document${docs.length === 1 ? "" : "s"}` : undefined}
            actions={
              <Button variant="ghost" size="sm" onClick={() => void load()} aria-label="Refresh the document list">
                Refresh
              </Button>
            }
          />
          {loadError ? (
            <ErrorState error={loadError} title="Could not load the documents" onRetry={() => void load()} />
          ) : docs === null ? (
            <ul aria-busy className="divide-y divide-zinc-100">
              {[0, 1, 2].map((i) => (
                <li key={i} className="flex items-center gap-3 px-4 py-3">
                  <Skeleton className="h-4 w-48" />
                  <Skeleton className="ml-auto h-4 w-20" />
                </li>
              ))}
            </ul>
          ) : docs.length === 0 ? (
            <EmptyState
              title="No documents yet"
              description="Upload your FAQ, price list or policies: the AI answers only from what is here."
            />
          ) : (
            <ul className="divide-y divide-zinc-100" aria-label="Documents">
              {docs.map((doc) => (
                <li key={doc.id} className="flex flex-col gap-2 px-4 py-3 sm:flex-row sm:items-center" data-testid="document-row">
                  <div className="min-w-0 flex-1">
                    <p className="truncate text-sm font-medium text-zinc-900" title={doc.filename}>
                      {doc.filename}
                    </p>
                    <p className="text-xs text-zinc-500">
                      {bytes(doc.size_bytes)} · uploaded {formatWhen(doc.created_at)}
                      {doc.language && ` · language: ${doc.language}`}
                    </p>
                    {doc.status === "failed" && doc.error && (
                      <p className="mt-1 text-xs text-red-700" role="note">
                        {doc.error}
                      </p>
                    )}
                  </div>
                  <div className="flex flex-wrap items-center gap-2">
                    <StatusBadge doc={doc} />
                    <Button
                      size="sm"
                      variant="secondary"
                      loading={busy[doc.id] === "reindex"}
                      disabled={doc.status === "processing" || Boolean(busy[doc.id])}
                      onClick={() => void reindex(doc)}
                      aria-label={`Re-index ${doc.filename}`}
                    >
                      Re-index
                    </Button>
                    <Button
                      size="sm"
                      variant="ghost"
                      className="text-red-700 hover:bg-red-50"
                      disabled={Boolean(busy[doc.id])}
                      onClick={() => setConfirm(doc)}
                      aria-label={`Delete ${doc.filename}`}
                    >
                      Delete
                    </Button>
                  </div>
                </li>
              ))}
            </ul>
          )}
        </Card>
        <SearchTester />
        <Modal
          open={confirm !== null}
          onClose={() => setConfirm(null)}
          title="Delete this document?"
          footer={
            <>
              <Button variant="secondary" onClick={() => setConfirm(null)}>
                Cancel
              </Button>
              <Button
                variant="danger"
                loading={confirm ? busy[confirm.id] === "delete" : false}
                onClick={() => confirm && void remove(confirm)}
              >
                Delete
              </Button>
            </>
          }
        >
          <p className="text-sm text-zinc-700">
            <strong className="font-medium">{confirm?.filename}</strong> and its {confirm?.chunk_count ?? 0} passages
            will be removed. The AI stops using them at once.
          </p>
        </Modal>
      </div>
    </PageContainer>
  );
}

function without<T>(record: Record<string, T>, key: string): Record<string, T> {
  const next = { ...record };
  delete next[key];
  return next;
}

function StatusBadge({ doc }: { doc: Document }) {
  if (doc.status === "processing")
    return (
      <Badge tone="blue" aria-live="polite">
        <span className="h-1.5 w-1.5 animate-pulse rounded-full bg-sky-500" aria-hidden />
        Processing
      </Badge>
    );
  if (doc.status === "indexed")
    return (
      <Badge tone="green">
        Indexed · {doc.chunk_count ?? 0} passage{doc.chunk_count === 1 ? "" : "s"}
      </Badge>
    );
  return <Badge tone="red">Failed</Badge>;
}
