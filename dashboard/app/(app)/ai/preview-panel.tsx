"use client";

import { useEffect, useState, type FormEvent } from "react";
import { api } from "@/lib/api";
import { useForm } from "@/lib/hooks/useForm";
import { Badge, Button, Card, CardBody, CardHeader, InlineError, Textarea } from "@/components/ui";
import { RelevanceScore } from "@/components/Relevance";
import { WhatsAppText } from "@/components/WhatsAppText";
import type { Preview } from "./types";

const NO_FIELDS: readonly string[] = []; // a bad question is said under the form
const EMPTY = { message: "" };

/** Ask the AI a test question: its answer, the passages it used and the exact prompt. */
export function PreviewPanel() {
  const { values, set, general, submitting: loading, submit } = useForm(EMPTY, NO_FIELDS);
  const message = values.message;
  const [result, setResult] = useState<Preview | null>(null);

  // /ai?q=…#preview (from the knowledge search tester) fills the question in.
  useEffect(() => {
    const q = new URLSearchParams(window.location.search).get("q");
    if (q) set("message", q);
  }, [set]);

  const send = submit(async ({ message }) => {
    setResult(await api<Preview>("/api/ai/preview", { method: "POST", json: { message: message.trim() } }));
  });
  // Nothing to ask: nothing happens (the button is disabled; Ctrl+Enter does nothing).
  const ask = (event: FormEvent) => {
    event.preventDefault();
    if (message.trim()) void send(event);
  };

  return (
    <div className="flex flex-col gap-4">
      <Card>
        <CardHeader
          title="Try the AI"
          description="Nothing is sent to WhatsApp. The answer uses the saved settings, template and documents."
        />
        <CardBody>
          <form onSubmit={ask} className="flex flex-col gap-3" aria-label="Preview">
            <Textarea
              label="Customer message"
              name="message"
              rows={3}
              maxLength={4096}
              value={message}
              onChange={(e) => set("message", e.target.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter" && (e.metaKey || e.ctrlKey)) ask(e);
              }}
              placeholder="What are your opening hours?"
              hint="Ctrl+Enter to ask."
            />
            <div className="flex justify-end">
              <Button type="submit" loading={loading} disabled={!message.trim()}>
                {loading ? "Thinking…" : "Ask"}
              </Button>
            </div>
            <InlineError error={general} />
          </form>
        </CardBody>
      </Card>
      {result && (
        <Card aria-live="polite" data-testid="preview-result">
          <CardHeader
            title="Answer"
            actions={
              result.handoff ? (
                <Badge tone="amber">Hands over to a person</Badge>
              ) : (
                <Badge tone="green">AI answers</Badge>
              )
            }
          />
          <CardBody className="flex flex-col gap-4">
            <div className="max-w-prose rounded-lg rounded-tl-none bg-emerald-50 px-3 py-2 text-sm whitespace-pre-wrap text-zinc-900" data-testid="preview-reply">
              <WhatsAppText text={result.reply} />
            </div>
            {result.handoff_reason && (
              <p className="text-sm text-amber-800">
                <span className="font-medium">Why: </span>
                {result.handoff_reason}
              </p>
            )}
            <p className="text-xs text-zinc-500">
              {result.model ? `Model ${result.model}` : "No model call (answered without the LLM)"} · {result.tokens_in} tokens in ·{" "}
              {result.tokens_out} out · {result.latency_ms} ms
            </p>
            <section aria-label="Passages used">
              <h3 className="mb-2 text-sm font-semibold text-zinc-900">
                Passages used <span className="font-normal text-zinc-500">({result.sources.length})</span>
              </h3>
              {result.sources.length === 0 ? (
                <p className="text-sm text-zinc-500">No passage was relevant enough.</p>
              ) : (
                <ol className="flex flex-col gap-2">
                  {result.sources.map((s, i) => (
                    <li key={s.chunk_id ?? i} className="rounded-lg border border-zinc-200 p-3" data-testid="preview-source">
                      <div className="mb-1 flex flex-wrap items-center gap-2 text-xs">
                        <span className="font-medium text-zinc-900">{s.filename}</span>
                        {s.page != null && <span className="text-zinc-500">page {s.page}</span>}
                        {s.section && <span className="text-zinc-500">§ {s.section}</span>}
                        <span className="ml-auto">
                          <RelevanceScore score={s.score} />
                        </span>
                      </div>
                      <p className="text-sm whitespace-pre-wrap text-zinc-700">{s.text}</p>
                    </li>
                  ))}
                </ol>
              )}
            </section>
            <details className="rounded-lg border border-zinc-200">
              <summary className="cursor-pointer px-3 py-2 text-sm font-medium text-zinc-800 focus-visible:outline-2 focus-visible:outline-emerald-600">
                Rendered prompt
              </summary>
              <pre className="max-h-96 overflow-auto border-t border-zinc-100 bg-zinc-50 p-3 font-mono text-xs whitespace-pre-wrap text-zinc-800" data-testid="preview-prompt">
                {result.prompt}
              </pre>
            </details>
          </CardBody>
        </Card>
      )}
    </div>
  );
}
