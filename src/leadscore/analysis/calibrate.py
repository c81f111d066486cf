"""`leadscore calibrate`: points learned from outcomes, written as a model file the engine uses unchanged.

1. Features a person can read, each one rule of the model:
   - a categorical fact: one fit rule per value held by at least `min_category` leads
     (`lead_source in [Reference]`), one "other" rule for the rarer values (`not_in` the
     others) and one for "not answered" (`exists: false`); `min_category` is the mapping's
     `min_category_leads`, or the size of CATEGORY_GRID with the best cross-validated AUC;
   - a numeric fact: steps `fact >= edge` at NUMERIC_STEPS quantiles, and one for "not answered";
     the steps' points add up to a step function, written as one interval rule (`gte`/`lt`) per
     level, so steps of 0 points cost nothing;
   - a count of events: hinge features min(n, k) at knots k from the data's quantiles; each is
     an engagement rule `on: <type>, points: w, cap: |w|·k`, so together they draw any
     piecewise-linear curve of the count (the engine's caps are symmetric, so this is exact);
   - an amount: hinges min(v, k)/k, as `points_per: {field: amount, unit: k}, cap: |w|`;
   - a category of events: one rule per frequent type (`cap: |w|`: the event counts once).
   Events dated by the mapping's `at:` columns count decayed to the lead's latest event.
2. An L2-regularized logistic regression on those features (standardized), its strength chosen
   by stratified 5-fold cross-validation (the mapping's `cv_folds`) on ROC AUC (scikit-learn): the additive model. Then
   interactions, RuleFit's way: shallow trees fitted to what the additive fit leaves propose fit
   rules of two or three conditions (`when` on two or three facts). A relaxed lasso over every
   candidate (L1 chooses at most MAX_RULES rules, L2 refits them), cross-validated with the
   choosing inside each fold, replaces the additive model only if it beats it by INTERACTION_GAIN
   on average and in all folds but FOLDS_LOST. At most MAX_RULES rules are written (values of a category
   with equal points share one `in:` rule; beyond that the weakest rules go).
3. Coefficients become integer points: `POINTS_PER_LOGIT` points per unit of log-odds (20 points
   double the odds), rounded; a rule whose points round to 0 is left out.
4. MQL and SQL thresholds from a target, chosen on the out-of-fold scores (not on the leads the
   points were fitted to): the lowest score whose leads reach the precision asked for, or the
   score above which the share (or monthly volume) of leads asked for lies.
5. Grades and bands from the quantiles of fit, engagement and total among the leads (without
   engagement rules, every lead engagement grade 4: the grade is the fit letter).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from .dataset import HistoricLead
from .mapping import Mapping, snake

MQL_AT = 50  # the calibrated scale puts the MQL threshold here
MIN_LEADS = 200
MIN_PER_CLASS = 50
POINTS_PER_LOGIT = 20 / math.log(2) / 2  # 10 points per doubling of the odds → 20 points ≈ ×4
C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
FOLDS = 5


class CalibrationError(Exception):
    pass


@dataclass
class Feature:
    section: str  # fit | engagement
    rule_id: str
    column: str
    describe: str  # what the rule says, in words
    value: Callable[[HistoricLead], float]
    rule: Callable[[int], dict[str, Any]]  # points -> the rule's YAML fields (without id, points)
    fact: str | None = None  # a one-value category rule: its fact and value (rules of equal points merge)
    category: Any = None
    interaction: bool = False  # a rule of two or three conditions, found by the trees
    step: tuple[str, float] | None = None  # a numeric fact's step `fact >= edge` (steps are written as intervals)
    cents: Callable[[HistoricLead, int], int] | None = None  # an engagement rule of `points`: its cents, as the engine adds them


@dataclass
class Target:
    """How to place a threshold: by precision, by share of leads, or by leads per month."""

    precision: float | None = None
    share: float | None = None
    per_month: float | None = None

    def describe(self) -> str:
        if self.precision is not None:
            return f"precision {self.precision:.0%}"
        if self.share is not None:
            return f"the top {self.share:.1%} of leads"
        return f"{self.per_month:g} leads a month"


@dataclass
class Calibration:
    text: str  # the model file
    cv_auc: float
    cv_auc_sd: float
    c: float
    features: int
    rules: int
    mql: float
    sql: float
    notes: list[str] = field(default_factory=list)
    terms: list[tuple[Feature, int]] = field(default_factory=list, repr=False)  # the written rules, baseline aside
    offset: int = 0  # the baseline every lead starts at
    min_category: int = 0  # leads a category value needed for a rule of its own
    interactions: int = 0  # rules of two or three conditions among the written ones

    def score(self, lead: HistoricLead) -> float:
        """The fitted score of a lead, rule by rule in whole cents as the engine rounds them."""
        cents = round(self.offset * 100) + sum(f.cents(lead, p) if f.cents else round(p * f.value(lead) * 100)
                                               for f, p in self.terms)
        return cents / 100


def _engine_cents(lead: HistoricLead, type_: str, each: float, n: int, cap: float, half_life_days: float) -> int:
    """The cents an engagement rule gives a lead: `n` events of `type_`, `each` points apiece, decayed
    from their time to the lead's `scored_at` and capped, in the engine's own arithmetic (integer
    units at the era's base, then one factor), so that a score at an exact half (10 points three
    half-lives old is 1.25) rounds as the engine rounds it."""
    from scoring_core.decay import Decay

    if not n:
        return 0
    decay = Decay(half_life_days * 86400.0)
    era, units = decay.increment(lead.event_time(type_).timestamp(), each)
    value = decay.value(era, units * n, lead.scored_at.timestamp())
    return round(max(-cap, min(cap, value)) * 100)


def check_size(leads: list[HistoricLead]) -> None:
    pos = sum(1 for lead in leads if lead.converted)
    neg = len(leads) - pos
    if len(leads) < MIN_LEADS or pos < MIN_PER_CLASS or neg < MIN_PER_CLASS:
        raise CalibrationError(
            f"too little data to learn points from: {len(leads)} leads, {pos} converted, {neg} not; "
            f"calibrate needs at least {MIN_LEADS} leads with at least {MIN_PER_CLASS} converted and "
            f"{MIN_PER_CLASS} not converted")


def _unique_id(base: str, taken: set[str]) -> str:
    base = snake(base)[:60].rstrip("_")
    rule_id, n = base, 2
    while rule_id in taken:
        rule_id = f"{base[:57]}_{n}"
        n += 1
    taken.add(rule_id)
    return rule_id


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _knots(values: list[float], integer: bool) -> list[float]:
    """Up to 5 knots at the quantiles of the positive values (and 1 for counts)."""
    pos = sorted(v for v in values if v > 0)
    if not pos:
        return []
    qs = [pos[min(len(pos) - 1, int(q * len(pos)))] for q in (0.2, 0.4, 0.6, 0.8)]
    knots = ([1.0] if integer else []) + [float(round(q)) if integer else float(q) for q in qs]
    return sorted({k for k in knots if k > 0})


def _bin_edges(values: list[float], parts: int = 5) -> list[float]:
    """Cuts at the quantiles k/parts of the values (each cut some lead's own value)."""
    s = sorted(values)
    if not s:
        return []
    cuts = sorted({s[min(len(s) - 1, int(k / parts * len(s)))] for k in range(1, parts)})
    return [c for c in cuts if c > s[0]]  # a cut at the minimum would leave an empty first bin


def _number(x: float) -> int | float:
    """A number for the model file, exactly: a bin edge is some lead's own value, and rounding it
    would move that lead into the next bin (Python's float repr round-trips)."""
    return int(x) if float(x).is_integer() else float(x)


def _short(x: float) -> str:
    """A number for names and comments."""
    return str(int(x)) if float(x).is_integer() else f"{x:.6g}"


def _holds(when: dict[str, dict[str, Any]], facts: dict[str, Any]) -> bool:
    """A fit rule's `when` on a lead's facts, with the engine's semantics for the operators
    calibrate writes (text without case; a missing fact satisfies only `exists: false`)."""
    for fact, cond in when.items():
        value = facts.get(fact)
        if "exists" in cond and cond["exists"] != (value is not None):
            return False
        if value is None:
            if set(cond) - {"exists"}:
                return False
            continue
        if "in" in cond and _fold(value) not in {_fold(v) for v in cond["in"]}:
            return False
        if "not_in" in cond and _fold(value) in {_fold(v) for v in cond["not_in"]}:
            return False
        if "gte" in cond and not value >= cond["gte"]:
            return False
        if "lt" in cond and not value < cond["lt"]:
            return False
    return True


def _fit_feature(rule_id: str, column: str, describe: str, when: dict[str, dict[str, Any]], **kw: Any) -> Feature:
    return Feature("fit", rule_id, column, describe, lambda lead, w=when: float(_holds(w, lead.facts)),
                   lambda p, w=when: {"when": {f: (c["in"] if set(c) == {"in"} else dict(c)) for f, c in w.items()}},
                   **kw)


def default_min_support(n: int) -> int:
    return max(20, n // 100)


def build_features(leads: list[HistoricLead], mapping: Mapping, min_support: int | None = None,
                   min_category: int | None = None) -> list[Feature]:
    """Every candidate rule with enough leads on both sides to learn from. A category value
    held by fewer than `min_category` leads (default: `min_support`) gets no rule of its own:
    such values are pooled into one "other" rule (`not_in` the values that have one)."""
    n = len(leads)
    support = min_support or default_min_support(n)
    category_support = min_category or support
    taken: set[str] = set()
    out: list[Feature] = []
    half_life = _number(mapping.half_life_days)
    days = float(mapping.half_life_days)  # events with `at:` dates have decayed by the time the lead is scored

    def usable(count: int) -> bool:
        return support <= count <= n - support

    for col in mapping.facts:
        fact = col.fact
        present = [lead.facts[fact] for lead in leads if fact in lead.facts]
        missing = n - len(present)
        if usable(missing):
            out.append(_fit_feature(_unique_id(f"{fact}_missing", taken), col.column, f"{col.column}: not answered",
                                    {fact: {"exists": False}}))
        if col.numeric:
            # steps `fact >= edge` at NUMERIC_STEPS quantiles: their points add up to a step function of
            # the number, written as one interval rule per level (steps of 0 points join their neighbours)
            for edge in _bin_edges(present, NUMERIC_STEPS):
                count = sum(1 for v in present if v >= edge)
                if not usable(count):
                    continue
                e = _number(edge)
                name = f"{fact}_{_short(e)}_up".replace(".", "_").replace("-", "m")
                out.append(_fit_feature(_unique_id(name, taken), col.column, f"{col.column}: {_short(e)} or more",
                                        {fact: {"gte": e}}, step=(fact, float(edge))))
        else:
            # the engine compares text without case (`in: [Pro]` matches "pro"): so do the features
            spellings = Counter(present)
            own, pooled = [], 0
            for key, count in Counter(_fold(v) for v in present).most_common():
                if not (category_support <= count <= n - support):
                    pooled += count
                    continue
                value = max((v for v in spellings if _fold(v) == key), key=lambda v: spellings[v])  # the usual spelling
                own.append(value)
                out.append(_fit_feature(_unique_id(f"{fact}_{value}", taken), col.column, f"{col.column}: {value}",
                                        {fact: {"in": [value]}}, fact=fact, category=value))
            if own and pooled and usable(pooled):
                out.append(_fit_feature(_unique_id(f"{fact}_other", taken), col.column,
                                        f"{col.column}: any other value (each held by fewer than {category_support} leads)",
                                        {fact: {"not_in": list(own)}}))

    for col in mapping.events:
        if col.kind == "category":
            types = Counter(lead.categories[col.column] for lead in leads if col.column in lead.categories)
            for type_, count in types.most_common():
                if not usable(count):
                    continue
                out.append(Feature("engagement", _unique_id(type_, taken), col.column, f"{col.column}: {type_}",
                                   lambda lead, t=type_: min(lead.counts.get(t, 0) * lead.decay(t, days), 1.0),
                                   lambda p, t=type_: {"on": t, "cap": abs(p), "half_life_days": half_life},
                                   cents=lambda lead, p, t=type_: _engine_cents(lead, t, p, lead.counts.get(t, 0),
                                                                                abs(p), days)))
            continue
        type_ = col.event  # type: ignore[assignment]
        if col.kind == "count":
            values = [float(lead.counts.get(type_, 0)) for lead in leads]
            for k in _knots(values, integer=True):
                if not usable(sum(1 for v in values if v > 0)):
                    break
                out.append(Feature("engagement", _unique_id(f"{type_}_first_{_short(k)}", taken), col.column,
                                   f"{col.column}: each of the first {_short(k)}",
                                   lambda lead, t=type_, k=k: float(min(lead.counts.get(t, 0) * lead.decay(t, days), k)),
                                   lambda p, k=k, t=type_: {"on": t, "cap": abs(p) * _number(k), "half_life_days": half_life},
                                   cents=lambda lead, p, t=type_, k=k: _engine_cents(lead, t, p, lead.counts.get(t, 0),
                                                                                     abs(p) * _number(k), days)))
        else:
            values = [lead.amounts.get(type_, 0.0) for lead in leads]
            for k in _knots(values, integer=False):
                if not usable(sum(1 for v in values if v > 0)):
                    break
                out.append(Feature("engagement", _unique_id(f"{type_}_per_{_short(k)}", taken), col.column,
                                   f"{col.column}: per {_short(k)}, up to {_short(k)}",
                                   lambda lead, t=type_, k=k: min(lead.amounts.get(t, 0.0) * lead.decay(t, days), k) / k,
                                   lambda p, k=k, t=type_: {"on": t, "points_per": {"field": "amount", "unit": _number(k)},
                                                            "cap": abs(p), "half_life_days": half_life},
                                   cents=lambda lead, p, t=type_, k=k: _engine_cents(
                                       lead, t, p * lead.amounts.get(t, 0.0) / _number(k), 1 if t in lead.amounts else 0,
                                       abs(p), days)))
    return out


def _matrix(leads: list[HistoricLead], features: list[Feature]) -> Any:
    import numpy as np

    return np.array([[f.value(lead) for f in features] for lead in leads], dtype=float)


def _threshold(scores: list[float], labels: list[bool], target: Target, months: float | None, what: str) -> float:
    """The score from which leads count as `what`, on held-out scores."""
    order = sorted(set(scores), reverse=True)
    n = len(scores)
    if target.precision is not None:
        best, best_seen = None, 0.0
        pos = tot = 0
        by_score = Counter(scores)
        hits = Counter(s for s, y in zip(scores, labels) if y)
        min_volume = max(10, n // 200)  # a threshold that selects a handful of leads promises nothing
        for s in order:  # walking down the scores: the selection grows
            tot += by_score[s]
            pos += hits[s]
            if tot >= min_volume:
                best_seen = max(best_seen, pos / tot)
                if pos / tot >= target.precision:
                    best = s
        if best is None:
            raise CalibrationError(f"no {what} threshold reaches precision {target.precision:.1%} on held-out leads "
                                   f"(the best is {best_seen:.1%}); ask for less")
        return best
    share = target.share
    if target.per_month is not None:
        if not months:
            raise CalibrationError(f"{what} per month needs lead creation dates: map created_at, or give a share instead")
        share = target.per_month * months / n
    assert share is not None
    if not 0 < share < 1:
        raise CalibrationError(f"the {what} share must be between 0 and 1 (got {share:g})")
    ranked = sorted(scores, reverse=True)
    return ranked[max(0, min(n - 1, math.ceil(share * n) - 1))]


def _quantile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def _descending(*values: float) -> list[float]:
    """Strictly decreasing numbers, nudged apart where quantiles coincide."""
    out: list[float] = []
    for v in values:
        v = float(round(v))
        if out and v >= out[-1]:
            v = out[-1] - 1
        out.append(v)
    return out


MAX_RULES = 60  # rules in the written file (the baseline aside): what a marketer can read in one sitting
CATEGORY_GRID = (5, 10, 20, 40)  # smallest category sizes tried for a rule of its own (with the default)
SELECT_C = (0.01, 0.1, 1.0)  # L2 strengths tried while choosing that size
TREES = 24  # shallow trees that propose interaction rules
TREE_DEPTH = 3  # so a rule combines at most three conditions
INTERACTION_GAIN = 0.002  # held-out AUC the rules of several conditions must add to be kept (less is noise)
FOLDS_LOST = 1  # ... and do better in every fold but at most this many
NUMERIC_STEPS = 20  # a numeric fact gets steps at the 5%, 10%, ... 95% quantiles
L1_GRID = (0.016, 0.008, 0.004, 0.002, 0.001, 0.0005)  # L1 penalties per lead tried for choosing rules (C = 1/(penalty·n))


def _cv(Z: Any, y: Any, folds: list[Any], grid: Any) -> list[tuple[float, float, float, Any]]:
    """(mean AUC, sd, C, out-of-fold logits) for each L2 strength in `grid`."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    results = []
    for c in grid:
        aucs, oof = [], np.zeros(len(y))
        for train, test in folds:
            clf = LogisticRegression(C=c, max_iter=5000).fit(Z[train], y[train])
            oof[test] = clf.decision_function(Z[test])
            aucs.append(roc_auc_score(y[test], oof[test]))
        results.append((float(np.mean(aucs)), float(np.std(aucs)), c, oof))
    return results


def _fold_aucs(Z: Any, y: Any, folds: list[Any], c: float, columns: Any = None) -> list[float]:
    """Held-out AUC of each fold for the L2 model of strength `c` (on `columns` of Z, default all)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    Zc = Z if columns is None else Z[:, columns]
    return [float(roc_auc_score(y[test], LogisticRegression(C=c, max_iter=5000).fit(Zc[train], y[train])
                                .decision_function(Zc[test]))) for train, test in folds]


def _l1_support(Z: Any, y: Any, c: float) -> Any:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(l1_ratio=1.0, solver="liblinear", C=c, intercept_scaling=10, max_iter=2000).fit(Z, y)
    return np.flatnonzero(clf.coef_[0])


def _sparse_fit(Z: Any, y: Any, folds: list[Any], c_refit: float, limit: int) -> tuple[float, float, Any, list[float]] | None:
    """The relaxed lasso over every candidate rule: for each L1 strength of L1_GRID (per lead), the rules
    an L1 fit keeps, refitted with L2 strength `c_refit`. Cross-validated with the choosing inside each
    fold, so a fold's AUC is of rules chosen without its leads. Only strengths that keep at most `limit`
    rules on all the leads count. (mean AUC, sd, the rules kept on all the leads, the folds' AUCs), or
    None when no strength keeps between 1 and `limit` rules."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    n = len(y)
    best: tuple[float, float, Any, list[float]] | None = None
    for penalty in L1_GRID:
        c = 1 / (penalty * n)
        support = _l1_support(Z, y, c)
        if not 0 < len(support) <= limit:
            continue
        aucs = []
        for train, test in folds:
            kept = _l1_support(Z[train], y[train], c)
            if not len(kept):
                aucs.append(0.5)
                continue
            clf = LogisticRegression(C=c_refit, max_iter=5000).fit(Z[train][:, kept], y[train])
            aucs.append(float(roc_auc_score(y[test], clf.decision_function(Z[test][:, kept]))))
        found = (float(np.mean(aucs)), float(np.std(aucs)), support, aucs)
        if best is None or round(found[0], 4) > round(best[0], 4):
            best = found
    return best


def _better(new: list[float], old: list[float]) -> bool:
    """Whether the folds' AUCs of a model of more rules beat the additive model's by enough to keep
    it: INTERACTION_GAIN on average, and better in every fold but FOLDS_LOST (4 of 5: a gain that
    comes from one or two lucky folds is noise)."""
    gains = [a - b for a, b in zip(new, old)]
    return sum(gains) / len(gains) >= INTERACTION_GAIN and sum(g > 0 for g in gains) >= len(gains) - FOLDS_LOST


def _best(results: list[tuple[float, float, float, Any]]) -> tuple[float, float, float, Any]:
    return max(results, key=lambda r: (round(r[0], 4), -r[2]))  # ties: the stronger regularization


def _standardize(X: Any) -> tuple[Any, Any, Any]:
    mean, sd = X.mean(axis=0), X.std(axis=0)
    sd[sd == 0] = 1.0
    return (X - mean) / sd, mean, sd


def choose_min_category(leads: list[HistoricLead], mapping: Mapping, y: Any, folds: list[Any]) -> int:
    """The smallest number of leads a category value needs for a rule of its own: the mapping's
    `min_category_leads` if set, else the size (of CATEGORY_GRID and the default) with the best
    cross-validated AUC; ties go to the larger size (fewer rules)."""
    given = getattr(mapping, "min_category_leads", None)
    default = default_min_support(len(leads))
    if given:
        return int(given)
    tried: dict[tuple[str, ...], int] = {}
    for size in sorted({*CATEGORY_GRID, default}, reverse=True):
        if size > default:
            continue
        features = build_features(leads, mapping, min_category=size)
        tried.setdefault(tuple(f.rule_id for f in features), size)  # the same rules: keep the larger size
    if len(tried) < 2:
        return default
    scores = []
    for size in tried.values():
        Z, _, _ = _standardize(_matrix(leads, build_features(leads, mapping, min_category=size)))
        scores.append((round(_best(_cv(Z, y, folds, SELECT_C))[0], 4), size))
    return max(scores)[1]


def _merge(conds: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]] | None:
    """The conjunction of single-fact conditions as one `when`, or None when nothing can hold it."""
    out: dict[str, dict[str, Any]] = {}
    for fact, cond in conds:
        m = out.setdefault(fact, {})
        for op, arg in cond.items():
            if op == "exists":
                if m.get("exists", arg) != arg:
                    return None
                m["exists"] = arg
            elif op == "in":
                m["in"] = [v for v in arg if _fold(v) in {_fold(x) for x in m["in"]}] if "in" in m else list(arg)
            elif op == "not_in":
                m["not_in"] = list(dict.fromkeys([*m.get("not_in", []), *arg]))
            elif op == "gte":
                m["gte"] = max(m.get("gte", -math.inf), arg)
            elif op == "lt":
                m["lt"] = min(m.get("lt", math.inf), arg)
    for fact, m in out.items():
        if m.get("exists") is False and len(m) > 1:
            return None
        if len(m) > 1:
            m.pop("exists", None)
        if "in" in m and "not_in" in m:
            out_ = {_fold(x) for x in m.pop("not_in")}
            m["in"] = [v for v in m.pop("in") if _fold(v) not in out_]
        if "in" in m and not m["in"]:
            return None
        if m.get("gte", -math.inf) >= m.get("lt", math.inf):
            return None
    return out


def _atoms(features: list[Feature], leads: list[HistoricLead], mapping: Mapping) -> list[tuple]:
    """The conditions trees may split on, each with its negation as the engine can say it:
    (name, words, condition, negation name, negation words, negation). A category value's
    negation is `not_in` (a lead that did not answer satisfies neither: the rule is then
    evaluated as written, not as the tree's branch)."""
    out = []
    for f in features:
        if f.section != "fit":
            continue
        (fact, cond), = f.rule(1)["when"].items()
        cond = {"in": cond} if isinstance(cond, list) else cond
        if set(cond) == {"in"}:
            out.append((fact, f.rule_id, f.describe, cond, f"not_{f.rule_id}", f"{f.describe.replace(': ', ': not ', 1)}",
                        {"not_in": cond["in"]}))
        elif set(cond) == {"not_in"}:
            out.append((fact, f.rule_id, f.describe, cond, f"{fact}_usual", f"{f.column}: one of the values with a rule",
                        {"in": cond["not_in"]}))
        elif cond == {"exists": False}:
            out.append((fact, f.rule_id, f.describe, cond, f"{fact}_answered", f"{f.column}: answered", {"exists": True}))
    for col in mapping.facts:
        if not col.numeric:
            continue
        present = [lead.facts[col.fact] for lead in leads if col.fact in lead.facts]
        for edge in _bin_edges(present):
            e = _number(edge)
            out.append((col.fact, f"{col.fact}_{_short(e)}_up", f"{col.column}: {_short(e)} or more", {"gte": e},
                        f"{col.fact}_lt_{_short(e)}", f"{col.column}: under {_short(e)}", {"lt": e}))
    return out


def interaction_features(leads: list[HistoricLead], mapping: Mapping, features: list[Feature], residual: Any,
                         taken: set[str], seed: int = 0, X: Any = None) -> list[Feature]:
    """Rules of two or three conditions on the lead's facts, proposed by shallow regression trees
    fitted to what the additive points leave unexplained (RuleFit's candidates: every node of depth
    2 or 3 is a conjunction), each evaluated exactly as the engine will read it. Facts only: an
    engagement rule cannot test facts, so events stay additive."""
    import numpy as np
    from sklearn.tree import DecisionTreeRegressor

    atoms = list(_atoms(features, leads, mapping))
    if len(atoms) < 2:
        return []
    n = len(leads)
    support = default_min_support(n)
    A = np.array([[float(_holds({a[0]: a[3]}, lead.facts)) for a in atoms] for lead in leads])
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    conjunctions: list[list[tuple[str, str, str, dict[str, Any]]]] = []
    for t in range(TREES):
        rows = rng.choice(n, size=n // 2, replace=False)
        tree = DecisionTreeRegressor(max_depth=TREE_DEPTH, min_samples_leaf=support, max_features=0.7,
                                     random_state=seed + t).fit(A[rows], residual[rows]).tree_

        def walk(node: int, path: list[tuple[str, str, str, dict[str, Any]]], tree: Any = tree) -> None:
            if len(path) >= 2:
                conjunctions.append(path)
            j = tree.feature[node]
            if tree.children_left[node] == -1 or j < 0:
                return
            fact, name, words, cond, nname, nwords, ncond = atoms[j]
            walk(tree.children_right[node], [*path, (fact, name, words, cond)])
            walk(tree.children_left[node], [*path, (fact, nname, nwords, ncond)])

        walk(0, [])
    out: list[Feature] = []
    columns: set[bytes] = {_matrix(leads, [f]).tobytes() for f in features if f.section == "fit"} if X is None else {
        X[:, [i]].tobytes() for i, f in enumerate(features) if f.section == "fit"}
    for path in conjunctions:
        when = _merge([(fact, cond) for fact, _, _, cond in path])
        if not when or len(when) < 2:  # one fact: the additive rules already say it
            continue
        key = json.dumps(when, sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        feature = _fit_feature("", " + ".join(dict.fromkeys(w.split(":")[0] for _, _, w, _ in path)),
                               " and ".join(w for _, _, w, _ in path), when, interaction=True)
        col = _matrix(leads, [feature])
        count = int(col.sum())
        if not support <= count <= n - support or col.tobytes() in columns:
            continue
        columns.add(col.tobytes())
        feature.rule_id = _unique_id("_and_".join(name for _, name, _, _ in path), taken)
        out.append(feature)
    return out


def _terms(features: list[Feature], points: list[int], X: Any, taken: set[str]) -> list[tuple[Feature, int, Any]]:
    """The rules to write, (feature, points, its values on the leads): rules of zero points left
    out, and the values of one category that earn the same points merged into one `in:` rule
    (the scores are the same; the file is shorter)."""
    out: list[tuple[Feature, int, Any]] = []
    groups: dict[tuple[str, int], list[int]] = {}
    steps: dict[str, list[tuple[float, int, int]]] = {}
    for i, (f, p) in enumerate(zip(features, points)):
        if p == 0:
            continue
        if f.step is not None:
            steps.setdefault(f.step[0], []).append((f.step[1], p, i))
        elif f.fact is not None:
            groups.setdefault((f.fact, p), []).append(i)
        else:
            out.append((f, p, X[:, i]))
    # a numeric fact's steps as intervals: each level of the step function one rule `gte`/`lt` with
    # the points of the steps below it added up (the same score, rule by rule in whole points)
    for fact, found in steps.items():
        found.sort()
        column = features[found[0][2]].column
        total = 0
        for j, (lo, p, i) in enumerate(found):
            total += p
            nxt = found[j + 1] if j + 1 < len(found) else None
            if total == 0:
                continue
            cond: dict[str, Any] = {"gte": _number(lo)}
            if nxt is None:
                words, name, col = f"{_short(lo)} or more", f"{fact}_{_short(lo)}_up", X[:, i]
            else:
                cond["lt"] = _number(nxt[0])
                words = f"{_short(lo)} to under {_short(nxt[0])}"
                name, col = f"{fact}_{_short(lo)}_{_short(nxt[0])}", X[:, i] - X[:, nxt[2]]
            rule = _fit_feature(_unique_id(name.replace(".", "_").replace("-", "m"), taken), column,
                                f"{column}: {words}", {fact: cond})
            out.append((rule, total, col))
    for (fact, p), idx in groups.items():
        if len(idx) == 1:
            out.append((features[idx[0]], p, X[:, idx[0]]))
            continue
        first = features[idx[0]]
        values = [features[i].category for i in idx]
        shown = ", ".join(str(v) for v in values[:5]) + (f" and {len(values) - 5} more" if len(values) > 5 else "")
        merged = _fit_feature(_unique_id(f"{first.rule_id}_and_{len(values) - 1}_more", taken), first.column,
                              f"{first.column}: {shown}", {fact: {"in": values}})
        out.append((merged, p, X[:, idx].sum(axis=1)))
    return out


def calibrate(leads: list[HistoricLead], mapping: Mapping, *, mql: Target, sql: Target, name: str = "calibrated",
              source: str = "", progress: bool = False, seed: int = 0) -> Calibration:
    """Points fitted to `leads` (see the module's docstring), as a model file and its figures."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    # one thread for numpy and scikit-learn: the fits are many and small, and BLAS threads fighting
    # for the cores cost more than they give (measured: 8x slower per fit on a busy 2-core machine)
    with threadpool_limits(limits=1):
        return _calibrate(leads, mapping, mql=mql, sql=sql, name=name, source=source, progress=progress, seed=seed)


def _calibrate(leads: list[HistoricLead], mapping: Mapping, *, mql: Target, sql: Target, name: str,
               source: str, progress: bool, seed: int) -> Calibration:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    problems = mapping.leaks()
    if problems:
        raise CalibrationError("the mapping uses columns that would leak the outcome:\n  " + "\n  ".join(problems))
    check_size(leads)
    y = np.array([lead.converted for lead in leads], dtype=int)
    folds = list(StratifiedKFold(mapping.cv_folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    min_category = choose_min_category(leads, mapping, y, folds)
    features = build_features(leads, mapping, min_category=min_category)
    if not features:
        raise CalibrationError("no column has enough leads on both sides of any value to learn from")
    X = _matrix(leads, features)
    Z, mean, sd = _standardize(X)

    notes = suspicious_columns(features, Z, y, folds)
    grid: Any = C_GRID
    if progress:
        from tqdm import tqdm

        grid = tqdm(C_GRID, desc="cross-validating", unit="strength", disable=None)
    cv_auc, cv_sd, best_c, _ = _best(_cv(Z, y, folds, grid))

    # interactions: proposed on what the additive fit leaves; then a sparse fit (L1) over every candidate,
    # additive and combined, chooses the rules, and the L2 model refitted on them is kept only if it beats
    # the additive model on held-out folds (the choosing done inside each fold, so the folds stay held out)
    additive = LogisticRegression(C=best_c, max_iter=5000).fit(Z, y)
    taken = {f.rule_id for f in features}
    pairs = interaction_features(leads, mapping, features, y - additive.predict_proba(Z)[:, 1], taken, seed, X)
    pool = features + pairs
    Xp = np.hstack([X, _matrix(leads, pairs)]) if pairs else X
    Zp, meanp, sdp = _standardize(Xp)
    additive_folds = _fold_aucs(Z, y, folds, best_c)
    sparse = _sparse_fit(Zp, y, folds, best_c, MAX_RULES)
    if sparse is not None and _better(sparse[3], additive_folds):
        keep = list(sparse[2])
        features, X, Z, mean, sd = [pool[i] for i in keep], Xp[:, keep], Zp[:, keep], meanp[keep], sdp[keep]
        cv_auc, cv_sd = float(np.mean(sparse[3])), float(np.std(sparse[3]))

    def points_of(clf: Any, scale: Any) -> list[int]:
        return [int(round(w / s * POINTS_PER_LOGIT)) for w, s in zip(clf.coef_[0], scale)]

    # at most MAX_RULES rules: the weakest (smallest standardized weight) go, and the rest are refitted
    active = list(range(len(features)))
    while True:
        final = LogisticRegression(C=best_c, max_iter=5000).fit(Z[:, active], y)
        points = points_of(final, sd[active])
        written = len(_terms([features[i] for i in active], points, X[:, active], set()))
        if written <= MAX_RULES:
            break
        weights = np.abs(final.coef_[0])
        weakest = sorted((i for i, p in zip(range(len(active)), points) if p != 0), key=lambda i: weights[i])
        drop = {active[i] for i in weakest[: written - MAX_RULES]}
        active = [i for i in active if i not in drop]
    if len(active) < len(features):
        features, X, Z, mean, sd = [features[i] for i in active], X[:, active], Z[:, active], mean[active], sd[active]

    def raw_intercept(clf: Any) -> float:
        # logit = Σ w (x − mean)/sd + b = Σ (w/sd) x + (b − Σ w·mean/sd): points carry no intercept
        return float(clf.intercept_[0] - np.sum(clf.coef_[0] * mean / sd))

    # thresholds on out-of-fold scores in points, from models that never saw those leads,
    # each fold's scores moved onto the final model's origin (the folds' intercepts differ)
    oof_points = np.zeros(len(y))
    fold_aucs = []
    for train, test in folds:
        clf = LogisticRegression(C=best_c, max_iter=5000).fit(Z[train], y[train])
        shift = (raw_intercept(clf) - raw_intercept(final)) * POINTS_PER_LOGIT
        oof_points[test] = X[test] @ np.array(points_of(clf, sd), dtype=float) + shift
        fold_aucs.append(roc_auc_score(y[test], clf.decision_function(Z[test])))
    cv_auc, cv_sd = float(np.mean(fold_aucs)), float(np.std(fold_aucs))  # of the rules as kept

    months = None
    dates = [lead.created_at for lead in leads if lead.created_at]
    if len(dates) >= len(leads) // 2:
        months = max((max(dates) - min(dates)).days / 30.44, 1.0)
    oof_scores, labels = [float(s) for s in oof_points], [bool(v) for v in y]
    mql_at = _threshold(oof_scores, labels, mql, months, "MQL")
    sql_at = _threshold(oof_scores, labels, sql, months, "SQL")
    if sql_at <= mql_at:
        raise CalibrationError(f"the SQL target gives a threshold ({sql_at:g}) not above the MQL one ({mql_at:g}): "
                               f"ask SQL for more precision or a smaller share than MQL ({sql.describe()} vs {mql.describe()})")

    # every lead starts at `offset` points, so that the MQL threshold reads 50: only the scale's
    # origin moves (a rule on any event, capped at its own size: constant once a lead has an event)
    mql_at, sql_at = math.ceil(mql_at - 1e-9), math.ceil(sql_at - 1e-9)  # whole points; never below the target's score
    sql_at = max(sql_at, mql_at + 1)  # two thresholds less than a point apart round to one: SQL is the next point up
    offset = MQL_AT - mql_at
    mql_at, sql_at = mql_at + offset, sql_at + offset
    oof_points = oof_points + offset
    terms = _terms(features, points, X, {f.rule_id for f in features if f.step is None})
    fit_scores = sum((p * col for f, p, col in terms if f.section == "fit"), np.zeros(len(y)))
    eng_scores = sum((p * col for f, p, col in terms if f.section == "engagement"), np.zeros(len(y))) + offset
    oof_scores = [float(s) for s in oof_points]
    text = _model_text(terms, leads, mapping, name=name, source=source, cv=(cv_auc, cv_sd, best_c),
                       mql=(mql_at, mql, oof_scores, labels), sql=(sql_at, sql, oof_scores, labels),
                       fit=list(fit_scores), eng=list(eng_scores), offset=offset, min_category=min_category)
    if notes:
        text = "\n".join(f"# WARNING: {note}" for note in notes) + "\n" + text
    return Calibration(text, cv_auc, cv_sd, best_c, len(features), len(terms), mql_at, sql_at, notes,
                       terms=[(f, p) for f, p, _ in terms], offset=offset, min_category=min_category,
                       interactions=sum(1 for f, _, _ in terms if f.interaction))


LEAK_AUC = 0.9


def suspicious_columns(features: list[Feature], Z: Any, y: Any, folds: list[Any]) -> list[str]:
    """Columns that predict the outcome almost perfectly on their own (held-out AUC ≥ 0.9):
    often a field filled in after the outcome. Not refused (calibrate cannot know), but said."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    notes = []
    for column in dict.fromkeys(f.column for f in features):
        idx = [i for i, f in enumerate(features) if f.column == column]
        # a column well below the bar on the leads it is fitted to is below it held out: no folds needed
        if roc_auc_score(y, LogisticRegression(max_iter=2000).fit(Z[:, idx], y).decision_function(Z[:, idx])) < LEAK_AUC - 0.02:
            continue
        oof = np.zeros(len(y))
        for train, test in folds:
            oof[test] = LogisticRegression(max_iter=2000).fit(Z[train][:, idx], y[train]).decision_function(Z[test][:, idx])
        auc = roc_auc_score(y, oof)
        if auc >= LEAK_AUC:
            notes.append(f"column {column!r} alone predicts the outcome with ROC AUC {auc:.3f}: if it is filled in "
                         f"after the outcome is known (by sales, after contact), exclude it in the mapping")
    return notes


def _q(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON scalar is a valid YAML 1.2 flow scalar


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(_number(value))
    return _q(value)


def _model_text(terms, leads, mapping, *, name, source, cv, mql, sql, fit, eng, offset, min_category) -> str:
    import numpy as np

    n = len(leads)
    y = np.array([lead.converted for lead in leads])
    base = y.mean()
    mql_at, mql_target, oof, labels = mql
    sql_at, sql_target, _, _ = sql

    def held_out(at: float) -> str:
        sel = [y2 for s, y2 in zip(oof, labels) if s >= at]
        return f"{len(sel) / n:.1%} of leads, {sum(sel) / max(1, len(sel)):.1%} converted on held-out leads"

    fa, fb, fc = _descending(_quantile(fit, 0.85), _quantile(fit, 0.6), _quantile(fit, 0.3))
    e1, e2, e3 = _descending(_quantile(eng, 0.85), _quantile(eng, 0.6), _quantile(eng, 0.3))
    engaged = len(set(eng)) > 1
    if not engaged:
        # no engagement rule (the leads had no events): every lead would meet all three quantiles and
        # read as grade 1, the most engaged. Above anything a lead can reach instead: every lead is 4
        top = float(max(offset, 0))
        e1, e2, e3 = top + 3, top + 2, top + 1
    hot, warm = float(round(sql_at)), float(round(mql_at))
    if warm >= hot:
        warm = hot - 1
    hysteresis = max(1.0, round((sql_at - mql_at) / 4))
    if mql_at > 0 and hysteresis >= mql_at:
        hysteresis = max(0.0, math.floor(mql_at / 2))
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    lines = [
        f"# Calibrated by `leadscore calibrate` on {now} from {source or 'historical leads'}:",
        f"# {n:,} leads, {int(y.sum()):,} converted ({base:.1%}).",
        f"# Cross-validated ROC AUC {cv[0]:.3f} ± {cv[1]:.3f} ({mapping.cv_folds} folds, L2 strength C={cv[2]:g}).",
        f"# Points: {POINTS_PER_LOGIT:.1f} per unit of log-odds, so +10 points double a lead's odds of converting.",
        "# Each rule's comment: how many leads it applies to and how they converted.",
        f"# A category value held by fewer than {min_category} leads has no rule of its own (it counts as 'other').",
        "# Columns not used, and why:",
        *[f"#   {e.column}: {e.reason}" for e in mapping.exclude],
        "",
        f"version: {_q(now.replace('-', '.'))}",
        f"name: {_q(name)}",
        f"description: {_q(f'points fitted to {n} leads with known outcomes')}",
        "",
    ]
    for section in ("fit", "engagement"):
        rules = [(f, p, col) for f, p, col in terms if f.section == section]
        lines.append(f"{section}:" if rules or (section == "engagement" and offset) else f"{section}: []")
        if section == "engagement" and offset:
            lines.append(f"  # every lead starts at {offset} points, so that the MQL threshold is {MQL_AT} (it moves no lead up or down the ranking)")
            lines.append(f"  - {{id: baseline, on: \"*\", points: {offset}, cap: {abs(offset)}}}")
        # by column, most points first; the rules of several conditions last
        for f, p, col in sorted(rules, key=lambda fpc: (fpc[0].interaction, fpc[0].column, -fpc[1])):
            hit = col > 0
            count = int(hit.sum())
            rate = float(y[hit].mean()) if count else 0.0
            lines.append(f"  # {f.describe}: {count:,} leads ({count / n:.1%}), {rate:.0%} converted")
            body = {"id": f.rule_id, **f.rule(p), "points": p}
            if "cap" in body:
                body["cap"] = _number(abs(body["cap"]))
            lines.append("  - {" + ", ".join(f"{k}: {_flow(v)}" for k, v in body.items()) + "}")
        lines.append("")
    lines += [
        "stages:",
        f"  # MQL target: {mql_target.describe()} → {held_out(mql_at)}",
        f"  mql: {{score: {_number(mql_at)}}}",
        f"  # SQL target: {sql_target.describe()} → {held_out(sql_at)}",
        f"  sql: {{score: {_number(sql_at)}}}",
        f"  hysteresis: {_number(hysteresis)}",
        "",
        "# grades and bands at the quantiles of these leads (fit: top 15% A, next 25% B, next 30% C)",
        *([] if engaged else ["# no engagement rules (these leads have no events): every lead is engagement grade 4, "
                              "so a grade is its fit letter (A4, B4, C4, D4)"]),
        "grades:",
        f"  fit: {{A: {_number(fa)}, B: {_number(fb)}, C: {_number(fc)}}}",
        f"  engagement: {{\"1\": {_number(e1)}, \"2\": {_number(e2)}, \"3\": {_number(e3)}}}",
        f"bands: {{hot: {_number(hot)}, warm: {_number(warm)}}}",
        "",
    ]
    return "\n".join(lines)
