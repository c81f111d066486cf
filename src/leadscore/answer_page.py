"""The pages an email alert's Accept and Reject links open (`sales.answer_page`, `sales.answer`).

Opening a link (GET) shows who the lead is and one button (Reject: and a choice of
reason); only that button's POST records the answer, because mail scanners and link
previews open every link of an email. Built like the lead page: every string from the
lead is escaped, no email address is shown, the answer is neither cached, indexed nor
sent on as a referrer, and the Content-Security-Policy allows the one stylesheet and a
form posting back to this API, nothing else (no scripts).
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import Any

from .display import STAGE_LABEL, person
from .links import ANSWER_VALID_S, Answer, answer_path

_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1a202c;margin:0;background:#f7fafc}
main{max-width:36rem;margin:0 auto;padding:1.5rem}h1{font-size:1.4rem;margin:.2rem 0 .6rem}
.muted{color:#4a5568}form{margin-top:1.2rem}label{display:block;margin:.6rem 0 .3rem}
select{font:inherit;padding:.3rem}button{font:inherit;font-weight:600;padding:.5rem 1.1rem;border:0;border-radius:.3rem;color:#fff;cursor:pointer}
button.accept{background:#2f855a}button.reject{background:#c53030}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode("utf-8")).digest()).decode("ascii")

HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; "
                                "form-action 'self'; frame-ancestors 'none'"),
}
WORDS = {"accepted": ("Accept", "accept"), "rejected": ("Reject", "reject")}


def _document(title: str, body: str) -> str:
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="robots" content="noindex, nofollow"><title>{escape(title)}</title>'
            f"<style>{_STYLE}</style></head>\n<body><main>\n{body}\n</main></body></html>\n")


def confirm(view: dict[str, Any], lead_id: str, outcome: Answer, *, exp: str, sig: str, reasons: dict[str, str]) -> str:
    """The page a link opens: the lead, and the one button that records `outcome`. The form posts to the
    link's own path (`lead_id` as signed, which may be an alias of the lead `view` shows)."""
    name, title, company = person(view.get("facts") or {})
    role = f"{title} at {company}" if title and company else (title or company)
    who = name or "this lead"
    stage = str(view.get("stage") or "lead")
    verb, css = WORDS[outcome]
    question = (f"Accept {escape(who)} as a sales-qualified lead?" if outcome == "accepted"
                else f"Reject {escape(who)} and send the lead back to marketing?")
    parts = [f"<h1>{question}</h1>"]
    if role:
        parts.append(f'<p class="muted">{escape(role)}</p>')
    parts.append(f'<p>Now <b class="stage">{escape(STAGE_LABEL.get(stage, stage))}</b>, '
                 f'score <data class="score" value="{view["score"]:g}">{view["score"]:g}</data>.</p>')
    form = [f'<form method="post" action="{escape(answer_path(lead_id, outcome))}">',
            f'<input type="hidden" name="exp" value="{escape(exp)}">',
            f'<input type="hidden" name="sig" value="{escape(sig)}">']
    if outcome == "rejected":
        form.append('<label for="reason">Why?</label><select id="reason" name="reason" required>')
        form += [f'<option value="{escape(code)}">{escape(words)}</option>' for code, words in reasons.items()]
        form.append("</select><p></p>")
    form.append(f'<button type="submit" class="{css}">{verb}</button></form>')
    parts += form
    parts.append('<p class="muted">Nothing is recorded until you press the button.</p>')
    return _document(f"{verb} lead · leadscore", "\n".join(parts))


def answered(outcome: str, reason: str | None, stage: str, *, duplicate: bool) -> str:
    """The page after the POST: what was recorded (or that it had been already) and the stage now."""
    words = {"accepted": "Accepted", "rejected": "Rejected"}.get(outcome, outcome.capitalize())
    now = escape(STAGE_LABEL.get(stage, stage))
    if duplicate:
        body = f"<h1>Already answered: {escape(words.lower())}</h1>\n<p>This alert had been answered; nothing changed. The lead is {now}.</p>"
    else:
        because = f" ({escape(reason)})" if reason else ""
        body = f"<h1>{escape(words)}{because}</h1>\n<p>Thank you. The lead is now {now}.</p>"
    return _document(f"{words} · leadscore", body)


def invalid_link() -> str:
    return _document("Link invalid or expired · leadscore",
                     "<h1>This link is invalid or has expired</h1>\n"
                     f"<p>Accept and Reject links work for {ANSWER_VALID_S // 86400} days from the alert they came in. "
                     "Answer through your CRM or the leads API instead.</p>")


def no_such_lead() -> str:
    return _document("No such lead · leadscore",
                     "<h1>This lead no longer exists</h1>\n"
                     "<p>It was erased, or removed after a long time without activity.</p>")


def refused(message: str) -> str:
    return _document("Not recorded · leadscore", f"<h1>Not recorded</h1>\n<p>{escape(message)}</p>")


def bad_form() -> str:
    return _document("Not recorded · leadscore",
                     "<h1>Not recorded</h1>\n<p>The form was incomplete. Open the link from the email again.</p>")


def response(status: int, body: str) -> Any:
    """The powertools answer for a page, with the headers every page carries."""
    from aws_lambda_powertools.event_handler import Response

    return Response(status_code=status, content_type="text/html; charset=utf-8", body=body, headers=dict(HEADERS))
