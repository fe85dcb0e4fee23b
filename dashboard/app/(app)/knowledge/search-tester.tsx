"use client";

import Link from "next/link";
import { useState, type FormEvent } from "react";
import { api } from "@/lib/api";
import { Button, Card, CardBody, CardHeader, EmptyState, InlineError, Input, Select } from "@/components/ui";
import { RelevanceScore } from "@/components/Relevance";

export type SearchResult = {
  chunk_id: string;
  document_id: string;
  filename: string;
  text: string;
  score: number;
  page_number?: number | null;
  section?: string | null;
  position?: number;
};

/** Ask the knowledge base a question and see the passages the AI would be given. */
export function SearchTester() {
  const [q, setQ] = useState("");
  const [limit, setLimit] = useState("5");
  const [results, setResults] = useState<SearchResult[] | null>(null);
  const [asked, setAsked] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!q.trim()) return;
    setLoading(true);
    setError(null);
    try {
      const params = new URLSearchParams({ q: q.trim(), limit });
      const body = await api<{ results: SearchResult[] }>(`/api/knowledge/search?${params}`);
      setResults(body.results);
      setAsked(q.trim());
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  }

  return (
    <Card>
      <CardHeader
        title="Search tester"
        description="Ask what a customer would ask and see the passages the AI would read, best first."
      />
      <CardBody className="flex flex-col gap-4">
        <form onSubmit={submit} className="flex flex-col gap-3 sm:flex-row sm:items-end" role="search">
          <div className="flex-1">
            <Input
              label="Question"
              name="q"
              value={q}
              maxLength={1000}
              onChange={(e) => setQ(e.target.value)}
              placeholder="e.g. Can I return shoes after 30 days?"
            />
          </div>
          <div className="w-full sm:w-28">
            <Select label="Passages" value={limit} onChange={(e) => setLimit(e.target.value)}>
              {["3", "5", "10", "20"].map((n) => (
                <option key={n}>{n}</option>
              ))}
            </Select>
          </div>
          <Button type="submit" loading={loading} disabled={!q.trim()}>
            Search
          </Button>
        </form>
        <p className="text-xs text-zinc-500">
          Scores run from 0 to 1: under 0.3 is not relevant, over 0.6 is a clear match. The AI hands the
          conversation to a person when no passage is relevant enough.
        </p>
        <InlineError error={error} />
        {results !== null && (
          <p className="text-sm">
            <Link
              href={`/ai?q=${encodeURIComponent(asked)}#preview`}
              className="font-medium text-emerald-700 underline-offset-2 hover:underline focus-visible:outline-2 focus-visible:outline-emerald-600"
            >
              Ask the AI this question →
            </Link>{" "}
            <span className="text-zinc-500">see which passages it keeps and what it answers.</span>
          </p>
        )}
        {results !== null &&
          (results.length === 0 ? (
            <EmptyState
              title="No passages found"
              description={`Nothing in your documents matches “${asked}”. The AI would hand this question to a person.`}
            />
          ) : (
            <ol className="flex flex-col gap-3" aria-label={`Passages for “${asked}”`}>
              {results.map((r, i) => {
                return (
                  <li key={r.chunk_id} className="rounded-lg border border-zinc-200 p-3" data-testid="search-result">
                    <div className="mb-1.5 flex flex-wrap items-center gap-2 text-xs">
                      <span className="font-semibold text-zinc-500">#{i + 1}</span>
                      <span className="font-medium text-zinc-900">{r.filename}</span>
                      {r.page_number != null && <span className="text-zinc-500">page {r.page_number}</span>}
                      {r.section && <span className="truncate text-zinc-500">§ {r.section}</span>}
                      <span className="ml-auto">
                        <RelevanceScore score={r.score} />
                      </span>
                    </div>
                    <p className="whitespace-pre-wrap text-sm leading-relaxed text-zinc-700">{r.text}</p>
                  </li>
                );
              })}
            </ol>
          ))}
      </CardBody>
    </Card>
  );
}
