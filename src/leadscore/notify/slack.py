"""Slack alerts through an incoming webhook: Block Kit built with slack_sdk's models.

`slack_sdk.WebhookClient` posts the message; its retry handlers honour a 429's
`Retry-After`, retry 500/503 and connection errors (timeouts included). What
is still failing after that raises `Transient` (Lambda retries the event); a
4xx means the webhook itself is wrong (revoked, deleted channel) and raises
`Permanent`, so the alert is parked rather than retried.

Everything a lead typed (name, company, title) is escaped before it enters
mrkdwn, so a form answer cannot mention `<!channel>` or forge a link.
"""

from __future__ import annotations

from typing import Any

from .alert import Alert
from .errors import Permanent, Transient

TIMEOUT_S = 5
STAGE_EMOJI = {"mql": ":large_yellow_circle:", "sql": ":fire:", "customer": ":tada:", "disqualified": ":no_entry:", "lead": ":arrow_down:"}


def escape(text: str) -> str:
    """Slack's mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def blocks(alert: Alert) -> list[Any]:
    """The Block Kit message: header, who/fit/score/stage, why, recent activity, a "View lead" button."""
    from slack_sdk.models.blocks import (
        ActionsBlock,
        ButtonElement,
        ContextBlock,
        DividerBlock,
        HeaderBlock,
        MarkdownTextObject,
        PlainTextObject,
        SectionBlock,
    )

    emoji = STAGE_EMOJI[alert.stage]
    out: list[Any] = [
        HeaderBlock(text=PlainTextObject(text=_clip(f"{emoji} {escape(alert.headline)}", 150), emoji=True)),
        ContextBlock(elements=[MarkdownTextObject(text=f"*{alert.label}*: {escape(alert.tagline)}")]),
    ]
    fields = [f"*Who*\n{escape(_clip(alert.who, 200))}"]
    if alert.role:
        fields.append(f"*Role*\n{escape(_clip(alert.role, 300))}")
    if alert.email:
        fields.append(f"*Email*\n<mailto:{escape(alert.email)}|{escape(alert.email)}>")
    fields += [
        f"*Fit grade*\n{escape(alert.grade)}",
        f"*Score*\n{alert.score_line}",
        f"*Stage*\n{alert.stage_line}",
    ]
    out.append(SectionBlock(fields=[MarkdownTextObject(text=f) for f in fields]))
    reasons = alert.reasons()
    if reasons:
        lines = "\n".join(f"`{p:>6}`  {escape(_clip(r, 120))}" for r, p in reasons)
        out.append(SectionBlock(text=MarkdownTextObject(text=f"*Why this score*\n{lines}")))
    activity = alert.activity()
    if activity:
        text = "  ·  ".join(f"{escape(a)} _{when}_" for a, when in activity)
        out.append(ContextBlock(elements=[MarkdownTextObject(text=_clip(f"Recent: {text}", 3000))]))
    if alert.url:
        out.append(DividerBlock())
        button = ButtonElement(text=PlainTextObject(text="View lead"), url=alert.url, action_id="view_lead",
                               style="primary" if alert.stage == "sql" else None)
        out.append(ActionsBlock(elements=[button]))
    for block in out:
        block.validate_json()  # Slack's limits, checked before sending
    return out


def client(url: str) -> Any:
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )
    from slack_sdk.webhook import WebhookClient
    from urllib.error import URLError
    from http.client import RemoteDisconnected

    return WebhookClient(url, timeout=TIMEOUT_S, retry_handlers=[
        RateLimitErrorRetryHandler(max_retry_count=2),
        ServerErrorRetryHandler(max_retry_count=2),
        ConnectionErrorRetryHandler(max_retry_count=1, error_types=[URLError, ConnectionResetError, RemoteDisconnected, TimeoutError]),
    ])


def send(alert: Alert, url: str) -> None:
    """Post the alert to one incoming webhook. `text` is the notification fallback: mrkdwn too, so escaped."""
    message = blocks(alert)
    try:
        response = client(url).send(text=escape(alert.text()), blocks=message, unfurl_links=False, unfurl_media=False)
    except OSError as exc:  # URLError, timeouts, resets: after the client's own retries
        raise Transient(f"slack unreachable: {exc.__class__.__name__}") from None
    if response.status_code == 200:
        return
    if response.status_code == 429 or response.status_code >= 500:
        raise Transient(f"slack answered {response.status_code}")
    raise Permanent(f"slack refused the message: {response.status_code} {_clip(str(response.body), 100)}")
