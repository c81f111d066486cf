"""Exactly once under faults: an event stream through the pipeline on moto with throttled writes and refused entries.

    .venv/bin/python bench/faults.py [--json] [--events 5000] [--ddb-throttle 0.2] [--eb-fail 0.2] [--layer call|send]

The pipeline and its faults are `testbed.faults`' (its docstring says how each is injected):
an X Education stream (`testbed.leads_stream`) through the events queue as the event source
mapping delivers it (visibility timeout, receive count, redrive to the DLQ), the real scoring
worker, the real stream publisher on the table's stream and the real Slack notifier on the
bus's rule, with `--ddb-throttle` of the leads table's writes throttled (after botocore's
retries with `--layer call`, before them with `--layer send`), `--eb-fail` of the PutEvents
entries refused and `--bus-duplicates` of the bus events delivered twice.

Last line: {"events_sent": .., "distinct_events": .., "applied": .., "duplicates": ..,
"lost": .., "dead_lettered": .., "transitions": .., "alerts_per_transition": {min, max,
mean}, "faults": {kind: n}, ...}. Target (issue 15): applied = distinct events,
duplicates 0, lost 0, exactly one alert per alerted transition.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from testbed import faults


def report(r: dict[str, Any]) -> None:
    out = sys.stderr
    rates = r["fault_rates"]
    print(f"{r['events_sent']:,} events sent ({r['distinct_events']:,} distinct), {r['batches']} worker batches; "
          f"{rates['ddb_writes']:.0%} of leads-table writes throttled (at botocore's {rates['layer']} layer), "
          f"{rates['eb_entries']:.0%} of PutEvents entries failed", file=out)
    print(f"  applied once        {r['applied']:>7,}   (target: {r['distinct_events']:,})", file=out)
    print(f"  duplicates          {r['duplicates']:>7,}   (target: 0)", file=out)
    print(f"  lost                {r['lost']:>7,}   (target: 0; {r['lost_in_dead_letter_queue']} of them in the DLQ)", file=out)
    print(f"  dead-lettered       {r['dead_lettered_messages']:>7,}   messages ({r['dead_lettered_events_applied']} of their events applied before)", file=out)
    print(f"  leads               {r['leads']:>7,}   ({r['leads_differing_from_reference']} differ from the reference, "
          f"{r['leads_differing_without_a_dead_lettered_message']} of them with no dead-lettered message; "
          f"{r['aliases_not_linked']} aliases not linked)", file=out)
    print(f"  transitions         {r['transitions']:>7,}   {r['transitions_by_stage']}; {r['forked_or_broken_chains']} broken chains", file=out)
    a, b = r["alerts_per_transition"], r["bus_events_per_alerted_transition"]
    print(f"  alerts/transition   min {a['min']} max {a['max']} mean {a['mean']} over {r['alerted_transitions']} "
          f"alerted transitions (target: exactly 1); bus events per transition min {b['min']} max {b['max']} mean {b['mean']}", file=out)
    print(f"  messages by receives {r['messages_by_receives']}; invocation errors {r['invocation_errors']}; "
          f"publisher invocations {r['publisher_invocations']} (retry waits {r['publisher_retry_wait_s']} s, not slept)", file=out)
    print(f"  faults injected     {r['faults']}", file=out)
    print(f"  ({r['seconds']} s)", file=out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--ddb-throttle", type=float, default=0.2, help="share of leads-table writes throttled")
    parser.add_argument("--eb-fail", type=float, default=0.2, help="share of PutEvents entries failed")
    parser.add_argument("--bus-duplicates", type=float, default=0.2,
                        help="share of the Slack rule's events the notifier is given twice (EventBridge delivers at least once)")
    parser.add_argument("--layer", choices=("call", "send"), default="call",
                        help="inject throttles after botocore's retry layer (call) or before it (send)")
    parser.add_argument("--span-days", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--exact-moto", action="store_true", help="moto as installed, without testbed.fast_moto's speed-ups")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))
    result = faults.run(args.events, args.ddb_throttle, args.eb_fail, args.seed, args.span_days, args.layer, log, not args.exact_moto, args.bus_duplicates)
    if not args.json:
        report(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
