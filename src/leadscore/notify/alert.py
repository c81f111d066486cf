"""What every alert says about a `LeadStageChanged` event (`leadscore.contracts`), and what a
trigger's alert says about a `LeadTriggered` one (`TriggerAlert`).

Slack, email and the console render the same `Alert`: who the lead is, fit
grade and score, the stage (MQL and SQL look different), the top reasons with
their points, what the lead reads most (its content categories, when the model
has them), the last activities with relative times, and a link to the lead.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from ..contracts import LeadStageChanged, LeadTriggered
from ..display import STAGE_LABEL, ago, humanize, person, points

TOP_REASONS = 5
RECENT = 5

# what a salesperson should read first; SQL is the urgent one
HEADLINE = {
    "mql": ("New MQL", "Marketing-qualified lead: worth a look"),
    "sql": ("New SQL", "Sales-qualified lead: reach out now"),
    "customer": ("New customer", "Lead became a customer"),
    "disqualified": ("Disqualified", "Lead was disqualified"),
    "lead": ("Back to lead", "Lead fell back below the thresholds"),
}

# a downgrade is no news of a new lead: it says where the lead went
DOWNGRADE_HEADLINE = {"mql": "Cooled to MQL", "lead": "Cooled to lead"}


class _Lead:
    """How an alert words the lead of a `LeadStageChanged` or a `LeadTriggered` (`self.d`): who it
    is, its role, owner, grade and score, the same in a stage alert and a trigger alert."""

    d: LeadStageChanged | LeadTriggered
    name: str | None
    title: str | None
    company: str | None
    email: str | None

    def __init__(self, detail: LeadStageChanged | LeadTriggered, lead_url: str | None) -> None:
        self.d = detail
        self.name, self.title, self.company = person(detail.facts)
        self.email = detail.email
        self.url = lead_url

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
    def owner(self) -> str | None:
        """`Ana Ruiz (enterprise)`: the lead's owner and team (docs/routing.md), or None."""
        owner = self.d.owner
        return f"{owner.name} ({owner.team})" if owner is not None else None

    @property
    def grade(self) -> str:
        return self.d.grade or "–"

    @property
    def score_line(self) -> str:
        d = self.d
        return f"{d.score:g} (fit {d.fit:g} + engagement {d.engagement:g})"


class Alert(_Lead):
    """What a notification says about one transition, rendered the same way everywhere."""

    def __init__(self, transition: LeadStageChanged, *, now: datetime | None = None, lead_url: str | None = None):
        """`lead_url` is the "View lead" link (`links.alert_link`); None shows no link."""
        super().__init__(transition, lead_url)
        self.t = transition
        self.now = now or datetime.now(timezone.utc)

    @property
    def stage(self) -> str:
        return self.t.to_stage

    @property
    def label(self) -> str:
        return STAGE_LABEL[self.t.to_stage]

    @property
    def headline(self) -> str:
        if self.t.downgrade:
            return f"{DOWNGRADE_HEADLINE.get(self.t.to_stage, 'Moved down')}: {self.who}"
        return f"{HEADLINE[self.t.to_stage][0]}: {self.who}"

    @property
    def tagline(self) -> str:
        if self.t.downgrade:
            why = "its score decayed" if self.t.cause == "decay" else "its score fell"
            return f"Was {STAGE_LABEL[self.t.from_stage]}: {why} below the threshold to stay"
        return HEADLINE[self.t.to_stage][1]

    @property
    def stage_line(self) -> str:
        return f"{STAGE_LABEL[self.t.from_stage]} → {self.label}"

    def reasons(self, limit: int = TOP_REASONS) -> list[tuple[str, str]]:
        """The largest contributions (the engine sends them largest first) as (words, points)."""
        return [(humanize(r.rule), points(r.points)) for r in self.t.reasons[:limit]]

    def interests(self) -> list[tuple[str, str]]:
        """The lead's top content categories, largest first, as (words, share): `("pricing", "68%")`."""
        return [(humanize(i.category), f"{i.share}%") for i in self.t.interests]

    @property
    def interest_line(self) -> str | None:
        """`pricing 68% · features 16%`, or None when the lead has no interests."""
        return "  ·  ".join(f"{c} {share}" for c, share in self.interests()) or None

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
        if self.owner:
            lines.append(f"Owner: {self.owner}")
        lines.append(f"Fit grade {self.grade}, score {self.score_line}")
        if self.reasons():
            lines.append("Why:")
            lines += [f"  {p:>7}  {r}" for r, p in self.reasons()]
        if self.interest_line:
            lines.append(f"Reads most: {self.interest_line}")
        if self.activity():
            lines.append("Recent activity:")
            lines += [f"  {a} ({when})" for a, when in self.activity()]
        if self.url:
            lines.append(f"View lead: {self.url}")
        return "\n".join(lines)


