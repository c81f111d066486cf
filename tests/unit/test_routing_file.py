"""Routing files: validated like the model (file:line:col errors), and the routing decision.

Each file in bad_routing/ has exactly one mistake; its first line says where the check
must point and what the message must say (`# expect: LINE:COL text`), as bad_models/ does.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from leadscore.cli import main
from scoring_core import Engine, ModelFileError, load_model
from scoring_core.routing import load_routing, owner_domain, parse_routing

ROOT = Path(__file__).resolve().parents[2]
BAD = sorted((Path(__file__).parent / "bad_routing").glob("*.yaml"))
EXPECT = re.compile(r"# expect: (?P<line>\d+):(?P<col>\d+) (?P<text>.+)")
FACTS = frozenset(Engine(load_model()).fact_names)
TRIGGERS = frozenset({"cooling", "abandoned_cart"})  # a model's trigger ids (bad_routing/unknown_trigger.yaml)

ROUTING = """\
teams:
  enterprise:
    members:
      - {id: ana, name: Ana Ruiz, email: ana@example.com}
      - {id: bo, name: Bo Lind, email: bo@example.com}
  smb:
    members: [{id: cy, name: Cy Park}]
routes:
  - id: enterprise
    when: {company_size: {gte: 500}, country: [US, CA]}
    stages: [sql]
    team: enterprise
    slack: SLACK_WEBHOOK_URL_ENTERPRISE
    email: [enterprise-sales@example.com]
  - id: hot_software
    bands: [hot]
    when: {industry: software}
    team: enterprise
  - id: default
    team: smb
sticky: {lead: true, domain: true}
"""


def docs_example() -> str:
    text = (ROOT / "docs" / "routing.md").read_text(encoding="utf-8")
    return re.search(r"```yaml\n(.*?)```", text, re.S).group(1)


@pytest.mark.parametrize("path", BAD, ids=[p.name for p in BAD])
def test_a_routing_mistake_is_reported_once_at_its_line_and_column(path):
    line, col, text = EXPECT.fullmatch(path.read_text(encoding="utf-8").splitlines()[0]).groups()

    with pytest.raises(ModelFileError) as caught:
        load_routing(path, FACTS, TRIGGERS)

    [error] = caught.value.errors
    assert (error.file, error.line, error.col) == (str(path), int(line), int(col)), str(error)
    assert text in error.message


def test_the_check_command_passes_a_good_file_and_fails_a_bad_one_naming_the_line(tmp_path, capsys):
    good = tmp_path / "routing.yaml"
    good.write_text(ROUTING, encoding="utf-8")
    bad = Path(__file__).parent / "bad_routing" / "unknown_team.yaml"

    assert main(["routing", "check", str(good)]) == 0
    assert "ok: 3 routes, 2 teams, 3 members" in capsys.readouterr().out
    assert main(["routing", "check", str(bad)]) == 1
    assert f"{bad}:7:11: routes[0].team: no team 'enterprize'" in capsys.readouterr().out


def test_the_check_command_checks_a_routes_triggers_against_the_models(tmp_path, capsys):
    routing = tmp_path / "routing.yaml"
    routing.write_text("routes:\n  - id: retail\n    triggers: [cooling]\n", encoding="utf-8")
    model = tmp_path / "model.yaml"
    default = ROOT / "layers" / "scoring_core" / "scoring_core" / "models" / "default.yaml"
    model.write_text(default.read_text(encoding="utf-8")
                     + "\ntriggers:\n  - {id: cooling, kind: inactive, days: 14, stages: [mql, sql]}\n", encoding="utf-8")

    assert main(["routing", "check", str(routing), "--model", str(model)]) == 0
    capsys.readouterr()
    assert main(["routing", "check", str(routing)]) == 1  # the shipped model has no triggers
    assert f"{routing}:3:16: routes[0].triggers[0]: the model has no trigger 'cooling' (its triggers: none)" in capsys.readouterr().out


def test_the_documented_example_is_a_valid_routing_file():
    routing = parse_routing(docs_example(), "docs/routing.md", FACTS)

    assert routing.routes


def test_a_slack_url_in_the_file_is_refused_without_being_repeated():
    text = ROUTING.replace("SLACK_WEBHOOK_URL_ENTERPRISE", "https://hooks.slack.com/services/T1/B2/secret")

    with pytest.raises(ModelFileError) as caught:
        parse_routing(text)

    assert "never the URL" in str(caught.value)
    assert "secret" not in str(caught.value).replace("Secrets secret", "")


# -- the routing decision -------------------------------------------------------------------

@pytest.fixture(scope="module")
def routing():
    return parse_routing(ROUTING)


def test_a_large_north_american_sql_takes_the_enterprise_route(routing):
    route = routing.route_for({"company_size": 800, "country": "us", "industry": "retail"}, "sql", "warm")

    assert route.id == "enterprise"
    assert (route.slack, route.email) == ("SLACK_WEBHOOK_URL_ENTERPRISE", ["enterprise-sales@example.com"])


@pytest.mark.parametrize(("facts", "stage", "band", "expected"), [
    ({"company_size": 800, "country": "US"}, "mql", "warm", "default"),  # the enterprise route is for SQLs
    ({"company_size": 499, "country": "US"}, "sql", "warm", "default"),  # too small
    ({"company_size": "1,200", "country": "CA"}, "sql", "cold", "enterprise"),  # a numeric string counts
    ({"company_size": 800, "country": "DE"}, "sql", "warm", "default"),  # outside the countries
    ({"country": "US"}, "sql", "warm", "default"),  # no company size: the test does not hold
    ({"industry": "Software"}, "mql", "hot", "hot_software"),  # by band and industry (case ignored)
    ({"industry": "software"}, "mql", "warm", "default"),  # not hot
    ({"industry": "software", "company_size": 900, "country": "US"}, "sql", "hot", "enterprise"),  # first match wins
])
def test_the_route_is_chosen_by_stage_band_country_company_size_and_industry(routing, facts, stage, band, expected):
    assert routing.route_for(facts, stage, band).id == expected


def test_no_route_matching_means_the_default_destinations():
    routing = parse_routing("routes:\n  - id: us\n    when: {country: US}\n")

    assert routing.route_for({"country": "FR"}, "mql", "hot") is None


def test_an_owner_is_assigned_only_at_mql_and_sql(routing):
    route = routing.route("default")

    assert routing.team_of(route, "mql")[0] == "smb"
    assert routing.team_of(route, "sql")[0] == "smb"
    assert routing.team_of(route, "customer") is None
    assert routing.team_of(route, "lead") is None


def test_free_mail_domains_are_never_sticky(routing):
    free = load_model().free_email_domains

    assert owner_domain("Ann@Acme.Example", free, routing.sticky) == "acme.example"
    assert owner_domain("ann@gmail.com", free, routing.sticky) is None
    assert owner_domain("ann@acme.example", free, parse_routing("routes: [{id: d}]\nsticky: {domain: false}").sticky) is None
