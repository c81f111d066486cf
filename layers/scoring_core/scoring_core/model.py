"""The scoring model: a YAML file validated into these pydantic models.

The schema is documented for users in docs/model.md; `load_model` (in
`scoring_core.loader`) turns a file into a `ScoringModel` or a list of
errors that name file, line and column.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from .stages import LadderStage, SqlBy, Stage


def _shaped(pattern: str, what: str) -> Any:
    rx = re.compile(pattern)

    def check(value: str) -> str:
        if not rx.match(value):
            raise ValueError(f"not {what}: {value!r}")
        return value

    return AfterValidator(check)


def _not_bool(value: Any) -> Any:
    # YAML `true` would otherwise pass as 1 point; a ValueError, as pydantic reports
    # only those (and AssertionError) as validation errors that name the line
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")  # noqa: TRY004
    return value


Scalar = str | int | float | bool
Number = Annotated[float, BeforeValidator(_not_bool)]
FieldName = Annotated[str, _shaped(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z",
                                   "a field name (letters, digits and _, dots for nested fields, e.g. job_title or context.ip)")]
RuleId = Annotated[str, _shaped(r"^[a-z][a-z0-9_]{0,63}\Z", "a rule id (lowercase letters, digits and _, e.g. pricing_page)")]
EventType = Annotated[str, _shaped(r"^([a-z][a-z0-9_]{0,63}|\*)\Z", "an event type (lowercase letters, digits and _, e.g. page_view, or '*')")]
Regex = Annotated[str, AfterValidator(lambda v: _check_regex(v))]


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"not an IP range: {value!r}") from None
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


EventTypes = Annotated[list[EventType], BeforeValidator(_as_list), Field(min_length=1)]

OPERATORS = (
    "eq", "ne", "in", "not_in", "contains", "starts_with", "ends_with",
    "matches", "gt", "gte", "lt", "lte", "exists",
)  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return pattern


class Condition(_Strict):
    """A test on one field. Several operators in one condition must all hold.

    Shorthand in YAML: `field: value` means `eq`, `field: [a, b]` means `in`.
    """

    eq: Scalar | None = None
    ne: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in", min_length=1)
    not_in: list[Scalar] | None = Field(default=None, min_length=1)
    contains: Scalar | None = None
    starts_with: str | None = None
    ends_with: str | None = None
    matches: Regex | None = None
    gt: Number | None = None
    gte: Number | None = None
    lt: Number | None = None
    lte: Number | None = None
    exists: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, list):
            return {"in": data}
        if isinstance(data, (str, int, float, bool)):
            return {"eq": data}
        if isinstance(data, dict) and not data:
            raise ValueError(f"a condition needs an operator: one of {', '.join(OPERATORS)}")
        return data

    def operators(self) -> dict[str, Any]:
        """The operators set on this condition, by their YAML names."""
        return {("in" if k == "in_" else k): getattr(self, k) for k in self.model_fields_set}


Conditions = dict[FieldName, Condition]


class FitRule(_Strict):
    """Points for who the lead is, tested against the lead's current facts."""

    id: RuleId
    description: str | None = None
    when: Conditions = Field(min_length=1)
    points: Number


class PointsPer(_Strict):
    """Scale a rule's points by a numeric field: points × value / unit."""

    field: FieldName
    unit: Number = Field(gt=0)


class EngagementRule(_Strict):
    """Points for what the lead does, decaying with a half-life, capped on read."""

    id: RuleId
    description: str | None = None
    on: EventTypes
    when: Conditions = Field(default_factory=dict)
    points: Number
    points_per: PointsPer | None = None
    half_life_days: Number | None = Field(default=None, gt=0)
    cap: Number | None = Field(default=None, gt=0)
    repeat_within_days: Number | None = Field(default=None, gt=0)
    stage: Literal["customer"] | None = None

    def event_types(self) -> list[str]:
        return list(self.on)


class Disqualifier(_Strict):
    """A hard stop. With `on`, a matching event disqualifies for good; without
    it, the lead is disqualified while its current facts match `when`."""

    id: RuleId
    description: str | None = None
    on: EventTypes | None = None
    when: Conditions = Field(default_factory=dict)

    @model_validator(mode="after")
    def _on_or_when(self) -> Disqualifier:
        if self.on is None and not self.when:
            raise ValueError("a disqualifier needs `on` (an event type) or `when` (conditions on facts)")
        return self

    def event_types(self) -> list[str]:
        return [] if self.on is None else list(self.on)


