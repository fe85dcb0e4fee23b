"use client";

import { errorMessage } from "@/lib/api";
import { csatByAgent, formatPercent } from "@/lib/business-hours.mjs";
import { formatCount } from "@/lib/figures";
import { useList } from "@/lib/hooks/useList";
import { useResource } from "@/lib/hooks/useResource";
import { optional } from "@/lib/settings-api";
import type { CsatReport, Label } from "@/lib/settings-types";
import type { User } from "@/lib/types";
import { Card, CardBody, CardHeader, Skeleton } from "@/components/ui";

/**
 * CSAT for the range (`GET /api/analytics/csat`: overall, per agent, AI- vs human-resolved)
 * and the label counts. The summary's `csat_responses`/`csat_percent` come from the page; the
 * report route may not exist yet on the responder (404): its figures are then dashes.
 */
export function CsatPanel({ query, summary }: { query: string; summary: { csat_responses?: number | null; csat_percent?: number | null } | null }) {
  const csat = useResource(`/api/analytics/csat?${query}`, { load: optional<CsatReport> });
  // undefined: loading; null: not offered (404), or not read.
  const report = csat.loading ? undefined : csat.data;
  const error = csat.error ? errorMessage(csat.error) : null;
  const members = useList<User>("/api/team/members").items ?? [];
  const labelList = useList<Label>("/api/labels");
  const labels = labelList.error ? [] : labelList.items;

  const responses = summary?.csat_responses ?? report?.responses ?? null;
  const percent = summary?.csat_percent ?? report?.percent ?? null;
  const agents = report ? csatByAgent(report.by_agent, members) : [];
  const maxCount = Math.max(1, ...(labels ?? []).map((l) => l.conversation_count));
  return (
    <div className="grid gap-4 lg:grid-cols-2">
      <Card>
        <CardHeader title="Customer satisfaction" description="Ratings customers gave when their conversation was resolved." />
        <CardBody className="flex flex-col gap-4">
          <div className="grid grid-cols-3 gap-3">
            <Stat label="CSAT" value={formatPercent(percent)} note={responses != null ? `${formatCount(responses)} ratings` : "no ratings"} testId="fig-csat" />
            <Stat
              label="Resolved by the AI"
              value={report === undefined ? null : formatPercent(report?.ai.percent)}
              note={report ? `${formatCount(report.ai.responses)} ratings` : undefined}
              testId="fig-csat-ai"
            />
            <Stat
              label="Resolved by people"
              value={report === undefined ? null : formatPercent(report?.human.percent)}
              note={report ? `${formatCount(report.human.responses)} ratings` : undefined}
              testId="fig-csat-human"
            />
          </div>
          {error && <p className="text-sm text-red-600">Could not load the CSAT report: {error}</p>}
          {report && agents.length > 0 && (
            <table className="w-full text-sm" aria-label="CSAT by agent">
              <thead>
                <tr className="text-left text-xs text-zinc-500">
                  <th className="py-1 font-medium">Agent</th>
                  <th className="py-1 text-right font-medium">Ratings</th>
                  <th className="py-1 text-right font-medium">CSAT</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-zinc-100">
                {agents.map((a) => (
                  <tr key={a.agent_id}>
                    <td className="py-1.5 text-zinc-900">{a.name}</td>
                    <td className="py-1.5 text-right tabular-nums text-zinc-700">{formatCount(a.responses)}</td>
                    <td className="py-1.5 text-right tabular-nums text-zinc-900">{a.percent}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {report === null && !error && <p className="text-xs text-zinc-500">Per-agent CSAT is not available on this installation yet.</p>}
        </CardBody>
      </Card>
      <Card>
        <CardHeader title="Labels" description="Conversations carrying each label now." />
        <CardBody>
          {labels === null ? (
            <Skeleton className="h-20 w-full" />
          ) : labels.length === 0 ? (
            <p className="text-sm text-zinc-500">No labels yet: create them in Inbox settings.</p>
          ) : (
            <ul className="flex flex-col gap-2" aria-label="Label counts">
              {labels.map((l) => (
                <li key={l.id} className="flex items-center gap-3 text-sm" data-testid="label-count-row">
                  <span className="w-32 shrink-0 truncate text-zinc-800">{l.name}</span>
                  <span className="h-2.5 flex-1 overflow-hidden rounded-full bg-zinc-100" aria-hidden>
                    <span className="block h-full rounded-full" style={{ width: `${(l.conversation_count / maxCount) * 100}%`, backgroundColor: l.color }} />
                  </span>
                  <span className="w-10 text-right tabular-nums text-zinc-700">{formatCount(l.conversation_count)}</span>
                </li>
              ))}
            </ul>
          )}
        </CardBody>
      </Card>
    </div>
  );
}

function Stat({ label, value, note, testId }: { label: string; value: string | null; note?: string; testId: string }) {
  return (
    <div>
      <p className="text-xs font-medium text-zinc-500">{label}</p>
      {value === null ? (
        <Skeleton className="mt-2 h-7 w-14" />
      ) : (
        <p className="mt-1 text-2xl font-semibold tracking-tight text-zinc-900 tabular-nums" data-testid={testId}>
          {value}
        </p>
      )}
      {note && <p className="mt-0.5 text-xs text-zinc-500">{note}</p>}
    </div>
  );
}