def _finite(value: Any) -> float | None:
    """A number of `matched`, or None when it is none (a bool, text, NaN or infinity: JSON lets them in)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _number(value: Any) -> str | None:
    """`24`, `58.5`: a number of `matched` as words, or None when it is not one."""
    number = _finite(value)
    return None if number is None else f"{round(number, 1):g}"


def _days(value: Any) -> str | None:
    """`1 day`, `7 days`, `1.5 days`."""
    number = _number(value)
    return None if number is None else f"{number} day" + ("" if number == "1" else "s")


def _hours(value: Any) -> str | None:
    """`24 h`, `3 d`: a wait in hours, or None when it is not a number."""
    hours = _finite(value)
    if hours is None or hours < 0:
        return None
    return f"{round(hours)} h" if hours < 48 else f"{round(hours / 24)} d"


def _words(value: Any, limit: int = 120, *, as_sent: bool = False) -> str | None:
    """A name out of `matched` as words (an event type: `checkout_started` → `checkout started`), or
    `as_sent` (a `same:` value, e.g. a path), clipped; None when it is no text."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip() if as_sent else humanize(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def matched_words(kind: str, matched: dict[str, Any]) -> str:
    """What made a trigger fire, in words, from its `matched` (docs/notifications.md, LeadTriggered):
    `checkout started 24 h ago, no purchase`. A `matched` without what its kind documents says only
    that the trigger fired: a firing always alerts, it never fails on its own facts."""
    if kind == "score_above":
        score, threshold = _number(matched.get("score")), _number(matched.get("threshold"))
        if score and threshold:
            band = _words(matched.get("band"), 20)
            return f"score {score} reached {threshold}" + (f", now {band}" if band else "")
    elif kind == "inactive":
        days = _finite(matched.get("days_inactive"))
        if days is not None and days >= 0:
            return f"no activity for {_days(int(days))}"
    elif kind == "repeated":
        count, within = _number(matched.get("count")), _days(matched.get("within_days"))
        if count and within:
            line = f"{count} matching events within {within}"
            same = matched.get("same")
            field, value = (_words(same.get("field"), 40), _words(same.get("value"), as_sent=True)) \
                if isinstance(same, dict) else (None, None)
            if field and value:
                line += f": {field} {value}"
            return line
    elif kind == "not_followed":
        start = matched.get("start")
        started = _words(start.get("type"), 80) if isinstance(start, dict) else None
        waited = _hours(matched.get("waited_hours"))
        if started and waited:
            by = matched.get("by")
            follow_ups = [w for w in (_words(b, 80) for b in by) if w] if isinstance(by, list) else []
            return f"{started} {waited} ago" + (f", no {' or '.join(follow_ups[:5])}" if follow_ups else "")
    return "the trigger's condition held"


class TriggerAlert(_Lead):
    """What a notification says about one trigger firing (`LeadTriggered`): the trigger and what matched,
    the lead as a stage alert shows it (who, role, email, stage and band, fit grade and score), its owner,
    the "View lead" link. A firing carries no reasons, interests or activity, and no Accept or Reject:
    it is no stage change to answer."""

    def __init__(self, firing: LeadTriggered, *, lead_url: str | None = None):
        """`lead_url` is the "View lead" link (`links.alert_link`); None shows no link."""
        super().__init__(firing, lead_url)
        self.f = firing

    @property
    def stage(self) -> str:
        return self.f.stage

    @property
    def trigger(self) -> str:
        """The trigger's id as words, capitalised: `abandoned_cart` → `Abandoned cart`."""
        words = humanize(self.f.trigger)
        return words[:1].upper() + words[1:]

    @property
    def matched(self) -> str:
        return matched_words(self.f.kind, self.f.matched)

    @property
    def headline(self) -> str:
        return f"{self.trigger}: {self.who}"

    @property
    def stage_line(self) -> str:
        """`MQL, warm`: the lead's stage and band when it fired."""
        label = STAGE_LABEL[self.f.stage]
        return f"{label}, {self.f.band}" if self.f.band else label

    def text(self) -> str:
        """The plain-text alert: Slack's notification fallback, the email's text part, the console."""
        lines = [f"{self.headline} ({self.matched})"]
        if self.role:
            lines.append(self.role)
        if self.email:
            lines.append(f"Email: {self.email}")
        lines.append(f"Stage: {self.stage_line}")
        if self.owner:
            lines.append(f"Owner: {self.owner}")
        lines.append(f"Fit grade {self.grade}, score {self.score_line}")
        if self.url:
            lines.append(f"View lead: {self.url}")
        return "\n".join(lines)
