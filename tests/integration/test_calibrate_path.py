"""The calibrate → backtest path as a newcomer walks it (issue 17): real files (delimiters,
encodings, BOMs, no id column, dates), a held-out part, and one-line errors that say the fix.

Each test here failed on the code before issue 17, except those that keep what already worked:
a UTF-8 byte order mark and ISO dates."""

from __future__ import annotations

import csv
import io
import json
import math
import random
from pathlib import Path

import pytest
from leadscore.analysis.backtest import backtest
from leadscore.analysis.calibrate import Target, calibrate
from leadscore.analysis.dataset import (DataError, fit_record_path, held_out_path, load_leads, read_leads,
                                       score_leads)
from leadscore.analysis.mapping import MappingError, load_mapping
from leadscore.analysis.report import write_report
from leadscore.cli import main
from scoring_core import Engine, load_model

MAPPING = """\
id: Lead
outcome: {column: Won, positive: ["yes"]}
facts:
  - {column: Plan, fact: plan}
  - {column: Size, fact: size, numeric: true}
events:
  - {column: Visits, kind: count, event: site_visit}
cv_folds: 3
"""

MODEL = """\
version: "t1"
name: small
fit:
  - {id: pro, when: {plan: [pro]}, points: 40}
  - {id: big, when: {size: {gte: 100}}, points: 20}
engagement:
  - {id: visits, on: site_visit, points: 10, cap: 30}
stages:
  mql: {score: 30}
  sql: {score: 60}
  hysteresis: 0
grades:
  fit: {A: 50, B: 20, C: 10}
  engagement: {"1": 30, "2": 20, "3": 10}
bands: {hot: 60, warm: 30}
"""

HEADER = ["Lead", "Plan", "Size", "Visits", "Won"]
ROWS = [
    ["A1", "Pro", "150", "3", "yes"],  # 40 + 20 + 30 = 90
    ["A2", "Pro", "20", "1", "yes"],  # 40 + 10 = 50
    ["A3", "Free", "150", "0", "no"],  # 20
    ["A4", "Free", "10", "2", "no"],  # 20
    ["A5", "Pro", "10", "0", "no"],  # 40
    ["A6", "Free", "200", "4", "yes"],  # 20 + 30 = 50
    ["A7", "Free", "5", "0", "no"],  # 0
    ["A8", "Pro", "300", "0", "yes"],  # 60
]


def _csv(rows=ROWS, header=HEADER, delimiter=",") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


@pytest.fixture
def files(tmp_path):
    paths = {"data": tmp_path / "leads.csv", "mapping": tmp_path / "mapping.yaml", "model": tmp_path / "model.yaml"}
    paths["data"].write_text(_csv(), encoding="utf-8")
    paths["mapping"].write_text(MAPPING, encoding="utf-8")
    paths["model"].write_text(MODEL, encoding="utf-8")
    return paths


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def _backtest_args(files, *more: str) -> list[str]:
    return ["backtest", "--data", str(files["data"]), "--mapping", str(files["mapping"]), "--model", str(files["model"]), *more]


# --- reading real files -----------------------------------------------------------------------

def test_a_semicolon_separated_file_is_read_like_a_comma_separated_one(files):
    mapping = load_mapping(files["mapping"])
    expected = [(lead.id, lead.facts, lead.counts, lead.converted) for lead in read_leads(files["data"], mapping)]
    files["data"].write_text(_csv(delimiter=";"), encoding="utf-8")
    found = load_leads(files["data"], mapping)
    assert found.delimiter == ";"
    assert [(lead.id, lead.facts, lead.counts, lead.converted) for lead in found.leads] == expected


def test_tab_separated_and_a_given_delimiter(files):
    mapping = load_mapping(files["mapping"])
    files["data"].write_text(_csv(delimiter="\t"), encoding="utf-8")
    assert load_leads(files["data"], mapping).delimiter == "\t"
    files["data"].write_text(_csv(delimiter="|"), encoding="utf-8")
    assert len(load_leads(files["data"], mapping, delimiter="|").leads) == len(ROWS)


