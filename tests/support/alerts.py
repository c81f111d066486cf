"""What the notifiers sent: Slack bodies posted to a recorder, emails SES (on moto) sent."""

from __future__ import annotations

import email
import email.policy
import json
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID

SENDER = "alerts@relaywise.example"  # the SES identity the email fixtures verify


def sent_emails() -> list[Any]:
    from moto.ses.models import ses_backends

    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def posted(request: Any) -> dict[str, Any]:
    """A recorded request's JSON body (a Slack message)."""
    return json.loads(request.body)


def parts(raw: str) -> tuple[Any, str, str]:
    """An alert email's message, plain text and HTML; it must be multipart/alternative with both."""
    message = email.message_from_string(raw, policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    markup = message.get_body(("html",))
    assert text is not None and markup is not None
    return message, text.get_content(), markup.get_content()
