"""What the leads API does for each route: who may ask, what the query means, which lead it names.

`functions/leads` routes a request here with the container's `Dependencies`;
the answer is scored at `deps.clock()` (leadscore.views). Refusals raise
`leadscore.edge.Rejected` (the handler answers them):

- `Authorization: Bearer <API_TOKEN>` on every API call, else 401; an unset token
  refuses everything rather than letting everyone in;
- the lead page takes a signed link instead (`leadscore.links`), so a browser opens
  it; a bad or expired link is a 403 page, a lead that is gone a 404 page;
- `POST /leads/{id}/feedback` takes a `leadscore.feedback.FeedbackIn` JSON body (400 naming
  the field when it is not one, 409 for a feedback id used for another outcome) and goes
  the one feedback path, `leadscore.feedback.give_feedback`.

`Lead`, `LeadSummary`, `LeadList`, `FeedbackAnswer`, `Erased` and `LeadExport` are the answers' contract: the handler's routes
return them (powertools validates each answer against them) and the OpenAPI document
describes them (leadscore.openapi, docs/api.md). A field `views.lead_view` adds must be
added here too, or the answer fails its own contract.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from scoring_core.stages import QUALIFIED as LISTED_STAGES  # what `GET /leads?stage=` lists: the ByStage index holds them
from scoring_core.stages import Stage

from .edge import BadRequest, NotFound, Unauthorized

if TYPE_CHECKING:  # pragma: no cover
    from .dependencies import Dependencies

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_FEEDBACK_BODY = 16 * 1024  # a FeedbackIn is well under 1 KB
#: `LISTED_STAGES` as a type (tests/unit/test_openapi.py checks the two agree)
ListedStage = Literal["mql", "sql", "customer"]

_Time = Annotated[str | None, Field(description="ISO 8601 in UTC (`2026-11-01T10:00:00Z`); null when never")]


class Contribution(BaseModel):
    """One rule's points in the score (negative for a penalty)."""

    model_config = ConfigDict(extra="forbid")
    rule: str
    points: float


class RecentEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str
    at: _Time


class CategoryInterest(BaseModel):
    """The lead's interest in one content category of the scoring model (docs/model.md, Interests)."""

    model_config = ConfigDict(extra="forbid")
    category: str = Field(description="the category's id in the model's `interests.categories`")
    weight: float = Field(description="page views plus engaged minutes on the category's pages, decayed to the time of the request")
    share: int = Field(ge=0, le=100, description="the whole-percent share of this weight in the lead's interest in all categories")