def test_a_latin1_file_is_read_without_a_traceback(files, capsys):
    rows = [[*r[:1], "Prémium" if r[0] == "A3" else r[1], *r[2:]] for r in ROWS]
    files["data"].write_bytes(_csv(rows).encode("latin-1"))
    found = load_leads(files["data"], load_mapping(files["mapping"]))
    assert found.encoding in ("cp1252", "latin-1")
    assert found.leads[2].facts["plan"] == "Prémium"
    code, _, err = _run(capsys, *_backtest_args(files))
    assert code == 0, err


def test_a_wrong_encoding_given_names_the_line_and_says_the_fix(files, capsys):
    rows = [[*r[:1], "Prémium" if r[0] == "A3" else r[1], *r[2:]] for r in ROWS]
    files["data"].write_bytes(_csv(rows).encode("latin-1"))
    code, _, err = _run(capsys, *_backtest_args(files, "--encoding", "utf-8"))
    assert code == 1
    assert err.strip() == (f"{files['data']}:4: not utf-8 text (byte 0xe9): give the file's encoding, e.g. "
                           "--encoding latin-1, or leave --encoding out to detect it")


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_byte_order_mark_is_not_part_of_the_first_column(files, encoding):
    files["data"].write_bytes(_csv().encode(encoding))
    leads = read_leads(files["data"], load_mapping(files["mapping"]))
    assert [lead.id for lead in leads] == [r[0] for r in ROWS]


def test_an_empty_file_is_said_to_be_empty(files, capsys):
    files["data"].write_text("", encoding="utf-8")
    code, _, err = _run(capsys, *_backtest_args(files))
    assert code == 1
    assert err.strip().startswith(f"{files['data']}: the file is empty")
    assert "no column" not in err


def test_a_header_without_leads_is_said_so(files):
    files["data"].write_text(",".join(HEADER) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="a header line and no leads under it"):
        read_leads(files["data"], load_mapping(files["mapping"]))


def test_a_missing_column_lists_the_header_and_the_delimiter(files):
    files["data"].write_text(_csv(delimiter=";").replace(";", ":"), encoding="utf-8")  # a delimiter we do not detect
    with pytest.raises(DataError) as exc:
        read_leads(files["data"], load_mapping(files["mapping"]))
    message = str(exc.value)
    assert message.startswith(f"{files['data']}:1: no column 'Lead', 'Won', 'Plan', 'Size', 'Visits'")
    assert "--delimiter" in message


def test_a_mapping_without_an_id_numbers_the_rows(files):
    files["mapping"].write_text(MAPPING.replace("id: Lead\n", ""), encoding="utf-8")
    files["data"].write_text(_csv([r[1:] for r in ROWS], HEADER[1:]), encoding="utf-8")
    found = load_leads(files["data"], load_mapping(files["mapping"]))
    assert found.generated_ids
    assert [lead.id for lead in found.leads] == [f"row-{i}" for i in range(1, len(ROWS) + 1)]


def test_an_empty_id_names_the_line(files):
    rows = [r if r[0] != "A4" else ["", *r[1:]] for r in ROWS]
    files["data"].write_text(_csv(rows), encoding="utf-8")
    with pytest.raises(DataError, match=r"leads\.csv:5: column 'Lead' \(the lead id\) is empty"):
        read_leads(files["data"], load_mapping(files["mapping"]))


@pytest.mark.parametrize("text", ["2026-03-01", "2026-03-01 09:30", "2026-03-01T09:30:00Z", "2026/03/01",
                                  "01.03.2026", "1772355600"])
def test_dates_in_common_forms_are_event_times(files, text):
    files["mapping"].write_text(MAPPING.replace("facts:", "created_at: Created\nfacts:"), encoding="utf-8")
    rows = [[*r, text] for r in ROWS]
    files["data"].write_text(_csv(rows, [*HEADER, "Created"]), encoding="utf-8")
    lead = read_leads(files["data"], load_mapping(files["mapping"]))[0]
    assert lead.created_at is not None
    assert (lead.created_at.year, lead.created_at.month, lead.created_at.day) == (2026, 3, 1)
    assert lead.created_at.tzinfo is not None


