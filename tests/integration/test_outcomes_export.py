"""`leadscore outcomes export` on the local stack: leads driven through the API (the SDK routes and
the pixel), their outcomes from stages and from sales' feedback (POST /leads/{id}/feedback),
exported, then calibrated and backtested unchanged."""

from __future__ import annotations

import base64
import csv
import json
import uuid

import pytest
import yaml
from leadscore.analysis import calibrate as calibration
from leadscore.cli import main
from leadscore.dev import stack as dev

from tests.support.local_stack import http_call, running_stack
from tests.support.polling import wait_until

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
CONVERTERS, OTHERS, OPEN = 22, 22, 4  # calibrate wants 20 leads on each side of a value it learns from
# of the OPEN leads (identified, no outcome from a stage), sales' feedback decides these
FEEDBACK = {0: "won", 1: "rejected", 2: "lost"}


@pytest.fixture
def local(monkeypatch):
    monkeypatch.setattr(dev, "REDELIVERY_DELAY_S", 0)
    monkeypatch.setattr(dev, "ASYNC_RETRY_DELAY_S", 0)
    with running_stack() as s:
        yield s


def sdk_headers(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(), "Content-Type": "application/json"}


def post(s, path: str, body: dict, key: str) -> None:
    status, _, answer = http_call(s, "POST", path, json.dumps(body).encode(), sdk_headers(key))
    assert status == 200, answer


def drive_leads(s) -> dict[str, str]:
    """Converters buy (a server key's purchase: customer); the others are students (disqualified);
    a few only browse (no outcome yet). Returns each email's expected outcome."""
    public, server = "wk_demo", s.server_write_key
    expected = {}
    for i in range(CONVERTERS + OTHERS + OPEN):
        vid, email = uuid.uuid4().hex, f"lead{i}@company{i}.example"
        # the pixel, anonymous, as the snippet sends it
        status, _, body = http_call(s, "GET", f"/t.gif?vid={vid}&url=http://127.0.0.1/demo/pricing.html", headers={"User-Agent": UA})
        assert status == 200 and body.startswith(b"GIF89a")
        if i < CONVERTERS:
            traits = {"email": email, "title": "VP Marketing", "company_size": 400 + i, "industry": "software"}
            post(s, "/v1/identify", {"anonymousId": vid, "traits": traits}, public)
            post(s, "/v1/batch", {"batch": [
                {"type": "page", "anonymousId": vid, "properties": {"url": "https://relaywise.example/pricing"}},
                {"type": "track", "event": "Order Completed", "anonymousId": vid, "messageId": f"order-{i}",
                 "context": {"traits": {"email": email}}, "properties": {"total": 1200, "currency": "EUR"}},
            ]}, server)
            expected[email] = "converted"
        elif i < CONVERTERS + OTHERS:
            traits = {"email": email, "title": "Student", "company_size": 1 + i % 3, "industry": "education"}
            post(s, "/v1/batch", {"batch": [{"type": "identify", "anonymousId": vid, "traits": traits}]}, public)
            expected[email] = "not_converted"
        else:
            traits = {"email": email, "title": "Marketing Manager", "company_size": 50, "industry": "retail"}
            post(s, "/v1/identify", {"anonymousId": vid, "traits": traits}, public)
            post(s, "/v1/page", {"anonymousId": vid, "properties": {"url": "https://relaywise.example/blog"}}, public)
            expected[email] = "unknown"
    return expected


def give_feedback(s, expected: dict[str, str]) -> None:
    """Sales' verdicts on the open leads, through the API: won converts, rejected and lost do not."""
    token = {"Authorization": f"Bearer {s.settings['API_TOKEN']}", "Content-Type": "application/json"}
    open_leads = [email for email, outcome in expected.items() if outcome == "unknown"]
    for i, outcome in FEEDBACK.items():
        email = open_leads[i]
        lead = wait_until(lambda e=email: (lambda st, _, b: json.loads(b) if st == 200 else None)(
            *http_call(s, "GET", f"/leads?email={e}", headers=token)))
        body = json.dumps({"outcome": outcome, "by": "Sam Seller", "feedback_id": f"fb-{i}"}).encode()
        status, _, answer = http_call(s, "POST", f"/leads/{lead['lead_id']}/feedback", body, token)
        assert status == 200, answer
        expected[email] = "converted" if outcome == "won" else "not_converted"


