"""Properties of the ingest parsers over arbitrary JSON: each either refuses with a typed answer
(`Rejected`: 400/401/404) or returns events the canonical model accepts again. Never anything else.

The handlers' side (API Gateway events, queueing, answers) is tests/integration/test_fuzz.py."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leadscore.edge import Rejected
from leadscore.ingest.pixel import event_from_hit
from scoring_core.restrictions import load_restrictions
from leadscore.ingest.segment import parse_request
from leadscore.ingest.webhooks import Delivery, get_source
from scoring_core.events import Event

KEY = "wk_props"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
SAMPLES = Path(__file__).resolve().parents[2] / "events"
#: any code point, lone surrogates included (json.dumps writes them as \ud800 escapes)
ANY_TEXT = st.text(st.characters(codec=None, categories=None), max_size=12)
TIMES = st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1999-12-31T23:59:59Z",
                         "2026-10-14T08:12:03.417+00:00", "2026-10-14", "not a time"])
LEAVES = (st.none() | st.booleans() | st.integers(min_value=-(10**60), max_value=10**60)
          | st.floats(allow_nan=True, allow_infinity=True) | ANY_TEXT | TIMES)
JSON = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
                    max_leaves=12)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _round_trips(events: list[Event]) -> None:
    for event in events:
        Event.model_validate_json(event.model_dump_json())


def _replace(document, path, value):
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return document


def _paths(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield path + (key,)
            yield from _paths(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield path + (index,)
            yield from _paths(value, path + (index,))


SEGMENT = json.loads((SAMPLES / "segment" / "batch_analytics_python.json").read_text())
SEGMENT_PATHS = list(_paths(SEGMENT))


@FAST
@given(path=st.sampled_from(SEGMENT_PATHS), value=JSON)
def test_a_segment_batch_with_any_value_anywhere_is_refused_or_gives_valid_events(path, value):
    body = json.dumps(_replace(json.loads(json.dumps(SEGMENT)), path, value)).encode()

    try:
        events = parse_request("batch", {"authorization": ""}, body, frozenset({KEY, SEGMENT.get("writeKey", "")}), NOW)
    except Rejected:
        return
    _round_trips(events)


@FAST
@given(message=st.dictionaries(st.sampled_from(["type", "event", "userId", "anonymousId", "messageId", "timestamp",
                                                "sentAt", "properties", "traits", "context", "previousId", "groupId",
                                                "name", "category", "writeKey"]), JSON, max_size=8),
       kind=st.sampled_from(["track", "identify", "page", "screen", "group", "alias", "batch"]))
def test_a_single_call_of_any_shape_is_refused_or_gives_valid_events(message, kind):
    body = json.dumps({**message, "writeKey": KEY}).encode()

    try:
        events = parse_request(kind, {}, body, frozenset({KEY}), NOW)
    except Rejected:
        return
    _round_trips(events)


WEBHOOKS = [(p.parent.name, json.loads(p.read_text())) for p in sorted((SAMPLES / "webhooks").glob("*/*.json"))]
WEBHOOK_CASES = [(source, document, path) for source, document in WEBHOOKS for path in _paths(document)]


@FAST
@given(case=st.sampled_from(WEBHOOK_CASES), value=JSON)
def test_a_webhook_payload_with_any_value_anywhere_is_refused_or_gives_valid_events(case, value):
    source, document, path = case
    body = json.dumps(_replace(json.loads(json.dumps(document)), path, value)).encode()

    try:
        events = get_source(source).to_events(Delivery(headers={}, body=body, received_at=NOW), {})
    except Rejected:
        return
    _round_trips(events)


PIXEL_KEY = b"k" * 32
RESTRICTIONS = load_restrictions(None)


@FAST
@given(query=st.dictionaries(st.sampled_from(["vid", "lid", "e", "url", "ref", "cid", "eid", "sig", "exp"]), ANY_TEXT, max_size=7),
       headers=st.dictionaries(st.sampled_from(["user-agent", "dnt", "sec-gpc", "referer"]), ANY_TEXT, max_size=4))
def test_a_pixel_hit_with_any_text_is_an_event_or_a_drop_reason(query, headers):
    event, reason = event_from_hit(query, headers, "203.0.113.7", "req-1", NOW,
                                   pixel_key=lambda: PIXEL_KEY, restrictions=lambda: RESTRICTIONS)

    assert (event is None) != (reason is None)
    if event is not None:
        _round_trips([event])
