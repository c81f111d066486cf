import json

from leadscore.cli import main

from tests.support.events import NOW, make_event


def test_model_check_accepts_the_default_model(capsys):
    rc = main(["model", "check", "layers/scoring_core/scoring_core/models/default.yaml"])
    assert rc == 0
    assert "ok: model default" in capsys.readouterr().out


def test_score_reports_bad_lines_and_scores_the_rest(tmp_path, capsys):
    good = make_event("page_view", properties={"url": "https://acme.test/pricing"}, ago_days=1)
    path = tmp_path / "events.jsonl"
    path.write_text(good.model_dump_json() + "\n{not json\n" + good.model_dump_json() + "\n")

    rc = main(["score", str(path), "--at", NOW.isoformat()])

    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert rc == 0
    assert [r["lead"] for r in rows] == ["ann@acme.io"]
    assert rows[0]["events"] == 1  # the duplicate delivery counts once
    assert f"{path}:2: skipped: not valid JSON" in err
