"use client";

import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, api, errorMessage, type Page } from "@/lib/api";
import { formatWhen } from "@/lib/figures";
import { bytes } from "@/lib/format";
import { keepAdded } from "@/lib/lists";
import type { Document as BaseDocument } from "@/lib/types";
import { PageContainer } from "@/components/AppShell";
import { Badge, Button, Card, CardHeader, EmptyState, ErrorState, Modal, Skeleton, useToast } from "@/components/ui";
import { Dropzone } from "./dropzone";
import { SearchTester } from "./search-tester";

// The knowledge service also says when indexing finished and the language it detected.
type Document = BaseDocument & { indexed_at?: string | null; language?: string | null };

const POLL_MS = 2000;

export function KnowledgeView() {
  const toast = useToast();
  const [docs, setDocs] = useState<Document[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [busy, setBusy] = useState<Record<string, "delete" | "reindex">>({});
  const [confirm, setConfirm] = useState<Document | null>(null);

  // Uploads answered while the list loads are newer than the list: they are kept in front.
  const uploaded = useRef(new Set<string>());

  const load = useCallback(async () => {
    setLoadError(null);
    uploaded.current.clear();
    try {
      const page = await api<Page<Document>>("/api/documents?limit=100");
      setDocs((current) => keepAdded(current, page.items, uploaded.current));
      setCursor(page.next_cursor);
    } catch (error) {
      setLoadError(error);
    }
  }, []);

  useEffect(() => {
    // eslint-disable-next-line react-hooks/set-state-in-effect -- loading on mount
    void load();
  }, [load]);

  const upsert = useCallback((doc: Document) => {
    setDocs((list) => {
      const rest = (list ?? []).filter((d) => d.id !== doc.id);
      const index = (list ?? []).findIndex((d) => d.id === doc.id);
      if (index < 0) return [doc, ...rest];
      const next = [...(list ?? [])];
      next[index] = doc;
      return next;
    });
  }, []);

  // Live status: while documents are processing, ask for each again every few seconds (one
  // round at a time, so a slow answer never overlaps the next round).
  const announced = useRef(new Set<string>());
  const processing = (docs ?? []).filter((d) => d.status === "processing").map((d) => d.id).join(",");
  useEffect(() => {
    if (!processing) return;
    const ids = processing.split(",");
    let stopped = false;
    let timer: ReturnType<typeof setTimeout>;
    const round = async () => {
      const fresh = await Promise.all(
        ids.map((id) =>
          api<Document>(`/api/documents/${id}`).catch((error: unknown) =>
            error instanceof ApiError && error.status === 404 ? id : null,
          ),
        ),
      );
      if (stopped) return;
      for (const doc of fresh) {
        if (typeof doc === "string") {
          setDocs((list) => (list ?? []).filter((d) => d.id !== doc)); // deleted elsewhere
          continue;
        }
        if (!doc) continue;
        upsert(doc);
        const key = `${doc.id}:${doc.indexed_at ?? doc.error}`;
        if (doc.status === "processing" || announced.current.has(key)) continue;
        announced.current.add(key);
        if (doc.status === "indexed") toast(`${doc.filename} is indexed (${doc.chunk_count ?? 0} passages)`);
        if (doc.status === "failed") toast(`${doc.filename} failed: ${doc.error ?? "unknown error"}`, "error");
      }
      timer = setTimeout(round, POLL_MS);
    };
    timer = setTimeout(round, POLL_MS);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [processing, upsert, toast]);

  async function loadMore() {
    if (!cursor) return;
    setLoadingMore(true);
    try {
      const page = await api<Page<Document>>(`/api/documents?limit=100&cursor=${encodeURIComponent(cursor)}`);
      setDocs((list) => [...(list ?? []), ...page.items.filter((d) => !(list ?? []).some((x) => x.id === d.id))]);
      setCursor(page.next_cursor);
    } catch (error) {
      toast(errorMessage(error), "error");
    } finally {
      setLoadingMore(false);
    }
  }

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
      setDocs((list) => (list ?? []).filter((d) => d.id !== doc.id));
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
        <Dropzone
          onUploaded={(doc) => {
            uploaded.current.add(doc.id);
            upsert(doc);
          }}
        />
        <Card>
          <CardHeader
            title="Documents"
            description={docs ? `${docs.length}${cursor ? "+" : ""} document${docs.length === 1 ? "" : "s"}` : undefined}
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
          {cursor && (
            <div className="border-t border-zinc-100 p-3 text-center">
              <Button variant="secondary" size="sm" loading={loadingMore} onClick={() => void loadMore()}>
                Load more
              </Button>
            </div>
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
