"""`leadscore backtest` on a crafted CSV, mapping and model whose every figure is worked out by hand.

The model gives these points (no decay, and backtest scores each lead at its creation time):

    fit         big_company  company_size ≥ 100        +20
                saas         industry in [saas]        +10   (the engine compares case-insensitively)
                no_size      company_size missing       −5
    engagement  visits       site_visit, 5 each, cap 15      (3 visits or more: 15)
                demo         demo_request 30, cap 30
                called       called_by_sales 40             (never earned: the mapping ignores that value)
    stages      mql 30, sql 50, no hysteresis
    grades      fit A 30 / B 20 / C 10, engagement 1: 30 / 2: 15 / 3: 5
    bands       hot 50, warm 30

The 20 leads fall on 8 score levels (ids L01.. are by level; the CSV interleaves them; the
deciles keep each level whole, so its place in the file does not matter):

    level  leads               fit + eng   grade  band  stage  converted
      75   L01 L02             30 + 45     A1     hot   sql    2 of 2   (L01, L02)
      50   L03 L04             20 + 30     B1     hot   sql    1 of 2   (L03)
      35   L05 L06 L07         20 + 15     B2     warm  mql    2 of 3   (L05, L07)
      30   L08 L09 L10         30 +  0     A4     warm  mql    1 of 3   (L09)
      25   L11 L12             −5 + 30     D1     cold  lead   0 of 2
      10   L13 L14 L15         10 +  0     C4     cold  lead   1 of 3   (L14)
       0   L16 L17 L18          0 +  0     D4     cold  lead   0 of 3
      −5   L19 L20             −5 +  0     D4     cold  lead   0 of 2
                                                           7 of 20 converted, base rate 0.35
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest
from leadscore.analysis.backtest import backtest
from leadscore.analysis.dataset import DataError, read_leads, score_leads
from leadscore.analysis.mapping import MappingError, load_mapping
from leadscore.analysis.report import write_report
from leadscore.cli import main
from scoring_core import Engine, load_model

MODEL = """\
version: "t1"
name: crafted
fit:
  - {id: big_company, when: {company_size: {gte: 100}}, points: 20}
  - {id: saas, when: {industry: [saas]}, points: 10}
  - {id: no_size, when: {company_size: {exists: false}}, points: -5}
engagement:
  - {id: visits, on: site_visit, points: 5, cap: 15}
  - {id: demo, on: demo_request, points: 30, cap: 30}
  - {id: called, on: called_by_sales, points: 40}
stages:
  mql: {score: 30}
  sql: {score: 50}
  hysteresis: 0
grades:
  fit: {A: 30, B: 20, C: 10}
  engagement: {"1": 30, "2": 15, "3": 5}
bands: {hot: 50, warm: 30}
"""

MAPPING = """\
id: Lead
outcome: {column: Won, positive: ["yes"]}
created_at: Created
converted_at: Won At
missing: ["", "n/a"]
exclude:
  - {column: Notes, reason: "written by sales after contact"}
facts:
  - {column: Company Size, fact: company_size, numeric: true}
  - {column: Industry, fact: industry, lowercase: true}
events:
  - {column: Visits, kind: count, event: site_visit}
  - column: Last Action
    kind: category
    ignore: {Called by Sales: "the sales team's own action"}
