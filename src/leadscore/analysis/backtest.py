"""`leadscore backtest`: score historical leads with the engine and measure how well the scores rank them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from scoring_core.stages import QUALIFIED as AT_MQL  # the stages a lead at the MQL threshold or beyond has reached
from scoring_core.stages import STAGES

from . import metrics
from .dataset import HistoricLead, score_leads

BANDS = ("hot", "warm", "cold")
AT_SQL = ("sql", "customer")


def backtest(leads: list[HistoricLead], engine: Any, *, progress: bool = False,
             fitting: dict[str, Any] | None = None,
             predict: Callable[[Sequence[float]], list[float]] | None = None,
             predicted_from: str = "") -> dict[str, Any]:
    """Every figure of the report, as plain data (report.json).

    `fitting` says whether these leads were used to fit the model (`status` and a sentence,
    `text`); `predict` turns scores into conversion probabilities for the calibration chart
    (calibrate records one beside the model it writes); without it, a logistic curve of score
    is fitted on these leads by 5-fold cross-fitting, and the report says so."""
    if not leads:
        raise ValueError("no leads to backtest")
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    with threadpool_limits(limits=1):  # small fits: threads contending for cores cost more than they give
        return _backtest(leads, engine, progress=progress, fitting=fitting, predict=predict,
                         predicted_from=predicted_from)


def _backtest(leads: list[HistoricLead], engine: Any, *, progress: bool, fitting: dict[str, Any] | None,
              predict: Callable[[Sequence[float]], list[float]] | None, predicted_from: str) -> dict[str, Any]:
    scored = score_leads(leads, engine, progress=progress)
    scores = [s.total for s, _ in scored]
    labels = [lead.converted for lead in leads]
    stages = [stage for _, stage in scored]
    n, converted = len(leads), sum(labels)
    model = engine.model
    has_events = any(lead.counts or lead.amounts for lead in leads)
    # without events every lead has the same engagement, so its number says nothing: fit letters only
    grades = [s.grade if has_events else s.grade[:1] for s, _ in scored]
    both = 0 < converted < n
    out: dict[str, Any] = {
        "leads": n,
        "converted": converted,
        "base_rate": converted / n,
        "model": {"name": model.name, "version": model.version,
                  "mql": model.stages.mql.score, "sql": model.stages.sql.score},
        "fitting": fitting or {"status": "unknown", "text": "Unknown: the backtest was not told how the model was fitted."},
        "has_events": has_events,
        "auc": metrics.roc_auc(scores, labels) if both else None,
        "auc_interval": metrics.auc_interval(scores, labels) if both else None,
        "deciles": metrics.deciles(scores, labels),
        "by_grade": metrics.by_group(grades, labels),
        "by_band": metrics.by_group([s.band for s, _ in scored], labels, order=BANDS),
        "by_stage": metrics.by_group(stages, labels, order=STAGES),
        "thresholds": {
            "mql": metrics.selection([st in AT_MQL for st in stages], labels),
            "sql": metrics.selection([st in AT_SQL for st in stages], labels),
        },
        "distribution": {
            "converted": metrics.quantiles([s for s, y in zip(scores, labels) if y]),
            "not_converted": metrics.quantiles([s for s, y in zip(scores, labels) if not y]),
        },
        "time_to_conversion": metrics.days_to_convert([lead.created_at for lead in leads],
                                                      [lead.converted_at if lead.converted else None for lead in leads],
                                                      [s.band for s, _ in scored], BANDS),
        "rules": rule_figures(model, [s for s, _ in scored], labels),
    }
    out["top_decile_lift"] = out["deciles"][0]["lift"]
    out["calibration"] = _calibration(scores, labels, out["deciles"], predict, predicted_from) if both else None
    out["warnings"] = warnings(out, scores)
    out["_scores"] = scores  # for the plots; not written to report.json
    out["_labels"] = labels
    return out


def rule_figures(model: Any, scores: Sequence[Any], labels: Sequence[bool]) -> list[dict[str, Any]]:
    """Each rule of the model: how many leads it fires for, the points it gave, its share of all
    the points given (in absolute value, so a penalty counts as much as a bonus), and how the
    leads it fires for converted (lift over the base rate). A rule that gives every lead the same
    points (calibrate's `baseline`) ranks no one: it is marked `constant` and left out of the
    shares. Rules that never fire are listed too."""
    n = len(labels)
    base = sum(labels) / n if n else 0.0
    figures: dict[str, dict[str, Any]] = {}
    given: dict[str, set[int]] = {}
    for kind, rules in (("fit", model.fit), ("engagement", model.engagement)):
        for rule in rules:
            figures[rule.id] = {"rule": rule.id, "kind": kind, "points": rule.points, "leads": 0, "converted": 0,
                                "points_given": 0}
    for score, y in zip(scores, labels):
        for reason in score.reasons:
            f = figures.setdefault(reason.rule, {"rule": reason.rule, "kind": reason.kind, "points": None,
                                                 "leads": 0, "converted": 0, "points_given": 0})
            if reason.cents:
                f["leads"] += 1
                f["converted"] += bool(y)
                f["points_given"] += reason.cents
                given.setdefault(reason.rule, set()).add(reason.cents)
    constant = {rule for rule, f in figures.items() if n and f["leads"] == n and len(given.get(rule, ())) == 1}
    total_cents = sum(abs(f["points_given"]) for rule, f in figures.items() if rule not in constant)
    out = []
    for rule, f in figures.items():
        rate = f["converted"] / f["leads"] if f["leads"] else None
        share = None if rule in constant else abs(f["points_given"]) / total_cents if total_cents else 0.0
        out.append({**f, "points_given": f["points_given"] / 100, "share_of_leads": f["leads"] / n if n else 0.0,
                    "constant": rule in constant, "share_of_score": share,
                    "conversion": rate, "lift": rate / base if rate is not None and base else None})
    return sorted(out, key=lambda f: (f["kind"] != "fit", -(f["share_of_score"] or 0)))


def _calibration(scores: list[float], labels: list[bool], deciles: list[dict[str, Any]],
                 predict: Callable[[Sequence[float]], list[float]] | None, predicted_from: str) -> dict[str, Any]:
    if predict is None:
        predicted = cross_fitted_probabilities(scores, labels)
        predicted_from = ("a logistic curve of score fitted on these leads (5-fold cross-fitted: each lead's "
                          "prediction comes from the other folds), since the model carries no probabilities")
    else:
        predicted = predict(scores)
    groups = metrics.decile_members(scores, deciles)
    return {"predicted_from": predicted_from, "by_decile": metrics.calibration(predicted, labels, groups)}


def logistic_curve(scores: Sequence[float], labels: Sequence[bool]) -> tuple[float, float]:
    """(intercept, slope) of P(converted) = 1 / (1 + exp(−(a + b·score))), fitted by scikit-learn
    with next to no regularization."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=1e6, max_iter=1000).fit(np.asarray(scores, dtype=float).reshape(-1, 1),
                                                         np.asarray(labels, dtype=int))
    return float(clf.intercept_[0]), float(clf.coef_[0][0])


