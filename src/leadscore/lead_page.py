"""The lead page: what the leads API says about a lead, as HTML a salesperson opens from an alert
(score, reasons, what the lead reads most, recent activity).

The page is reached through a signed link (`links.py`) rather than the bearer
token, so it is built for being opened anywhere: every string from the lead
(name, title, company, activity types) and from the model is escaped; the
answer forbids caching, indexing and referrers, and its Content-Security-Policy
allows nothing but the one stylesheet below (no scripts, images, frames or
forms). It shows no email address: a link can be forwarded, and the alert it
came from and the leads API carry the address.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone
from html import escape
from typing import Any

from .display import STAGE_LABEL, ago, humanize, person, points
from .links import VALID_S

RECENT = 20

_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1a202c;margin:0;background:#f7fafc}
main{max-width:44rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.05rem;margin:1.6rem 0 .4rem}
.role,.muted{color:#4a5568}.stage{display:inline-block;padding:.15rem .6rem;border-radius:.3rem;color:#fff;font-weight:600;background:#4a5568}
.stage.mql{background:#b7791f}.stage.sql{background:#c53030}.stage.customer{background:#2f855a}
.figures{display:flex;gap:1.5rem;flex-wrap:wrap;margin:1rem 0}.figures div{background:#fff;border:1px solid #e2e8f0;border-radius:.4rem;padding:.6rem .9rem}
.figures b{display:block;font-size:1.5rem}
table{border-collapse:collapse}td{padding:.2rem .6rem .2rem 0}td.points{font-family:ui-monospace,monospace;text-align:right}
footer{margin-top:2rem;font-size:.85rem;color:#718096}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode("utf-8")).digest()).decode("ascii")

HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; "
                                "form-action 'none'; frame-ancestors 'none'"),
}


def _document(title: str, body: str) -> str:
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="robots" content="noindex, nofollow"><title>{escape(title)}</title>'
            f"<style>{_STYLE}</style></head>\n<body><main>\n{body}\n</main></body></html>\n")


def _when(iso: str | None, now: datetime) -> str:
    if not iso:
        return ""
    at = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return f'<time datetime="{escape(iso)}">{escape(ago(at, now))}</time>'


def render(view: dict[str, Any], *, now: float, expires_at: int) -> str:
    """The page for one lead, from its leads-API view (`views.lead_view`, in full) at `now`."""
    moment = datetime.fromtimestamp(now, timezone.utc)
    name, title, company = person(view.get("facts") or {})
    role = f"{title} at {company}" if title and company else (title or company)
    stage = str(view.get("stage") or "lead")
    parts = [
        f'<p><span class="stage {escape(stage)}">{escape(STAGE_LABEL.get(stage, stage))}</span>'
        + (f' <span class="muted">since {_when(view.get("stage_changed_at"), moment)}</span>' if view.get("stage_changed_at") else "")
        + "</p>",
        f"<h1>{escape(name or 'Unnamed lead')}</h1>",
    ]
    if role:
        parts.append(f'<p class="role">{escape(role)}</p>')
    owner = view.get("owner")
    if owner:  # with a routing file (docs/routing.md): who owns the lead, as the alert says it
        parts.append(f'<p class="owner">Owner: {escape(str(owner["name"]))} ({escape(str(owner["team"]))})</p>')
    parts.append(
        '<div class="figures">'
        f'<div>Score<b><data class="score" value="{view["score"]:g}">{view["score"]:g}</data></b></div>'
        f'<div>Fit<b>{view["fit"]:g}</b></div>'
        f'<div>Engagement<b>{view["engagement"]:g}</b></div>'
        f'<div>Fit grade<b>{escape(str(view.get("grade") or "–"))}</b></div>'
        + (f'<div>Band<b>{escape(str(view["band"]))}</b></div>' if view.get("band") else "")
        + "</div>"
    )
    reasons = view.get("reasons") or []
    if reasons:
        parts.append("<h2>Why this score</h2><table>")
        parts += [f'<tr><td class="points">{escape(points(r["points"]))}</td><td>{escape(humanize(str(r["rule"])))}</td></tr>'
                  for r in reasons]
        parts.append("</table>")
    if view.get("disqualified_by"):
        parts.append("<h2>Disqualified by</h2><ul>")
        parts += [f"<li>{escape(humanize(str(d)))}</li>" for d in view["disqualified_by"]]
        parts.append("</ul>")
    interests = view.get("interests") or []
    if interests:
        parts.append("<h2>Reads most</h2><table>")
        parts += [f'<tr><td class="points">{int(i["share"])}%</td><td>{escape(humanize(str(i["category"])))}</td></tr>'
                  for i in interests]
        parts.append("</table>")
    recent = (view.get("recent") or [])[:RECENT]
    if recent:
        parts.append("<h2>Recent activity</h2><ul>")
        parts += [f'<li>{escape(humanize(str(a["type"])))} <span class="muted">{_when(a.get("at"), moment)}</span></li>'
                  for a in recent]
        parts.append("</ul>")
    until = datetime.fromtimestamp(expires_at, timezone.utc).strftime("%d %b %Y %H:%M UTC")
    parts.append(f"<footer>Scored {escape(moment.strftime('%d %b %Y %H:%M UTC'))}, when this page was opened. "
                 f"This link works until {escape(until)}.</footer>")
    return _document(f"{name or 'Lead'} · leadscore", "\n".join(parts))


def invalid_link() -> str:
    """The page for a link that is not ours, was altered, or has expired."""
    return _document("Link invalid or expired · leadscore",
                     "<h1>This link is invalid or has expired</h1>\n"
                     f"<p>A link to a lead page works for {VALID_S // 86400} days from the alert it came in. "
                     "Open the lead from a newer alert, or ask for it through the leads API.</p>")


def no_such_lead() -> str:
    """The page for a valid link to a lead that no longer exists (erased, or removed after going cold)."""
    return _document("No such lead · leadscore",
                     "<h1>This lead no longer exists</h1>\n"
                     "<p>It was erased, or removed after a long time without activity.</p>")


def response(status: int, body: str) -> Any:
    """The powertools answer for a page, with the headers every page carries."""
    from aws_lambda_powertools.event_handler import Response

    return Response(status_code=status, content_type="text/html; charset=utf-8", body=body, headers=dict(HEADERS))
