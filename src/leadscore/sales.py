"""How sales answers an alert: Slack's Accept/Reject buttons and the email's one-click links.

Both end in `leadscore.feedback.give_feedback`, the one feedback path the leads API's
`POST /leads/{id}/feedback` takes too, with a `feedback_id` derived from the alert that
was answered, so answering the same alert twice (a second click, Slack's retry, a
resubmitted form, a colleague clicking the same email) records it once:

- **Slack** (`POST /slack/interactions`, `slack_interaction`): the request is verified
  with the app's signing secret (`SLACK_SIGNING_SECRET`; slack_sdk's `SignatureVerifier`:
  `X-Slack-Signature` over `v0:<X-Slack-Request-Timestamp>:<body>`, 5 minutes of
  tolerance), else 401; its `payload=` form field must be a `block_actions` payload, else
  400. The feedback id is `slack:` + a hash of the team, channel and message: one answer
  per alert message. Then the message is updated through the payload's `response_url`
  (only `https://hooks.slack.com/`: anything else is refused with 400 before anything is
  recorded), with a 2 s timeout and no retry: a failed update is logged, the feedback
  stays recorded, Slack gets its 200.
- **Email** (`GET`/`POST /sales/leads/{id}/{accept|reject}?exp=&sig=`, `answer_page` /
  `answer`): the link is signed (`links.answer_link`, 14 days). A GET only shows a page
  with a button (mail scanners open links); its form's POST records the answer. The
  feedback id is `email:` + a hash of the lead and the link's expiry: one answer per email.

docs/notifications.md describes both for the people who set them up.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .edge import BadRequest, Rejected, Unauthorized, describe_validation_error
from .links import Answer

if TYPE_CHECKING:  # pragma: no cover
    from .dependencies import Dependencies

logger = logging.getLogger(__name__)

#: why a lead is sent back: one click each in Slack, a choice in the email's page (stored as the words)
REASONS = {
    "not_a_fit": "Not a fit",
    "no_budget": "No budget",
    "bad_timing": "Bad timing",
    "wrong_contact": "Wrong contact",
    "competitor": "Chose a competitor",
    "spam": "Spam or fake",
}
#: the stages whose alerts sales answers (Slack buttons, email links): an MQL waits for sales to accept or
#: reject it; an SQL has been accepted (or reached SQL by score) and is answered with won/lost in the CRM or API
ANSWERABLE = frozenset({"mql"})
SLACK_HOOKS = "https://hooks.slack.com/"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_BODY = 64 * 1024  # a block_actions payload carries the whole message: a few KiB, Slack's messages are capped
_LEAD_ID = re.compile(r"(?:e|u|v):.{1,256}")  # our keys (identity.py): `v:` + a visitor id of up to 256


# -- Slack's block_actions payload (https://docs.slack.dev/reference/interaction-payloads/block_actions-payload)

class _Slack(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)  # built on the first Slack request


class SlackUser(_Slack):
    id: str = Field(pattern=r"^[A-Za-z0-9_]{1,64}$")  # shown as <@id>: nothing mrkdwn could read otherwise


class SlackTeam(_Slack):
    id: str = Field(min_length=1, max_length=64)


class SlackChannel(_Slack):
    id: str = Field(min_length=1, max_length=64)


class SlackContainer(_Slack):
    type: str
    message_ts: str = Field(min_length=1, max_length=64)
    channel_id: str | None = Field(default=None, max_length=64)


class SlackAction(_Slack):
    type: str
    action_id: str = Field(max_length=255)
    block_id: str | None = Field(default=None, max_length=255)
    value: str | None = Field(default=None, max_length=2000)
    action_ts: str | None = None


class SlackMessage(_Slack):
    ts: str | None = None
    text: str | None = None
    blocks: list[dict[str, Any]] = Field(default_factory=list, max_length=50)


class BlockActions(_Slack):
    """What Slack posts when someone clicks a button of a message (only what we use is read)."""

    type: Literal["block_actions"]
    user: SlackUser
    team: SlackTeam | None = None
    channel: SlackChannel | None = None
    container: SlackContainer
    response_url: str = Field(max_length=2000)
    actions: list[SlackAction] = Field(min_length=1, max_length=25)
    message: SlackMessage | None = None

    @field_validator("response_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("is not a URL")
        return value

    @property
    def message_key(self) -> str:
        """The message that was answered: team, channel, timestamp (a `ts` is unique per channel)."""
        channel = self.container.channel_id or (self.channel.id if self.channel else "")
        return f"{self.team.id if self.team else ''}/{channel}/{self.container.message_ts}"


def allowed_response_url(url: str, dev_base: str | None) -> bool:
    """Only Slack's own `https://hooks.slack.com/...` (we post to it: anything else is an SSRF),
    or, in the local stack and tests, a loopback `dev_base` (`SLACK_DEV_RESPONSE_BASE`)."""
    parts = urlsplit(url)
    if (parts.scheme == "https" and parts.hostname == "hooks.slack.com" and parts.port is None
            and not parts.username and not parts.password and url.startswith(SLACK_HOOKS)):
        return True
    if dev_base:
        base = dev_base.rstrip("/") + "/"
        dev = urlsplit(base)
        return dev.hostname in LOOPBACK and url.startswith(base) and urlsplit(url).hostname == dev.hostname
    return False


def verify_slack(deps: Dependencies, body: bytes, headers: Mapping[str, str]) -> None:
    """Unauthorized unless Slack signed `body` with our signing secret in the last 5 minutes."""
    from slack_sdk.signature import Clock, SignatureVerifier

    secret = deps.settings.slack_signing_secret()
    if not secret:
        logger.warning("SLACK_SIGNING_SECRET is not set: every Slack interaction is refused")
        raise Unauthorized("no signing secret")
    timestamp = headers.get("x-slack-request-timestamp") or ""
    signature = headers.get("x-slack-signature") or ""
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12 or not signature:
        raise Unauthorized("bad timestamp or no signature")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Unauthorized("body is not what Slack signs") from None

    class AtOurTime(Clock):
        def now(self) -> float:
            return deps.clock()

    if not SignatureVerifier(secret, clock=AtOurTime()).is_valid(text, timestamp, signature):
        raise Unauthorized("bad or stale signature")


def parse_block_actions(body: bytes) -> BlockActions:
    """The `payload=` field of Slack's form-encoded body, validated. BadRequest names what is wrong."""
    if len(body) > MAX_BODY:
        raise BadRequest(f"body is over {MAX_BODY} bytes")
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except ValueError:  # more fields than a Slack body has
        form = {}
    payloads = form.get("payload") or []
    if len(payloads) != 1:
        raise BadRequest("body must be application/x-www-form-urlencoded with one payload field")
    try:
        return BlockActions.model_validate_json(payloads[0])
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            raise BadRequest("payload is not valid JSON") from None
        raise BadRequest(describe_validation_error(exc, "payload")) from None


