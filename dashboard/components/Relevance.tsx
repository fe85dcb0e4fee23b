import { Badge, type Tone } from "@/components/ui";

// The knowledge service calibrates scores: below ~0.3 nothing relevant, above ~0.6 a clear match.
export function relevance(score: number): { label: string; tone: Tone } {
  if (score >= 0.6) return { label: "clear match", tone: "green" };
  if (score >= 0.3) return { label: "partial match", tone: "amber" };
  return { label: "weak", tone: "neutral" };
}

/** A score as a small bar plus its value and meaning. */
export function RelevanceScore({ score }: { score: number }) {
  const pct = Math.round(Math.min(1, Math.max(0, score)) * 100);
  const rel = relevance(score);
  return (
    <span className="inline-flex items-center gap-2" title={`Relevance ${score.toFixed(3)}: ${rel.label}`}>
      <span aria-hidden className="inline-block h-1.5 w-16 overflow-hidden rounded-full bg-zinc-100">
        <span
          className={`block h-full ${score >= 0.6 ? "bg-emerald-500" : score >= 0.3 ? "bg-amber-400" : "bg-zinc-400"}`}
          style={{ width: `${pct}%` }}
        />
      </span>
      <Badge tone={rel.tone}>
        {score.toFixed(2)} · {rel.label}
      </Badge>
    </span>
  );
}
