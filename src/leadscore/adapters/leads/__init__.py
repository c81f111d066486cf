"""The leads table: one item per lead, every read and write of it behind one store.

- `protocol`: `LeadTable` (what the worker needs) and `LeadReader` (what the read API
  needs), `Pending`/`Applied`, and the limits every implementation keeps;
- `store`: `LeadStore`, the DynamoDB implementation (conditional writes, throttle retries);
- `memory`: `InMemoryLeadStore`, the same behaviour on dicts, for unit tests;
- `codec`: DynamoDB JSON <-> Python without boto3, an item -> the engine's `LeadState`;
- `expressions`: the UpdateExpression builder.

The item (docs/data-model.md) holds the engine's `LeadState` as top-level
attributes, so every change is an atomic ADD or a conditional SET:

    a.<rule>.<era>   N   decay accumulator, integer units (ADD)
    o.<rule>         NS  repeat-rule occurrence times, ms (ADD)
    f.<fact>         M   {v: value, t: when, e: event hash}: newest wins (conditional SET)
    x.<kind>:<rule>  N   sticky flag (disqualified / customer), first time seen
    s.<week>         SS  hashes of the event ids applied, by week of application (dedupe)
    n, first_at, last_at, email, recent, heat, stage, stage_at, tr, pinned, recycled,
    expires_at (TTL), merged_into (an alias pointing at its lead), merged_from
"""

from .codec import OUTBOX, deserialize, pack_detail, state_of, unpack_detail
from .memory import InMemoryLeadStore
from .protocol import MAX_EVENTS_PER_WEEK, Applied, LeadReader, LeadTable, Pending, TriggerRecord
from .store import LeadStore

__all__ = ["MAX_EVENTS_PER_WEEK", "OUTBOX", "Applied", "InMemoryLeadStore", "LeadReader", "LeadStore", "LeadTable",
           "Pending", "TriggerRecord", "deserialize", "pack_detail", "state_of", "unpack_detail"]