class StageThreshold(_Strict):
    score: Number
    min_fit: Number | None = None


class Stages(_Strict):
    """Score thresholds; a stage is left only below threshold − hysteresis."""

    mql: StageThreshold
    sql: StageThreshold
    hysteresis: Number = Field(default=0, ge=0)
    #: The highest stage an event from a low-trust sender (the pixel, a public write key) can
    #: raise a lead to: anyone can send those for anyone, so by default they qualify a lead for
    #: marketing but never for sales. A trusted event (signed webhook, server key) or sales'
    #: acceptance takes the lead the rest of the way. `sql` trusts the browser fully.
    low_trust_max: LadderStage = "mql"
    #: What makes a lead an SQL: `either` (the score may, sales' acceptance always does),
    #: `acceptance` (the score stops at MQL; only `accepted` feedback makes an SQL) or `score`
    #: (only the score; `accepted` is recorded and pins nothing). docs/model.md, How SQL is reached.
    sql_by: SqlBy = "either"


class FitGrades(_Strict):
    """Minimum fit for each letter; below C is D."""

    A: Number
    B: Number
    C: Number


class EngagementGrades(_Strict):
    """Minimum engagement for each digit; below 3 is 4."""

    one: Number = Field(alias="1")
    two: Number = Field(alias="2")
    three: Number = Field(alias="3")


class Grades(_Strict):
    fit: FitGrades
    engagement: EngagementGrades


class Bands(_Strict):
    """Minimum total score for hot and warm; below warm is cold."""

    hot: Number
    warm: Number


class EmailConfidence(_Strict):
    """Email events from machine openers (privacy proxies, link scanners) count a fraction."""

    events: list[EventType] = Field(default_factory=lambda: ["email_opened", "email_clicked"])
    machine_weight: Number = Field(ge=0, le=1)
    user_agents: list[Regex] = Field(default_factory=list)
    ip_ranges: list[Cidr] = Field(default_factory=list)


#: The most matching events a `repeated` trigger may count: a lead keeps each such trigger's
#: latest matches (TRIGGER_HITS_KEEP in scoring_core.triggers), which must hold `count` of them.
MAX_TRIGGER_COUNT = 10
#: The longest window or wait a trigger may have (a lead's item keeps what it needs that long).
MAX_TRIGGER_DAYS = 365
#: The most triggers a model may have: each keeps a mark and up to 50 matches on every lead it
#: concerns (docs/data-model.md, Bounds).
MAX_TRIGGERS = 20
BandName = Literal["cold", "warm", "hot"]


class ScoreAboveTrigger(_Strict):
    """Fires when the lead's score reaches `score` (or the minimum of `band`) from below;
    re-arms once the score is back below it."""

    kind: Literal["score_above"]
    id: RuleId
    description: str | None = None
    score: Number | None = None
    band: Literal["warm", "hot"] | None = None

    @model_validator(mode="after")
    def _score_or_band(self) -> ScoreAboveTrigger:
        if (self.score is None) == (self.band is None):
            raise ValueError("a score_above trigger needs exactly one of `score` (points) or `band` (warm or hot)")
        return self


class InactiveTrigger(_Strict):
    """Fires when the lead has had no event for `days`, if it is then in one of `stages` and its
    band at its last event was one of `bands`; a new event re-arms it."""

    kind: Literal["inactive"]
    id: RuleId
    description: str | None = None
    days: Number = Field(gt=0, le=MAX_TRIGGER_DAYS)
    stages: Annotated[list[Stage], BeforeValidator(_as_list), Field(min_length=1)] | None = None
    bands: Annotated[list[BandName], BeforeValidator(_as_list), Field(min_length=1)] | None = None


class RepeatedTrigger(_Strict):
    """Fires when `count` events matching `on`/`when` (with the same value of the field `same`,
    when given) happen within `within_days`; re-arms once the window holds fewer again."""

    kind: Literal["repeated"]
    id: RuleId
    description: str | None = None
    on: EventTypes
    when: Conditions = Field(default_factory=dict)
    count: int = Field(ge=2, le=MAX_TRIGGER_COUNT)
    within_days: Number = Field(gt=0, le=MAX_TRIGGER_DAYS)
    same: FieldName | None = None

    def event_types(self) -> list[str]:
        return list(self.on)