def test_a_date_that_cannot_be_read_names_the_line_and_column(files):
    files["mapping"].write_text(MAPPING.replace("facts:", "created_at: Created\nfacts:"), encoding="utf-8")
    rows = [[*r, "03/01/2026" if r[0] == "A2" else "2026-03-01"] for r in ROWS]
    files["data"].write_text(_csv(rows, [*HEADER, "Created"]), encoding="utf-8")
    with pytest.raises(DataError, match=r"leads\.csv:3: column 'Created' \(created_at in the mapping\) needs a date "
                                        r"such as 2026-03-01.*got '03/01/2026'"):
        read_leads(files["data"], load_mapping(files["mapping"]))


# --- errors that say the fix ------------------------------------------------------------------

def test_positive_yes_unquoted_says_quote_it(files, capsys):
    files["mapping"].write_text(MAPPING.replace('positive: ["yes"]', "positive: [yes]"), encoding="utf-8")
    with pytest.raises(MappingError) as exc:
        load_mapping(files["mapping"])
    assert str(exc.value) == (f"{files['mapping']}:2: outcome.positive.0: YAML reads yes as true, not text: "
                              "quote it: `positive: ['yes']`")
    code, _, err = _run(capsys, *_backtest_args(files))
    assert code == 1 and "quote it: `positive: ['yes']`" in err


def test_a_column_name_yaml_reads_as_a_number_says_quote_it(files):
    files["mapping"].write_text(MAPPING.replace("{column: Size,", "{column: 2024,"), encoding="utf-8")
    with pytest.raises(MappingError, match=r"mapping\.yaml:5: facts\.1\.column: YAML reads 2024 as the number 2024, "
                                           r"not text: quote it: `column: '2024'`"):
        load_mapping(files["mapping"])


def test_a_positive_value_that_never_occurs_lists_the_values_seen(files, capsys):
    files["mapping"].write_text(MAPPING.replace('positive: ["yes"]', 'positive: ["Yes"]'), encoding="utf-8")
    code, _, err = _run(capsys, *_backtest_args(files))
    assert code == 1
    assert err.strip() == (f"{files['mapping']}:2: outcome.positive: no row of {files['data']} has 'Yes' in column "
                           "'Won'; the outcome column has: no, yes (compared exactly, case included: list the values "
                           "that mean converted)")


def test_every_lead_converted_lists_the_values_seen(files, capsys):
    files["data"].write_text(_csv([r for r in ROWS if r[4] == "yes"]), encoding="utf-8")
    code, _, err = _run(capsys, *_backtest_args(files))
    assert code == 0
    assert "AUC needs both converted and unconverted leads; the outcome column 'Won' has: yes (positive: yes" in err


def test_a_model_none_of_whose_rules_fires_is_warned_about(files, capsys):
    files["model"].write_text(MODEL.replace("plan: [pro]", "tier: [pro]").replace("size:", "employees:")
                              .replace("on: site_visit", "on: page_view"), encoding="utf-8")
    code, _, err = _run(capsys, *_backtest_args(files))
    assert code == 0
    assert "warning: no rule of model 'small' fires for any of these 8 leads: every lead scores 0" in err


def test_an_sql_threshold_that_adds_nothing_over_mql_is_warned_about(files, capsys):
    # SQL at 60 selects A1 (90) and A8 (60), both converted; at 45 MQL selects them and A2, A6 (50, converted)
    files["model"].write_text(MODEL.replace("mql: {score: 30}", "mql: {score: 45}"), encoding="utf-8")
    code, _, err = _run(capsys, *_backtest_args(files))
    assert code == 0
    assert "warning: SQL leads (score ≥ 60) convert no more often than MQL leads (100.0% against 100.0%)" in err
    files["model"].write_text(MODEL.replace("mql: {score: 30}", "mql: {score: 55}"), encoding="utf-8")
    code, _, err = _run(capsys, *_backtest_args(files))
    assert "warning: SQL (score ≥ 60) selects the same 2 leads as MQL (≥ 55): the SQL threshold adds nothing" in err


