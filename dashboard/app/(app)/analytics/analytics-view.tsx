"use client";

import { useMemo, useState, type FormEvent, type ReactNode } from "react";
import { ApiError, api, errorMessage } from "@/lib/api";
import { addDays, formatCompact, formatCount, formatDuration, formatUsd, isoDay } from "@/lib/figures";
import { cn } from "@/lib/cn";
import { useResource } from "@/lib/hooks/useResource";
import { PageContainer } from "@/components/AppShell";
import { TimeSeriesChart } from "@/components/TimeSeriesChart";
import { Button, Card, CardBody, ErrorState, Input, Skeleton } from "@/components/ui";
import { CsatPanel } from "./csat-panel";

type Summary = {
  messages_in: number;
  messages_out: number;
  ai_replies: number;
  handoffs: number;
  conversations: number;
  median_first_response_ms: number | null;
  p95_first_response_ms: number | null;
  tokens_in: number;
  tokens_out: number;
  // null: some replies of the period used a model whose price is unknown.
  cost_usd: number | null;
  unpriced_replies?: number;
  // Ratings collected on resolve (the responder's CSAT); absent before it reports them.
  csat_responses?: number | null;
  csat_percent?: number | null;
};

type Day = {
  date: string;
  messages_in: number;
  messages_out: number;
  ai_replies: number;
  handoffs: number;
  tokens_in: number;
  tokens_out: number;
  cost_usd: number | null;
  // Charted when the responder reports it per day (it does in the summary).
  median_first_response_ms?: number | null;
};

type Range = { from: string; to: string };

type ResponseBucket = {
  date: string;
  label: string;
  median_first_response_ms: number | null;
  p95_first_response_ms: number | null;
};

const MAX_BUCKETS = 31;

function instant(day: string): string {
  return `${day}T00:00:00Z`;
}

/**
 * First-response time over the range. /daily has no per-day percentiles (a median cannot be
 * summed from daily figures), so this asks /summary once per bucket: each day for a month,
 * wider buckets for longer ranges (at most 31 requests, 6 at a time).
 */
async function firstResponseBuckets(range: Range): Promise<ResponseBucket[]> {
  const days = Math.round((Date.parse(range.to) - Date.parse(range.from)) / 86_400_000) + 1;
  const size = Math.ceil(days / MAX_BUCKETS);
  const end = addDays(range.to, 1);
  const spans: { from: string; until: string }[] = [];
  for (let day = range.from; day < end; day = addDays(day, size)) {
    const until = addDays(day, size) < end ? addDays(day, size) : end;
    spans.push({ from: day, until });
  }
  const out: ResponseBucket[] = [];
  for (let i = 0; i < spans.length; i += 6) {
    const batch = await Promise.all(
      spans.slice(i, i + 6).map(async ({ from, until }) => {
        const query = new URLSearchParams({ from: instant(from), to: instant(until) });
        const s = await api<Summary>(`/api/analytics/summary?${query}`);
        const last = addDays(until, -1);
        return {
          date: from,
          label: last === from ? from : `${from} – ${last}`,
          median_first_response_ms: s.median_first_response_ms,
          p95_first_response_ms: s.p95_first_response_ms,
        };
      }),
    );
    out.push(...batch);
  }
  return out;
}

const PRESETS = [
  { days: 7, label: "7 days" },
  { days: 30, label: "30 days" },
  { days: 90, label: "90 days" },
];

function lastDays(days: number): Range {
  const to = isoDay(new Date());
  return { from: addDays(to, -(days - 1)), to };
}

/** The range a query is for (its `to` is the instant after the last day). */
function rangeOf(query: string): Range {
  const params = new URLSearchParams(query);
  return { from: (params.get("from") ?? "").slice(0, 10), to: addDays((params.get("to") ?? "").slice(0, 10), -1) };
}

async function loadFigures(query: string): Promise<{ query: string; summary: Summary; days: Day[] }> {
  const [summary, daily] = await Promise.all([
    api<Summary>(`/api/analytics/summary?${query}`),
    api<{ items: Day[] }>(`/api/analytics/daily?${query}`),
  ]);
  return { query, summary, days: daily.items };
}

/** Per-bucket first-response figures; none when they cannot be read. */
const loadBuckets = (query: string) => firstResponseBuckets(rangeOf(query)).catch(() => [] as ResponseBucket[]);

// Live: when messages come and go, the figures for a range that includes today are asked for
// again once the burst settles (the responder counts them a moment after they happen).
const LIVE = ["message.created", "message.updated"] as const;