class NotFollowedTrigger(_Strict):
    """Fires `within_hours` after an event matching `on`/`when` unless an event of `by` (matching
    `by_when`) came meanwhile; the next `on` event starts a new episode."""

    kind: Literal["not_followed"]
    id: RuleId
    description: str | None = None
    on: EventTypes
    when: Conditions = Field(default_factory=dict)
    by: EventTypes
    by_when: Conditions = Field(default_factory=dict)
    within_hours: Number = Field(gt=0, le=MAX_TRIGGER_DAYS * 24)

    def event_types(self) -> list[str]:
        return list(self.on)


Trigger = Annotated[ScoreAboveTrigger | InactiveTrigger | RepeatedTrigger | NotFollowedTrigger,
                    Field(discriminator="kind")]
TRIGGER_KINDS = ("score_above", "inactive", "repeated", "not_followed")


#: The most interest categories a model may have: each is an accumulator per era on every lead
#: that reads its pages (docs/data-model.md, Bounds).
MAX_CATEGORIES = 50
MAX_PATTERN_CHARS = 200


def _check_path_glob(pattern: str) -> str:
    # the syntax is documented in docs/model.md, Interests; `scoring_core.interests` compiles it
    if not pattern.startswith(("/", "**")):
        raise ValueError(f"a path pattern starts with / (or ** to match under any prefix): {pattern!r}")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"a path pattern has at most {MAX_PATTERN_CHARS} characters")
    if "***" in pattern:
        raise ValueError(f"not a path pattern: {pattern!r} (use * within a segment, ** across segments)")
    bad = sorted(set(pattern) & set("[]{}?\\ \t\n"))
    if bad:
        raise ValueError(f"path patterns are globs with * and ** only; {''.join(bad)!r} is not allowed: {pattern!r}")
    return pattern


PathGlob = Annotated[str, AfterValidator(_check_path_glob)]


class InterestCategory(_Strict):
    """A content category: the pages whose path matches any of `paths`."""

    id: RuleId
    description: str | None = None
    paths: list[PathGlob] = Field(min_length=1, max_length=50)


class Interests(_Strict):
    """Per-lead interest by content category: page views and engaged minutes on the category's
    pages, decaying with `half_life_days`. Interest changes no score, band or stage."""

    half_life_days: Number = Field(default=30, gt=0)
    #: the weight one page view of a category's page adds
    view: Number = Field(default=1, gt=0, le=1000)
    #: the weight one minute of engaged time (a `page_engaged` report) adds, at most 10 minutes a report
    engaged_minute: Number = Field(default=1, ge=0, le=1000)
    categories: list[InterestCategory] = Field(min_length=1, max_length=MAX_CATEGORIES)


class ScoringModel(_Strict):
    """A whole model file."""

    version: str = Field(min_length=1)
    name: str | None = None
    description: str | None = None
    free_email_domains: list[str] = Field(default_factory=list)
    fit: list[FitRule] = Field(default_factory=list)
    engagement: list[EngagementRule] = Field(default_factory=list)
    disqualifiers: list[Disqualifier] = Field(default_factory=list)
    stages: Stages
    grades: Grades
    bands: Bands
    email_confidence: EmailConfidence | None = None
    #: automation: conditions that put `LeadTriggered` on the bus, once per episode (docs/model.md, Triggers)
    triggers: list[Trigger] = Field(default_factory=list, max_length=MAX_TRIGGERS)
    interests: Interests | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        # `version: 1.2` is a float in YAML; keep what the author wrote as text
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


Path = tuple[str | int, ...]


