"""The scoring model: a YAML file validated into these pydantic models.

The schema is documented for users in docs/model.md; `load_model` (in
`scoring_core.loader`) turns a file into a `ScoringModel` or a list of
errors that name file, line and column.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Scalar = str | int | float | bool
FieldName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")]
RuleId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
EventType = Annotated[str, Field(pattern=r"^([a-z][a-z0-9_]{0,63}|\*)$")]

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
    matches: str | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
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

    @field_validator("matches")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return None if value is None else _check_regex(value)

    def operators(self) -> dict[str, Any]:
        """The operators set on this condition, by their YAML names."""
        return {("in" if k == "in_" else k): getattr(self, k) for k in self.model_fields_set}


Conditions = dict[FieldName, Condition]


class FitRule(_Strict):
    """Points for who the lead is, tested against the lead's current facts."""

    id: RuleId
    description: str | None = None
    when: Conditions = Field(min_length=1)
    points: float


class PointsPer(_Strict):
    """Scale a rule's points by a numeric field: points × value / unit."""

    field: FieldName
    unit: float = Field(gt=0)


class EngagementRule(_Strict):
    """Points for what the lead does, decaying with a half-life, capped on read."""

    id: RuleId
    description: str | None = None
    on: EventType | list[EventType]
    when: Conditions = Field(default_factory=dict)
    points: float
    points_per: PointsPer | None = None
    half_life_days: float | None = Field(default=None, gt=0)
    cap: float | None = Field(default=None, gt=0)
    repeat_within_days: float | None = Field(default=None, gt=0)
    stage: Literal["customer"] | None = None

    def event_types(self) -> list[str]:
        return [self.on] if isinstance(self.on, str) else list(self.on)


class Disqualifier(_Strict):
    """A hard stop. With `on`, a matching event disqualifies for good; without
    it, the lead is disqualified while its current facts match `when`."""

    id: RuleId
    description: str | None = None
    on: EventType | list[EventType] | None = None
    when: Conditions = Field(default_factory=dict)

    @model_validator(mode="after")
    def _on_or_when(self) -> Disqualifier:
        if self.on is None and not self.when:
            raise ValueError("a disqualifier needs `on` (an event type) or `when` (conditions on facts)")
        return self

    def event_types(self) -> list[str]:
        if self.on is None:
            return []
        return [self.on] if isinstance(self.on, str) else list(self.on)


class StageThreshold(_Strict):
    score: float
    min_fit: float | None = None


class Stages(_Strict):
    """Score thresholds; a stage is left only below threshold − hysteresis."""

    mql: StageThreshold
    sql: StageThreshold
    hysteresis: float = Field(default=0, ge=0)


class FitGrades(_Strict):
    """Minimum fit for each letter; below C is D."""

    A: float
    B: float
    C: float


class EngagementGrades(_Strict):
    """Minimum engagement for each digit; below 3 is 4."""

    one: float = Field(alias="1")
    two: float = Field(alias="2")
    three: float = Field(alias="3")


class Grades(_Strict):
    fit: FitGrades
    engagement: EngagementGrades


class Bands(_Strict):
    """Minimum total score for hot and warm; below warm is cold."""

    hot: float
    warm: float


class EmailConfidence(_Strict):
    """Email events from machine openers (privacy proxies, link scanners) count a fraction."""

    events: list[EventType] = Field(default_factory=lambda: ["email_opened", "email_clicked"])
    machine_weight: float = Field(ge=0, le=1)
    user_agents: list[str] = Field(default_factory=list)
    ip_ranges: list[str] = Field(default_factory=list)

    @field_validator("user_agents")
    @classmethod
    def _regexes(cls, values: list[str]) -> list[str]:
        return [_check_regex(v) for v in values]

    @field_validator("ip_ranges")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        for v in values:
            try:
                ipaddress.ip_network(v, strict=False)
            except ValueError:
                raise ValueError(f"not an IP range: {v!r}") from None
        return values


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

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        # `version: 1.2` is a float in YAML; keep what the author wrote as text
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


Path = tuple[str | int, ...]


def semantic_errors(model: ScoringModel) -> list[tuple[Path, str]]:
    """Checks that span fields: duplicate ids, thresholds out of order, inconsistent options.

    Returns (path into the YAML document, message) pairs; empty when the model is sound.
    """
    errors: list[tuple[Path, str]] = []
    seen: dict[str, Path] = {}
    for section in ("fit", "engagement", "disqualifiers"):
        for i, rule in enumerate(getattr(model, section)):
            where: Path = (section, i, "id")
            if rule.id in seen:
                first = seen[rule.id]
                errors.append((where, f"duplicate rule id '{rule.id}' (first used at {first[0]}[{first[1]}])"))
            else:
                seen[rule.id] = where
    for i, rule in enumerate(model.engagement):
        if rule.repeat_within_days is not None and rule.points_per is not None:
            errors.append((("engagement", i, "points_per"), "points_per cannot be combined with repeat_within_days"))
        if "*" in rule.event_types() and rule.stage:
            errors.append((("engagement", i, "stage"), "a stage-setting rule must name its event types, not '*'"))
    st = model.stages
    if st.sql.score <= st.mql.score:
        errors.append((("stages", "sql", "score"), f"sql score ({st.sql.score:g}) must be above mql score ({st.mql.score:g})"))
    if st.hysteresis >= st.mql.score and st.mql.score > 0:
        errors.append((("stages", "hysteresis"), f"hysteresis ({st.hysteresis:g}) must be below the mql score ({st.mql.score:g})"))
    fg = model.grades.fit
    if not fg.A > fg.B > fg.C:
        errors.append((("grades", "fit"), f"fit grades must decrease A > B > C (got {fg.A:g}, {fg.B:g}, {fg.C:g})"))
    eg = model.grades.engagement
    if not eg.one > eg.two > eg.three:
        errors.append((("grades", "engagement"), f"engagement grades must decrease 1 > 2 > 3 (got {eg.one:g}, {eg.two:g}, {eg.three:g})"))
    if model.bands.hot <= model.bands.warm:
        errors.append((("bands", "hot"), f"hot ({model.bands.hot:g}) must be above warm ({model.bands.warm:g})"))
    return errors