export function AnalyticsView() {
  const [range, setRange] = useState<Range>(() => lastDays(30));
  const [draft, setDraft] = useState<Range>(range);
  const [rangeError, setRangeError] = useState<string | null>(null);
  // Whole UTC days, `to` included: sent as explicit instants, because the API reads a bare
  // date in `to` as that day's midnight (which would leave the day out).
  const query = useMemo(
    () => new URLSearchParams({ from: instant(range.from), to: instant(addDays(range.to, 1)) }).toString(),
    [range],
  );
  const live = range.to >= isoDay(new Date()) ? LIVE : undefined;
  const figures = useResource(query, { load: loadFigures, refreshOn: live, refreshDelay: 3000 });
  const { error, loading } = figures;
  const summary = figures.data?.summary ?? null;
  const days = figures.data?.days ?? null;
  const current = figures.data?.query === query ? figures.data : null;
  // /daily may carry each day's median; else, when anything was answered, /summary per bucket.
  const daily = current?.days.some((day) => day.median_first_response_ms !== undefined) ?? false;
  const buckets = useResource(current && !daily && current.summary.median_first_response_ms !== null ? query : null, {
    load: loadBuckets,
    refreshOn: live,
    refreshDelay: 3000,
  });
  const responses: ResponseBucket[] | null = !current
    ? null
    : daily
      ? current.days.map((day) => ({
          date: day.date,
          label: day.date,
          median_first_response_ms: day.median_first_response_ms ?? null,
          p95_first_response_ms: null,
        }))
      : current.summary.median_first_response_ms === null
        ? [] // nothing was answered in the range: no chart to ask for
        : buckets.loading
          ? null
          : buckets.data;
  const shownRangeError = rangeError ?? (error instanceof ApiError && error.status === 422 ? errorMessage(error) : null);
  const load = () => figures.refresh();

  function apply(event: FormEvent) {
    event.preventDefault();
    if (!draft.from || !draft.to) return setRangeError("Choose both dates.");
    if (draft.from > draft.to) return setRangeError("“From” must be on or before “to”.");
    setRangeError(null);
    setRange({ ...draft });
  }

  function preset(daysBack: number) {
    const r = lastDays(daysBack);
    setDraft(r);
    setRangeError(null);
    setRange(r);
  }

  const activePreset = PRESETS.find((p) => {
    const r = lastDays(p.days);
    return r.from === range.from && r.to === range.to;
  })?.days;
  const aiShare = summary && summary.ai_replies + summary.handoffs > 0
    ? Math.round((summary.ai_replies / (summary.ai_replies + summary.handoffs)) * 100)
    : null;

  return (
    <PageContainer
      title="Analytics"
      description="Messages, AI replies, handoffs, response times and cost, per UTC day. Updates live."
    >
      <div className="flex flex-col gap-6">
        <Card>
          <CardBody>
            <form onSubmit={apply} className="flex flex-col gap-3 lg:flex-row lg:items-end" aria-label="Date range" noValidate>
              <div className="flex flex-wrap gap-1" role="group" aria-label="Quick ranges">
                {PRESETS.map((p) => (
                  <Button
                    key={p.days}
                    size="sm"
                    variant={activePreset === p.days ? "primary" : "secondary"}
                    aria-pressed={activePreset === p.days}
                    onClick={() => preset(p.days)}
                  >
                    {p.label}
                  </Button>
                ))}
              </div>
              <div className="grid flex-1 grid-cols-2 gap-3 sm:flex sm:items-end lg:justify-end">
                <Input
                  label="From"
                  type="date"
                  name="from"
                  value={draft.from}
                  max={draft.to || undefined}
                  onChange={(e) => setDraft({ ...draft, from: e.target.value })}
                  className="sm:w-40"
                />
                <Input
                  label="To"
                  type="date"
                  name="to"
                  value={draft.to}
                  min={draft.from || undefined}
                  onChange={(e) => setDraft({ ...draft, to: e.target.value })}
                  className="sm:w-40"
                />
                <Button type="submit" variant="secondary" className="col-span-2 sm:col-span-1" loading={loading}>
                  Apply
                </Button>
              </div>
            </form>
            {shownRangeError && (
              <p role="alert" className="mt-2 text-sm text-red-600">
                {shownRangeError}
              </p>
            )}
          </CardBody>
        </Card>

        {error && !summary ? (
          <Card>
            <ErrorState error={error} title="Could not load the analytics" onRetry={() => void load()} />
          </Card>
        ) : (
          <>
            <section
              aria-label="Summary"
              aria-busy={loading}
              className={cn("grid grid-cols-2 gap-3 transition-opacity md:grid-cols-4", loading && summary && "opacity-60")}
            >
              <Figure label="Messages in" value={summary && formatCount(summary.messages_in)} testId="fig-messages-in" />
              <Figure label="Messages out" value={summary && formatCount(summary.messages_out)} testId="fig-messages-out" />
              <Figure label="Conversations" value={summary && formatCount(summary.conversations)} testId="fig-conversations" />
              <Figure
                label="AI replies"
                value={summary && formatCount(summary.ai_replies)}
                note={aiShare !== null ? `${aiShare}% answered by the AI` : undefined}
                testId="fig-ai-replies"
              />
              <Figure label="Handoffs" value={summary && formatCount(summary.handoffs)} testId="fig-handoffs" />
              <Figure
                label="First response"
                value={summary && formatDuration(summary.median_first_response_ms)}
                note={summary ? `median · p95 ${formatDuration(summary.p95_first_response_ms)}` : undefined}
                testId="fig-first-response"
              />
              <Figure
                label="Tokens"
                value={summary && formatCompact(summary.tokens_in + summary.tokens_out)}
                note={summary ? `${formatCount(summary.tokens_in)} in · ${formatCount(summary.tokens_out)} out` : undefined}
                testId="fig-tokens"
              />
              <Figure
                label="LLM cost"
                value={summary && (summary.cost_usd === null ? "Unknown" : formatUsd(summary.cost_usd))}
                note={
                  summary?.unpriced_replies
                    ? `${formatCount(summary.unpriced_replies)} replies with an unknown price`
                    : undefined
                }
                testId="fig-cost"
              />
            </section>
            {error != null && summary && (
              <p role="alert" className="text-sm text-red-600">
                Could not refresh: {errorMessage(error)}
              </p>
            )}

            <div className={cn("grid gap-4 transition-opacity lg:grid-cols-2", loading && days && "opacity-60")}>
              <ChartCard title="Messages" loading={days === null}>
                {days && (
                  <TimeSeriesChart
                    title="Messages per day"
                    rows={days}
                    series={[
                      { key: "messages_in", label: "In (customers)", color: "#0ea5e9" },
                      { key: "messages_out", label: "Out (AI and agents)", color: "#10b981" },
                    ]}
                    format={formatCompact}
                  integers
                  />
                )}
              </ChartCard>
              <ChartCard title="AI replies vs handoffs" loading={days === null}>
                {days && (
                  <TimeSeriesChart
                    title="AI replies and handoffs per day"
                    kind="bar"
                    rows={days}
                    series={[
                      { key: "ai_replies", label: "AI replies", color: "#10b981" },
                      { key: "handoffs", label: "Handoffs", color: "#f59e0b" },
                    ]}
                    format={formatCompact}
                  integers
                  />
                )}
              </ChartCard>
              <ChartCard title="Tokens" loading={days === null}>
                {days && (
                  <TimeSeriesChart
                    title="LLM tokens per day"
                    kind="bar"
                    rows={days}
                    series={[
                      { key: "tokens_in", label: "Tokens in (prompt)", color: "#8b5cf6" },
                      { key: "tokens_out", label: "Tokens out (reply)", color: "#ec4899" },
                    ]}
                    format={formatCompact}
                  integers
                  />
                )}
              </ChartCard>
              <ChartCard title="Cost" loading={days === null}>
                {days && (
                  <TimeSeriesChart
                    title="LLM cost per day (USD)"
                    rows={days}
                    series={[{ key: "cost_usd", label: "Cost (USD)", color: "#64748b" }]}
                    format={(v) => formatUsd(v)}
                  />
                )}
              </ChartCard>
              <ChartCard title="First response time" loading={responses === null} className="lg:col-span-2">
                {responses && responses.length === 0 ? (
                  <div>
                    <p className="mb-2 text-sm font-semibold text-zinc-900">First response time</p>
                    <p className="text-sm text-zinc-500">No customer message was answered in this range.</p>
                  </div>
                ) : (
                  responses && (
                    <TimeSeriesChart
                      title="First response time (median and 95th percentile)"
                      rows={responses}
                      series={[
                        { key: "median_first_response_ms", label: "Median", color: "#0ea5e9" },
                        { key: "p95_first_response_ms", label: "95th percentile", color: "#a855f7" },
                      ]}
                      format={formatDuration}
                    />
                  )
                )}
              </ChartCard>
            </div>
            <CsatPanel query={query} summary={summary} />
          </>
        )}
      </div>
    </PageContainer>
  );
}

function Figure({
  label,
  value,
  note,
  testId,
}: {
  label: string;
  value: string | null | undefined | false;
  note?: string;
  testId: string;
}) {
  return (
    <Card className="px-4 py-3">
      <p className="text-xs font-medium text-zinc-500">{label}</p>
      {value ? (
        <p className="mt-1 text-2xl font-semibold tracking-tight text-zinc-900 tabular-nums" data-testid={testId}>
          {value}
        </p>
      ) : (
        <Skeleton className="mt-2 h-7 w-20" />
      )}
      {note && <p className="mt-0.5 truncate text-xs text-zinc-500">{note}</p>}
    </Card>
  );
}

function ChartCard({
  title,
  loading,
  children,
  className,
}: {
  title: string;
  loading: boolean;
  children: ReactNode;
  className?: string;
}) {
  return (
    <Card className={cn("min-w-0", className)}>
      <CardBody>
        {loading ? (
          <div aria-busy aria-label={`Loading ${title}`}>
            <p className="mb-2 text-sm font-medium text-zinc-700">{title}</p>
            <Skeleton className="h-[200px] w-full" />
          </div>
        ) : (
          children
        )}
      </CardBody>
    </Card>
  );
}
