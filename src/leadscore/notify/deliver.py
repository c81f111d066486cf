"""One alert per transition per channel: validate, dedupe on `transition_id`, send, park what cannot be sent.

Dedupe is powertools idempotency on the alerts table, keyed `alert#<channel>#<hash
of transition_id>`: a second delivery of the same event (EventBridge and Lambda
both retry) finds the first one's record and sends nothing; one that arrives while
the first is still sending fails and is retried after it. A `Transient` failure
fails the invocation, so Lambda retries it and finally hands it to the on-failure
destination; a `Permanent` one (or an event that is not a valid transition) is
parked on the alerts dead-letter queue (`ALERTS_DLQ_URL`) at once, with the reason.

Configuration (`leadscore.settings`; secrets from the environment locally, the secrets in AWS):
- Slack: `SLACK_WEBHOOK_URL_MQL`, `SLACK_WEBHOOK_URL_SQL` (a channel per stage), else `SLACK_WEBHOOK_URL`.
- Email: `ALERT_EMAIL_FROM`, and `ALERT_EMAIL_TO_MQL` / `ALERT_EMAIL_TO_SQL`, else `ALERT_EMAIL_TO` (comma-separated;
  template parameters).
- CRM: `CRM_WEBHOOK_URL` and `CRM_WEBHOOK_SECRET`.
- The "View lead" link (`links.py`): `<LEAD_URL_BASE>/<lead_id>` when `LEAD_URL_BASE` is set (a CRM),
  else the lead page on `API_URL`, signed with a key derived from `API_TOKEN`.
- An MQL email's Accept/Reject links (`links.answer_links`): on `API_URL`, signed with a key derived from
  `API_TOKEN`; Slack's Accept/Reject buttons need nothing here (`SalesFunction` answers them).
- Downgrades (a lead's stage moving down, e.g. when its score decays: `cause` `decay`): Slack and email
  alert on them only when `ALERT_DOWNGRADES` names the channel (`slack,email`; default none).
- Routing (`ROUTING_FILE`, docs/routing.md): a transition with a `route` goes to that route's Slack webhook
  (the secret's key it names; a key not there: the default webhook, and a warning) and its email list;
  a route without them, or a route id the file does not have, uses the defaults above.
- Triggers (a `LeadTriggered` event: one of the model's triggers fired): Slack and email alert on them only
  when `ALERT_TRIGGERS` names the channel (`slack,email`; default none: ignored before anything is read);
  deduped on `firing_id` (records keyed `alert#<channel>#trigger#<hash>`, never a transition's), sent to
  the route's webhook and list like a transition at the lead's stage, unless the route's `triggers:`
  leaves the trigger out (ignored). The CRM webhook never takes them.
- `CONSOLE_ALERTS=1` (the local stack): with no Slack webhook, print the alert instead.
A channel with nothing configured for a stage skips it (logged, counted), it does not fail.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..contracts import TRIGGERED_DETAIL_TYPE, LeadStageChanged, LeadStageChangedEvent, LeadTriggered, LeadTriggeredEvent
from ..edge import describe_validation_error
from .alert import Alert, TriggerAlert
from .errors import Permanent, Transient

if TYPE_CHECKING:  # pragma: no cover
    from scoring_core.routing import Route

    from ..dependencies import Dependencies

logger = logging.getLogger("leadscore.notify")

#: the stages each channel alerts on (the template's rules route the same ones)
STAGES = {
    "slack": frozenset({"mql", "sql", "lead"}),  # lead: a decay downgrade, and only with ALERT_DOWNGRADES
    "email": frozenset({"mql", "sql", "lead"}),
    "crm": frozenset({"mql", "sql", "customer", "disqualified"}),
}
#: the channels that alert on a downgrade (sql → mql, → lead) only when ALERT_DOWNGRADES names them;
#: the CRM webhook keeps the CRM in step, so it is sent every change its rule routes
DOWNGRADE_OPT_IN = frozenset({"slack", "email"})
#: the channels that alert on a trigger firing, and only when ALERT_TRIGGERS names them
TRIGGER_OPT_IN = frozenset({"slack", "email"})
KEEP_RECORDS_S = 14 * 86400  # longer than any retry: EventBridge 24 h, Lambda's async queue 6 h


def _downgrade_channels(deps: Dependencies) -> frozenset[str]:
    return frozenset(c.strip().lower() for c in deps.settings.alert_downgrades)


def _trigger_channels(deps: Dependencies) -> frozenset[str]:
    return frozenset(c.strip().lower() for c in deps.settings.alert_triggers)


def _lead_url(deps: Dependencies, lead_id: str) -> str | None:
    from ..links import alert_link

    s = deps.settings
    return alert_link(lead_id, lead_url_base=s.lead_url_base, api_url=s.api_url, api_token=s.api_token(), now=deps.clock())


def _answers(deps: Dependencies, t: LeadStageChanged) -> dict[str, str] | None:
    """An MQL email's signed Accept and Reject links (`links.answer_links`); None for other stages."""
    from ..links import answer_links
    from ..sales import ANSWERABLE

    if t.to_stage not in ANSWERABLE:
        return None
    return answer_links(t.lead_id, api_url=deps.settings.api_url, api_token=deps.settings.api_token(), now=deps.clock())


