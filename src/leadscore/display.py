"""How a lead is put into words for a person: stage labels, signed points, relative times, a name.

Shared by the alerts (`notify/alert.py`) and the lead page (`lead_page.py`), so a
lead reads the same in Slack, an email and the browser.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

STAGE_LABEL = {
    "lead": "Lead",
    "mql": "MQL",
    "sql": "SQL",
    "customer": "Customer",
    "disqualified": "Disqualified",
}


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