def test_calibrate_out_into_a_missing_folder_fails_before_reading_or_fitting(tmp_path, capsys):
    out = tmp_path / "no" / "such" / "model.yaml"
    code, _, err = _run(capsys, "calibrate", "--data", str(tmp_path / "absent.csv"), "--mapping",
                        str(tmp_path / "absent.yaml"), "--out", str(out))
    assert code == 2
    assert err.strip() == (f"leadscore calibrate: --out {out}: the folder {out.parent} does not exist: create it first "
                           f"(mkdir -p {out.parent})")


def test_calibrate_test_share_out_of_range_is_a_usage_error(tmp_path, capsys):
    code, _, err = _run(capsys, "calibrate", "--data", "x.csv", "--mapping", "m.yaml", "--out", str(tmp_path / "m.yaml"),
                        "--test-share", "30")
    assert code == 2 and "a share is between 0 and 1" in err


def test_backtest_report_onto_a_file_is_refused(files, tmp_path, capsys):
    target = tmp_path / "report.txt"
    target.write_text("x", encoding="utf-8")
    code, _, err = _run(capsys, *_backtest_args(files, "--report", str(target)))
    assert code == 2 and "is a file; give a folder" in err


# --- honest evaluation: a held-out part ---------------------------------------------------------

def synthetic(n: int = 500, seed: int = 3) -> list[list[str]]:
    """Leads whose conversion follows the plan and the visits (and a little size)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        plan = rng.choice(["Pro", "Free", "Team", ""])
        visits = rng.randint(0, 8)
        size = rng.choice(["5", "50", "500", ""])
        logit = {"Pro": 1.2, "Team": 0.4, "Free": -1.0, "": -0.3}[plan] + 0.3 * visits - 1.0 + (0.4 if size == "500" else 0)
        won = rng.random() < 1 / (1 + 2.718281828 ** -logit)
        rows.append([f"S{i:04d}", plan, size, str(visits), "yes" if won else "no"])
    return rows


@pytest.fixture
def history(tmp_path):
    paths = {"data": tmp_path / "history.csv", "mapping": tmp_path / "mapping.yaml", "model": tmp_path / "fitted.yaml"}
    paths["data"].write_text(_csv(synthetic()), encoding="utf-8")
    paths["mapping"].write_text(MAPPING, encoding="utf-8")
    return paths


def _calibrate(capsys, history, *more: str) -> str:
    code, _, err = _run(capsys, "calibrate", "--data", str(history["data"]), "--mapping", str(history["mapping"]),
                        "--out", str(history["model"]), *more)
    assert code == 0, err
    return err


@pytest.fixture(scope="module")
def held_out_fit(tmp_path_factory):
    """One `calibrate --test-share 0.3 --seed 7` of the history, shared by the tests that only read it."""
    import contextlib

    folder = tmp_path_factory.mktemp("held-out")
    paths = {"data": folder / "history.csv", "mapping": folder / "mapping.yaml", "model": folder / "fitted.yaml"}
    paths["data"].write_text(_csv(synthetic()), encoding="utf-8")
    paths["mapping"].write_text(MAPPING, encoding="utf-8")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["calibrate", "--data", str(paths["data"]), "--mapping", str(paths["mapping"]),
                     "--out", str(paths["model"]), "--test-share", "0.3", "--seed", "7"])
    assert code == 0, err.getvalue()
    assert "Traceback" not in err.getvalue()
    return {**paths, "err": err.getvalue()}


def test_calibrate_test_share_holds_out_a_stratified_part_and_writes_its_ids(held_out_fit, history, capsys):
    err = held_out_fit["err"]
    rows = synthetic()
    held_file = held_out_path(held_out_fit["model"])
    assert held_file.name == "fitted.held-out.csv" and f"ids in {held_file}" in err
    held = list(held_file.read_text(encoding="utf-8").splitlines()[1:])
    assert held_file.read_text(encoding="utf-8").splitlines()[0] == "Lead"
    won = {r[0] for r in rows if r[4] == "yes"}
    assert len(held) == round(len(won) * 0.3) + round((len(rows) - len(won)) * 0.3)
    assert sum(1 for i in held if i in won) == round(len(won) * 0.3)  # stratified
    record = json.loads(fit_record_path(held_out_fit["model"]).read_text(encoding="utf-8"))
    assert set(record["held_out_ids"]) == set(held)
    assert not set(record["fitted_ids"]) & set(held) and len(record["fitted_ids"]) + len(held) == len(rows)
    assert "held out" in held_out_fit["model"].read_text(encoding="utf-8").splitlines()[0]
    # the same seed draws the same part (the draw is the seeded split, whatever the fit); another seed another
    from leadscore.analysis.dataset import split_leads

    leads = read_leads(held_out_fit["data"], load_mapping(held_out_fit["mapping"]))
    assert [lead.id for lead in split_leads(leads, 0.3, 7)[1]] == held
    _calibrate(capsys, history, "--test-share", "0.3", "--seed", "8")
    assert held_out_path(history["model"]).read_text(encoding="utf-8").splitlines()[1:] != held


def test_backtest_of_a_held_out_model_reports_on_the_held_out_part_only(held_out_fit, tmp_path, capsys):
    history = held_out_fit
    held = held_out_path(history["model"]).read_text(encoding="utf-8").splitlines()[1:]
    code, out, err = _run(capsys, "backtest", "--data", str(history["data"]), "--mapping", str(history["mapping"]),
                          "--model", str(history["model"]), "--json", "--report", str(tmp_path / "r"))
    assert code == 0, err
    result = json.loads(out)
    assert result["leads"] == len(held)
    assert result["fitting"]["status"] == "held-out"
    assert f"No: these are the {len(held)} leads calibrate held out" in err
    html = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert f"these are the {len(held)} leads calibrate held out" in html
    assert result["calibration"]["predicted_from"].startswith("the conversion curve of the leads calibrate fitted")
    # --all-leads scores every lead, and says most were fitted
    code, out, err = _run(capsys, "backtest", "--data", str(history["data"]), "--mapping", str(history["mapping"]),
                          "--model", str(history["model"]), "--json", "--all-leads")
    assert json.loads(out)["leads"] == 500 and json.loads(out)["fitting"]["status"] == "partly"


def test_backtest_on_the_leads_a_model_was_fitted_to_says_so(history, tmp_path, capsys):
    err = _calibrate(capsys, history)
    assert "fitted to all 500 leads: a backtest on them flatters the model" in err
    code, _, err = _run(capsys, "backtest", "--data", str(history["data"]), "--mapping", str(history["mapping"]),
                        "--model", str(history["model"]), "--report", str(tmp_path / "r"))
    assert code == 0
    assert "used in fitting? Yes: all 500 leads were used to fit the model, so these figures flatter it" in err
    assert "all 500 leads were used to fit the model" in (tmp_path / "r" / "report.html").read_text(encoding="utf-8")


def test_backtest_without_a_fit_record_says_it_cannot_tell(files, capsys):
    code, out, err = _run(capsys, *_backtest_args(files, "--json"))
    assert json.loads(out)["fitting"]["status"] == "unknown"
    assert "used in fitting? Unknown: there is no fit record beside the model" in err


# --- the report -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The backtest of the 8 leads with the small model, and its report.html (written once: the
    tests below only read them)."""
    folder = tmp_path_factory.mktemp("report")
    (folder / "leads.csv").write_text(_csv(), encoding="utf-8")
    (folder / "mapping.yaml").write_text(MAPPING, encoding="utf-8")
    (folder / "model.yaml").write_text(MODEL, encoding="utf-8")
    result = backtest(read_leads(folder / "leads.csv", load_mapping(folder / "mapping.yaml")),
                      Engine(load_model(folder / "model.yaml")))
    return result, write_report(result, folder / "r").read_text(encoding="utf-8")


