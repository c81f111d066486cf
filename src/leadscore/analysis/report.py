"""report.json and report.html for a backtest: one self-contained HTML file, its charts (made by
matplotlib) embedded as data: URIs, so the file can be moved, mailed or attached alone."""

from __future__ import annotations

import base64
import io
import json
from html import escape
from pathlib import Path
from typing import Any

CHARTS = ("deciles", "roc", "calibration", "distribution", "grades")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.1f}%"


def _num(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def points(x: float | None) -> str:
    """Points as the model writes them: whole numbers without a decimal point (60, not 60.0),
    fractions (from decay or `points_per`) with at most two decimals."""
    if x is None:
        return "–"
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.2f}".rstrip("0").rstrip(".")


def _ranks(d: dict[str, Any]) -> str:
    return f"top {d['from_share'] * 100:.0f}–{d['to_share'] * 100:.0f}%"


def write_json(result: dict[str, Any], path: Path) -> None:
    public = {k: v for k, v in result.items() if not k.startswith("_")}
    path.write_text(json.dumps(public, indent=2, default=str) + "\n", encoding="utf-8")


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def charts(result: dict[str, Any]) -> dict[str, str]:
    """Each chart as a data: URI of a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    base = result["base_rate"]
    # 1. conversion by decile, against the base rate
    d = result["deciles"]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.bar([str(x["decile"]) for x in d], [x["conversion"] * 100 for x in d], color="#2b6cb0")
    ax.axhline(base * 100, color="#c53030", linestyle="--", label=f"all leads: {base * 100:.1f}%")
    for i, x in enumerate(d):
        ax.text(i, x["conversion"] * 100 + 1, f"×{x['lift']:.1f}", ha="center", fontsize=8)
    ax.set(xlabel="score group (1 = highest scores; equal scores share a group)", ylabel="converted (%)",
           title="Conversion by score decile")
    ax.legend(loc="upper right", fontsize=8)
    out["deciles"] = _png(fig)

    # 2. ROC curve
    scores, labels = result["_scores"], result["_labels"]
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    pos = sum(labels)
    neg = len(labels) - pos
    tpr, fpr, tp, fp = [0.0], [0.0], 0, 0
    for k, i in enumerate(order):
        tp += labels[i]
        fp += not labels[i]
        if k + 1 == len(order) or scores[order[k + 1]] != scores[i]:
            tpr.append(tp / pos if pos else 0)
            fpr.append(fp / neg if neg else 0)
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.plot(fpr, tpr, color="#2b6cb0", label=f"AUC {result['auc']:.3f}" if result["auc"] is not None else "AUC –")
    ax.plot([0, 1], [0, 1], color="#a0aec0", linestyle="--", label="random")
    ax.set(xlabel="non-converters selected", ylabel="converters selected", title="ROC curve")
    ax.legend(loc="lower right", fontsize=8)
    out["roc"] = _png(fig)

    # 3. calibration: predicted against actual conversion, per decile
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    cal = (result.get("calibration") or {}).get("by_decile") or []
    top = max([0.05, *(c["predicted"] for c in cal), *(c["actual"] for c in cal)]) * 100 * 1.05
    ax.plot([0, top], [0, top], color="#a0aec0", linestyle="--", label="perfectly calibrated")
    if cal:
        ax.plot([c["predicted"] * 100 for c in cal], [c["actual"] * 100 for c in cal], marker="o", color="#2f855a",
                label="score deciles")
    ax.set(xlim=(0, top), ylim=(0, top), xlabel="predicted conversion (%)", ylabel="actual conversion (%)",
           title="Predicted vs actual")
    ax.legend(loc="upper left", fontsize=8)
    out["calibration"] = _png(fig)

    # 4. score distribution, converters vs the rest
    fig, ax = plt.subplots(figsize=(7, 3.6))
    lo, hi = min(scores), max(scores)
    bins = 30 if hi > lo else 1
    ax.hist([s for s, y in zip(scores, labels) if not y], bins=bins, range=(lo, hi if hi > lo else lo + 1), alpha=0.6,
            label="did not convert", color="#a0aec0")
    ax.hist([s for s, y in zip(scores, labels) if y], bins=bins, range=(lo, hi if hi > lo else lo + 1), alpha=0.7,
            label="converted", color="#2f855a")
    for name, value, colour in (("MQL", result["model"]["mql"], "#b7791f"), ("SQL", result["model"]["sql"], "#c53030")):
        ax.axvline(value, color=colour, linestyle=":", label=f"{name} threshold ({value:g})")
    ax.set(xlabel="score", ylabel="leads", title="Scores of converters and non-converters")
    ax.legend(fontsize=8)
    out["distribution"] = _png(fig)

    # 5. conversion by grade
    g = result["by_grade"]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.bar([x["group"] for x in g], [x["conversion"] * 100 for x in g], color="#6b46c1")
    for i, x in enumerate(g):
        ax.text(i, x["conversion"] * 100 + 1, str(x["leads"]), ha="center", fontsize=7)
    ax.axhline(base * 100, color="#c53030", linestyle="--")
    grade = "fit letter, engagement number" if result.get("has_events", True) else "fit letter (no events)"
    ax.set(xlabel=f"grade ({grade}); labels: number of leads", ylabel="converted (%)", title="Conversion by grade")
    out["grades"] = _png(fig)
    return out


def _table(headers: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table{f' class={chr(34)}{cls}{chr(34)}' if cls else ''}><tr>{head}</tr>{body}</table>"


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{escape(alt)}">'


def write_html(result: dict[str, Any], path: Path, title: str) -> None:
    images = charts(result)
    t = result["thresholds"]
    m = result["model"]
    auc = result["auc"]
    interval = result.get("auc_interval")
    top = result["deciles"][0]
    fitting = result.get("fitting") or {"status": "unknown", "text": "unknown"}
    provenance = (f'<p class="fitting {escape(fitting["status"])}"><b>Were these leads used to fit the model?</b> '
                  f'{escape(fitting["text"])}</p>')
    warned = "".join(f"<li>{escape(w)}</li>" for w in result.get("warnings", []))
    warnings_html = f'<div class="warnings"><b>Warnings</b><ul>{warned}</ul></div>' if warned else ""
    auc_text = _num(auc, 3) if auc is not None else "–"
    ci = f" (95% bootstrap interval {interval[0]:.3f}–{interval[1]:.3f})" if interval else ""
    top_share = f"Top {top['share'] * 100:.0f}% of scores" if abs(top["share"] - 0.1) > 0.005 else "Top 10% of scores"
    summary = (
        f"<p>{result['leads']:,} leads scored, {result['converted']:,} of them converted ({_pct(result['base_rate'])}). "
        f"Scored with model <b>{escape(str(m['name']))}</b> {escape(str(m['version']))}.</p>"
        f"<ul><li><b>Ranking (ROC AUC): {auc_text}</b>{ci}: the chance that a lead who "
        f"converted scores above one who did not (0.5 is a coin toss, 1.0 perfect).</li>"
        f"<li><b>{top_share}: {_pct(top['conversion'])} converted</b>, {top['lift']:.1f}× the average.</li>"
        f"<li><b>At MQL or beyond (score ≥ {points(m['mql'])})</b>: {t['mql']['volume']:,} leads "
        f"({_pct(t['mql']['share'])}; the leads whose stage is mql, sql or customer), {_pct(t['mql']['precision'])} "
        f"of them converted, catching {_pct(t['mql']['recall'])} of all conversions.</li>"
        f"<li><b>At SQL or beyond (score ≥ {points(m['sql'])})</b>: {t['sql']['volume']:,} leads "
        f"({_pct(t['sql']['share'])}; stage sql or customer), {_pct(t['sql']['precision'])} converted, "
        f"{_pct(t['sql']['recall'])} of all conversions.</li></ul>"
    )
    rules = _table(["rule", "kind", "points", "fires for (leads)", "share of leads", "share of the score",
                    "their conversion", "lift"],
                   [[r["rule"], r["kind"], points(r["points"]), f"{r['leads']:,}", _pct(r["share_of_leads"]),
                     "same for all: ranks no one" if r.get("constant") else _pct(r["share_of_score"]), _pct(r["conversion"]), "–" if r["lift"] is None else f"×{r['lift']:.2f}"]
                    for r in result.get("rules", [])], cls="rules")
    deciles = _table(["decile", "leads ranked", "leads", "converted", "conversion", "lift", "scores"],
                     [[str(d["decile"]), _ranks(d), f"{d['leads']:,}", f"{d['converted']:,}", _pct(d["conversion"]),
                       f"{d['lift']:.2f}", points(d["min_score"]) if d["min_score"] == d["max_score"]
                       else f"{points(d['min_score'])} to {points(d['max_score'])}"] for d in result["deciles"]],
                     cls="deciles")
    cal = result.get("calibration")
    if cal:
        calibration = (f"<p>Predicted conversion comes from {escape(cal['predicted_from'])}.</p>"
                       + _table(["decile", "leads", "predicted", "actual"],
                                [[str(c["group"]), f"{c['leads']:,}", _pct(c["predicted"]), _pct(c["actual"])]
                                 for c in cal["by_decile"]]))
    else:
        calibration = "<p>No calibration: these leads do not have both converters and non-converters.</p>"
    bands = _table(["band", "leads", "conversion"], [[b["group"], f"{b['leads']:,}", _pct(b["conversion"])] for b in result["by_band"]])
    grade_head = "grade" if result.get("has_events", True) else "fit grade (no events: no engagement number)"
    grades = _table([grade_head, "leads", "conversion"],
                    [[g["group"], f"{g['leads']:,}", _pct(g["conversion"])] for g in result["by_grade"]])
    stages = _table(["stage reached (each lead once)", "leads", "conversion"],
                    [[s["group"], f"{s['leads']:,}", _pct(s["conversion"])] for s in result["by_stage"]])
    dist = result["distribution"]
    quant = _table(["", *dist["converted"].keys()],
                   [["converted", *(points(v) for v in dist["converted"].values())],
                    ["did not convert", *(points(v) for v in dist["not_converted"].values())]])
    ttc = result["time_to_conversion"]
    if ttc:
        timing = (f"<p>Median {_num(ttc['median_days'])} days from creation to conversion ({ttc['leads']:,} leads with both dates).</p>"
                  + _table(["band", "leads", "median days"], [[b["group"], f"{b['leads']:,}", _num(b["median_days"])] for b in ttc["by_group"]]))
    else:
        timing = "<p>The data has no creation and conversion dates (map <code>created_at</code> and <code>converted_at</code> to see this).</p>"
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:24px auto;padding:0 16px;color:#1a202c}}
table{{border-collapse:collapse;margin:8px 0 16px}}td,th{{border-bottom:1px solid #e2e8f0;padding:4px 10px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}th{{background:#f7fafc}}img{{max-width:100%;border:1px solid #e2e8f0;margin:8px 0}}
h2{{margin-top:28px}}.pair img{{max-width:49%}}.fitting{{padding:8px 12px;border-radius:6px;background:#edf2f7}}
.fitting.held-out,.fitting.new{{background:#f0fff4;border-left:4px solid #2f855a}}
.fitting.fitted,.fitting.partly{{background:#fff5f5;border-left:4px solid #c53030}}
.warnings{{padding:8px 12px;border-radius:6px;background:#fffaf0;border-left:4px solid #dd6b20;margin:12px 0}}
.note{{color:#4a5568;font-size:14px}}</style></head>
<body><h1>{escape(title)}</h1>
{provenance}
{warnings_html}
{summary}
<h2>The model's rules</h2>
<p class="note">Each rule's points, how many leads it fires for, its share of all the points given (bonus or penalty,
counted by size) and how the leads it fires for converted: lift ×2 means twice the average.</p>
{rules}
<h2>Does a higher score mean a likelier buyer?</h2>
{_img(images["deciles"], "Conversion by score decile")}
<p class="note">Leads are ranked by score and cut into tenths; leads with the same score always stay in one group, so a
group can hold more than a tenth and there can be fewer than ten groups.</p>
{deciles}
<div class="pair">{_img(images["roc"], "ROC curve")} {_img(images["calibration"], "Predicted vs actual conversion")}</div>
<h2>Predicted vs actual conversion</h2>
{calibration}
<h2>Scores of converters and non-converters</h2>
{_img(images["distribution"], "Score distributions")}
{quant}
<h2>Grades, bands and stages</h2>
{_img(images["grades"], "Conversion by grade")}
{grades}{bands}
<p class="note">The stage table counts each lead once, at the stage it reached: "mql" there is the leads that stopped at
MQL, while the MQL figure above counts every lead at MQL or beyond (mql, sql and customer).</p>
{stages}
<h2>Time to conversion</h2>
{timing}
<p style="color:#718096;font-size:13px">Made by <code>leadscore backtest</code>; every figure is also in report.json.</p>
</body></html>
"""
    path.write_text(html, encoding="utf-8")


def write_report(result: dict[str, Any], directory: str | Path, title: str = "leadscore backtest") -> Path:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    write_json(result, out / "report.json")
    write_html(result, out / "report.html", title)
    return out / "report.html"
