"""What a low-trust sender may say (docs/ingest.md, Trust levels).

A public write key sits in every page of the customer's site, so anyone can send with it. Its
events are screened here before they are queued:

- an event the model reserves for trusted senders (`Restrictions.forbids`: it would make a lead
  a customer or disqualify it) is dropped;
- an event naming a lead by one of our email keys (`userId: "e:…"`, the key that appears in
  email pixel URLs) is dropped: a browser may speak for its own visitor, not for a lead it
  found the key of;
- money properties (`amount`, `total`, `revenue`, `value`, and what the model multiplies
  points by) are removed; the event is kept.

What is kept is marked `trusted=False`: it can raise a lead no higher than the model's
`stages.low_trust_max` (MQL by default), so a stranger who `identify`s as someone else can make
them an MQL at most, never an SQL.

Server keys and signed webhooks are trusted: nothing is screened. Pure: no AWS, no logging.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from leadscore.identity import EMAIL_PREFIX

#: Reasons an event is dropped or changed, for the metrics; never the event's content.
RESTRICTED, LEAD_KEY, MONEY = "restricted", "lead_key", "money"


def screen(events: list[Any], key_kind: str, restrictions: Any) -> tuple[list[Any], Counter[str]]:
    """The events a sender of `key_kind` may send, and what was dropped or stripped, by reason."""
    if key_kind == "server":
        return events, Counter()
    kept, counts = [], Counter()
    for event in events:
        if event.lead_id is not None and event.lead_id.startswith(EMAIL_PREFIX):
            counts[LEAD_KEY] += 1
            continue
        properties = restrictions.without_money(event.properties)
        if properties is not event.properties:
            counts[MONEY] += 1
            event = event.model_copy(update={"properties": properties})
        if restrictions.forbids(event):
            counts[RESTRICTED] += 1
            continue
        kept.append(event.model_copy(update={"trusted": False}))
    return kept, counts