@pytest.fixture
def result(report):
    return report[0]


def test_report_points_print_as_integers(report):
    html = report[1]
    assert "score ≥ 30)" in html and "score ≥ 60)" in html
    assert ".0<" not in html.replace("1.0<", "")  # no "60.0" anywhere in a cell (a lift of ×1.0 is not points)
    assert "<td>90</td>" in html  # the top decile's score


def test_report_rules_table_has_each_rules_share_and_lift(result):
    rules = {r["rule"]: r for r in result["rules"]}
    # points given: pro 40 × 3 leads (A1 A2 A5... and A8) = 4 × 40 = 160; big 20 × 4 (A1 A3 A6 A8) = 80;
    # visits: A1 30, A2 10, A4 20, A6 30 = 90; total 330
    assert rules["pro"]["leads"] == 4 and rules["pro"]["points_given"] == 160
    assert rules["big"]["points_given"] == 80 and rules["visits"]["points_given"] == 90
    assert rules["pro"]["share_of_score"] == pytest.approx(160 / 330)
    # pro fires for A1 A2 A5 A8: 3 of 4 converted, base rate 4/8 → lift 1.5
    assert rules["pro"]["conversion"] == pytest.approx(0.75) and rules["pro"]["lift"] == pytest.approx(1.5)


def test_report_has_an_auc_interval_and_a_calibration(report):
    result, html = report
    low, high = result["auc_interval"]
    assert low <= result["auc"] <= high
    assert sum(c["leads"] for c in result["calibration"]["by_decile"]) == 8
    assert f"95% bootstrap interval {low:.3f}–{high:.3f}" in html
    assert 'alt="Predicted vs actual conversion"' in html


