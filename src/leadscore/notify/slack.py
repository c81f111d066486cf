"""Slack alerts through an incoming webhook: Block Kit built with slack_sdk's models.

`slack_sdk.WebhookClient` posts the message; its retry handlers honour a 429's
`Retry-After`, retry 500/503 and connection errors (timeouts included). What
is still failing after that raises `Transient` (Lambda retries the event); a
4xx means the webhook itself is wrong (revoked, deleted channel) and raises
`Permanent`, so the alert is parked rather than retried.

Everything a lead typed (name, company, title) is escaped before it enters
mrkdwn, so a form answer cannot mention `<!channel>` or forge a link.

MQL alerts end with Accept and Reject buttons (block `leadscore_feedback`); a click
comes back to `POST /slack/interactions` (`leadscore.sales`), which updates the message
through the payload's `response_url` with the functions below: Reject swaps the
buttons for one button per reason (and Cancel), an answer swaps them for who answered.
"""

from __future__ import annotations

import logging
from typing import Any

from .alert import Alert, TriggerAlert
from .errors import Permanent, Transient

TIMEOUT_S = 5
#: a message update is answered within Slack's 3 s: one attempt, 2 s at most (the feedback is recorded first)
UPDATE_TIMEOUT_S = 2
FEEDBACK_BLOCK = "leadscore_feedback"  # every iteration's block_id starts so (Slack wants a new one per update)
ACCEPT, REJECT, REASON, CANCEL = "lead_accept", "lead_reject", "lead_reject_reason", "lead_reject_cancel"
logger = logging.getLogger(__name__)
STAGE_EMOJI = {"mql": ":large_yellow_circle:", "sql": ":fire:", "customer": ":tada:", "disqualified": ":no_entry:", "lead": ":arrow_down:"}


def escape(text: str) -> str:
    """Slack's mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def blocks(alert: Alert) -> list[Any]:
    """The Block Kit message: header, who/fit/score/stage, why, what the lead reads most, recent activity,
    a "View lead" button."""
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
    if alert.owner:
        fields.append(f"*Owner*\n{escape(_clip(alert.owner, 200))}")
    out.append(SectionBlock(fields=[MarkdownTextObject(text=f) for f in fields]))
    reasons = alert.reasons()
    if reasons:
        lines = "\n".join(f"`{p:>6}`  {escape(_clip(r, 120))}" for r, p in reasons)
        out.append(SectionBlock(text=MarkdownTextObject(text=f"*Why this score*\n{lines}")))
    if alert.interest_line:
        text = "  ·  ".join(f"{escape(_clip(c, 80))} `{share}`" for c, share in alert.interests())
        out.append(SectionBlock(text=MarkdownTextObject(text=_clip(f"*Reads most*\n{text}", 3000))))
    activity = alert.activity()
    if activity:
        text = "  ·  ".join(f"{escape(a)} _{when}_" for a, when in activity)
        out.append(ContextBlock(elements=[MarkdownTextObject(text=_clip(f"Recent: {text}", 3000))]))
    if alert.url:
        out.append(DividerBlock())
        button = ButtonElement(text=PlainTextObject(text="View lead"), url=alert.url, action_id="view_lead",
                               style="primary" if alert.stage == "sql" else None)
        out.append(ActionsBlock(elements=[button]))
    from ..sales import ANSWERABLE

    if alert.stage in ANSWERABLE:
        out.append(feedback_buttons(alert.t.lead_id))
    for block in out:
        block.validate_json()  # Slack's limits, checked before sending
    return out


TRIGGER_EMOJI = ":bell:"


def trigger_blocks(alert: TriggerAlert) -> list[Any]:
    """A trigger's Block Kit message: header (the trigger and who), what matched, who/fit/score/stage/owner,
    a "View lead" button. No Accept or Reject: a firing is no stage change to answer."""
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

    out: list[Any] = [
        HeaderBlock(text=PlainTextObject(text=_clip(f"{TRIGGER_EMOJI} {escape(alert.headline)}", 150), emoji=True)),
        ContextBlock(elements=[MarkdownTextObject(text=_clip(f"*Trigger*: {escape(alert.matched)}", 3000))]),
    ]
    fields = [f"*Who*\n{escape(_clip(alert.who, 200))}"]
    if alert.role:
        fields.append(f"*Role*\n{escape(_clip(alert.role, 300))}")
    if alert.email:
        fields.append(f"*Email*\n<mailto:{escape(alert.email)}|{escape(alert.email)}>")
    fields += [
        f"*Fit grade*\n{escape(alert.grade)}",
        f"*Score*\n{alert.score_line}",
        f"*Stage*\n{escape(alert.stage_line)}",
    ]
    if alert.owner:
        fields.append(f"*Owner*\n{escape(_clip(alert.owner, 200))}")
    out.append(SectionBlock(fields=[MarkdownTextObject(text=f) for f in fields]))
    if alert.url:
        out.append(DividerBlock())
        out.append(ActionsBlock(elements=[ButtonElement(text=PlainTextObject(text="View lead"), url=alert.url,
                                                        action_id="view_lead")]))
    for block in out:
        block.validate_json()
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


def send(alert: Alert | TriggerAlert, url: str) -> None:
    """Post the alert to one incoming webhook. `text` is the notification fallback: mrkdwn too, so escaped."""
    message = trigger_blocks(alert) if isinstance(alert, TriggerAlert) else blocks(alert)
    try:
        response = client(url).send(text=escape(alert.text()), blocks=message, unfurl_links=False, unfurl_media=False)
    except OSError as exc:  # URLError, timeouts, resets: after the client's own retries
        raise Transient(f"slack unreachable: {exc.__class__.__name__}") from None
    if response.status_code == 200:
        return
    if response.status_code == 429 or response.status_code >= 500:
        raise Transient(f"slack answered {response.status_code}")
    raise Permanent(f"slack refused the message: {response.status_code} {_clip(str(response.body), 100)}")


# -- answering an alert (leadscore.sales): the feedback block of the message, iteration by iteration

def feedback_buttons(lead_id: str) -> Any:
    """Accept (primary) and Reject (danger); each button's value is the lead id (Slack signs what comes back)."""
    from slack_sdk.models.blocks import ActionsBlock, ButtonElement, PlainTextObject

    return ActionsBlock(block_id=FEEDBACK_BLOCK, elements=[
        ButtonElement(text=PlainTextObject(text="Accept"), action_id=ACCEPT, value=lead_id, style="primary"),
        ButtonElement(text=PlainTextObject(text="Reject"), action_id=REJECT, value=lead_id, style="danger"),
    ])


