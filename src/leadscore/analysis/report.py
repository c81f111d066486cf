"""report.json and report.html (with PNG charts made by matplotlib) for a backtest."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

CHARTS = ("deciles.png", "distribution.png", "grades.png", "roc.png")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.1f}%"


def _num(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def write_json(result: dict[str, Any], path: Path) -> None:
    public = {k: v for k, v in result.items() if not k.startswith("_")}
    path.write_text(json.dumps(public, indent=2, default=str) + "\n", encoding="utf-8")


def _charts(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    base = result["base_rate"]
    # 1. conversion by decile, against the base rate
    d = result["deciles"]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.bar([str(x["decile"]) for x in d], [x["conversion"] * 100 for x in d], color="#2b6cb0")
    ax.axhline(base * 100, color="#c53030", linestyle="--", label=f"all leads: {base * 100:.1f}%")
    for i, x in enumerate(d):
        ax.text(i, x["conversion"] * 100 + 1, f"×{x['lift']:.1f}", ha="center", fontsize=8)
    ax.set(xlabel="score decile (1 = highest scores)", ylabel="converted (%)", title="Conversion by score decile")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "deciles.png", dpi=110)
    plt.close(fig)

    # 2. score distribution, converters vs the rest
    scores, labels = result["_scores"], result["_labels"]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    lo, hi = min(scores), max(scores)
    bins = 30 if hi > lo else 1
    ax.hist([s for s, y in zip(scores, labels) if not y], bins=bins, range=(lo, hi or lo + 1), alpha=0.6,
            label="did not convert", color="#a0aec0")
    ax.hist([s for s, y in zip(scores, labels) if y], bins=bins, range=(lo, hi or lo + 1), alpha=0.7,
            label="converted", color="#2f855a")
    for name, value, colour in (("MQL", result["model"]["mql"], "#b7791f"), ("SQL", result["model"]["sql"], "#c53030")):
        ax.axvline(value, color=colour, linestyle=":", label=f"{name} threshold ({value:g})")
    ax.set(xlabel="score", ylabel="leads", title="Scores of converters and non-converters")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "distribution.png", dpi=110)
    plt.close(fig)

    # 3. conversion by grade
    g = result["by_grade"]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.bar([x["group"] for x in g], [x["conversion"] * 100 for x in g], color="#6b46c1")
    for i, x in enumerate(g):
        ax.text(i, x["conversion"] * 100 + 1, str(x["leads"]), ha="center", fontsize=7)
    ax.axhline(base * 100, color="#c53030", linestyle="--")
    ax.set(xlabel="grade (fit letter, engagement number); labels: number of leads", ylabel="converted (%)",
           title="Conversion by grade")
    fig.tight_layout()
    fig.savefig(out / "grades.png", dpi=110)
    plt.close(fig)

    # 4. ROC curve
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
    fig.tight_layout()
    fig.savefig(out / "roc.png", dpi=110)
    plt.close(fig)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_html(result: dict[str, Any], path: Path, title: str) -> None:
    t = result["thresholds"]
    m = result["model"]
    auc = result["auc"]
    top = result["deciles"][0]
    summary = (
        f"<p>{result['leads']:,} leads, {result['converted']:,} converted ({_pct(result['base_rate'])}). "
        f"Scored with model <b>{escape(str(m['name']))}</b> {escape(str(m['version']))}.</p>"
        f"<ul><li><b>Ranking (ROC AUC): {_num(auc, 3) if auc is not None else '–'}</b>: the chance that a lead who "
        f"converted scores above one who did not (0.5 is a coin toss, 1.0 perfect).</li>"
        f"<li><b>Top 10% of scores: {_pct(top['conversion'])} converted</b>, {top['lift']:.1f}× the average.</li>"
        f"<li><b>MQL (score ≥ {m['mql']:g})</b>: {t['mql']['volume']:,} leads ({_pct(t['mql']['share'])}), "
        f"{_pct(t['mql']['precision'])} of them converted, catching {_pct(t['mql']['recall'])} of all conversions.</li>"
        f"<li><b>SQL (score ≥ {m['sql']:g})</b>: {t['sql']['volume']:,} leads ({_pct(t['sql']['share'])}), "
        f"{_pct(t['sql']['precision'])} converted, {_pct(t['sql']['recall'])} of all conversions.</li></ul>"
    )
    deciles = _table(["decile", "leads", "converted", "conversion", "lift", "scores"],
                     [[str(d["decile"]), f"{d['leads']:,}", f"{d['converted']:,}", _pct(d["conversion"]), f"{d['lift']:.2f}",
                       f"{_num(d['min_score'])} to {_num(d['max_score'])}"] for d in result["deciles"]])
    bands = _table(["band", "leads", "conversion"], [[b["group"], f"{b['leads']:,}", _pct(b["conversion"])] for b in result["by_band"]])
    grades = _table(["grade", "leads", "conversion"], [[g["group"], f"{g['leads']:,}", _pct(g["conversion"])] for g in result["by_grade"]])
    stages = _table(["stage now", "leads", "conversion"], [[s["group"], f"{s['leads']:,}", _pct(s["conversion"])] for s in result["by_stage"]])
    dist = result["distribution"]
    quant = _table(["", *dist["converted"].keys()],
                   [["converted", *(_num(v) for v in dist["converted"].values())],
                    ["did not convert", *(_num(v) for v in dist["not_converted"].values())]])
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
th{{background:#f7fafc}}img{{max-width:100%;border:1px solid #e2e8f0;margin:8px 0}}h2{{margin-top:28px}}</style></head>
<body><h1>{escape(title)}</h1>
{summary}
<h2>Does a higher score mean a likelier buyer?</h2>
<img src="deciles.png" alt="Conversion by score decile">
{deciles}
<img src="roc.png" alt="ROC curve">
<h2>Scores of converters and non-converters</h2>
<img src="distribution.png" alt="Score distributions">
{quant}
<h2>Grades, bands and stages</h2>
<img src="grades.png" alt="Conversion by grade">
{grades}{bands}{stages}
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
    _charts(result, out)
    write_html(result, out / "report.html", title)
    return out / "report.html"
