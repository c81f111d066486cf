"""Cold start of each ingest function against a bare boto3 SQS client.

For each function: a fresh Python process imports the handler module (as
Lambda does, from its CodeUri) and runs its `init()` (the SQS client every
request needs). The baseline is a fresh process doing only
`import boto3; boto3.client("sqs")`. Runs are interleaved, 15 of each; the
figures are medians of the time measured inside the process (interpreter
start-up excluded, as Lambda's runtime start-up is not ours). Also reported,
not part of the target: the first request's extra time (what is imported
lazily on the hot path shows up there).

Imports resolve as in Lambda, for the baseline and the functions alike: `python -S`
with the code, the layers' packages and the dependencies on PYTHONPATH (Lambda's
/var/task, /opt/python and /var/runtime), not through the virtualenv's site
processing. The editable install's `.pth` finder runs at interpreter start-up,
outside the timed window, but it imports pathlib, re, fnmatch, urllib.parse and
ipaddress there, which then cost nothing inside it: about 11 ms of the baseline's
own imports and a bit more of each function's that Lambda does pay.

Last line: {"functions": {"<name>": {"init_ms": .., "ratio": .., "first_request_ms": ..}}, "baseline_ms": ..}
Target (issue 4): ratio ≤ 1.25 for every ingest function.
"""

from __future__ import annotations

import argparse
import json
import os
import site
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE_PACKAGES = [p for p in site.getsitepackages() if os.path.isdir(p)]
FUNCTIONS = {"pixel": "PixelFunction", "collect": "CollectFunction", "hooks": "HooksFunction"}

BASELINE = """
import time
t0 = time.perf_counter()
import boto3
boto3.client("sqs")
print(json.dumps({"init_ms": (time.perf_counter() - t0) * 1000}))
"""

FUNCTION = """
import time
t0 = time.perf_counter()
import importlib.util
spec = importlib.util.spec_from_file_location("app", {path!r})
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
app.init()
t1 = time.perf_counter()
from leadscore.dev.http import http_api_event
from leadscore.dev.functions import LambdaContext
event = http_api_event(*{request!r})
t2 = time.perf_counter()
try:
    app.lambda_handler(event, LambdaContext("bench"))
except Exception:
    pass
t3 = time.perf_counter()
print(json.dumps({{"init_ms": (t1 - t0) * 1000, "first_request_ms": (t3 - t2) * 1000}}))
"""

# one representative request per function (the queue URL points nowhere: sending fails fast and is not timed as init)
REQUESTS = {
    "pixel": ("GET", "/t.gif", "vid=v1&url=https%3A%2F%2Facme.example%2Fpricing", {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}, b"", "GET /t.gif", {}),
    "collect": ("POST", "/v1/track", "", {"content-type": "application/json", "authorization": "Basic a2V5Og=="},
                b'{"type":"track","event":"Demo Requested","userId":"u1","messageId":"m1","timestamp":"2026-11-01T10:00:00.000+00:00"}',
                "POST /v1/track", {"kind": "track"}),
    "hooks": ("POST", "/hooks/generic", "", {"content-type": "application/json", "x-leadscore-signature": "t=1,v1=00"},
              b'{"event_id":"e1","type":"form_submitted","email":"a@b.example"}', "POST /hooks/{source}", {"source": "generic"}),
}


def run(code: str) -> dict[str, float]:
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
        "QUEUE_URL": "http://127.0.0.1:9/000000000000/none", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_MAX_ATTEMPTS": "1", "WRITE_KEYS": "key", "WEBHOOK_SECRET_GENERIC": "s3cret",
        "POWERTOOLS_METRICS_NAMESPACE": "bench", "POWERTOOLS_SERVICE_NAME": "bench",
        # the code and the layers, then the dependencies; -S: no site processing (see above)
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "layers" / "scoring_core"), *SITE_PACKAGES]),
    }
    out = subprocess.run([sys.executable, "-S", "-c", "import json\n" + code], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--only", help="comma-separated subset of functions, e.g. pixel")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    functions = [f for f in FUNCTIONS if not args.only or f in args.only.split(",")]

    samples: dict[str, list[dict[str, float]]] = {"baseline": [], **{name: [] for name in functions}}
    for _ in range(args.runs):
        samples["baseline"].append(run(BASELINE))
        for name in functions:
            path = str(ROOT / "functions" / name / "app.py")
            samples[name].append(run(FUNCTION.format(path=path, request=REQUESTS[name])))
    baseline = statistics.median(s["init_ms"] for s in samples["baseline"])
    result = {"functions": {}, "baseline_ms": round(baseline, 1)}
    for name in functions:
        init = statistics.median(s["init_ms"] for s in samples[name])
        first = statistics.median(s["first_request_ms"] for s in samples[name])
        result["functions"][name] = {"init_ms": round(init, 1), "ratio": round(init / baseline, 2), "first_request_ms": round(first, 1)}
        if not args.json:
            print(f"{name:8s} init {init:6.1f} ms  ratio {init / baseline:4.2f}  first request +{first:5.1f} ms", file=sys.stderr)
    if not args.json:
        print(f"baseline {baseline:6.1f} ms  (import boto3; boto3.client('sqs'))", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
