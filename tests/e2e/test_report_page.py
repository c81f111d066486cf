"""report.html in headless Chromium, as someone who was mailed the file alone would open it: the
charts load (they are inside the file), and the model's rules table is there."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from leadscore.analysis.backtest import backtest
from leadscore.analysis.dataset import read_leads
from leadscore.analysis.mapping import load_mapping
from leadscore.analysis.report import write_report
from scoring_core import Engine, load_model

from tests.support.chromium import browser_context

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

MAPPING = """\
id: Lead
outcome: {column: Won, positive: ["yes"]}
facts:
  - {column: Plan, fact: plan}
events:
  - {column: Visits, kind: count, event: site_visit}
"""

MODEL = """\
version: "t1"
name: page
fit:
  - {id: pro, when: {plan: [pro]}, points: 40}
  - {id: free, when: {plan: [free]}, points: -10}
engagement:
  - {id: visits, on: site_visit, points: 10, cap: 30}
stages: {mql: {score: 30}, sql: {score: 60}, hysteresis: 0}
grades: {fit: {A: 40, B: 20, C: 0}, engagement: {"1": 30, "2": 20, "3": 10}}
bands: {hot: 60, warm: 30}
"""


def test_report_html_moved_alone_shows_its_charts_and_rules(tmp_path):
    rows = ["Lead,Plan,Visits,Won"]
    for i in range(120):
        plan = ("Pro", "Free", "Team")[i % 3]
        visits = i % 5
        won = (plan == "Pro" and visits > 1) or (visits == 4 and i % 2 == 0)
        rows.append(f"L{i},{plan},{visits},{'yes' if won else 'no'}")
    (tmp_path / "leads.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "mapping.yaml").write_text(MAPPING, encoding="utf-8")
    (tmp_path / "model.yaml").write_text(MODEL, encoding="utf-8")
    leads = read_leads(tmp_path / "leads.csv", load_mapping(tmp_path / "mapping.yaml"))
    html = write_report(backtest(leads, Engine(load_model(tmp_path / "model.yaml"))), tmp_path / "report")

    alone = Path(tempfile.mkdtemp(prefix="leadscore-report-"))
    try:
        moved = alone / "report.html"
        shutil.copy(html, moved)  # the HTML file only: nothing beside it
        with browser_context("leadscore-report-chromium-", {"width": 1100, "height": 900}) as context:
            page = context.new_page()
            page.goto(moved.as_uri())
            page.wait_for_load_state("load")
            images = page.eval_on_selector_all(
                "img", "imgs => imgs.map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth}))")
            assert len(images) == 5
            broken = [i["alt"] for i in images if not i["complete"] or i["width"] == 0]
            assert not broken, f"images that did not load: {broken}"
            rules = page.eval_on_selector_all("table.rules tr", "rows => rows.map(r => r.innerText)")
            assert len(rules) == 4  # the header and the model's three rules
            assert any(r.startswith("pro") for r in rules[1:]) and any(r.startswith("visits") for r in rules[1:])
            assert page.locator("table.deciles").count() == 1
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 20_000  # a page with charts, not a blank one
    finally:
        shutil.rmtree(alone, ignore_errors=True)