def routed(deps: Dependencies, route_id: str | None) -> Route | None:
    """The routing file's route of this id (an event's `route`), or None: the default destinations."""
    routing = deps.routing if route_id else None
    return routing.route(route_id) if routing is not None else None


def slack_url_for(deps: Dependencies, route_id: str | None, stage: str) -> str | None:
    """Where a Slack alert of the route `route_id` at `stage` goes: the route's webhook (the secret's key it
    names), else `SLACK_WEBHOOK_URL_<STAGE>`, else `SLACK_WEBHOOK_URL`. Any event that carries a route uses it."""
    route = routed(deps, route_id)
    if route is not None and route.slack:
        url = deps.settings.slack_webhook_named(route.slack)
        if url:
            return url
        # the name of the key and the route's id only: no URL, nothing of the lead
        logger.warning("a route's Slack webhook is not in the secrets: the default webhook is used",
                       extra={"route": route.id, "key": route.slack})
    return deps.settings.slack_webhook_url(stage)


def recipients_for(deps: Dependencies, route_id: str | None, stage: str) -> list[str]:
    """Who an email alert of the route `route_id` at `stage` goes to: the route's `email`, else
    `ALERT_EMAIL_TO_<STAGE>`, else `ALERT_EMAIL_TO` (addresses are configuration, not secrets)."""
    route = routed(deps, route_id)
    if route is not None and route.email:
        return list(route.email)
    return list(deps.settings.alert_recipients(stage))


def _post_slack(deps: Dependencies, alert: Alert | TriggerAlert, route: str | None, stage: str) -> dict[str, Any]:
    """A stage or trigger alert to the route's Slack webhook (else the stage's), or the console locally."""
    url = slack_url_for(deps, route, stage)
    if not url:
        if deps.settings.console_alerts:
            print(f"\n{'=' * 72}\n{alert.text()}\n{'=' * 72}", flush=True)
            return {"status": "printed"}
        return {"status": "skipped", "reason": "no Slack webhook configured for this stage"}
    from . import slack

    slack.send(alert, url)
    return {"status": "sent"}


def _post_email(deps: Dependencies, alert: Alert | TriggerAlert, route: str | None, stage: str,
                answers: dict[str, str] | None = None) -> dict[str, Any]:
    """A stage or trigger alert by SES to the route's list (else the stage's recipients)."""
    # addresses are configuration (template parameters), not secrets: environment only
    sender, recipients = deps.settings.alert_email_from, recipients_for(deps, route, stage)
    if not sender or not recipients:
        return {"status": "skipped", "reason": "no sender or recipients configured for this stage"}
    from ..adapters.alerts import AlertMailer
    from . import mail

    message = mail.message(alert, sender, recipients, answers)
    message_id = AlertMailer(deps.aws_client("sesv2")).send(sender, recipients, message)
    return {"status": "sent", "message_id": message_id}