def test_report_counts_say_what_they_count(report):
    html = report[1]
    assert "At MQL or beyond (score ≥ 30)" in html and "the leads whose stage is mql, sql or customer" in html
    assert "stage reached (each lead once)" in html


def test_without_events_grades_are_fit_letters_not_engagement_1(files, tmp_path):
    # issue 17: every lead got engagement grade 1 (or 4), read as "most engaged"
    files["mapping"].write_text(MAPPING.split("events:")[0], encoding="utf-8")
    leads = read_leads(files["data"], load_mapping(files["mapping"]))
    result = backtest(leads, Engine(load_model(files["model"])))
    assert {g["group"] for g in result["by_grade"]} <= {"A", "B", "C", "D"}
    assert any("no events" in w for w in result["warnings"])
    html = write_report(result, tmp_path / "r").read_text(encoding="utf-8")
    assert "fit grade (no events: no engagement number)" in html


def test_x_education_report_deciles_never_overlap(tmp_path):
    data = Path("/work/shared/data/leads_xeducation.csv")
    if not data.is_file():
        pytest.skip("X Education is not in ../shared/data")
    mapping = load_mapping(Path(__file__).resolve().parents[2] / "examples" / "xeducation" / "mapping.yaml")
    leads = read_leads(data, mapping)
    result = backtest(leads, Engine(load_model(None)))  # the shipped model: many leads share a score
    d = result["deciles"]
    assert sum(x["leads"] for x in d) == len(leads)
    for upper, lower in zip(d, d[1:]):
        assert upper["min_score"] > lower["max_score"]
        assert upper["conversion"] >= lower["conversion"] - 0.05


def test_a_rule_that_gives_every_lead_the_same_points_has_no_share_of_the_score(files):
    # calibrate's baseline: it moves every lead alike, so it would otherwise take most of the score
    files["model"].write_text(MODEL.replace("engagement:\n", 'engagement:\n  - {id: baseline, on: "*", points: 50, cap: 50}\n'),
                              encoding="utf-8")
    leads = read_leads(files["data"], load_mapping(files["mapping"]))
    rules = {r["rule"]: r for r in backtest(leads, Engine(load_model(files["model"])))["rules"]}
    assert rules["baseline"]["leads"] == 8 and rules["baseline"]["constant"]
    assert rules["baseline"]["share_of_score"] is None
    assert rules["pro"]["share_of_score"] == pytest.approx(160 / 330)


