"""How well scores rank leads: plain Python, so every figure can be checked by hand."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median
from typing import Any


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """The probability that a random converter scores above a random non-converter (ties
    count half): the Mann-Whitney U statistic over n_pos × n_neg."""
    pos = sum(1 for y in labels if y)
    neg = len(labels) - pos
    if not pos or not neg:
        raise ValueError("AUC needs converters and non-converters")
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        mid_rank = (i + j) / 2 + 1  # ranks are 1-based; tied scores share their average rank
        rank_sum += mid_rank * sum(1 for k in order[i : j + 1] if labels[k])
        i = j + 1
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def ranked(scores: Sequence[float]) -> list[int]:
    """Indexes from the highest score down; equal scores keep their input order."""
    return sorted(range(len(scores)), key=lambda i: -scores[i])


def deciles(scores: Sequence[float], labels: Sequence[bool], parts: int = 10) -> list[dict[str, Any]]:
    """Leads ranked by score and cut into `parts` groups as equal as possible (the first
    groups take the remainder): size, converters, conversion rate, lift over the base rate."""
    n = len(scores)
    base = sum(labels) / n
    order = ranked(scores)
    out, start = [], 0
    for d in range(parts):
        size = n // parts + (1 if d < n % parts else 0)
        idx = order[start : start + size]
        start += size
        conv = sum(1 for i in idx if labels[i])
        rate = conv / size if size else 0.0
        out.append({"decile": d + 1, "leads": size, "converted": conv, "conversion": rate,
                    "lift": rate / base if base else 0.0,
                    "min_score": min((scores[i] for i in idx), default=None),
                    "max_score": max((scores[i] for i in idx), default=None)})
    return out


def by_group(groups: Sequence[str], labels: Sequence[bool], order: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Conversion per group (grade, band, stage), in `order` (else by name)."""
    counts: dict[str, list[int]] = {}
    for g, y in zip(groups, labels):
        c = counts.setdefault(g, [0, 0])
        c[0] += 1
        c[1] += bool(y)
    names = [g for g in (order or sorted(counts)) if g in counts]
    return [{"group": g, "leads": counts[g][0], "converted": counts[g][1], "conversion": counts[g][1] / counts[g][0]}
            for g in names]


def selection(selected: Sequence[bool], labels: Sequence[bool]) -> dict[str, Any]:
    """A threshold's volume (leads selected), precision (their conversion) and recall (share of all converters)."""
    n, total_pos = len(labels), sum(labels)
    volume = sum(selected)
    hits = sum(1 for s, y in zip(selected, labels) if s and y)
    return {"volume": volume, "share": volume / n if n else 0.0, "converted": hits,
            "precision": hits / volume if volume else None, "recall": hits / total_pos if total_pos else None}


def quantiles(values: Sequence[float], qs: Sequence[float] = (0.1, 0.25, 0.5, 0.75, 0.9)) -> dict[str, float | None]:
    """Nearest-rank quantiles (no interpolation: each is a score some lead has)."""
    if not values:
        return {f"p{round(q * 100)}": None for q in qs}
    s = sorted(values)
    return {f"p{round(q * 100)}": s[min(len(s) - 1, max(0, int(-(-q * len(s) // 1)) - 1))] for q in qs}


def days_to_convert(created: Sequence[Any], converted: Sequence[Any], groups: Sequence[str],
                    order: Sequence[str]) -> dict[str, Any] | None:
    """Median days from creation to conversion, overall and per group, for leads with both dates."""
    pairs = [((c2 - c1).total_seconds() / 86400, g) for c1, c2, g in zip(created, converted, groups) if c1 and c2 and c2 >= c1]
    if not pairs:
        return None
    per = {g: [d for d, gg in pairs if gg == g] for g in order}
    return {"leads": len(pairs), "median_days": median(d for d, _ in pairs),
            "by_group": [{"group": g, "leads": len(ds), "median_days": median(ds)} for g, ds in per.items() if ds]}