def send_slack(deps: Dependencies, transition: dict[str, Any]) -> dict[str, Any]:
    t = LeadStageChanged.model_validate(transition)
    return _post_slack(deps, Alert(t, lead_url=_lead_url(deps, t.lead_id)), t.route, t.to_stage)


def send_email(deps: Dependencies, transition: dict[str, Any]) -> dict[str, Any]:
    t = LeadStageChanged.model_validate(transition)
    return _post_email(deps, Alert(t, lead_url=_lead_url(deps, t.lead_id)), t.route, t.to_stage, _answers(deps, t))


def send_crm(deps: Dependencies, transition: dict[str, Any]) -> dict[str, Any]:
    url = deps.settings.crm_webhook_url()
    if not url:
        return {"status": "skipped", "reason": "no CRM webhook configured"}
    secret = deps.settings.crm_webhook_secret()
    if not secret:
        raise Permanent("CRM_WEBHOOK_SECRET is not configured: refusing to send unsigned")
    from . import crm

    return {"status": "sent", "http_status": crm.post(url, transition, secret)}


def send_slack_trigger(deps: Dependencies, firing: dict[str, Any]) -> dict[str, Any]:
    f = LeadTriggered.model_validate(firing)
    return _post_slack(deps, TriggerAlert(f, lead_url=_lead_url(deps, f.lead_id)), f.route, f.stage)


def send_email_trigger(deps: Dependencies, firing: dict[str, Any]) -> dict[str, Any]:
    f = LeadTriggered.model_validate(firing)
    return _post_email(deps, TriggerAlert(f, lead_url=_lead_url(deps, f.lead_id)), f.route, f.stage)


Sender = Callable[["Dependencies", dict[str, Any]], dict[str, Any]]
SENDERS: dict[str, Sender] = {"slack": send_slack, "email": send_email, "crm": send_crm}
TRIGGER_SENDERS: dict[str, Sender] = {"slack": send_slack_trigger, "email": send_email_trigger}
#: what each kind of alert is deduped on: (the detail's id field, the keyword the sender is called with,
#: the records' key prefix after `alert#<channel>`, its senders). A firing's records carry `#trigger`, so
#: a firing and a transition never share a record whatever their ids
KINDS: dict[str, tuple[str, str, str, dict[str, Sender]]] = {
    "transition": ("transition_id", "transition", "", SENDERS),
    "firing": ("firing_id", "firing", "#trigger", TRIGGER_SENDERS),
}


def _with_parking(deps: Dependencies, channel: str, send: Sender, keyword: str) -> Callable[..., dict[str, Any]]:
    def deliver(**data: dict[str, Any]) -> dict[str, Any]:
        detail = data[keyword]  # idempotency calls it by its keyword (`transition`, `firing`)
        try:
            return send(deps, detail)
        except Permanent as exc:
            park(deps, channel, {"detail": detail}, str(exc))
            return {"status": "parked", "reason": str(exc)}

    deliver.__name__ = deliver.__qualname__ = f"deliver_{channel}_{keyword}"
    return deliver


def _idempotent(deps: Dependencies, channel: str, kind: str = "transition") -> tuple[Callable[..., dict[str, Any]], Any]:
    """The channel's sender of this kind of alert behind powertools idempotency, built once per container."""
    key = ("alerts", channel) if kind == "transition" else ("alerts", channel, kind)
    return deps.once(key, lambda: _build_idempotent(deps, channel, kind))


