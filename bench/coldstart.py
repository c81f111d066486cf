"""Cold start of each ingest function, as built, against a bare boto3 SQS client in the same layout.

What is measured is what Lambda runs: the `sam build` output (`make build`: the
functions, the two layers, bytecode compiled by python3.12), laid out as a
python3.12 container (leadscore.dev.lambda_layout: a fresh `python3.12 -I -S`
per cold start, sys.path exactly [function folder, merged layers' python/, the
runtime's boto3, stdlib], read-only, an unprivileged user when run as root).
For each function a cold start is importing its handler module and running its
`init()` (the SQS client and the event model every request needs). The baseline
is a function with no layers whose cold start is `import boto3;
boto3.client("sqs")`, in the same layout. Runs are interleaved (baseline, then
each function, `--runs` rounds); figures are medians of the time measured inside
the process (interpreter start-up excluded: Lambda's runtime start-up is not
ours), wall time (the budget) and CPU time (what the process itself spent, which a
loaded machine disturbs far less; compare the two to judge a noisy run). Each figure is given with the bytecode as shipped and without it (the
artifact's __pycache__ removed; the runtime's SDK keeps its own, as on Lambda).

Also reported, not part of the target: the first request's time, against the
moto server with the template's resources (what is imported lazily on the hot
path shows up there).

Last line: {"functions": {"<name>": {"init_ms", "ratio", "init_ms_no_bytecode", "ratio_no_bytecode",
"first_request_ms"}}, "baseline_ms": .., "sdk": "<boto3>-<botocore>", "python": "3.12.x"}
Budget (issue 14): pixel ≤ 1.40, collect and hooks ≤ 1.60, with bytecode.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from leadscore.dev.http import http_api_event
from leadscore.dev.lambda_layout import BUILD_DIR, BuiltFunction, LambdaRoot, built_functions, sdk_dir

ROOT = Path(__file__).resolve().parents[1]

FUNCTIONS = {"pixel": "PixelFunction", "collect": "CollectFunction", "hooks": "HooksFunction", "leads": "LeadsFunction"}
# the leads API is not an ingest path: measured (issue 18: its OpenAPI contract), not budgeted
BUDGET = {"pixel": 1.40, "collect": 1.60, "hooks": 1.60, "leads": None}
BASELINE = 'import boto3\nboto3.client("sqs")\n'

# one representative request per function
REQUESTS = {
    "pixel": ("GET", "/t.gif", "vid=v1&url=https%3A%2F%2Facme.example%2Fpricing", {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}, b"", "GET /t.gif", {}),
    "collect": ("POST", "/v1/track", "", {"content-type": "application/json", "authorization": "Basic a2V5Og=="},
                b'{"type":"track","event":"Demo Requested","userId":"u1","messageId":"m1","timestamp":"2026-11-01T10:00:00.000+00:00"}',
                "POST /v1/track", {"kind": "track"}),
    "hooks": ("POST", "/hooks/generic", "", {"content-type": "application/json", "x-leadscore-signature": "t=1,v1=00"},
              b'{"event_id":"e1","type":"form_submitted","email":"a@b.example"}', "POST /hooks/{source}", {"source": "generic"}),
    "leads": ("GET", "/leads/v1", "", {"authorization": "Bearer token"}, b"", "GET /leads/{id}", {"id": "v1"}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--only", help="comma-separated subset of functions, e.g. pixel")
    parser.add_argument("--sdk", help="boto3/botocore version of the runtime's SDK (default: requirements/dev.lock's)")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    if not (BUILD_DIR / ".built").is_file():
        sys.exit("bench/coldstart.py: no built artifact in .aws-sam/build: run `make build` first")
    names = [f for f in FUNCTIONS if not args.only or f in args.only.split(",")]
    built = built_functions()
    functions = [built[FUNCTIONS[n]] for n in names]
    sdk = sdk_dir(args.sdk)

    from leadscore.dev.stack import DevStack

    saved = dict(os.environ)
    stack = DevStack(template_path=BUILD_DIR / "template.yaml", out=lambda line: None).start_aws()
    empty = Path(tempfile.mkdtemp(prefix="lambda-baseline-"))
    baseline_fn = BuiltFunction("Baseline", empty, "app.lambda_handler", (), {}, 128, 3)
    roots = {"bytecode": LambdaRoot.create(functions, sdk), "none": LambdaRoot.create(functions, sdk, bytecode=False),
             "baseline": LambdaRoot.create([baseline_fn], sdk)}
    try:
        env = {"AWS_ENDPOINT_URL": stack.endpoint, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "POWERTOOLS_METRICS_DISABLED": "true",
               "WRITE_KEYS": "key", "WEBHOOK_SECRET_GENERIC": "s3cret", "API_TOKEN": "token", "LEAD_KEY_SECRET": "k"}
        envs = {f.logical_id: {**stack.function_environment(f.logical_id), **env} for f in functions}
        for e in envs.values():
            e.pop("SECRETS_ARN", None)  # the bench's secrets are its environment's
        events = {n: http_api_event(*REQUESTS[n]) for n in names}
        samples: dict[str, list] = {"baseline": [], **{f"{n}/{kind}": [] for n in names for kind in ("bytecode", "none")}}
        python = None
        for _ in range(args.runs):
            done = roots["baseline"].run_code(baseline_fn, BASELINE, env).raise_for_error()
            samples["baseline"].append((done.total_ms, done.total_cpu_ms))
            python = ".".join(map(str, done.version))
            for n, f in zip(names, functions):
                for kind in ("bytecode", "none"):
                    done = roots[kind].invoke(f, events[n], envs[f.logical_id], init=True).raise_for_error()
                    samples[f"{n}/{kind}"].append((done.init_ms, done.first_request_ms, done.init_cpu_ms))
    finally:
        for root in roots.values():
            root.remove()
        empty.rmdir()
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)

    baseline = statistics.median(s[0] for s in samples["baseline"])
    baseline_cpu = statistics.median(s[1] for s in samples["baseline"])
    result = {"functions": {}, "baseline_ms": round(baseline, 1), "baseline_cpu_ms": round(baseline_cpu, 1),
              "sdk": sdk.name, "python": python, "runs": args.runs}
    for n in names:
        init = statistics.median(s[0] for s in samples[f"{n}/bytecode"])
        cpu = statistics.median(s[2] for s in samples[f"{n}/bytecode"])
        cold = statistics.median(s[0] for s in samples[f"{n}/none"])
        cold_cpu = statistics.median(s[2] for s in samples[f"{n}/none"])
        first = statistics.median(s[1] for s in samples[f"{n}/bytecode"])
        result["functions"][n] = {"init_ms": round(init, 1), "ratio": round(init / baseline, 2),
                                  "init_cpu_ms": round(cpu, 1), "cpu_ratio": round(cpu / baseline_cpu, 2),
                                  "init_ms_no_bytecode": round(cold, 1), "ratio_no_bytecode": round(cold / baseline, 2),
                                  "cpu_ratio_no_bytecode": round(cold_cpu / baseline_cpu, 2),
                                  "first_request_ms": round(first, 1), "budget": BUDGET[n],
                                  "within_budget": BUDGET[n] is None or init / baseline <= BUDGET[n]}
        if not args.json:
            print(f"{n:8s} init {init:6.1f} ms  ratio {init / baseline:4.2f} (CPU {cpu / baseline_cpu:4.2f}; budget {BUDGET[n] or '-'})   "
                  f"without bytecode {cold:6.1f} ms  ratio {cold / baseline:4.2f} (CPU {cold_cpu / baseline_cpu:4.2f})   "
                  f"first request +{first:5.1f} ms", file=sys.stderr)
    if not args.json:
        print(f"baseline {baseline:6.1f} ms, CPU {baseline_cpu:6.1f} ms  (import boto3; boto3.client('sqs'), "
              f"boto3 {sdk.name}, python {python})", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
