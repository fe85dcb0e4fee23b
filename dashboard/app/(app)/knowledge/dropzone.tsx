"use client";

import { useRef, useState, type DragEvent } from "react";
import { Button } from "@/components/ui";
import type { Document } from "@/lib/types";
import { uploadFile, UploadError } from "@/lib/upload";
import { bytes } from "@/lib/format";
import { cn } from "@/lib/cn";

const ACCEPT = ".pdf,.docx,.doc,.txt,.md,.markdown,.html,.htm,.csv,.xlsx";

type Upload = {
  key: number;
  name: string;
  size: number;
  progress: number; // 0..1 of the bytes sent
  state: "uploading" | "done" | "error";
  error?: string;
  abort?: () => void;
};

let nextKey = 1;

/** Drop or pick several files; each uploads at once with its own progress bar. */
export function Dropzone({ onUploaded }: { onUploaded: (doc: Document) => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const [uploads, setUploads] = useState<Upload[]>([]);

  function patch(key: number, change: Partial<Upload>) {
    setUploads((list) => list.map((u) => (u.key === key ? { ...u, ...change } : u)));
  }

  function start(files: FileList | File[]) {
    for (const file of Array.from(files)) {
      const key = nextKey++;
      const handle = uploadFile<Document>("/api/documents", file, (progress) => patch(key, { progress }));
      setUploads((list) => [
        ...list,
        { key, name: file.name, size: file.size, progress: 0, state: "uploading", abort: handle.abort },
      ]);
      handle.promise.then(
        (doc) => {
          patch(key, { state: "done", progress: 1, abort: undefined });
          onUploaded(doc);
          // The list below now shows it; the upload row goes after a moment.
          setTimeout(() => setUploads((list) => list.filter((u) => u.key !== key)), 2500);
        },
        (error: unknown) => {
          const message =
            error instanceof UploadError ? errorText(error) : "the upload failed";
          patch(key, { state: "error", error: message, abort: undefined });
        },
      );
    }
  }

  function onDrop(event: DragEvent) {
    event.preventDefault();
    setOver(false);
    if (event.dataTransfer.files.length) start(event.dataTransfer.files);
  }

  return (
    <section aria-label="Upload documents" className="flex flex-col gap-3">
      <div
        onDragOver={(e) => {
          e.preventDefault();
          e.dataTransfer.dropEffect = "copy";
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
        className={cn(
          "flex flex-col items-center justify-center gap-2 rounded-lg border-2 border-dashed px-4 py-8 text-center transition-colors",
          over ? "border-emerald-500 bg-emerald-50" : "border-zinc-300 bg-white",
        )}
        data-testid="dropzone"
      >
        <svg viewBox="0 0 24 24" className="h-8 w-8 text-zinc-400" fill="none" stroke="currentColor" strokeWidth={1.5} aria-hidden>
          <path d="M12 16V4m0 0-4 4m4-4 4 4M4 16v3a1 1 0 0 0 1 1h14a1 1 0 0 0 1-1v-3" strokeLinecap="round" strokeLinejoin="round" />
        </svg>
        <p className="text-sm text-zinc-700">
          <span className="font-medium">Drop files here</span> or
        </p>
        <Button variant="secondary" size="sm" onClick={() => input.current?.click()}>
          Choose files
        </Button>
        <p className="text-xs text-zinc-500">PDF, DOCX, DOC, TXT, Markdown, HTML, CSV, XLSX · several at once</p>
        <input
          ref={input}
          type="file"
          multiple
          accept={ACCEPT}
          className="sr-only"
          aria-label="Choose documents to upload"
          tabIndex={-1}
          onChange={(e) => {
            if (e.target.files?.length) start(e.target.files);
            e.target.value = "";
          }}
        />
      </div>
      {uploads.length > 0 && (
        <ul className="flex flex-col gap-2" aria-label="Uploads">
          {uploads.map((u) => (
            <li key={u.key} className="rounded-lg border border-zinc-200 bg-white px-3 py-2" data-testid="upload-row">
              <div className="flex items-center gap-2 text-sm">
                <span className="min-w-0 flex-1 truncate font-medium text-zinc-800" title={u.name}>
                  {u.name}
                </span>
                <span className="shrink-0 text-xs text-zinc-500">{bytes(u.size)}</span>
                {u.state === "uploading" && u.abort && (
                  <Button variant="ghost" size="sm" onClick={u.abort} aria-label={`Cancel uploading ${u.name}`}>
                    Cancel
                  </Button>
                )}
                {u.state !== "uploading" && (
                  <Button
                    variant="ghost"
                    size="sm"
                    onClick={() => setUploads((list) => list.filter((x) => x.key !== u.key))}
                    aria-label={`Dismiss ${u.name}`}
                  >
                    Dismiss
                  </Button>
                )}
              </div>
              <div
                role="progressbar"
                aria-label={`Uploading ${u.name}`}
                aria-valuemin={0}
                aria-valuemax={100}
                aria-valuenow={Math.round(u.progress * 100)}
                className="mt-1.5 h-1.5 overflow-hidden rounded-full bg-zinc-100"
              >
                <div
                  className={cn(
                    "h-full rounded-full transition-[width]",
                    u.state === "error" ? "bg-red-500" : "bg-emerald-500",
                  )}
                  style={{ width: `${Math.round(u.progress * 100)}%` }}
                />
              </div>
              <p className={cn("mt-1 text-xs", u.state === "error" ? "text-red-700" : "text-zinc-500")} aria-live="polite">
                {u.state === "uploading" &&
                  (u.progress < 1 ? `Uploading… ${Math.round(u.progress * 100)}%` : "Uploaded, storing…")}
                {u.state === "done" && "Uploaded — indexing has started"}
                {u.state === "error" && u.error}
              </p>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function errorText(error: UploadError): string {
  if (error.status === 413) return `Too large: ${String(error.detail)}`;
  if (error.status === 415) return `Not supported: ${String(error.detail)}`;
  return typeof error.detail === "string" ? error.detail : error.message;
}
