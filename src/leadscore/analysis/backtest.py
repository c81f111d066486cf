"""`leadscore backtest`: score historical leads with the engine and measure how well the scores rank them."""

from __future__ import annotations

from typing import Any

from . import metrics
from .dataset import HistoricLead, score_leads

BANDS = ("hot", "warm", "cold")
STAGES = ("lead", "mql", "sql", "customer", "disqualified")


def backtest(leads: list[HistoricLead], engine: Any, *, progress: bool = False) -> dict[str, Any]:
    """Every figure of the report, as plain data (report.json)."""
    if not leads:
        raise ValueError("no leads to backtest")
    scored = score_leads(leads, engine, progress=progress)
    scores = [s.total for s, _ in scored]
    labels = [lead.converted for lead in leads]
    stages = [stage for _, stage in scored]
    n, converted = len(leads), sum(labels)
    model = engine.model
    out: dict[str, Any] = {
        "leads": n,
        "converted": converted,
        "base_rate": converted / n,
        "model": {"name": model.name, "version": model.version,
                  "mql": model.stages.mql.score, "sql": model.stages.sql.score},
        "auc": metrics.roc_auc(scores, labels) if 0 < converted < n else None,
        "deciles": metrics.deciles(scores, labels),
        "by_grade": metrics.by_group([s.grade for s, _ in scored], labels),
        "by_band": metrics.by_group([s.band for s, _ in scored], labels, order=BANDS),
        "by_stage": metrics.by_group(stages, labels, order=STAGES),
        "thresholds": {
            "mql": metrics.selection([st in ("mql", "sql", "customer") for st in stages], labels),
            "sql": metrics.selection([st in ("sql", "customer") for st in stages], labels),
        },
        "distribution": {
            "converted": metrics.quantiles([s for s, y in zip(scores, labels) if y]),
            "not_converted": metrics.quantiles([s for s, y in zip(scores, labels) if not y]),
        },
        "time_to_conversion": metrics.days_to_convert([lead.created_at for lead in leads],
                                                      [lead.converted_at if lead.converted else None for lead in leads],
                                                      [s.band for s, _ in scored], BANDS),
    }
    out["top_decile_lift"] = out["deciles"][0]["lift"]
    out["_scores"] = scores  # for the plots; not written to report.json
    out["_labels"] = labels
    return out
