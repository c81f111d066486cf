"""A `LeadStageChanged` event, validated at the edge, and what every alert says about it.

Slack, email and the console render the same `Alert`: who the lead is, fit
grade and score, the stage (MQL and SQL look different), the top reasons with
their points, the last activities with relative times, and a link to the lead.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Stage = Literal["lead", "mql", "sql", "customer", "disqualified"]
TOP_REASONS = 5
RECENT = 5

STAGE_LABEL = {
    "lead": "Lead",
    "mql": "MQL",
    "sql": "SQL",
    "customer": "Customer",
    "disqualified": "Disqualified",
}
# what a salesperson should read first; SQL is the urgent one
HEADLINE = {
    "mql": ("New MQL", "Marketing-qualified lead: worth a look"),
    "sql": ("New SQL", "Sales-qualified lead: reach out now"),
    "customer": ("New customer", "Lead became a customer"),
    "disqualified": ("Disqualified", "Lead was disqualified"),
    "lead": ("Back to lead", "Lead fell back below the thresholds"),
}


class ReasonIn(BaseModel):
    rule: str = Field(max_length=200)
    points: float


class ActivityIn(BaseModel):
    type: str = Field(max_length=100)
    at: AwareDatetime  # the worker writes UTC with Z; a time without an offset is not a transition of ours


class Transition(BaseModel):
    """The `detail` of a `LeadStageChanged` event (DESIGN.md, docs/data-model.md)."""

    model_config = ConfigDict(extra="ignore")

    lead_id: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    from_stage: Stage
    to_stage: Stage
    fit: float
    engagement: float
    score: float
    grade: str | None = Field(default=None, max_length=4)
    band: str | None = Field(default=None, max_length=20)
    reasons: list[ReasonIn] = Field(default_factory=list, max_length=500)
    disqualified_by: list[str] = Field(default_factory=list)
    changed_at: AwareDatetime
    transition_id: str = Field(min_length=1, max_length=200)
    sequence: int | None = None
    facts: dict[str, Any] = Field(default_factory=dict)
    recent: list[ActivityIn] = Field(default_factory=list, max_length=50)


class StageChanged(BaseModel):
    """The EventBridge envelope a rule delivers to a notifier."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str
    source: Literal["leadscore"]
    detail_type: Literal["LeadStageChanged"] = Field(alias="detail-type")
    detail: Transition


def ago(then: datetime, now: datetime) -> str:
    """`just now`, `4 min ago`, `3 h ago`, `2 d ago`."""
    seconds = max(0.0, (now - then).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


def points(value: float) -> str:
    """`+12`, `-5`, `+2.5`: signed, no trailing zeros."""
    text = f"{value:+.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("+0", "-0") else text


def humanize(name: str) -> str:
    """A rule or event id as words: `pricing_page` → `pricing page`."""
    return name.replace("_", " ").replace(".", " ").strip()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def person(facts: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(name, job title, company) from a lead's facts: the name, else first and last name."""
    first, last = _text(facts.get("first_name")), _text(facts.get("last_name"))
    name = _text(facts.get("name")) or (" ".join(p for p in (first, last) if p) or None)
    return name, _text(facts.get("job_title")), _text(facts.get("company"))


class Alert:
    """What a notification says about one transition, rendered the same way everywhere."""

    def __init__(self, transition: Transition, *, now: datetime | None = None, lead_url: str | None = None):
        """`lead_url` is the "View lead" link (`links.alert_link`); None shows no link."""
        self.t = transition
        self.now = now or datetime.now(timezone.utc)
        self.name, self.title, self.company = person(transition.facts)
        self.email = transition.email
        self.url = lead_url

    @property
    def stage(self) -> str:
        return self.t.to_stage

    @property
    def label(self) -> str:
        return STAGE_LABEL[self.t.to_stage]

    @property
    def headline(self) -> str:
        return f"{HEADLINE[self.t.to_stage][0]}: {self.who}"

    @property
    def tagline(self) -> str:
        return HEADLINE[self.t.to_stage][1]

    @property
    def who(self) -> str:
        """The name, else the email, else that the visitor is anonymous."""
        return self.name or self.email or "anonymous visitor"

    @property
    def role(self) -> str | None:
        """`CTO at Acme`, `CTO`, `Acme`, or None."""
        if self.title and self.company:
            return f"{self.title} at {self.company}"
        return self.title or self.company

    @property
    def grade(self) -> str:
        return self.t.grade or "–"

    @property
    def score_line(self) -> str:
        t = self.t
        return f"{t.score:g} (fit {t.fit:g} + engagement {t.engagement:g})"

    @property
    def stage_line(self) -> str:
        return f"{STAGE_LABEL[self.t.from_stage]} → {self.label}"

    def reasons(self, limit: int = TOP_REASONS) -> list[tuple[str, str]]:
        """The largest contributions (the engine sends them largest first) as (words, points)."""
        return [(humanize(r.rule), points(r.points)) for r in self.t.reasons[:limit]]

    def activity(self, limit: int = RECENT) -> list[tuple[str, str]]:
        """The latest activities, newest first, as (words, relative time)."""
        recent = sorted(self.t.recent, key=lambda a: a.at, reverse=True)[:limit]
        return [(humanize(a.type), ago(a.at, self.now)) for a in recent]

    def text(self) -> str:
        """The plain-text alert: Slack's notification fallback, the email's text part, the console."""
        lines = [f"{self.headline} ({self.tagline})"]
        if self.role:
            lines.append(self.role)
        if self.email:
            lines.append(f"Email: {self.email}")
        lines.append(f"Stage: {self.stage_line}")
        lines.append(f"Fit grade {self.grade}, score {self.score_line}")
        if self.reasons():
            lines.append("Why:")
            lines += [f"  {p:>7}  {r}" for r, p in self.reasons()]
        if self.activity():
            lines.append("Recent activity:")
            lines += [f"  {a} ({when})" for a, when in self.activity()]
        if self.url:
            lines.append(f"View lead: {self.url}")
        return "\n".join(lines)