def semantic_errors(data: Any) -> list[tuple[Path, str]]:
    """Checks that span fields: duplicate ids, thresholds out of order, inconsistent options.

    Works on the raw document (so these are reported even when other parts of
    the file fail validation), skipping whatever is missing or not a number.
    Returns (path into the YAML document, message) pairs.
    """
    errors: list[tuple[Path, str]] = []
    if not isinstance(data, dict):
        return errors

    def num(*path: str | int) -> float | None:
        obj: Any = data
        for p in path:
            if isinstance(obj, dict) and p in obj:
                obj = obj[p]
            else:
                return None
        return float(obj) if isinstance(obj, (int, float)) and not isinstance(obj, bool) else None

    seen: dict[str, Path] = {}
    for section in ("fit", "engagement", "disqualifiers"):
        rules = data.get(section)
        for i, rule in enumerate(rules if isinstance(rules, list) else []):
            rule_id = rule.get("id") if isinstance(rule, dict) else None
            if not isinstance(rule_id, str):
                continue
            if rule_id in seen:
                first = seen[rule_id]
                errors.append(((section, i, "id"), f"duplicate rule id '{rule_id}' (first used at {first[0]}[{first[1]}])"))
            else:
                seen[rule_id] = (section, i, "id")
            if section == "engagement" and isinstance(rule, dict):
                if rule.get("repeat_within_days") is not None and rule.get("points_per") is not None:
                    errors.append(((section, i, "points_per"), "points_per cannot be combined with repeat_within_days"))
                on = rule.get("on")
                if rule.get("stage") is not None and (on == "*" or (isinstance(on, list) and "*" in on)):
                    errors.append(((section, i, "stage"), "a stage-setting rule must name its event types, not '*'"))

    interests = data.get("interests")
    categories = interests.get("categories") if isinstance(interests, dict) else None
    first_at: dict[str, int] = {}
    for i, category in enumerate(categories if isinstance(categories, list) else []):
        category_id = category.get("id") if isinstance(category, dict) else None
        if not isinstance(category_id, str):
            continue
        if category_id in first_at:
            errors.append((("interests", "categories", i, "id"),
                           f"duplicate category id '{category_id}' (first used at interests.categories[{first_at[category_id]}])"))
        else:
            first_at[category_id] = i

    mql, sql, hyst = num("stages", "mql", "score"), num("stages", "sql", "score"), num("stages", "hysteresis")
    if mql is not None and sql is not None and sql <= mql:
        errors.append((("stages", "sql", "score"), f"sql score ({sql:g}) must be above mql score ({mql:g})"))
    if mql is not None and hyst is not None and mql > 0 and hyst >= mql:
        errors.append((("stages", "hysteresis"), f"hysteresis ({hyst:g}) must be below the mql score ({mql:g})"))
    a, b, c = num("grades", "fit", "A"), num("grades", "fit", "B"), num("grades", "fit", "C")
    if a is not None and b is not None and c is not None and not a > b > c:
        errors.append((("grades", "fit"), f"fit grades must decrease A > B > C (got {a:g}, {b:g}, {c:g})"))
    e1, e2, e3 = num("grades", "engagement", "1"), num("grades", "engagement", "2"), num("grades", "engagement", "3")
    if e1 is not None and e2 is not None and e3 is not None and not e1 > e2 > e3:
        errors.append((("grades", "engagement"), f"engagement grades must decrease 1 > 2 > 3 (got {e1:g}, {e2:g}, {e3:g})"))
    hot, warm = num("bands", "hot"), num("bands", "warm")
    if hot is not None and warm is not None and hot <= warm:
        errors.append((("bands", "hot"), f"hot ({hot:g}) must be above warm ({warm:g})"))
    errors += _trigger_errors(data.get("triggers"))
    return errors


def _types_of(value: Any) -> set[str]:
    return {value} if isinstance(value, str) else {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


def _trigger_errors(triggers: Any) -> list[tuple[Path, str]]:
    """Trigger ids are unique among triggers (their own namespace: the `trigger` of `LeadTriggered`),
    and what a kind compares must be able to differ."""
    errors: list[tuple[Path, str]] = []
    seen: dict[str, int] = {}
    for i, trigger in enumerate(triggers if isinstance(triggers, list) else []):
        if not isinstance(trigger, dict):
            continue
        trigger_id = trigger.get("id")
        if isinstance(trigger_id, str):
            if trigger_id in seen:
                errors.append((("triggers", i, "id"), f"duplicate trigger id '{trigger_id}' (first used at triggers[{seen[trigger_id]}])"))
            else:
                seen[trigger_id] = i
        kind = trigger.get("kind")
        if kind == "not_followed":
            on, by = _types_of(trigger.get("on")), _types_of(trigger.get("by"))
            if "*" in by:
                errors.append((("triggers", i, "by"), "`by` must name its event types, not '*'"))
            elif on & by and not trigger.get("when") and not trigger.get("by_when"):
                errors.append((("triggers", i, "by"), f"`by` names the same event type as `on` ({', '.join(sorted(on & by))}): "
                               "the start would follow itself; tell them apart with `when` or `by_when`"))
        if kind == "inactive" and trigger.get("stages") is None and trigger.get("bands") is None:
            errors.append((("triggers", i, "days"), "an inactive trigger needs `stages` or `bands` (which leads to re-engage), "
                           "else every visitor who ever came would fire it"))
    return errors