def probabilities(curve: tuple[float, float], scores: Sequence[float]) -> list[float]:
    import math

    a, b = curve
    return [1 / (1 + math.exp(-max(-700.0, min(700.0, a + b * s)))) for s in scores]


def cross_fitted_probabilities(scores: list[float], labels: list[bool], folds: int = 5) -> list[float]:
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels, dtype=int)
    k = max(2, min(folds, int(y.sum()), int(len(y) - y.sum())))
    out = [0.0] * len(scores)
    for train, test in StratifiedKFold(k, shuffle=True, random_state=0).split(np.zeros(len(y)), y):
        curve = logistic_curve([scores[i] for i in train], [labels[i] for i in train])
        for i, p in zip(test, probabilities(curve, [scores[i] for i in test])):
            out[i] = p
    return out


def warnings(result: dict[str, Any], scores: Sequence[float]) -> list[str]:
    """What makes the figures mean less than they seem: a model none of whose rules fires, one
    score for every lead, thresholds that select nothing, everything, or nothing beyond MQL."""
    out = []
    n = result["leads"]
    m = result["model"]
    fired = [r for r in result["rules"] if r["leads"]]
    if not fired:
        out.append(f"no rule of model {m['name']!r} fires for any of these {n:,} leads: every lead scores "
                   f"{scores[0]:g}, so the AUC of 0.5 says nothing. Check that the mapping's fact and event names "
                   f"are the ones the model's rules use (`leadscore model check` lists the model)")
    elif len(set(scores)) == 1:
        out.append(f"every lead scores {scores[0]:g}: the scores cannot rank these leads (the rules that fire, fire "
                   f"for all of them)")
    mql, sql = result["thresholds"]["mql"], result["thresholds"]["sql"]
    if mql["volume"] == 0:
        out.append(f"no lead reaches MQL (score ≥ {m['mql']:g}): the MQL threshold selects nothing on these leads")
    elif mql["volume"] == n:
        out.append(f"every lead reaches MQL (score ≥ {m['mql']:g}): the MQL threshold selects everyone")
    if mql["volume"] and sql["volume"] == mql["volume"]:
        out.append(f"SQL (score ≥ {m['sql']:g}) selects the same {sql['volume']:,} leads as MQL (≥ {m['mql']:g}): "
                   f"the SQL threshold adds nothing")
    elif (sql["volume"] and sql["precision"] is not None and mql["precision"] is not None
          and sql["precision"] <= mql["precision"]):
        out.append(f"SQL leads (score ≥ {m['sql']:g}) convert no more often than MQL leads ({sql['precision']:.1%} "
                   f"against {mql['precision']:.1%}): the SQL threshold adds nothing")
    if not result["has_events"]:
        out.append("these leads have no events (the mapping maps no event column, or every value is empty): "
                   "engagement grades say nothing, so leads are graded by fit only")
    return out