def settled(s, expected: dict[str, str]) -> bool:
    """Every lead whose outcome a stage makes has reached it."""
    token = {"Authorization": f"Bearer {s.settings['API_TOKEN']}"}
    want = {"converted": "customer", "not_converted": "disqualified"}
    for email, outcome in list(expected.items())[:CONVERTERS + OTHERS]:
        if outcome in want:
            status, _, body = http_call(s, "GET", f"/leads?email={email}", headers=token)
            if status != 200 or json.loads(body)["stage"] != want[outcome]:
                return False
    return True


def test_exported_outcomes_calibrate_and_backtest_unchanged(local, tmp_path, monkeypatch, capsys):
    expected = drive_leads(local)
    wait_until(lambda: settled(local, expected), timeout=300, every=0.5)  # under a loaded parallel run
    give_feedback(local, expected)
    out = tmp_path / "outcomes"

    # the table and the endpoint from the environment the local stack set, as other commands find them
    assert main(["outcomes", "export", "--out", str(out)]) == 0

    rows = list(csv.DictReader((out / "outcomes.csv").open(encoding="utf-8")))
    assert len(rows) == CONVERTERS + OTHERS + len(FEEDBACK)  # no outcome yet: left out by default
    assert sum(r["outcome"] == "converted" for r in rows) == CONVERTERS + 1  # the customers and the won deal
    assert sum(r["outcome"] == "not_converted" for r in rows) == OTHERS + 2  # the students, rejected and lost
    assert all(r["outcome"] == "converted" for r in rows if r["stage"] == "customer")
    assert all(r["outcome"] == "not_converted" for r in rows if r["stage"] == "disqualified")
    assert any(r["stage"] not in ("customer", "disqualified") and r["outcome"] == "not_converted" for r in rows)  # lost
    text = (out / "outcomes.csv").read_text(encoding="utf-8")
    assert "@" not in text and "Sam Seller" not in text  # no email addresses, no names
    assert all(r["lead_id"].startswith("e:") for r in rows)
    converter = next(r for r in rows if r["outcome"] == "converted")
    assert converter["fact_job_title"] == "VP Marketing" and int(converter["events_page_view"]) == 2
    assert converter["events_purchase"] == "1" and converter["converted_at"] and converter["first_seen"]
    mapping = yaml.safe_load((out / "mapping.yaml").read_text(encoding="utf-8"))
    assert {"column": "events_purchase", "reason": mapping["exclude"][-1]["reason"]} in mapping["exclude"]

    # calibrate refuses fewer than 200 leads (50 per class); the test keeps its data small
    monkeypatch.setattr(calibration, "MIN_LEADS", 40)
    monkeypatch.setattr(calibration, "MIN_PER_CLASS", 20)
    model = tmp_path / "model.yaml"
    code = main(["calibrate", "--data", str(out / "outcomes.csv"), "--mapping", str(out / "mapping.yaml"),
                 "--out", str(model)])
    assert code == 0, capsys.readouterr().err[-2000:]
    assert model.exists() and "job_title" in model.read_text(encoding="utf-8")
    report = tmp_path / "report"
    code = main(["backtest", "--data", str(out / "outcomes.csv"), "--mapping", str(out / "mapping.yaml"),
                 "--model", str(model), "--report", str(report)])
    assert code == 0, capsys.readouterr().err[-2000:]
    assert (report / "report.html").exists() and json.loads((report / "report.json").read_text())

    assert main(["outcomes", "export", "--out", str(tmp_path / "all"), "--unknown", "negative"]) == 0
    everyone = list(csv.DictReader((tmp_path / "all" / "outcomes.csv").open(encoding="utf-8")))
    assert len(everyone) == len(expected) and sum(r["outcome"] == "unknown" for r in everyone) == OPEN - len(FEEDBACK)
    capsys.readouterr()


def test_without_a_table_the_export_says_which_to_give(tmp_path, monkeypatch, capsys):
    from leadscore import settings

    monkeypatch.delenv("LEADS_TABLE", raising=False)
    settings.reset()

    assert main(["outcomes", "export", "--out", str(tmp_path)]) == 2
    assert "--table NAME" in capsys.readouterr().err