"""

HEADER = ["Lead", "Company Size", "Industry", "Visits", "Last Action", "Won", "Created", "Won At", "Notes"]
# (lead, size, industry, visits, last action, won, created, won at)   score: why
ROWS = [
    ("L16", "50", "Retail", "0", "Email Opened", "no", "2026-03-01", ""),  # 0: small, no rule
    ("L05", "300", "Health", "3", "Email Opened", "yes", "2026-03-01", "2026-03-11"),  # 35: 20 + 3×5 (10 days)
    ("L01", "250", "SaaS", "3", "Demo Request", "yes", "2026-03-01", "2026-03-03"),  # 75: 20+10+15+30 (2 days)
    ("L11", "", "Retail", "0", "Demo Request", "no", "2026-03-02", ""),  # 25: −5 + 30
    ("L08", "200", "SaaS ", "0", "", "no", "2026-03-02", ""),  # 30: 20 + 10
    ("L13", "20", "saas", "0", "Email Opened", "no", "2026-03-02", ""),  # 10: saas only
    ("L19", "", "Retail", "0", "Email Opened", "no", "2026-03-03", ""),  # −5: no size
    ("L03", "100", "Retail", "0", "Demo Request", "yes", "2026-03-03", "2026-03-12"),  # 50: 20 + 30 (9 days)
    ("L06", "120", "n/a", "4", "Page Visited", "no", "2026-03-03", ""),  # 35: 20 + 15 (4 visits, capped)
    ("L09", "110", "SAAS", "0", "Called by Sales", "yes", "2026-03-04", ""),  # 30: 20 + 10; won, no date
    ("L14", "99", "SaaS", "0", "Page Visited", "yes", "2026-03-10", "2026-03-17"),  # 10: 99 < 100 (7 days)
    ("L17", "10", "Health", "0", "Called by Sales", "no", "2026-03-04", ""),  # 0: called is ignored
    ("L02", "1,200", "saas", "9", "Demo Request", "yes", "2026-03-02", "2026-03-06"),  # 75: 9 visits capped (4 days)
    ("L12", "n/a", "Health", "0", "Demo Request", "no", "2026-03-05", ""),  # 25: "n/a" is missing
    ("L07", "150", "", "7", "Called by Sales", "yes", "2026-03-05", "2026-03-26"),  # 35: 20 + 15 (21 days)
    ("L10", "999", "saas", "n/a", "Email Opened", "no", "2026-03-05", ""),  # 30: 20 + 10
    ("L15", "5", "saas", "0", "", "no", "2026-03-10", "2026-03-11"),  # 10; a date, but not converted
    ("L18", "1", "", "0", "", "no", "2026-03-06", ""),  # 0
    ("L04", "500", "Retail", "", "Demo Request", "no", "2026-03-06", ""),  # 50: 20 + 30
    ("L20", "", "", "0", "Page Visited", "no", "2026-03-07", ""),  # −5
]
EXPECTED_SCORE = {"L01": 75, "L02": 75, "L03": 50, "L04": 50, "L05": 35, "L06": 35, "L07": 35, "L08": 30, "L09": 30,
                  "L10": 30, "L11": 25, "L12": 25, "L13": 10, "L14": 10, "L15": 10, "L16": 0, "L17": 0, "L18": 0,
                  "L19": -5, "L20": -5}

# 7 converters, 13 not. Per level, (converters, non-converters):
#   75: (2, 0)  50: (1, 1)  35: (2, 1)  30: (1, 2)  25: (0, 2)  10: (1, 2)  0: (0, 3)  −5: (0, 2)
# Each converter: non-converters below it + ½ × non-converters tied with it:
#   75: 13 each → 26;  50: 12 + ½ = 12.5;  35: 11 + ½ = 11.5 each → 23;  30: 9 + 2·½ = 10;  10: 5 + 2·½ = 6
#   Σ = 77.5 of 7 × 13 = 91 pairs
AUC = 77.5 / 91  # 0.8516…

# 20 leads → 10 deciles of 2, ranked by score (ties in CSV order):
#   d1 L01 L02 (75 75) 2 conv | d2 L03 L04 (50 50) 1 | d3 L05 L06 (35 35) 1 | d4 L07 L08 (35 30) 1
#   d5 L09 L10 (30 30) 1 | d6 L11 L12 (25 25) 0 | d7 L13 L14 (10 10) 1 | d8 L15 L16 (10 0) 0
#   d9 L17 L18 (0 0) 0 | d10 L19 L20 (−5 −5) 0
# Deciles keep ties together (issue 17: they were cut by input order, so the ranges overlapped,
# (30, 35) and (0, 10)). The cuts fall every 2 leads; a cut inside a level moves to its end:
# 75 (2) | 50 (2) | 35 (3, ranks 5-7) | 30 (3, ranks 8-10) | 25 (2) | 10 (3) | 0 (3) | −5 (2)
DECILE_LEADS = [2, 2, 3, 3, 2, 3, 3, 2]
DECILE_CONVERTED = [2, 1, 2, 1, 0, 1, 0, 0]
DECILE_MIN_MAX = [(75, 75), (50, 50), (35, 35), (30, 30), (25, 25), (10, 10), (0, 0), (-5, -5)]


def _write(tmp_path: Path, rows=ROWS, mapping: str = MAPPING, model: str = MODEL) -> dict[str, Path]:
    lines = [",".join(HEADER)]
    for row in rows:
        cells = [*row, "called twice, keen" if row[5] == "yes" else "no answer"]
        lines.append(",".join(f'"{c}"' if "," in c else c for c in cells))
    paths = {"data": tmp_path / "leads.csv", "mapping": tmp_path / "mapping.yaml", "model": tmp_path / "model.yaml"}
    paths["data"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    paths["mapping"].write_text(mapping, encoding="utf-8")
    paths["model"].write_text(model, encoding="utf-8")
    return paths


@pytest.fixture
def files(tmp_path):
    return _write(tmp_path)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    """The backtest of the crafted leads, once for the tests that only read its figures."""
    files = _write(tmp_path_factory.mktemp("backtest"))
    leads = read_leads(files["data"], load_mapping(files["mapping"]))
    return backtest(leads, Engine(load_model(files["model"])))


def test_the_crafted_model_is_valid_and_scores_each_lead_as_worked_out(files):
    engine = Engine(load_model(files["model"]))
    leads = read_leads(files["data"], load_mapping(files["mapping"]))
    assert [lead.id for lead in leads] == [r[0] for r in ROWS]
    scored = score_leads(leads, engine)
    assert {lead.id: s.total for lead, (s, _) in zip(leads, scored)} == EXPECTED_SCORE
    by_id = {lead.id: (s, stage) for lead, (s, stage) in zip(leads, scored)}
    assert [by_id[i][0].grade for i in ("L01", "L03", "L05", "L08", "L11", "L13", "L16", "L19")] == \
        ["A1", "B1", "B2", "A4", "D1", "C4", "D4", "D4"]
    assert {i: by_id[i][1] for i in ("L01", "L04", "L05", "L10", "L11", "L20")} == \
        {"L01": "sql", "L04": "sql", "L05": "mql", "L10": "mql", "L11": "lead", "L20": "lead"}
    # the ignored category value makes no event: L17 would have 40 from `called` otherwise
    assert by_id["L17"][0].reasons == ()


def test_backtest_headline_figures(result):
    assert result["leads"] == 20
    assert result["converted"] == 7
    assert result["base_rate"] == pytest.approx(0.35)
    assert result["model"] == {"name": "crafted", "version": "t1", "mql": 30, "sql": 50}
    assert result["auc"] == pytest.approx(AUC)
    assert result["auc"] == pytest.approx(0.851648, abs=1e-6)


def test_backtest_deciles(result):
    d = result["deciles"]
    assert [x["leads"] for x in d] == DECILE_LEADS
    assert [x["converted"] for x in d] == DECILE_CONVERTED
    assert [(x["min_score"], x["max_score"]) for x in d] == DECILE_MIN_MAX
    # conversion 2/2, 1/2, 2/3 …; lift = conversion / 0.35
    assert [x["conversion"] for x in d] == pytest.approx([c / k for c, k in zip(DECILE_CONVERTED, DECILE_LEADS)])
    assert d[0]["lift"] == pytest.approx(1 / 0.35)  # 2.857…
    assert d[1]["lift"] == pytest.approx(0.5 / 0.35)  # 1.428…
    assert result["top_decile_lift"] == pytest.approx(1 / 0.35)


def test_backtest_thresholds(result):
    # MQL or above: levels 75, 50, 35, 30 → 2 + 2 + 3 + 3 = 10 leads, 2 + 1 + 2 + 1 = 6 converted
    assert result["thresholds"]["mql"] == pytest.approx(
        {"volume": 10, "share": 0.5, "converted": 6, "precision": 0.6, "recall": 6 / 7})
    # SQL: levels 75 and 50 → 4 leads, 3 converted
    assert result["thresholds"]["sql"] == pytest.approx(
        {"volume": 4, "share": 0.2, "converted": 3, "precision": 0.75, "recall": 3 / 7})


def test_backtest_bands_grades_stages(result):
    # hot ≥ 50: 75, 50 → 4 leads, 3 conv; warm ≥ 30: 35, 30 → 6 leads, 3 conv; cold: the other 10, 1 conv
    assert result["by_band"] == [
        {"group": "hot", "leads": 4, "converted": 3, "conversion": 0.75},
        {"group": "warm", "leads": 6, "converted": 3, "conversion": 0.5},
        {"group": "cold", "leads": 10, "converted": 1, "conversion": 0.1},
    ]
    assert [(g["group"], g["leads"], g["converted"]) for g in result["by_grade"]] == [
        ("A1", 2, 2), ("A4", 3, 1), ("B1", 2, 1), ("B2", 3, 2), ("C4", 3, 1), ("D1", 2, 0), ("D4", 5, 0)]
    assert [(g["group"], g["leads"], g["converted"]) for g in result["by_stage"]] == [
        ("lead", 10, 1), ("mql", 6, 3), ("sql", 4, 3)]


def test_backtest_score_distribution(result):
    # converters: 10 30 35 35 50 75 75 (n = 7): ranks ⌈0.7⌉=1, ⌈1.75⌉=2, ⌈3.5⌉=4, ⌈5.25⌉=6, ⌈6.3⌉=7
    assert result["distribution"]["converted"] == {"p10": 10, "p25": 30, "p50": 35, "p75": 75, "p90": 75}
    # the rest: −5 −5 0 0 0 10 10 25 25 30 30 35 50 (n = 13): ranks 2, 4, 7, 10, 12
    assert result["distribution"]["not_converted"] == {"p10": -5, "p25": 0, "p50": 10, "p75": 30, "p90": 35}


def test_backtest_time_to_conversion(result):
    # converters with both dates: hot L01 2, L02 4, L03 9 days; warm L05 10, L07 21 (L09 has no date);
    # cold L14 7. L15 has a date but did not convert: not counted.
    # overall 2 4 7 9 10 21 → (7 + 9) / 2 = 8; hot 2 4 9 → 4; warm 10 21 → 15.5; cold 7
    assert result["time_to_conversion"] == {
        "leads": 6, "median_days": pytest.approx(8.0),
        "by_group": [{"group": "hot", "leads": 3, "median_days": pytest.approx(4.0)},
                     {"group": "warm", "leads": 2, "median_days": pytest.approx(15.5)},
                     {"group": "cold", "leads": 1, "median_days": pytest.approx(7.0)}]}


def test_without_dates_there_is_no_time_to_conversion(tmp_path):
    mapping = MAPPING.replace("created_at: Created\n", "").replace("converted_at: Won At\n", "")
    files = _write(tmp_path, mapping=mapping)
    leads = read_leads(files["data"], load_mapping(files["mapping"]))
    result = backtest(leads, Engine(load_model(files["model"])))
    assert result["time_to_conversion"] is None
    assert result["auc"] == pytest.approx(AUC)  # the dates change nothing else


def test_cli_backtest_report_html_charts_and_json(files, tmp_path, capsys):
    import matplotlib.image

    out = tmp_path / "report"
    code = main(["backtest", "--data", str(files["data"]), "--mapping", str(files["mapping"]),
                 "--model", str(files["model"]), "--report", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out == ""  # without --json, nothing on stdout
    assert "20 leads, 7 converted (35.0%); ROC AUC 0.852" in captured.err
    assert "MQL 10 leads, precision 60.0%, recall 85.7%; SQL 4 leads, precision 75.0%, recall 42.9%" in captured.err

    html = (out / "report.html").read_text(encoding="utf-8")
    # one self-contained file (issue 17: the charts were PNG files beside it, so moving it broke them)
    sources = re.findall(r'<img[^>]*\bsrc="([^"]+)"', html)
    assert len(sources) == 5
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json"]
    for src in sources:
        assert src.startswith("data:image/png;base64,"), src[:40]
        png = base64.b64decode(src.split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        image = matplotlib.image.imread(io.BytesIO(png))
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100, image.shape
        assert image.std() > 0, "a chart of one flat colour"
    assert "0.852" in html  # the AUC in the summary

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["auc"] == pytest.approx(AUC)
    assert report["thresholds"]["mql"]["volume"] == 10
    assert not any(k.startswith("_") for k in report)


FLAT_MODEL = """\
version: "0"
name: flat
stages: {mql: {score: 30}, sql: {score: 50}}
grades: {fit: {A: 30, B: 20, C: 10}, engagement: {"1": 30, "2": 15, "3": 5}}
bands: {hot: 50, warm: 30}
"""


def test_a_model_that_gives_everyone_the_same_score_still_reports(tmp_path):
    """No rules: every lead scores 0, every pair is a tie (AUC ½), and the charts are still drawn."""
    files = _write(tmp_path, model=FLAT_MODEL)
    leads = read_leads(files["data"], load_mapping(files["mapping"]))
    result = backtest(leads, Engine(load_model(files["model"])))
    assert result["auc"] == pytest.approx(0.5)
    assert result["thresholds"]["mql"]["volume"] == 0 and result["thresholds"]["mql"]["precision"] is None
    # all tied: one group of all 20 leads (issue 17: they were cut into ten by CSV order, which made
    # some "deciles" convert better than others with the same score)
    assert [(x["leads"], x["converted"], x["lift"]) for x in result["deciles"]] == [(20, 7, pytest.approx(1.0))]
    html = write_report(result, tmp_path / "flat")
    assert html.is_file()
    assert html.read_text(encoding="utf-8").count('src="data:image/png;base64,') == 5


def test_cli_backtest_json_prints_one_object(files, capsys):
    code = main(["backtest", "--data", str(files["data"]), "--mapping", str(files["mapping"]),
                 "--model", str(files["model"]), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert isinstance(obj, dict)
    assert obj["auc"] == pytest.approx(AUC)
    assert obj["leads"] == 20 and obj["thresholds"]["sql"]["volume"] == 4
    assert obj["time_to_conversion"]["median_days"] == pytest.approx(8.0)
    assert "_scores" not in obj and "_labels" not in obj


def test_cli_unknown_event_kind_names_file_line_and_field(tmp_path, capsys):
    mapping = MAPPING.replace("kind: count", "kind: counter")
    line = mapping.splitlines().index("  - {column: Visits, kind: counter, event: site_visit}") + 1
    assert line == 12
    files = _write(tmp_path, mapping=mapping)
    with pytest.raises(SystemExit) as exc:
        main(["backtest", "--data", str(files["data"]), "--mapping", str(files["mapping"]), "--model", str(files["model"])])
    assert exc.value.code == 1
    captured = capsys.readouterr()
    assert f"{files['mapping']}:{line}: events.0.kind: " in captured.err
    assert "'count', 'amount' or 'category'" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_mapping_error_lines_point_at_the_offending_entry(tmp_path):
    # the second fact has a fact name that is not an identifier, the category column has `event`
    mapping = MAPPING.replace("fact: industry", "fact: Industry Name").replace(
        "    kind: category\n", "    kind: category\n    event: action\n")
    path = tmp_path / "m.yaml"
    path.write_text(mapping, encoding="utf-8")
    with pytest.raises(MappingError) as exc:
        load_mapping(path)
    lines = str(exc.value).splitlines()
    assert lines[0].startswith(f"{path}:10: facts.1.fact: String should match pattern")
    assert lines[1].startswith(f"{path}:13: events.1: Value error, a category column takes its event types")


def test_cli_column_absent_from_the_csv_is_named(tmp_path, capsys):
    files = _write(tmp_path, mapping=MAPPING.replace("{column: Visits,", "{column: Visitz,"))
    with pytest.raises(SystemExit) as exc:
        main(["backtest", "--data", str(files["data"]), "--mapping", str(files["mapping"]), "--model", str(files["model"])])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "no column 'Visitz'" in err and str(files["data"]) in err
    assert "Traceback" not in err


def test_cli_bad_number_names_the_csv_line_and_column(tmp_path, capsys):
    rows = [r if r[0] != "L13" else ("L13", "big", *r[2:]) for r in ROWS]  # L13 is the 6th row: CSV line 7
    files = _write(tmp_path, rows=rows)
    with pytest.raises(DataError, match=r"leads\.csv:7: column 'Company Size' is numeric in the mapping, got 'big'"):
        read_leads(files["data"], load_mapping(files["mapping"]))
    with pytest.raises(SystemExit) as exc:
        main(["backtest", "--data", str(files["data"]), "--mapping", str(files["mapping"]), "--model", str(files["model"])])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert f"{files['data']}:7: column 'Company Size'" in err and "Traceback" not in err
