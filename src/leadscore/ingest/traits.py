"""Lead facts under the names the scoring model reads (docs/event-schema.md).

Senders name the same fact many ways (Segment `title`, a Typeform field ref
`job-title`, a Tally label "Company size"). `canonical_name` maps a sender's
name to ours; `clean_traits` applies it to a whole dict. Unknown names are
kept as they are (snake_cased), so a custom model can still read them.
"""

from __future__ import annotations

import re
from typing import Any

# our name -> the names senders use for it (compared after snake_casing)
ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "email_address", "e_mail", "work_email", "business_email"),
    "first_name": ("first_name", "firstname", "given_name"),
    "last_name": ("last_name", "lastname", "surname", "family_name"),
    "name": ("name", "full_name", "your_name"),
    "job_title": ("job_title", "title", "jobtitle", "position", "role", "job_role"),
    "seniority": ("seniority", "job_level", "level"),
    "company": ("company", "company_name", "organization", "organisation", "employer"),
    "company_size": ("company_size", "employees", "employee_count", "number_of_employees", "team_size", "headcount"),
    "industry": ("industry", "sector", "vertical"),
    "country": ("country", "country_code"),
    "annual_revenue": ("annual_revenue", "revenue", "company_revenue"),
    "tech_stack": ("tech_stack", "technologies", "tools"),
    "phone": ("phone", "phone_number", "mobile", "telephone"),
    "website": ("website", "company_website", "url_website", "domain"),
}
_LOOKUP = {alias: ours for ours, aliases in ALIASES.items() for alias in aliases}
_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake(name: str) -> str:
    """`Company size` / `companySize` / `company-size` -> `company_size`."""
    return _NON_WORD.sub("_", _CAMEL.sub("_", name.strip())).strip("_").lower()


def canonical_name(name: str) -> str:
    """Our name for a sender's field name; the snake_cased name when we have none."""
    s = snake(name)
    return _LOOKUP.get(s, s)


def clean_traits(raw: dict[str, Any]) -> dict[str, Any]:
    """Traits under canonical names. An explicit null is kept (it clears the fact);
    empty strings and lists are dropped (an unanswered field says nothing). A nested
    `company` object (Segment's reserved trait) is flattened into company facts."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if value == "" or value == []:
            continue
        if isinstance(value, dict) and snake(key) == "company":
            for sub_key, sub_value in value.items():
                name = canonical_name(sub_key)
                name = "company" if name == "name" else name
                if sub_value not in (None, "", []):
                    out.setdefault(name, sub_value)
            continue
        out[canonical_name(key)] = value
    return out