# --- duplicate ids, event dates, data without events ---------------------------------------------

def test_a_duplicate_id_names_the_file_the_id_and_both_lines(files, capsys):
    rows = [*ROWS[:5], ["A3", "Pro", "40", "2", "yes"], *ROWS[5:]]  # A3 is on line 4 and again on line 7
    files["data"].write_text(_csv(rows), encoding="utf-8")
    with pytest.raises(DataError) as exc:
        read_leads(files["data"], load_mapping(files["mapping"]))
    assert str(exc.value) == (f"{files['data']}:7: lead id 'A3' (column 'Lead') is also on line 4: each lead once; "
                              "remove or merge the duplicate rows")
    code, _, err = _run(capsys, *_backtest_args(files))
    assert code == 1 and err.strip() == str(exc.value)


DATED_MAPPING = """\
id: Lead
outcome: {column: Won, positive: ["yes"]}
created_at: Created
cv_folds: 3
facts:
  - {column: Plan, fact: plan}
events:
  - {column: Visits, kind: count, event: site_visit, at: Last Visit}
  - {column: Demo, kind: count, event: demo_request, at: Demo Date}
"""

DATED_MODEL = """\
version: "t1"
name: dated
fit:
  - {id: pro, when: {plan: [pro]}, points: 40}
engagement:
  - {id: visits, on: site_visit, points: 10, cap: 40, half_life_days: 30}
  - {id: demo, on: demo_request, points: 20, cap: 20, half_life_days: 30}
stages: {mql: {score: 30}, sql: {score: 60}, hysteresis: 0}
grades: {fit: {A: 40, B: 20, C: 10}, engagement: {"1": 30, "2": 20, "3": 10}}
bands: {hot: 60, warm: 30}
"""


def test_an_event_column_with_a_date_column_has_its_events_at_those_dates(tmp_path):
    header = ["Lead", "Plan", "Visits", "Last Visit", "Demo", "Demo Date", "Created", "Won"]
    rows = [
        # visits a half-life (30 days) before the demo, the lead's latest event: they count half
        ["D1", "Pro", "2", "2026-03-01", "1", "2026-03-31", "2026-02-20", "yes"],
        # no dates of their own: both at the creation date, the latest event, so nothing decays
        ["D2", "Free", "2", "", "1", "", "2026-02-20", "no"],
        # the visits are the latest event; the demo two half-lives earlier counts a quarter
        ["D3", "Free", "3", "2026-05-01", "1", "2026-03-02", "2026-03-01", "no"],
    ]
    (tmp_path / "leads.csv").write_text(_csv(rows, header), encoding="utf-8")
    (tmp_path / "mapping.yaml").write_text(DATED_MAPPING, encoding="utf-8")
    (tmp_path / "model.yaml").write_text(DATED_MODEL, encoding="utf-8")
    leads = read_leads(tmp_path / "leads.csv", load_mapping(tmp_path / "mapping.yaml"))
    assert [lead.scored_at.date().isoformat() for lead in leads] == ["2026-03-31", "2026-02-20", "2026-05-01"]
    scores = [s for s, _ in score_leads(leads, Engine(load_model(tmp_path / "model.yaml")))]
    assert [s.engagement for s in scores] == [pytest.approx(2 * 10 / 2 + 20), 2 * 10 + 20, pytest.approx(30 + 20 / 4)]
    assert scores[0].total == pytest.approx(40 + 10 + 20)


def test_an_event_date_that_cannot_be_read_names_the_line_and_column(tmp_path):
    header = ["Lead", "Plan", "Visits", "Last Visit", "Demo", "Demo Date", "Created", "Won"]
    rows = [["D1", "Pro", "2", "2026-03-01", "1", "31/03/2026", "2026-02-20", "yes"]]
    (tmp_path / "leads.csv").write_text(_csv(rows, header), encoding="utf-8")
    (tmp_path / "mapping.yaml").write_text(DATED_MAPPING, encoding="utf-8")
    with pytest.raises(DataError, match=r"leads\.csv:2: column 'Demo Date' \(the `at` of an event column in the "
                                        r"mapping\) needs a date such as 2026-03-01.*got '31/03/2026'"):
        read_leads(tmp_path / "leads.csv", load_mapping(tmp_path / "mapping.yaml"))