def feedback_id(kind: str, identity: str) -> str:
    """`<kind>:<32 hex>`: the same alert answered again gives the same id."""
    return f"{kind}:{hashlib.sha256(identity.encode('utf-8')).hexdigest()[:32]}"


def slack_interaction(deps: Dependencies, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """`POST /slack/interactions`: verify, act on the clicked button, update the message.
    Returns what happened (for the log and tests); raises Unauthorized (401) or BadRequest (400)."""
    from .notify import slack

    verify_slack(deps, body, headers)
    payload = parse_block_actions(body)
    dev_base = None if deps.settings.secrets_in_aws else deps.settings.slack_dev_response_base  # never in AWS
    if not allowed_response_url(payload.response_url, dev_base):
        raise BadRequest("payload.response_url: is not a Slack URL (https://hooks.slack.com/)")
    action = payload.actions[0]
    original = payload.message.blocks if payload.message else []
    text = (payload.message.text if payload.message else None) or "Lead alert"
    where: dict[str, Any] = {"action": action.action_id, "retry": headers.get("x-slack-retry-num")}

    if action.action_id == slack.ACCEPT:
        lead_id = _lead_id(action.value)
        return _answer(deps, payload, lead_id, "accepted", None, original, text, where)
    if action.action_id.startswith(f"{slack.REASON}_"):
        code, _, value = (action.value or "").partition("|")
        if code not in REASONS:
            raise BadRequest("payload.actions[0].value: is not a reason of ours")
        return _answer(deps, payload, _lead_id(value), "rejected", REASONS[code], original, text, where)
    if action.action_id == slack.REJECT:  # ask why, nothing recorded yet
        blocks = slack.with_feedback_block(original, slack.reason_picker(_lead_id(action.value)))
        return {**where, "status": "asked", "updated": slack.update_message(payload.response_url, text, blocks)}
    if action.action_id == slack.CANCEL:  # back to Accept / Reject
        blocks = slack.with_feedback_block(original, slack.feedback_buttons(_lead_id(action.value)))
        return {**where, "status": "cancelled", "updated": slack.update_message(payload.response_url, text, blocks)}
    # "View lead" (a URL button: Slack reports its clicks too) and anything else: acknowledged, nothing to do
    return {**where, "status": "ignored"}


def _lead_id(value: str | None) -> str:
    if not value or not _LEAD_ID.fullmatch(value):
        raise BadRequest("payload.actions[0].value: is not a lead id")
    return value


def _answer(deps: Dependencies, payload: BlockActions, lead_id: str, outcome: Answer, reason: str | None,
            original: list[dict[str, Any]], text: str, where: dict[str, Any]) -> dict[str, Any]:
    from .feedback import FeedbackIn, give_feedback
    from .notify import slack

    given = FeedbackIn(outcome=outcome, reason=reason, by=f"slack:{payload.user.id}",
                       feedback_id=feedback_id("slack", payload.message_key))
    where = {**where, "lead": lead_id, "outcome": outcome}
    try:
        result = give_feedback(deps, lead_id, given, source="slack")
    except Rejected as exc:  # gone, or an answer this lead cannot take: tell the one who clicked, keep the message
        note = slack.refusal_note(exc.status, exc.message)
        updated = slack.update_message(payload.response_url, note, None, ephemeral=True)
        return {**where, "status": "refused", "http_status": exc.status, "updated": updated}
    note = slack.answered_note(result.outcome, payload.user.id, reason, result.stage, duplicate=result.duplicate)
    blocks = slack.with_feedback_block(original, slack.answered_block(note))
    updated = slack.update_message(payload.response_url, text, blocks)
    return {**where, "status": "duplicate" if result.duplicate else "recorded", "stage": result.stage,
            "changed": result.changed, "updated": updated}


# -- the email's one-click links -----------------------------------------------------------------

def _link_answer(deps: Dependencies, lead_id: str, verb: str, exp: str | None, sig: str | None) -> tuple[Answer, int] | int:
    """(outcome, expiry) of a valid link, else the status of the page to show (404, 403)."""
    from . import links

    outcome = links.ANSWER_OUTCOMES.get(verb)
    if outcome is None:
        return 404
    token = deps.settings.api_token()
    if not token or not links.valid_answer_link(lead_id, outcome, exp, sig, links.answer_key(token), now=deps.clock()):
        return 403
    return outcome, int(exp or 0)


def answer_page(deps: Dependencies, lead_id: str, verb: str, query: Mapping[str, str] | None) -> tuple[int, str]:
    """`GET /sales/leads/{id}/{accept|reject}?exp=&sig=`: (status, HTML) of the confirmation page.
    Records nothing: mail scanners and link previews open every link of an email."""
    from . import answer_page as page
    from .views import lead_at

    query = query or {}
    checked = _link_answer(deps, lead_id, verb, query.get("exp"), query.get("sig"))
    if isinstance(checked, int):
        return checked, page.invalid_link() if checked == 403 else page.no_such_lead()
    outcome, expires = checked
    view = lead_at(deps.leads_store, deps.engine, lead_id, deps.clock())
    if view is None:
        return 404, page.no_such_lead()
    return 200, page.confirm(view, lead_id, outcome, exp=str(expires), sig=str(query["sig"]), reasons=REASONS)


def answer(deps: Dependencies, lead_id: str, verb: str, body: bytes) -> tuple[int, str]:
    """`POST /sales/leads/{id}/{accept|reject}` (the page's form: exp, sig, reason): records the answer
    through the feedback path and shows the result."""
    from . import answer_page as page
    from .feedback import FeedbackIn, give_feedback

    try:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), max_num_fields=10).items()} if len(body) <= 4096 else None
    except (UnicodeDecodeError, ValueError):
        form = None
    if form is None:
        return 400, page.bad_form()
    checked = _link_answer(deps, lead_id, verb, form.get("exp"), form.get("sig"))
    if isinstance(checked, int):
        return checked, page.invalid_link() if checked == 403 else page.no_such_lead()
    outcome, expires = checked
    reason = None
    if outcome == "rejected":
        code = form.get("reason", "")
        if code not in REASONS:
            return 400, page.bad_form()
        reason = REASONS[code]
    given = FeedbackIn(outcome=outcome, reason=reason, by="email link",
                       feedback_id=feedback_id("email", f"{lead_id}/{expires}"))
    try:
        result = give_feedback(deps, lead_id, given, source="email")
    except Rejected as exc:
        if exc.status == 404:
            return 404, page.no_such_lead()
        # 409: this email's answer id was used for the other answer (the other link, by a colleague)
        message = "This alert was already answered the other way: nothing changed." if exc.status == 409 else exc.message
        return exc.status, page.refused(message)
    logger.info("email answer", extra={"lead": lead_id, "outcome": result.outcome, "duplicate": result.duplicate})
    return 200, page.answered(result.outcome, reason, result.stage, duplicate=result.duplicate)

