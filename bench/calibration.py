"""How good are calibrated points? Against scikit-learn on the same columns and splits, on several data sets.

    .venv/bin/python bench/calibration.py [--json] [--splits 5] [--seed 42] [--sets xeducation,bank,mqls]
    .venv/bin/python bench/calibration.py --data CSV --mapping YAML   # one data set of your own

Data sets: X Education (../shared/data/leads_xeducation.csv, the shipped mapping
examples/xeducation/mapping.yaml; skipped when the file is absent), and two made in code by
leadscore.analysis.synthetic, shaped like public lead data other than X Education: `bank`, a
bank's call campaign (20,000 leads, 16 columns, interactions) and `mqls`, a marketplace's
inbound MQLs (8,000 leads, 3 columns, 415 landing pages, most of them rare).

Each split is a stratified random 70/30 (seeds 42, 43, ...): `leadscore calibrate`'s code fits
the points on the 70%, the written model file is loaded and the 30% is scored through the
engine, as production would. On the same mapped columns and split, scikit-learn's
LogisticRegression (one-hot categories, raw numbers, standardized) and
HistGradientBoostingClassifier are fitted and scored. Prints a table per data set (mean and
spread over the splits), then one JSON line: {"sets": {name: {"points_auc", "logreg_auc",
"gbm_auc", "gap_logreg", "gap_gbm", "top_decile_lift", ...}}, "targets_met"}.
Targets: points AUC >= logreg AUC and >= gbm AUC - 0.01 (mean over splits); top-decile lift reported.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DATA = ROOT.parent / "shared" / "data" / "leads_xeducation.csv"
MAPPING = ROOT / "examples" / "xeducation" / "mapping.yaml"
SETS = ("xeducation", "bank", "mqls")


def raw_features(train, test, mapping):
    """The mapped columns as a plain ML matrix: one-hot categories (values seen in training),
    numbers as they are with a missing flag, event counts and amounts, event categories one-hot."""
    import numpy as np

    columns: list[tuple[str, object]] = []
    for col in mapping.facts:
        columns.append(("missing", col.fact))
        if col.numeric:
            columns.append(("number", col.fact))
        else:
            for value in sorted({lead.facts[col.fact] for lead in train if col.fact in lead.facts}):
                columns.append(("is", (col.fact, value)))
    for col in mapping.events:
        if col.kind == "count":
            columns.append(("count", col.event))
        elif col.kind == "amount":
            columns.append(("amount", col.event))
        else:
            for type_ in sorted({lead.categories[col.column] for lead in train if col.column in lead.categories}):
                columns.append(("count", type_))

    def row(lead):
        out = []
        for kind, key in columns:
            if kind == "missing":
                out.append(float(key not in lead.facts))
            elif kind == "number":
                out.append(float(lead.facts.get(key, 0.0)))
            elif kind == "is":
                out.append(float(lead.facts.get(key[0]) == key[1]))
            elif kind == "count":
                out.append(float(lead.counts.get(key, 0)))
            else:
                out.append(float(lead.amounts.get(key, 0.0)))
        return out

    return np.array([row(lead) for lead in train]), np.array([row(lead) for lead in test]), len(columns)


def stratified_split(leads, seed, share=0.3):
    """70/30 with the same conversion rate on both sides."""
    rng = random.Random(seed)
    test = []
    for label in (True, False):
        idx = [i for i, lead in enumerate(leads) if lead.converted == label]
        rng.shuffle(idx)
        test += idx[: int(round(len(idx) * share))]
    held = set(test)
    return [lead for i, lead in enumerate(leads) if i not in held], [leads[i] for i in sorted(held)]


def one_split(leads, mapping, seed, source):
    import numpy as np
    from leadscore.analysis.calibrate import Target, calibrate
    from leadscore.analysis.dataset import score_leads
    from leadscore.analysis.metrics import deciles, roc_auc
    from scoring_core import Engine, load_model
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train, test = stratified_split(leads, seed)
    y_train = np.array([lead.converted for lead in train], dtype=int)
    y_test = [lead.converted for lead in test]
    started = time.perf_counter()
    fitted = calibrate(train, mapping, mql=Target(share=0.3), sql=Target(share=0.1), source=source, seed=seed)
    fit_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "model.yaml"
        path.write_text(fitted.text, encoding="utf-8")
        engine = Engine(load_model(path))  # the model file as written, read back like any model
    points = [score.total for score, _ in score_leads(test, engine)]
    points_auc = roc_auc(points, y_test)
    top = deciles(points, y_test)[0]

    X_train, X_test, n_columns = raw_features(train, test, mapping)
    logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(X_train, y_train)
    logreg_auc = float(roc_auc_score(y_test, logreg.decision_function(X_test)))
    gbm = HistGradientBoostingClassifier(random_state=seed).fit(X_train, y_train)
    gbm_auc = float(roc_auc_score(y_test, gbm.predict_proba(X_test)[:, 1]))
    return {"seed": seed, "points_auc": points_auc, "logreg_auc": logreg_auc, "gbm_auc": gbm_auc,
            "top_decile_lift": top["lift"], "top_decile_conversion": top["conversion"], "cv_auc_train": fitted.cv_auc,
            "rules": fitted.rules, "interaction_rules": getattr(fitted, "interactions", 0),
            "min_category_leads": getattr(fitted, "min_category", None),
            "ml_columns": n_columns, "fit_seconds": fit_s, "leads": len(leads)}


def data_sets(names, folder):
    from leadscore.analysis import synthetic

    for name in names:
        if name == "xeducation":
            if DATA.is_file():
                yield name, DATA, MAPPING
        elif name == "bank":
            yield (name, *synthetic.write(folder, name, synthetic.bank_campaign(n=20_000, seed=7)))
        elif name == "mqls":
            yield (name, *synthetic.write(folder, name, synthetic.inbound_mqls(n=8_000, seed=7)))
        else:
            raise SystemExit(f"unknown data set {name!r}: {', '.join(SETS)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--data", help="one CSV of your own (with --mapping) instead of the built-in sets")
    parser.add_argument("--mapping", default=str(MAPPING))
    parser.add_argument("--sets", default=",".join(SETS), help=f"which built-in sets (default {','.join(SETS)})")
    parser.add_argument("--splits", type=int, default=5, help="random stratified 70/30 splits per data set")
    parser.add_argument("--seed", type=int, default=42, help="the first split's seed")
    args = parser.parse_args()
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, flush=True))

    from statistics import mean, pstdev

    from leadscore.analysis.dataset import read_leads
    from leadscore.analysis.mapping import load_mapping

    result: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as folder:
        sets = ([("data", Path(args.data), Path(args.mapping))] if args.data
                else list(data_sets(args.sets.split(","), folder)))
        for name, data, mapping_path in sets:
            mapping = load_mapping(mapping_path)
            leads = read_leads(data, mapping)
            say(f"\n{name}: {len(leads):,} leads, {sum(ld.converted for ld in leads) / len(leads):.1%} converted; "
                f"{args.splits} stratified 70/30 splits")
            runs = []
            for k in range(args.splits):
                r = one_split(leads, mapping, args.seed + k, Path(data).name)
                runs.append(r)
                say(f"  seed {r['seed']}: points {r['points_auc']:.4f} ({r['rules']} rules, {r['interaction_rules']} of "
                    f"several conditions, categories from {r['min_category_leads']} leads), logreg {r['logreg_auc']:.4f}, "
                    f"gbm {r['gbm_auc']:.4f}, top-decile lift {r['top_decile_lift']:.2f}, fit {r['fit_seconds']:.0f} s")
            gaps_lr = [r["points_auc"] - r["logreg_auc"] for r in runs]
            gaps_gb = [r["points_auc"] - r["gbm_auc"] for r in runs]
            summary = {
                "leads": len(leads),
                "splits": len(runs),
                **{k: round(mean(r[k] for r in runs), 4) for k in ("points_auc", "logreg_auc", "gbm_auc",
                                                                  "top_decile_lift", "cv_auc_train")},
                "gap_logreg": round(mean(gaps_lr), 4), "gap_logreg_sd": round(pstdev(gaps_lr), 4),
                "gap_gbm": round(mean(gaps_gb), 4), "gap_gbm_sd": round(pstdev(gaps_gb), 4),
                "points_below_logreg_splits": sum(g < 0 for g in gaps_lr),
                "points_below_gbm_minus_0.01_splits": sum(g < -0.01 for g in gaps_gb),
                "rules": round(mean(r["rules"] for r in runs), 1),
                "interaction_rules": round(mean(r["interaction_rules"] for r in runs), 1),
                "min_category_leads": [r["min_category_leads"] for r in runs],
                "ml_columns": runs[0]["ml_columns"],
                "fit_seconds": round(mean(r["fit_seconds"] for r in runs), 1),
                "per_split": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in runs],
            }
            summary["targets"] = {"points_auc_ge_logreg": summary["gap_logreg"] >= 0,
                                  "points_auc_ge_gbm_minus_0.01": summary["gap_gbm"] >= -0.01}
            result[name] = summary

    say("")
    say(f"{'data set':<12}{'points':>8}{'logreg':>8}{'gbm':>8}{'points-LR':>16}{'points-GB':>16}{'lift':>7}{'rules':>7}")
    for name, s in result.items():
        say(f"{name:<12}{s['points_auc']:>8.4f}{s['logreg_auc']:>8.4f}{s['gbm_auc']:>8.4f}"
            f"{s['gap_logreg']:>+9.4f} ±{s['gap_logreg_sd']:.4f}{s['gap_gbm']:>+9.4f} ±{s['gap_gbm_sd']:.4f}"
            f"{s['top_decile_lift']:>7.2f}{s['rules']:>7.0f}")
    met = all(all(s["targets"].values()) for s in result.values())
    say(f"targets (points >= logreg, >= gbm - 0.01, mean over splits): {'met' if met else 'NOT met'}")
    print(json.dumps({"sets": result, "targets_met": met}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