def dated_history(n: int = 500, seed: int = 4) -> tuple[list[str], list[list[str]]]:
    """Leads whose visits happened some days before they were scored: recent visits convert."""
    from datetime import date, timedelta

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        plan = rng.choice(["Pro", "Free", "Team"])
        visits, ago, demo = rng.randint(0, 6), rng.choice([0, 10, 30, 90]), rng.random() < 0.3
        created = date(2026, 1, 1) + timedelta(days=rng.randint(0, 60))
        last = created + timedelta(days=rng.randint(0, 20))
        demo_at = last + timedelta(days=ago)  # the latest event: the visits are `ago` days older
        logit = {"Pro": 0.8, "Team": 0.2, "Free": -0.8}[plan] + 0.4 * visits * 0.5 ** (ago / 30) - 1.0 + demo
        won = rng.random() < 1 / (1 + math.exp(-logit))
        rows.append([f"S{i:04d}", plan, str(visits), last.isoformat() if visits else "", "1" if demo else "0",
                     demo_at.isoformat() if demo else "", created.isoformat(), "yes" if won else "no"])
    return ["Lead", "Plan", "Visits", "Last Visit", "Demo", "Demo Date", "Created", "Won"], rows


def test_calibrate_with_event_dates_scores_as_the_engine_does(tmp_path):
    header, rows = dated_history()
    (tmp_path / "leads.csv").write_text(_csv(rows, header), encoding="utf-8")
    (tmp_path / "mapping.yaml").write_text(DATED_MAPPING, encoding="utf-8")
    mapping = load_mapping(tmp_path / "mapping.yaml")
    leads = read_leads(tmp_path / "leads.csv", mapping)
    assert any(lead.scored_at > lead.event_time("site_visit") for lead in leads if "site_visit" in lead.counts)
    result = calibrate(leads, mapping, mql=Target(share=0.3), sql=Target(share=0.1))
    (tmp_path / "model.yaml").write_text(result.text, encoding="utf-8")
    scored = score_leads(leads, Engine(load_model(tmp_path / "model.yaml")))
    # the engine decays the visits from their date to the lead's latest event, and so did the fit
    assert [s.total for s, _ in scored] == [result.score(lead) for lead in leads]
    visit_points = [r.cents for s, _ in scored for r in s.reasons if r.rule.startswith("site_visit")]
    assert any(c % 100 for c in visit_points)  # decayed points are not whole


NO_EVENTS_MAPPING = """\
id: Lead
outcome: {column: Won, positive: ["yes"]}
cv_folds: 3
facts:
  - {column: Plan, fact: plan}
  - {column: Size, fact: size, numeric: true}
"""


def test_calibrate_without_events_grades_every_lead_4_not_1(tmp_path):
    # issue 17: the engagement thresholds sat at the quantiles of one number, so every lead was
    # engagement grade 1, which reads as the most engaged
    (tmp_path / "leads.csv").write_text(_csv(synthetic()), encoding="utf-8")
    (tmp_path / "mapping.yaml").write_text(NO_EVENTS_MAPPING, encoding="utf-8")
    mapping = load_mapping(tmp_path / "mapping.yaml")
    leads = read_leads(tmp_path / "leads.csv", mapping)
    result = calibrate(leads, mapping, mql=Target(share=0.3), sql=Target(share=0.1))
    assert "every lead is engagement grade 4, so a grade is its fit letter" in result.text
    (tmp_path / "model.yaml").write_text(result.text, encoding="utf-8")
    grades = [s.grade for s, _ in score_leads(leads, Engine(load_model(tmp_path / "model.yaml")))]
    assert {g[1] for g in grades} == {"4"}
    assert len({g[0] for g in grades}) >= 3  # the fit letters still tell leads apart
