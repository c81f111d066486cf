"""The outbox entry a transition leaves on its lead until it is published."""

import json
from pathlib import Path

from boto3.dynamodb.types import Binary
from leadscore.adapters.leads import OUTBOX, outbox_of, pack_detail, unpack_detail

DETAIL = json.loads((Path(__file__).resolve().parents[2] / "events" / "functions" / "notify_sql.json").read_text())["detail"]


def test_an_entry_round_trips_exactly_and_is_less_than_half_the_json():
    packed = pack_detail(DETAIL)

    assert unpack_detail(packed) == DETAIL
    assert unpack_detail(Binary(packed)) == DETAIL  # as boto3 reads a binary attribute back
    assert len(packed) < len(json.dumps(DETAIL)) / 2


def test_an_entry_written_as_json_text_is_still_read():
    item = {"pk": "e:x", OUTBOX + "t2": Binary(pack_detail({**DETAIL, "transition_id": "t2"})),
            OUTBOX + "t1": json.dumps({**DETAIL, "transition_id": "t1"})}

    assert [d["transition_id"] for d in outbox_of(item)] == ["t1", "t2"]