def _build_idempotent(deps: Dependencies, channel: str, kind: str) -> tuple[Callable[..., dict[str, Any]], Any]:
    from aws_lambda_powertools.utilities.idempotency import (
        IdempotencyConfig,
        idempotent_function,
    )

    from ..adapters.alerts import sent_alerts

    id_field, keyword, suffix, senders = KINDS[kind]
    store = sent_alerts(deps.aws_client("dynamodb"), deps.settings.required("alerts_table"))
    config = IdempotencyConfig(event_key_jmespath=id_field, raise_on_no_idempotency_key=True,
                               expires_after_seconds=KEEP_RECORDS_S)
    fn = idempotent_function(_with_parking(deps, channel, senders[channel], keyword), data_keyword_argument=keyword,
                             persistence_store=store, config=config, key_prefix=f"alert#{channel}{suffix}")
    return fn, config


def park(deps: Dependencies, channel: str, event: Any, reason: str) -> None:
    """Put an alert that cannot be delivered on the alerts dead-letter queue, for a person to look at."""
    url = deps.settings.alerts_dlq_url
    if not url:
        raise Transient(f"cannot park the alert ({reason}): ALERTS_DLQ_URL is not set")
    from ..adapters.alerts import ParkedAlerts

    ParkedAlerts(deps.aws_client("sqs"), url).park(json.dumps({"channel": channel, "reason": reason, "event": event}, default=str))


def notify(deps: Dependencies, channel: str, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Deliver one EventBridge `LeadStageChanged` event on one channel; returns what happened.

    Raises `Transient` (and powertools' in-progress error) so Lambda retries."""
    if isinstance(event, dict) and event.get("detail-type") == TRIGGERED_DETAIL_TYPE:
        return notify_trigger(deps, channel, event, context)
    try:
        changed = LeadStageChangedEvent.model_validate(event)
    except ValidationError as exc:
        reason = f"not a LeadStageChanged event: {describe_validation_error(exc)}"
        park(deps, channel, event, reason)
        return {"status": "invalid", "reason": reason}
    if changed.detail.to_stage not in STAGES[channel]:
        return {"status": "ignored", "reason": f"{channel} does not alert on {changed.detail.to_stage}"}
    if channel in DOWNGRADE_OPT_IN and changed.detail.downgrade and channel not in _downgrade_channels(deps):
        return {"status": "ignored", "reason": f"{channel} does not alert on downgrades (ALERT_DOWNGRADES)"}
    deliver, config = _idempotent(deps, channel)
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        config.register_lambda_context(context)
    # `feedback` is absent, not null, when the score made the change (contracts.LeadStageChanged): the CRM's body
    # stays the transition as documented
    absent = {"feedback"} if changed.detail.feedback is None else None
    return deliver(transition=changed.detail.model_dump(mode="json", exclude=absent))


def notify_trigger(deps: Dependencies, channel: str, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Deliver one EventBridge `LeadTriggered` event on one channel, when `ALERT_TRIGGERS` names it.

    A channel not named ignores every firing before reading it (an invalid one too: nothing is parked for a
    channel that was never asked to alert on triggers)."""
    if channel not in TRIGGER_OPT_IN or channel not in _trigger_channels(deps):
        return {"status": "ignored", "reason": f"{channel} does not alert on triggers (ALERT_TRIGGERS)"}
    try:
        triggered = LeadTriggeredEvent.model_validate(event)
    except ValidationError as exc:
        reason = f"not a LeadTriggered event: {describe_validation_error(exc)}"
        park(deps, channel, event, reason)
        return {"status": "invalid", "reason": reason}
    firing = triggered.detail
    route = routed(deps, firing.route)
    if route is not None and route.triggers is not None and firing.trigger not in route.triggers:
        return {"status": "ignored", "reason": f"the route {route.id} does not alert on this trigger"}
    deliver, config = _idempotent(deps, channel, "firing")
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        config.register_lambda_context(context)
    return deliver(firing=firing.model_dump(mode="json"))
