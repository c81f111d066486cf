"""What low-trust sources may not send, computed from the model (scoring_core.restrictions), and
the command that makes signed email pixel URLs."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from leadscore import settings
from leadscore.cli import main
from leadscore.settings import ConfigError, Settings
from scoring_core import load_model
from scoring_core.restrictions import MONEY_PROPERTIES, load_restrictions

from tests.support.events import make_event
from testbed.signing import sign_pixel_hit

MODEL_HEAD = """
version: "1"
stages: {mql: {score: 50}, sql: {score: 80}}
grades: {fit: {A: 40, B: 25, C: 10}, engagement: {"1": 40, "2": 20, "3": 8}}
bands: {hot: 70, warm: 35}
"""


def test_the_default_models_restricted_events_are_purchase_and_opt_out_as_the_validated_model_says():
    model = load_model()
    reference = {t for r in model.engagement if r.stage for t in r.on} | \
        {t for d in model.disqualifiers if d.on for t in d.on if t != "*"}

    restrictions = load_restrictions()

    assert restrictions.types == reference == {"purchase", "opt_out"}
    assert [rule_id for rule_id, _ in restrictions.conditional] == ["consent_opt_out"]


def test_a_custom_models_customer_rule_and_property_disqualifier_restrict_what_they_match(tmp_path):
    path = tmp_path / "acme.yaml"
    path.write_text(MODEL_HEAD + """
engagement:
  - {id: converted, on: trial_converted, points: 30, stage: customer}
  - {id: seats, on: seats_added, points: 1, points_per: {field: seats, unit: 1}}
disqualifiers:
  - {id: spam, on: "*", when: {spam_flag: true}}
  - {id: gone, on: [account_closed], when: {reason: NO}}
""")
    load_model(path)  # a valid model

    restrictions = load_restrictions(path)

    assert restrictions.types == {"trial_converted", "account_closed"}
    assert restrictions.forbids(make_event("page_view", properties={"spam_flag": True}))
    assert not restrictions.forbids(make_event("page_view", properties={"spam_flag": False}))
    assert restrictions.money == MONEY_PROPERTIES | {"seats"}


def test_write_keys_have_a_kind_public_by_default(monkeypatch):
    monkeypatch.setenv("WRITE_KEYS", "wk_site, public:wk_other, server:wk_backend")

    assert Settings.from_environ().write_keys() == {"wk_site": "public", "wk_other": "public", "wk_backend": "server"}


def test_a_write_key_of_unknown_kind_stops_the_function_without_quoting_it(monkeypatch):
    monkeypatch.setenv("WRITE_KEYS", "sever:wk_secret_typo")

    with pytest.raises(ConfigError) as raised:
        Settings.from_environ().write_keys()

    assert "WRITE_KEYS" in str(raised.value) and "unknown kind" in str(raised.value)
    assert "wk_secret_typo" not in str(raised.value)


def test_pixel_url_prints_a_url_an_independent_signer_agrees_with(monkeypatch, capsys):
    monkeypatch.setenv("LEAD_KEY_SECRET", "cli-secret")
    settings.reset()

    rc = main(["pixel-url", "--lead", "e:abc123", "--event", "email_clicked", "--campaign", "nov",
               "--api-url", "https://api.example/"])

    url = urlsplit(capsys.readouterr().out.strip())
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert rc == 0
    assert (url.scheme, url.netloc, url.path) == ("https", "api.example", "/t.gif")
    assert query == {"lid": "e:abc123", "e": "email_clicked", "cid": "nov",
                     "sig": sign_pixel_hit("cli-secret", "e:abc123", "email_clicked", "nov")}
    settings.reset()


def test_pixel_url_refuses_an_event_the_pixel_would_drop(monkeypatch, capsys):
    monkeypatch.setenv("LEAD_KEY_SECRET", "cli-secret")
    settings.reset()

    rc = main(["pixel-url", "--email", "jane@acme.example", "--event", "purchase"])

    assert rc == 2
    assert capsys.readouterr().out == ""
    settings.reset()