def reason_picker(lead_id: str) -> Any:
    """What Reject turns the buttons into: why (one button per reason, `<reason>|<lead id>`), or Cancel."""
    from slack_sdk.models.blocks import ActionsBlock, ButtonElement, PlainTextObject

    from ..sales import REASONS

    reasons = [ButtonElement(text=PlainTextObject(text=words), action_id=f"{REASON}_{code}", value=f"{code}|{lead_id}")
               for code, words in REASONS.items()]
    cancel = ButtonElement(text=PlainTextObject(text="Cancel"), action_id=CANCEL, value=lead_id)
    return ActionsBlock(block_id=f"{FEEDBACK_BLOCK}_reason", elements=[*reasons, cancel])


def answered_block(note: str) -> Any:
    from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject

    return ContextBlock(block_id=f"{FEEDBACK_BLOCK}_answered", elements=[MarkdownTextObject(text=note)])


def answered_note(outcome: str, user_id: str, reason: str | None, stage: str, *, duplicate: bool = False) -> str:
    """`:white_check_mark: Accepted by <@U…>, now SQL`; a repeated answer says it was answered before."""
    from ..display import STAGE_LABEL

    mark, words = {"accepted": (":white_check_mark:", "Accepted"), "rejected": (":x:", "Rejected")}.get(
        outcome, (":speech_balloon:", outcome.capitalize()))
    now = f"now {STAGE_LABEL.get(stage, stage)}"
    if duplicate:
        return f"{mark} {words} already, {now}"
    because = f": {escape(reason)}" if reason else ""
    return f"{mark} {words} by <@{user_id}>{because}, {now}"


def refusal_note(status: int, message: str) -> str:
    if status == 404:
        return ":warning: This lead no longer exists (erased, or removed after a long time without activity)."
    if status == 409:  # the message's feedback id was used for the other answer (two people, one alert)
        return ":warning: This alert was already answered the other way: nothing changed."
    return f":warning: Not recorded: {escape(message)}"


def with_feedback_block(original: list[dict[str, Any]], block: Any) -> list[dict[str, Any]]:
    """The message's blocks as Slack sent them back, its feedback block replaced by `block` (in place)."""
    new = block.to_dict()
    out, placed = [], False
    for b in original:
        if str(b.get("block_id", "")).startswith(FEEDBACK_BLOCK):
            if not placed:
                out.append(new)
                placed = True
            continue
        out.append(b)
    return out if placed else [*out, new]


def update_message(response_url: str, text: str, blocks: list[dict[str, Any]] | None, *, ephemeral: bool = False) -> bool:
    """Replace the answered message (or, `ephemeral`, tell only the one who clicked) through its
    `response_url`, which the caller has checked is Slack's. One attempt; False when it failed."""
    from slack_sdk.webhook import WebhookClient

    client = WebhookClient(response_url, timeout=UPDATE_TIMEOUT_S, retry_handlers=[])
    try:
        if ephemeral:
            response = client.send(text=text, response_type="ephemeral", replace_original=False)
        else:
            response = client.send(text=text, blocks=blocks, replace_original=True)
    except Exception as exc:  # noqa: BLE001 (the answer is recorded: a failed update must not fail the request)
        logger.warning("message not updated", extra={"error": exc.__class__.__name__})
        return False
    if response.status_code != 200:
        logger.warning("message not updated", extra={"http_status": response.status_code})
        return False
    return True