class LeadOwner(BaseModel):
    """The salesperson who owns the lead: a member of a routing file's team (docs/routing.md)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    email: str | None = None
    team: str


class LeadSummary(BaseModel):
    """A lead as `GET /leads?stage=` lists it: its score now, and why."""

    model_config = ConfigDict(extra="forbid")
    lead_id: str = Field(description="the lead's key: `e:<keyed hash of the email>` or `v:<visitor id>`")
    email: str | None
    stage: Stage
    stage_changed_at: _Time
    fit: float
    engagement: float
    score: float = Field(description="fit + engagement, decayed to the time of the request")
    grade: str
    band: str
    reasons: list[Contribution]
    disqualified_by: list[str]
    last_seen: _Time
    owner: LeadOwner | None = Field(default=None, description="who owns the lead, assigned once when it first "
                                    "qualified (routing file: docs/routing.md); null without one")


class Lead(LeadSummary):
    """A lead in full (`GET /leads/{id}`, `GET /leads?email=`)."""

    facts: dict[str, Any] = Field(description="what is known about the person and the company, by trait name")
    identities: list[str] = Field(description="every key that names this lead (its own and merged aliases)")
    first_seen: _Time
    events: int
    recent: list[RecentEvent]
    interests: list[CategoryInterest] = Field(description="the lead's top content categories (at most 5), largest first; "
                                                          "empty when it has read none or the model has none; counted in no score")


class LeadList(BaseModel):
    """`GET /leads?stage=`: hottest first."""

    model_config = ConfigDict(extra="forbid")
    leads: list[LeadSummary]


class Erased(BaseModel):
    """`DELETE /leads/{id}`: counts only, no key or address."""

    model_config = ConfigDict(extra="forbid")
    erased: bool
    removed: dict[str, int] = Field(description="how many items of each kind were removed (lead, pointers, alerts, ...)")


class ExportedIdentities(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keys: list[str]
    emails: list[str]
    visitor_ids: list[str]
    user_ids: list[str]


class LeadExport(BaseModel):
    """`GET /leads/{id}/export`: everything held about the person (docs/data-model.md, Erasure)."""

    model_config = ConfigDict(extra="forbid")
    lead_id: str
    exported_at: _Time
    identities: ExportedIdentities
    facts: dict[str, Any] = Field(description="each fact's value and when it was set")
    activity: dict[str, Any] = Field(description="event counts, by type, first and last seen, recent events")
    stage: dict[str, Any] = Field(description="the stage, when it changed, the last recorded transition")
    score: dict[str, Any]
    feedback: list[dict[str, Any]]
    alerts: list[dict[str, Any]] = Field(description="the records of alerts sent about the lead")
    stored: dict[str, Any] = Field(description="every stored item, by key, as it is stored")


class FeedbackAnswer(BaseModel):
    """`POST /leads/{id}/feedback`: what the feedback did (`leadscore.feedback.FeedbackResult`)."""

    model_config = ConfigDict(extra="forbid")
    lead_id: str
    feedback_id: str
    outcome: str
    stage: Stage = Field(description="the lead's stage after the feedback")
    previous_stage: Stage
    changed: bool = Field(description="whether the stage moved")
    duplicate: bool = Field(description="a feedback id recorded before: nothing was written")


def authorize(headers: Mapping[str, str] | None, token: str | None) -> None:
    """Unauthorized unless `headers` carry `Authorization: Bearer <token>` (compared in constant time)."""
    header = (headers or {}).get("authorization") or ""
    scheme, _, given = header.partition(" ")
    if not token or scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Unauthorized("bad or missing bearer token")


def get_lead(deps: Dependencies, lead_id: str, headers: Mapping[str, str] | None) -> dict[str, Any]:
    """`GET /leads/{id}`: the lead, in full."""
    from .views import lead_at

    authorize(headers, deps.settings.api_token())
    view = lead_at(deps.leads_store, deps.engine, lead_id, deps.clock())
    if view is None:
        raise NotFound("no such lead")
    return view


def list_leads(deps: Dependencies, headers: Mapping[str, str] | None, *, email: str | None = None,
               stage: str | None = None, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """`GET /leads?email=` (that lead, in full) or `GET /leads?stage=&limit=` (hottest first, in brief).

    `stage` and `limit` arrive validated by the route's signature (a `ListedStage`, 1 to `MAX_LIMIT`)."""
    from .views import lead_at, leads_at_stage

    authorize(headers, deps.settings.api_token())
    now = deps.clock()
    if email is not None:
        from scoring_core.events import normalize_email

        from .identity import email_key

        try:
            email = normalize_email(email)
        except ValueError:
            raise BadRequest("email is not an email address") from None
        view = lead_at(deps.leads_store, deps.engine, email_key(email, deps.settings.lead_key_secret()), now)
        if view is None:
            raise NotFound("no lead with this email")
        return view
    if stage not in LISTED_STAGES:
        raise BadRequest("give ?email= or ?stage= (one of mql, sql, customer)")
    return {"leads": leads_at_stage(deps.leads_store, deps.engine, stage, limit, now)}


def lead_page(deps: Dependencies, lead_id: str, query: Mapping[str, str] | None) -> tuple[int, str]:
    """`GET /leads/{id}/page?exp=&sig=`: (status, HTML) of the page an alert links to."""
    from . import lead_page as page
    from . import links
    from .views import lead_at

    query = query or {}
    token, now = deps.settings.api_token(), deps.clock()
    # an unset token signs nothing and opens nothing
    if not token or not links.valid_page_link(lead_id, query.get("exp"), query.get("sig"), links.page_key(token), now=now):
        return 403, page.invalid_link()
    view = lead_at(deps.leads_store, deps.engine, lead_id, now)
    if view is None:
        return 404, page.no_such_lead()
    return 200, page.render(view, now=now, expires_at=int(query["exp"]))


# -- erasure and access (GDPR articles 17 and 15) ----------------------------------------------

ERASE_ATTEMPTS = 3  # a pointer that moves during an erasure (a merge) makes it read the lead again


def _sent_alerts(deps: Dependencies) -> Any:
    """The alerts table's records, when this function knows the table (the template sets ALERTS_TABLE)."""
    table = deps.settings.alerts_table
    if not table:
        return None
    from .adapters.alerts import SentAlerts

    return SentAlerts(deps.aws_client("dynamodb"), table)


def transition_ids(holdings: Any) -> list[str]:
    """Every transition id the lead's keys can have had: each seq up to the key's counter (one more,
    for a change being recorded now), every pair of stages. Alerts are keyed by these."""
    from scoring_core.score import transition_id
    from scoring_core.stages import STAGES

    items = {holdings.key: holdings.lead, **holdings.identities}
    return [transition_id(key, seq, a, b) for key, item in items.items() for seq in range(int(item.get("tr") or 0) + 1)
            for a in STAGES for b in STAGES if a != b]


