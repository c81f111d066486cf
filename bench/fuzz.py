"""Mutation fuzzing of every ingest route's real handler: no input may reach a 5xx.

    .venv/bin/python bench/fuzz.py [--json] [--requests 10000] [--seed 15]

The requests and the checks are `testbed.fuzzing`'s: mutations of the real samples
(events/segment/, events/webhooks/, pixel hits) with hostile JSON values, byte flips, gzip,
other encodings and content types, bad or re-made write keys and signatures, and Lambda-event
oddities, each sent to its function's handler as the API Gateway v2 event, with the events
queue on moto built from template.yaml. Checked for every request: no exception, no 5xx, the
pixel always answers its GIF, a 4xx has a JSON `{"error": ...}` that never repeats the canary
values mutations plant, a refused request queued nothing, and whatever a 2xx queued is an
event `scoring_core.Event` accepts.

Prints a table of statuses per route (stderr; not with --json), then, last, one JSON line:
{"routes": {"/v1/batch": {"200": n, "400": n, ...}, ...}, "requests": N,
"5xx": n, "exceptions": n, "violations": n, "seconds": s}. Target: 0 5xx, 0 exceptions.
tests/integration/test_fuzz.py runs the same generator for 1,500 requests.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time

from testbed import fuzzing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="only the JSON line (the per-route table goes to stderr without it)")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()

    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "fuzz", "AWS_SECRET_ACCESS_KEY": "fuzz",
                        "POWERTOOLS_LOG_LEVEL": "CRITICAL",
                        **fuzzing.environment()}.items():
        os.environ[name] = value
    for name in ("AWS_ENDPOINT_URL", "SECRETS_ARN"):
        os.environ.pop(name, None)

    import boto3
    from leadscore import settings
    from leadscore.dev.template import create_queues, load_template
    from moto import mock_aws

    with mock_aws():
        sqs = boto3.client("sqs")
        queue_url = create_queues(sqs, load_template())["EventsQueue"]
        os.environ["QUEUE_URL"] = queue_url
        settings.reset()
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()) as emf:  # the handlers' EMF metrics, one line per request
            outcome = fuzzing.run(args.requests, args.seed, on_request=lambda: (emf.seek(0), emf.truncate()))
        seconds = time.perf_counter() - started

    summary = outcome.summary(seconds)
    if not args.json:
        width = max(len(route) for route in summary["routes"])
        for route, counts in summary["routes"].items():
            print(f"{route:<{width}}  " + "  ".join(f"{status}: {n}" for status, n in counts.items()), file=sys.stderr)
        print(f"{summary['requests']} requests in {summary['seconds']} s: {summary['5xx']} 5xx, "
              f"{summary['exceptions']} exceptions, {summary['violations']} violations", file=sys.stderr)
    for violation in outcome.violations[:20]:
        print("VIOLATION", violation, file=sys.stderr)
    print(json.dumps(summary))
    sys.exit(1 if outcome.violations else 0)


if __name__ == "__main__":
    main()
