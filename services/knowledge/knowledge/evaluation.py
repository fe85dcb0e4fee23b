"""Retrieval evaluation over a set of documents and questions (the kb-dev-eval format).

Used by `bench/knowledge_dev_eval.py` (make bench) and by the test that guards retrieval
quality. Scoring matches kb-dev-eval's eval.py: a result is a hit when its text holds every
`must_contain` phrase after NFKC, whitespace collapsing and case-folding; MRR over the top 5;
AUC of the top-1 score, answerable vs unanswerable ("no results" scores -inf).
"""

import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEV_SET = Path(__file__).resolve().parents[1] / "tests" / "data" / "kb_dev_eval"


def norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")
    return re.sub(r"\s+", " ", text).strip().casefold()


def is_hit(text: str, phrases: Iterable[str]) -> bool:
    phrases = list(phrases)
    folded = norm(text)
    return bool(phrases) and all(norm(p) in folded for p in phrases)


def load_questions(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@dataclass(frozen=True)
class Outcome:
    """One question's result: rank of the first hit in the top 5 (None: missed), top-1 score."""

    question: dict[str, Any]
    rank: int | None
    top1: float | None


def outcome(question: dict[str, Any], results: list[tuple[str, float]]) -> Outcome:
    """`results`: (text, score) best first."""
    rank = None
    if question.get("answerable"):
        for i, (text, _) in enumerate(results[:5]):
            if is_hit(text, question["must_contain"]):
                rank = i + 1
                break
    return Outcome(question, rank, results[0][1] if results else None)


def _rates(outcomes: list[Outcome]) -> dict[str, float]:
    n = len(outcomes) or 1
    ranks = [o.rank for o in outcomes]
    return {
        "n": len(outcomes),
        "hit@1": sum(1 for r in ranks if r == 1) / n,
        "hit@3": sum(1 for r in ranks if r and r <= 3) / n,
        "hit@5": sum(1 for r in ranks if r) / n,
        "mrr": sum(1 / r for r in ranks if r) / n,
    }


def separation(outcomes: list[Outcome]) -> dict[str, float]:
    """AUC of the top-1 score and the threshold that best balances kept vs refused."""
    inf = -math.inf
    kept = [o.top1 if o.top1 is not None else inf for o in outcomes if o.question["answerable"]]
    refused = [
        o.top1 if o.top1 is not None else inf for o in outcomes if not o.question["answerable"]
    ]
    if not kept or not refused:
        return {"auc": float("nan")}
    pairs = sum(1.0 if a > u else 0.5 if a == u else 0.0 for a in kept for u in refused)
    best = (-1.0, 0.0, 0.0, 0.0)
    for t in sorted({x for x in kept + refused if x != inf}):
        tpr = sum(1 for a in kept if a >= t) / len(kept)
        tnr = sum(1 for u in refused if u < t) / len(refused)
        if (tpr + tnr) / 2 > best[0]:
            best = ((tpr + tnr) / 2, t, tpr, tnr)
    return {
        "auc": pairs / (len(kept) * len(refused)),
        "best_threshold": best[1],
        "best_kept": best[2],
        "best_refused": best[3],
    }


def at_threshold(outcomes: list[Outcome], threshold: float) -> tuple[float, float]:
    """(share of answerable questions kept, share of unanswerable refused) at `threshold`."""
    kept = [o for o in outcomes if o.question["answerable"]]
    refused = [o for o in outcomes if not o.question["answerable"]]
    return (
        sum(1 for o in kept if (o.top1 or -1) >= threshold) / max(len(kept), 1),
        sum(1 for o in refused if (o.top1 or -1) < threshold) / max(len(refused), 1),
    )


def report(outcomes: list[Outcome]) -> dict[str, Any]:
    answerable = [o for o in outcomes if o.question["answerable"]]

    def grouped(key: Callable[[Outcome], str]) -> dict[str, dict[str, float]]:
        groups: dict[str, list[Outcome]] = {}
        for o in answerable:
            groups.setdefault(key(o), []).append(o)
        return {k: _rates(v) for k, v in sorted(groups.items())}

    return {
        "all": _rates(answerable),
        "kind": grouped(lambda o: o.question["kind"]),
        "source": grouped(lambda o: o.question["source"]),
        "separation": separation(outcomes),
    }


def format_report(rep: dict[str, Any], threshold: float | None = None) -> str:
    lines = [f"  {'':<28}{'n':>4}{'hit@1':>8}{'hit@3':>8}{'hit@5':>8}{'MRR':>8}"]

    def row(label: str, r: dict[str, float]) -> None:
        lines.append(
            f"  {label:<28}{r['n']:>4}{r['hit@1']:>8.2f}{r['hit@3']:>8.2f}"
            f"{r['hit@5']:>8.2f}{r['mrr']:>8.2f}"
        )

    row("ALL answerable", rep["all"])
    for k, r in rep["kind"].items():
        row("  " + k, r)
    for k, r in rep["source"].items():
        row("  " + k, r)
    sep = rep["separation"]
    lines.append(
        f"  AUC {sep['auc']:.2f}; best threshold {sep.get('best_threshold', 0):.3f} keeps "
        f"{sep.get('best_kept', 0):.0%} of answerable, refuses {sep.get('best_refused', 0):.0%}"
        " of unanswerable"
    )
    if threshold is not None and "at_threshold" in rep:
        kept, refused = rep["at_threshold"]
        lines.append(
            f"  at the documented threshold {threshold}: keeps {kept:.0%}, refuses {refused:.0%}"
        )
    return "\n".join(lines)