def erase_lead(deps: Dependencies, lead_id: str, headers: Mapping[str, str] | None) -> dict[str, Any]:
    """`DELETE /leads/{id}`: the lead, every key it is known by and its alerts' records, gone; a
    tombstone per key keeps events from before now out (docs/data-model.md, Erasure). Counts only."""
    from .identity import erased_marker

    authorize(headers, deps.settings.api_token())
    store, secret = deps.leads_store, deps.settings.lead_key_secret()
    alerts = _sent_alerts(deps)
    for _ in range(ERASE_ATTEMPTS):
        holdings = store.holdings(lead_id)
        if holdings is None:
            raise NotFound("no such lead")
        # the alerts first: should the leads' transaction fail, a retry finds the lead and its keys again
        records = alerts.find(transition_ids(holdings)) if alerts else []
        if records:
            alerts.delete([r["id"] for r in records])
        counts = store.erase(holdings, {k: erased_marker(k, secret) for k in holdings.keys()}, deps.clock())
        if counts is not None:
            return {"erased": True, "removed": {**counts, "alerts": len(records)}}
    raise RuntimeError("the lead's identities kept changing during the erasure")


def export_lead(deps: Dependencies, lead_id: str, headers: Mapping[str, str] | None) -> dict[str, Any]:
    """`GET /leads/{id}/export`: everything held about the person, as JSON (docs/data-model.md, Erasure)."""
    from .adapters.leads import unpack_detail
    from .adapters.leads.codec import plain
    from .views import iso, lead_view

    authorize(headers, deps.settings.api_token())
    holdings = deps.leads_store.holdings(lead_id)
    if holdings is None:
        raise NotFound("no such lead")
    now = deps.clock()
    alerts = _sent_alerts(deps)
    lead = holdings.lead
    items = {holdings.key: lead, **holdings.identities}
    keys = holdings.keys()

    def stored(item: dict[str, Any]) -> dict[str, Any]:
        out = {k: plain(v) for k, v in sorted(item.items()) if k != "ob"}
        if item.get("ob") is not None:
            out["ob"] = unpack_detail(item["ob"])  # the last recorded transition, as published
        return out

    view = lead_view(deps.engine, lead, now)
    emails = sorted({str(i["email"]) for i in items.values() if i.get("email")})
    return {
        "lead_id": holdings.key,
        "exported_at": iso(now),
        "identities": {
            "keys": keys,
            "emails": emails,
            "visitor_ids": [k[2:] for k in keys if k.startswith("v:")],
            "user_ids": [k[2:] for k in keys if k.startswith("u:")],
        },
        "facts": {k[2:]: {"value": plain(v.get("v")), "set_at": iso(float(v["t"]))}
                  for k, v in sorted(lead.items()) if k.startswith("f.")},
        "activity": {
            "events": int(lead.get("n") or 0),
            "by_type": {k[2:]: int(v) for k, v in sorted(lead.items()) if k.startswith("c.")},
            "first_seen": view.get("first_seen"),
            "last_seen": view.get("last_seen"),
            "recent": view.get("recent", []),
        },
        "stage": {
            "current": lead.get("stage"),
            "changed_at": view.get("stage_changed_at"),
            "transitions": int(lead.get("tr") or 0),
            "pinned": lead.get("pinned"),
            "recycled": lead.get("recycled"),
            "last_transition": unpack_detail(lead["ob"]) if lead.get("ob") is not None else None,
        },
        "score": {k: view[k] for k in ("fit", "engagement", "score", "grade", "band", "reasons")},
        "feedback": [plain(entry) for entry in lead.get("fb") or []],
        "alerts": alerts.find(transition_ids(holdings)) if alerts else [],
        "stored": {k: stored(item) for k, item in items.items()},
    }


def post_feedback(deps: Dependencies, lead_id: str, event: Any) -> dict[str, Any]:
    """`POST /leads/{id}/feedback`: sales' verdict on the lead `{id}` (any of its keys), `FeedbackResult` as JSON.
    `event` is the API Gateway request (its headers and body)."""
    authorize(event.headers, deps.settings.api_token())
    from pydantic import ValidationError

    from .edge import describe_validation_error, raw_body
    from .feedback import FeedbackIn, give_feedback

    body = raw_body(event)
    if len(body) > MAX_FEEDBACK_BODY:
        raise BadRequest(f"body is larger than {MAX_FEEDBACK_BODY} bytes")
    try:
        given = FeedbackIn.model_validate_json(body)
    except ValidationError as exc:
        raise BadRequest(describe_validation_error(exc)) from None
    return give_feedback(deps, lead_id, given, source="api").as_json()
