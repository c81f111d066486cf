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
    """Leads ranked by score and cut into at most `parts` groups, with every score kept in one
    group: leads with equal scores are never split by input order, so a group's score range never
    overlaps another's. Groups end where the equal cut would (sizes n // parts, the first groups
    taking the remainder) or, when a tie runs across that cut, at the end of the tie; a group
    can then hold more than its tenth, and fewer groups come out (no empty ones). Each group:
    its number (1 = the highest scores), size, share of the leads and the ranks it covers (as
    shares: `from_share` to `to_share`), converters, conversion rate, lift over the base rate,
    and its lowest and highest score."""
    n = len(scores)
    base = sum(labels) / n if n else 0.0
    order = ranked(scores)
    cuts, at = [], 0
    for d in range(parts):
        at += n // parts + (1 if d < n % parts else 0)
        cuts.append(at)
    out: list[dict[str, Any]] = []
    start = 0
    while start < n:
        end = next(c for c in cuts if c > start)
        while end < n and scores[order[end]] == scores[order[end - 1]]:
            end += 1  # the tie at the cut stays whole
        idx = order[start:end]
        conv = sum(1 for i in idx if labels[i])
        rate = conv / len(idx)
        out.append({"decile": len(out) + 1, "leads": len(idx), "share": len(idx) / n,
                    "from_share": start / n, "to_share": end / n, "converted": conv, "conversion": rate,
                    "lift": rate / base if base else 0.0,
                    "min_score": min(scores[i] for i in idx), "max_score": max(scores[i] for i in idx)})
        start = end
    return out


def auc_interval(scores: Sequence[float], labels: Sequence[bool], *, resamples: int = 1000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float] | None:
    """A bootstrap confidence interval for the ROC AUC (percentile method): converters and
    non-converters are each resampled with replacement (stratified, so every resample has both),
    and the interval holds the middle `level` of the resampled AUCs. Seeded: the same data gives
    the same interval. None without both classes."""
    import numpy as np

    y = np.asarray(labels, dtype=bool)
    pos_n, neg_n = int(y.sum()), int((~y).sum())
    if not pos_n or not neg_n:
        return None
    levels, level_of = np.unique(np.asarray(scores, dtype=float), return_inverse=True)
    pos_idx, neg_idx = level_of[y], level_of[~y]
    rng = np.random.default_rng(seed)
    aucs = np.empty(resamples)
    for b in range(resamples):
        pos = np.bincount(pos_idx[rng.integers(0, pos_n, pos_n)], minlength=len(levels))
        neg = np.bincount(neg_idx[rng.integers(0, neg_n, neg_n)], minlength=len(levels))
        below = np.cumsum(neg) - neg  # non-converters strictly below each score level
        aucs[b] = (pos * below).sum() + 0.5 * (pos * neg).sum()
    aucs /= pos_n * neg_n
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(aucs, [tail, 100 - tail])
    return float(lo), float(hi)


def calibration(predicted: Sequence[float], labels: Sequence[bool], groups: Sequence[Sequence[int]]) -> list[dict[str, Any]]:
    """Predicted against actual conversion in each group of leads (indexes): the mean predicted
    probability and the share that converted."""
    out = []
    for k, idx in enumerate(groups):
        if not idx:
            continue
        out.append({"group": k + 1, "leads": len(idx), "predicted": sum(predicted[i] for i in idx) / len(idx),
                    "actual": sum(1 for i in idx if labels[i]) / len(idx)})
    return out


def decile_members(scores: Sequence[float], deciles_: Sequence[dict[str, Any]]) -> list[list[int]]:
    """The indexes of the leads in each group `deciles` made (same ranking, same cuts)."""
    order = ranked(scores)
    out, start = [], 0
    for d in deciles_:
        out.append(order[start:start + d["leads"]])
        start += d["leads"]
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
