"""What an email alert says: one MIME message (multipart/alternative) with a text and
an HTML part carrying the same content. It is sent raw, so the message SES delivers
is exactly the one built here (`adapters.alerts.AlertMailer`).

An MQL email also carries signed one-click Accept and Reject links (`links.answer_links`,
given as `answers`), which open a confirmation page (`sales.answer_page`)."""

from __future__ import annotations

from html import escape

from .alert import Alert, TriggerAlert

STAGE_COLOUR = {"mql": "#b7791f", "sql": "#c53030", "customer": "#2f855a", "disqualified": "#4a5568", "lead": "#4a5568"}


def subject(alert: Alert | TriggerAlert) -> str:
    role = f" ({alert.role})" if alert.role else ""
    return f"[leadscore] {alert.headline}{role}, grade {alert.grade}"[:200]


ANSWER_COLOUR = {"accepted": "#2f855a", "rejected": "#c53030"}


def text(alert: Alert, answers: dict[str, str] | None = None) -> str:
    """The text part: `Alert.text()`, then the Accept and Reject links."""
    lines = [alert.text()]
    if answers:
        lines += ["", f"Accept: {answers['accepted']}", f"Reject: {answers['rejected']}"]
    return "\n".join(lines)


def html(alert: Alert, answers: dict[str, str] | None = None) -> str:
    """The HTML part: the same content as `Alert.text()`, the email a mailto link, Accept and Reject links."""
    colour = STAGE_COLOUR[alert.stage]
    rows = []
    if alert.role:
        rows.append(("Role", escape(alert.role)))
    if alert.email:
        rows.append(("Email", f'<a href="mailto:{escape(alert.email)}">{escape(alert.email)}</a>'))
    rows += [("Stage", escape(alert.stage_line)), ("Fit grade", escape(alert.grade)), ("Score", escape(alert.score_line))]
    if alert.owner:
        rows.append(("Owner", escape(alert.owner)))
    parts = [
        '<div style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#1a202c">',
        (f'<p style="margin:0;padding:6px 10px;background:{colour};color:#fff;font-weight:bold;display:inline-block">'
         f"{escape(alert.label)}</p>"),
        f'<h2 style="margin:10px 0 4px">{escape(alert.headline)}</h2>',
        f'<p style="margin:0 0 12px;color:#4a5568">{escape(alert.tagline)}</p>',
        '<table cellpadding="4" style="border-collapse:collapse">',
        *(f'<tr><th align="left" style="color:#4a5568">{k}</th><td>{v}</td></tr>' for k, v in rows),
        "</table>",
    ]
    reasons = alert.reasons()
    if reasons:
        parts.append('<h3 style="margin:14px 0 4px">Why</h3><table cellpadding="3" style="border-collapse:collapse">')
        parts += [f'<tr><td align="right" style="font-family:monospace">{escape(p)}</td><td>{escape(r)}</td></tr>' for r, p in reasons]
        parts.append("</table>")
    interests = alert.interests()
    if interests:
        parts.append('<h3 style="margin:14px 0 4px">Reads most</h3><table cellpadding="3" style="border-collapse:collapse">')
        parts += [f'<tr><td align="right" style="font-family:monospace">{escape(share)}</td><td>{escape(c)}</td></tr>' for c, share in interests]
        parts.append("</table>")
    activity = alert.activity()
    if activity:
        parts.append('<h3 style="margin:14px 0 4px">Recent activity</h3><ul style="margin:0">')
        parts += [f"<li>{escape(a)} <span style=\"color:#718096\">({escape(when)})</span></li>" for a, when in activity]
        parts.append("</ul>")
    if answers:
        links = [(f'<a href="{escape(answers[outcome])}" style="display:inline-block;margin-right:8px;padding:8px 16px;'
                  f'background:{ANSWER_COLOUR[outcome]};color:#fff;font-weight:bold;text-decoration:none">{label}</a>')
                 for outcome, label in (("accepted", "Accept"), ("rejected", "Reject"))]
        parts.append(f'<p style="margin-top:16px">{"".join(links)}</p>')
    if alert.url:
        parts.append(f'<p style="margin-top:16px"><a href="{escape(alert.url)}">View lead</a></p>')
    parts.append("</div>")
    return "\n".join(parts)


TRIGGER_COLOUR = "#2b6cb0"


def trigger_html(alert: TriggerAlert) -> str:
    """A trigger's HTML part: the same content as `TriggerAlert.text()`, the email a mailto link."""
    rows = []
    if alert.role:
        rows.append(("Role", escape(alert.role)))
    if alert.email:
        rows.append(("Email", f'<a href="mailto:{escape(alert.email)}">{escape(alert.email)}</a>'))
    rows += [("Stage", escape(alert.stage_line)), ("Fit grade", escape(alert.grade)), ("Score", escape(alert.score_line))]
    if alert.owner:
        rows.append(("Owner", escape(alert.owner)))
    parts = [
        '<div style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#1a202c">',
        (f'<p style="margin:0;padding:6px 10px;background:{TRIGGER_COLOUR};color:#fff;font-weight:bold;display:inline-block">'
         "Trigger</p>"),
        f'<h2 style="margin:10px 0 4px">{escape(alert.headline)}</h2>',
        f'<p style="margin:0 0 12px;color:#4a5568">{escape(alert.matched)}</p>',
        '<table cellpadding="4" style="border-collapse:collapse">',
        *(f'<tr><th align="left" style="color:#4a5568">{k}</th><td>{v}</td></tr>' for k, v in rows),
        "</table>",
    ]
    if alert.url:
        parts.append(f'<p style="margin-top:16px"><a href="{escape(alert.url)}">View lead</a></p>')
    parts.append("</div>")
    return "\n".join(parts)


def message(alert: Alert | TriggerAlert, sender: str, recipients: list[str],
            answers: dict[str, str] | None = None) -> bytes:
    """The MIME message: text part first, HTML part preferred by mail clients that render it.
    `answers`: the alert's Accept and Reject links (`{"accepted": url, "rejected": url}`), or None."""
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["Subject"] = subject(alert)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    if isinstance(alert, TriggerAlert):
        msg.set_content(alert.text())
        msg.add_alternative(trigger_html(alert), subtype="html")
    else:
        msg.set_content(text(alert, answers))
        msg.add_alternative(html(alert, answers), subtype="html")
    return msg.as_bytes()
