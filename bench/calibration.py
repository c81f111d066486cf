"""How good are calibrated points? Against scikit-learn on the same features and split.

    .venv/bin/python bench/calibration.py [--json] [--data CSV] [--mapping YAML] [--seed 42]

Default data: X Education (../shared/data/leads_xeducation.csv) with the shipped mapping
(examples/xeducation/mapping.yaml). A random 70/30 split (seed 42): `leadscore calibrate`'s
code fits the points on the 70%, the written model file is loaded and the 30% is scored
through the engine, as production would. In the same run, on the same mapped columns and
split, scikit-learn's LogisticRegression (one-hot categories, raw numbers, standardized) and
HistGradientBoostingClassifier are fitted and scored. Prints a table, then one JSON line:
{"points_auc", "logreg_auc", "gbm_auc", "top_decile_lift", ...}.
Targets: points AUC ≥ logreg AUC, ≥ gbm AUC − 0.01; top-decile lift ≥ 2.3.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--mapping", default=str(MAPPING))
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, flush=True))

    import numpy as np
    from leadscore.analysis.calibrate import Target, calibrate
    from leadscore.analysis.dataset import read_leads, score_leads
    from leadscore.analysis.mapping import load_mapping
    from leadscore.analysis.metrics import deciles, roc_auc
    from scoring_core import Engine, load_model
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    mapping = load_mapping(args.mapping)
    leads = read_leads(args.data, mapping)
    order = list(range(len(leads)))
    random.Random(args.seed).shuffle(order)
    cut = int(round(len(leads) * 0.7))
    train, test = [leads[i] for i in order[:cut]], [leads[i] for i in order[cut:]]
    y_train = np.array([lead.converted for lead in train], dtype=int)
    y_test = [lead.converted for lead in test]
    say(f"{len(leads):,} leads: {len(train):,} to fit, {len(test):,} to score (seed {args.seed})")

    started = time.perf_counter()
    fitted = calibrate(train, mapping, mql=Target(share=0.3), sql=Target(share=0.1), source=Path(args.data).name)
    fit_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "model.yaml"
        path.write_text(fitted.text, encoding="utf-8")
        engine = Engine(load_model(path))  # the model file as written, read back like any model
    started = time.perf_counter()
    points = [score.total for score, _ in score_leads(test, engine)]
    score_s = time.perf_counter() - started
    points_auc = roc_auc(points, y_test)
    d = deciles(points, y_test)

    X_train, X_test, n_columns = raw_features(train, test, mapping)
    logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(X_train, y_train)
    logreg_auc = float(roc_auc_score(y_test, logreg.decision_function(X_test)))
    gbm = HistGradientBoostingClassifier(random_state=args.seed).fit(X_train, y_train)
    gbm_auc = float(roc_auc_score(y_test, gbm.predict_proba(X_test)[:, 1]))

    result = {
        "points_auc": round(points_auc, 4),
        "logreg_auc": round(logreg_auc, 4),
        "gbm_auc": round(gbm_auc, 4),
        "top_decile_lift": round(d[0]["lift"], 3),
        "top_decile_conversion": round(d[0]["conversion"], 4),
        "cv_auc_train": round(fitted.cv_auc, 4),
        "rules": fitted.rules,
        "ml_columns": n_columns,
        "fit_seconds": round(fit_s, 1),
        "score_leads_per_second": round(len(test) / score_s),
        "targets": {"points_auc_ge_logreg": points_auc >= logreg_auc, "points_auc_ge_gbm_minus_0.01": points_auc >= gbm_auc - 0.01,
                    "top_decile_lift_ge_2.3": d[0]["lift"] >= 2.3},
    }
    say("")
    say(f"{'model':<44}{'test ROC AUC':>14}")
    say(f"{'leadscore points (' + str(fitted.rules) + ' rules, through the engine)':<44}{points_auc:>14.4f}")
    say(f"{'logistic regression (' + str(n_columns) + ' columns)':<44}{logreg_auc:>14.4f}")
    say(f"{'gradient boosting (same columns)':<44}{gbm_auc:>14.4f}")
    say(f"top decile: {d[0]['conversion']:.1%} converted, lift {d[0]['lift']:.2f} (base rate {sum(y_test) / len(y_test):.1%})")
    say(f"targets: {'met' if all(result['targets'].values()) else 'NOT met'} {result['targets']}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
