"""`leadscore dev`: the whole pipeline on one machine, AWS emulated by moto's server.

Everything comes from template.yaml: the queues (with their redrive policies),
tables (keys, indexes, TTL), event buses, the functions' environment, the HTTP
API routes, the SQS event source (batch size), and each function's
EventBridge rules (pattern, then the function as target, with its async retry
count and on-failure destination). The handlers are the real ones, invoked
with the event shapes Lambda gives them:

- HTTP: API Gateway HTTP API v2 events built from real requests (`http.py`).
- The queue: polled like Lambda's event source mapping; records a handler
  reports as failed become visible again after `REDELIVERY_DELAY_S` (Lambda
  waits for the visibility timeout) and go to the DLQ after the queue's
  `maxReceiveCount`, which moto's SQS applies.
- The bus: each rule delivers to a queue of its own (moto matches the
  pattern); a poller invokes the function as Lambda's async invoke would,
  retrying a failed event `MaximumRetryAttempts` times (after 1 s, 2 s, ...
  locally; Lambda waits about a minute, then two) and then sending Lambda's
  on-failure record to the destination the template names.
- The leads table's stream: read like Lambda's DynamoDB event source mapping
  (`streams.py`: the template's filter and batch size, a reported failure
  retried from its record after `STREAM_RETRY_DELAY_S`), polled every
  `STREAM_POLL_S` (the template's 1 s batching window is not waited for).
  What every reader of a stream has read is trimmed from it.
- Schedules (`Type: Schedule`, e.g. the downgrade sweep's `rate(5 minutes)`):
  moto fires none, so a thread invokes the function with EventBridge's
  scheduled event each time the stack's clock has moved on by the rate. The
  clock (`DevStack(clock=...)`) is also the handlers' (`Dependencies.clock`), so
  a test moves time forward for both; a jump fires once, as a late schedule
  would, not once per missed period.

moto keeps some things for ever that AWS lets go of (stream records, shard
iterators, deleted receipt handles) and scans a whole queue per message:
`emulator.py` bounds them for the stack's own resources while it runs, so a
long run stays within a bounded memory (bench/dev_memory.py).

All functions run in this one process, so their environment variables are
merged (the template's, resolved; then any already set in the shell win).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets as pysecrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from . import emulator
from .functions import LambdaContext, container_lock, load_handler, load_module
from .http import GatewayCors, LambdaHttpServer, Route
from .sqs import sqs_event, sqs_record
from .streams import StreamPump, streams_client
from .template import (
    ROOT,
    bus_rules,
    create_buses,
    create_queues,
    create_tables,
    function_environment,
    function_events,
    http_api_cors,
    http_routes,
    load_template,
    resources,
    stream_sources,
)

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "leadscore-local"
REDELIVERY_DELAY_S = 2  # a failed queue record is received again after this (Lambda: the visibility timeout)
ASYNC_RETRY_DELAY_S = 1  # an async event's n-th retry waits n times this (Lambda: about 1 min, then 2)
STREAM_POLL_S = 0.05  # how often a table's stream is read (Lambda: about 4 times a second, plus the batching window)
STREAM_RETRY_DELAY_S = 1  # a stream batch that failed is delivered again after this
SCHEDULE_POLL_S = 0.2  # how often the schedules look at the clock
DEMO = Path(__file__).resolve().parent / "demo"
SOURCES = ("generic", "typeform", "tally", "calendly", "stripe")
LOGGERS = ("pixel", "collect", "hooks", "score", "publish", "leads", "notify", "sweep")


class PortInUse(Exception):
    pass


def check_port(host: str, port: int) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: only a listener counts
    try:
        probe.bind((host, port))
    except OSError:
        raise PortInUse(f"port {port} on {host} is in use: stop what is using it, or run `leadscore dev --port N`") from None
    finally:
        probe.close()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# -- template intrinsics, resolved against the local resources ---------------------------------

@dataclass
class Resolved:
    template: dict[str, Any]
    refs: dict[str, str] = field(default_factory=dict)  # logical id / parameter / pseudo -> Ref value
    arns: dict[str, str] = field(default_factory=dict)  # logical id -> Arn

    def condition(self, name: str) -> bool:
        return bool(self.value((self.template.get("Conditions") or {})[name]))

    def value(self, node: Any) -> Any:
        """A template value with its intrinsics resolved; None when it names something with no
        local counterpart (a secret's ARN: locally secrets come from the environment)."""
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {k: self.value(v) for k, v in node.items()}
        (fn, arg), = node.items()
        if fn == "Ref":
            return self.refs.get(arg)
        if fn == "Fn::GetAtt":
            return self.arns.get(arg[0]) if arg[1] == "Arn" else None
        if fn == "Fn::Join":
            parts = [self.value(p) for p in arg[1]]
            return None if any(p is None for p in parts) else str(arg[0]).join(str(p) for p in parts)
        if fn == "Fn::Sub":
            def sub(m: re.Match[str]) -> str:
                name = m.group(1)
                got = self.arns.get(name.split(".")[0]) if name.endswith(".Arn") else self.refs.get(name)
                return "" if got is None else str(got)
            return re.sub(r"\$\{([^}]+)\}", sub, arg if isinstance(arg, str) else arg[0])
        if fn == "Fn::If":
            return self.value(arg[1] if self.condition(arg[0]) else arg[2])
        if fn == "Fn::Not":
            return not self.value(arg[0])
        if fn == "Fn::Equals":
            return str(self.value(arg[0])) == str(self.value(arg[1]))
        if fn == "Condition":
            return self.condition(arg)
        return {fn: arg}


# -- readable logs ----------------------------------------------------------------------------

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_SHOWN = ("route", "kind", "source", "events", "lead", "type", "points", "score", "stage", "from", "to", "channel",
          "to_stage", "status", "reason", "error", "count", "http_status")


def _formatter_class() -> type:
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    class ReadableFormatter(LambdaPowertoolsFormatter):
        """One short line per log record: time, service, message, the useful fields. A
        powertools formatter, so the loggers' append_keys and context injection still work."""

        format = _format_readable

    return ReadableFormatter


def _format_readable(self, record: logging.LogRecord) -> str:
    fields = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
    at = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
    if record.getMessage() == "scored":
        pts = fields.get("points") or 0
        line = f"{fields.get('type')} {pts:+g}" if pts else str(fields.get("type"))
        return f"{at} score   {_short(fields.get('lead'))}  {line:<24} score {fields.get('score')} ({fields.get('stage')})"
    if record.getMessage() == "stage changed":
        return (f"{at} score   {_short(fields.get('lead'))}  *** {fields.get('from')} -> {str(fields.get('to')).upper()}"
                f" at score {fields.get('score')}")
    if record.getMessage() == "stage decayed":
        return (f"{at} sweep   {_short(fields.get('lead'))}  *** {fields.get('from')} -> {str(fields.get('to')).upper()}"
                f" (decayed) at score {fields.get('score')}")
    if record.getMessage() == "trigger fired":  # the model's triggers: what goes on the bus as LeadTriggered
        return (f"{at} {record.name:<7} {_short(fields.get('lead'))}  >>> TRIGGER {fields.get('trigger')}"
                f" ({fields.get('kind')}) firing {str(fields.get('firing'))[:12]}")
    extra = " ".join(f"{k}={fields[k]}" for k in _SHOWN if fields.get(k) not in (None, ""))
    return f"{at} {record.name:<7} {record.getMessage()} {extra}".rstrip()


def trigger_line(detail: dict[str, Any]) -> str:
    """A `LeadTriggered` event as the local stack prints it: which trigger, which lead (its key, not its
    address: the console is a log too), its standing and what matched."""
    who = _short(detail.get("lead_id"))
    matched = ", ".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in (detail.get("matched") or {}).items())
    return (f"LeadTriggered {detail.get('trigger')} ({detail.get('kind')}): {who}, {detail.get('stage')}, "
            f"score {detail.get('score')} ({detail.get('band')}); matched {matched}")


def _short(key: Any) -> str:
    text = str(key)
    return text if len(text) <= 16 else text[:15] + "…"


def readable_logs(verbose: bool) -> Callable[[], None]:
    """Turn the handlers' JSON loggers into one-line ones (the JSON stays with --verbose).
    Returns what puts them back as they were (the stack's stop calls it)."""
    if verbose:
        return lambda: None
    formatter = _formatter_class()()
    saved: list[tuple[logging.Logger, int, list[tuple[logging.Handler, logging.Formatter | None]]]] = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, [(h, h.formatter) for h in logger.handlers]))
        for handler in logger.handlers:
            handler.setFormatter(formatter)
        logger.setLevel(logging.DEBUG if name == "score" else logging.INFO)

    def restore() -> None:
        for logger, level, handlers in saved:
            logger.setLevel(level)
            for handler, original in handlers:
                handler.setFormatter(original)

    return restore


# -- the stack --------------------------------------------------------------------------------

@dataclass
class Function:
    logical_id: str
    handler: Callable[[dict[str, Any], Any], Any]
    timeout_s: float


class DevStack:
    def __init__(self, host: str = "127.0.0.1", port: int = 3000, *, out: Callable[[str], None] = print,
                 verbose: bool = False, template_path: Path | None = None, clock: Callable[[], float] = time.time):
        self.host, self.port = host, port
        self.clock = clock  # the handlers' time and the schedules' (tests move it forward)
        self.out = out
        self.verbose = verbose
        self.template = load_template(template_path) if template_path else load_template()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.moto: Any = None
        self.http: LambdaHttpServer | None = None
        self.settings: dict[str, str] = {}
        self._restore_logs: Callable[[], None] = lambda: None

    # ---- start-up

    def start(self) -> DevStack:
        started = time.perf_counter()
        check_port(self.host, self.port)
        self._start_moto()
        self._create_resources()
        self._bound_emulator()
        self._environment()
        self._load_functions()
        self._restore_logs = readable_logs(self.verbose)
        self._serve_http()
        self._start_queue_poller()
        self._start_stream_pollers()
        self._start_bus_pollers()
        if self.automation_queue:
            self._spawn("bus-AutomationRule", self._print_triggers, self.automation_queue)
        self._start_schedules()
        self.startup_s = time.perf_counter() - started
        return self

    def start_aws(self) -> DevStack:
        """Only the emulated AWS: the moto server and the template's resources (no HTTP, no
        handlers, no pollers), for running built functions in their own processes."""
        self._start_moto()
        self._create_resources()
        return self

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """A function's environment variables as the template sets them, resolved against the
        emulated resources (a value that names no emulated resource is left out)."""
        resolved = {name: self.resolved.value(value) for name, value in function_environment(self.template, logical_id).items()}
        return {name: str(value) for name, value in resolved.items() if value is not None}

    def _start_moto(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulator's access log
        port = free_port()
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.moto.start()
        self.endpoint = f"http://127.0.0.1:{port}"
        self._reset_emulator()  # moto's backends live in this process: start from nothing
        for name, value in {"AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                            "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}.items():
            os.environ[name] = value
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_PROFILE", None)
        from .. import settings

        settings.reset()  # what a container built against an earlier emulator (an earlier stack in this process) is rebuilt

    def _reset_emulator(self) -> None:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=10).close()

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id="local", aws_secret_access_key="local")

    def _create_resources(self) -> None:
        t = self.template
        sqs, ddb, events = self.client("sqs"), self.client("dynamodb"), self.client("events")
        self.queues = create_queues(sqs, t)
        self.tables = tables = create_tables(ddb, t)
        buses = create_buses(events, t)
        r = Resolved(t)
        for name, p in (t.get("Parameters") or {}).items():
            r.refs[name] = str(p.get("Default", ""))
        r.refs.update({"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::StackName": STACK,
                       "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "HttpApi": "local"})
        for logical_id, url in self.queues.items():
            r.refs[logical_id] = url
            r.arns[logical_id] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{url.rsplit('/', 1)[1]}"
        for logical_id, name in tables.items():
            r.refs[logical_id] = name
            r.arns[logical_id] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        for logical_id, name in buses.items():
            r.refs[logical_id] = name
            r.arns[logical_id] = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}"
        self.resolved = r
        self.queue_by_arn = {r.arns[k]: url for k, url in self.queues.items()}

        # each EventBridge rule of a function: the template's pattern, delivered to a queue of its own
        self.rules = []
        for rule in bus_rules(t):
            bus = buses[rule.bus]
            url = sqs.create_queue(QueueName=f"leadscore-rule-{rule.name}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            events.put_rule(Name=rule.name, EventBusName=bus, EventPattern=json.dumps(rule.pattern), State="ENABLED")
            events.put_targets(Rule=rule.name, EventBusName=bus, Targets=[{"Id": rule.function, "Arn": arn}])
            self.rules.append((rule, url))
        self._automation_rule(events, sqs, buses)

    def _automation_rule(self, events: Any, sqs: Any, buses: dict[str, str]) -> None:
        """The template's AutomationRule (deployed only with an AutomationEndpoint), its pattern as the
        parameters' defaults resolve it, delivered to a queue whose `LeadTriggered` events the stack
        prints: locally the console is the automation service."""
        rule = (self.template.get("Resources") or {}).get("AutomationRule")
        self.automation_queue: str | None = None
        if not rule:
            return
        props = rule["Properties"]
        pattern = dict(props["EventPattern"])
        types = self.resolved.value(pattern["detail-type"])
        pattern["detail-type"] = [t.strip() for t in types.split(",")] if isinstance(types, str) else types
        bus = buses[props["EventBusName"]["Ref"]]
        url = sqs.create_queue(QueueName="leadscore-rule-AutomationRule")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="AutomationRule", EventBusName=bus, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule="AutomationRule", EventBusName=bus, Targets=[{"Id": "console", "Arn": arn}])
        self.automation_queue = url

    def _bound_emulator(self) -> None:
        rule_queues = [*(u for _, u in self.rules), *([self.automation_queue] if self.automation_queue else [])]
        emulator.bound(ACCOUNT, REGION, [url.rsplit("/", 1)[1] for url in [*self.queues.values(), *rule_queues]])

    def _environment(self) -> None:
        """The template's environment, resolved; local secrets generated; what the shell sets wins."""
        env: dict[str, str] = {}
        for logical_id in resources(self.template, "AWS::Serverless::Function"):
            for name, value in function_environment(self.template, logical_id).items():
                resolved = self.resolved.value(value)
                if resolved is not None and name not in ("SECRETS_ARN", "POWERTOOLS_SERVICE_NAME"):
                    env[name] = str(resolved)
        base = f"http://{self.host}:{self.port}"
        local = {
            "API_URL": base,  # alerts link to the lead page on this server (links.py)
            "API_TOKEN": pysecrets.token_urlsafe(24),
            "WRITE_KEYS": "wk_demo,server:wk_demo_server",  # the demo page's public key, and a server key (docs/ingest.md, Trust levels)
            "CONSOLE_ALERTS": "1",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_DEV": "false",
            **{f"WEBHOOK_SECRET_{s.upper()}": f"whsec_local_{s}" for s in SOURCES},
            "SLACK_SIGNING_SECRET": "slack_local_signing_secret",  # POST /slack/interactions (docs/notifications.md)
        }
        env.update(local)
        for name, value in env.items():
            if name in ("QUEUE_URL", "LEADS_TABLE", "BUS_NAME", "ALERTS_TABLE", "ALERTS_DLQ_URL", "API_URL"):
                os.environ[name] = value  # the local resources: never the shell's
            else:
                os.environ.setdefault(name, value)
        self.settings = {k: os.environ[k] for k in env}
        from .. import settings

        settings.reset()  # the functions' settings are read from this environment, at their init
        keys = settings.settings().write_keys()
        # the demo page embeds a public key (a page's key is public whatever its kind); the server key is printed
        self.write_key = next((k for k, kind in keys.items() if kind == "public"), next(iter(keys), ""))
        self.server_write_key = next((k for k, kind in keys.items() if kind == "server"), None)

    def _load_functions(self) -> None:
        if self.clock is not time.time:  # every handler's dependencies keep the stack's time
            from .. import dependencies, settings

            dependencies.use(dependencies.Dependencies(settings.settings(), clock=self.clock))
        self.functions: dict[str, Function] = {}
        glob = ((self.template.get("Globals") or {}).get("Function") or {})
        for logical_id, fn in resources(self.template, "AWS::Serverless::Function").items():
            props = fn["Properties"]
            handler = load_handler(ROOT / props["CodeUri"], props["Handler"])
            module = load_module(ROOT / props["CodeUri"], props["Handler"].rpartition(".")[0])
            if hasattr(module, "init"):
                module.init()  # what a cold start does, done once at start-up
            self.functions[logical_id] = Function(logical_id, handler, float(props.get("Timeout", glob.get("Timeout", 3))))

    # ---- HTTP

    def _serve_http(self) -> None:
        routes = [Route(r.method, r.path, self.functions[r.function].handler, r.function) for r in http_routes(self.template)]
        cors = GatewayCors.from_config(http_api_cors(self.template))
        log = (lambda line: None) if not self.verbose else self.out
        self.http = LambdaHttpServer((self.host, self.port), routes, cors=cors, extra=self._demo, log=log)
        self._threads.append(self.http.start())

    def _demo(self, request: Any) -> bool:
        """The demo site: static pages under /demo/, the API's address, write key and token filled in."""
        from urllib.parse import urlsplit

        path = urlsplit(request.path).path
        if path in ("/", "/demo"):
            request.send_response(302)
            request.send_header("Location", "/demo/")
            request.send_header("Content-Length", "0")
            request.end_headers()
            return True
        if not path.startswith("/demo/"):
            return False
        name = path[len("/demo/"):] or "index.html"
        if name.startswith("leads/"):
            name = "leads.html"  # /demo/leads/<lead id>: the leads page, that lead opened
        file = (DEMO / name).resolve()
        if DEMO.resolve() not in file.parents or not file.is_file():
            file = DEMO / "404.html"
            status = 404
        else:
            status = 200
        body = file.read_bytes()
        kind = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}.get(file.suffix, "application/octet-stream")
        if file.suffix in (".html", ".js"):
            text = body.decode("utf-8")
            for key, value in {"API_BASE": f"http://{self.host}:{self.port}", "WRITE_KEY": self.write_key,
                               "API_TOKEN": os.environ.get("API_TOKEN", "")}.items():
                text = text.replace("{{" + key + "}}", value)
            body = text.encode("utf-8")
        request.send_response(status)
        request.send_header("Content-Type", kind)
        request.send_header("Cache-Control", "no-store")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)
        return True

    # ---- the SQS event source mapping

    def _start_queue_poller(self) -> None:
        for logical_id, _, _, props in function_events(self.template, "SQS"):
            queue_arn = self.resolved.value(props["Queue"])
            url = self.queue_by_arn[queue_arn]
            batch = int(props.get("BatchSize", 10))
            partial = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
            self._spawn(f"sqs-{logical_id}", self._poll_queue, self.functions[logical_id], url, queue_arn, batch, partial)

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _batches(self, url: str, batch: int = 10, *, attributes: bool = False,
                 say_failures: bool = False) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
        """(the SQS client, the messages) of each receive from the queue `url` that got any, until the
        stack stops; a failed receive (the emulator going away at shutdown) is waited out, and said
        with `say_failures`."""
        sqs = self.client("sqs")
        extra = {"AttributeNames": ["All"]} if attributes else {}
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=batch, WaitTimeSeconds=1, **extra).get("Messages", [])
            except Exception as exc:
                if self._stop.is_set():
                    return
                if say_failures:
                    self.out(f"sqs poll failed: {exc.__class__.__name__}")
                time.sleep(0.5)
                continue
            if messages:
                yield sqs, messages

    def _poll_queue(self, fn: Function, url: str, arn: str, batch: int, partial: bool) -> None:
        for sqs, messages in self._batches(url, batch, attributes=True, say_failures=True):
            records = [sqs_record(m["MessageId"], m["Body"], arn, int(m["Attributes"].get("ApproximateReceiveCount", 1)),
                                  m["ReceiptHandle"]) for m in messages]
            try:
                with container_lock(fn.handler):
                    result = fn.handler(sqs_event(records), LambdaContext(fn.logical_id, timeout_s=fn.timeout_s)) or {}
                failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])} if partial else set()
            except Exception as exc:
                self.out(f"{fn.logical_id} failed: {exc.__class__.__name__}: the whole batch is retried")
                failed = {m["MessageId"] for m in messages}
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                                for i, m in enumerate(done)])
            for m in messages:
                if m["MessageId"] in failed:
                    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=REDELIVERY_DELAY_S)

    # ---- DynamoDB streams → functions (the stream event source mapping)

    def _start_stream_pollers(self) -> None:
        ddb = self.client("dynamodb")
        streams = streams_client(endpoint_url=self.endpoint, region_name=REGION,
                                 aws_access_key_id="local", aws_secret_access_key="local")
        readers: dict[str, list[StreamPump]] = {}
        for source in stream_sources(self.template):
            fn = self.functions[source.function]

            def invoke(event: dict[str, Any], context: Any, fn: Function = fn) -> Any:
                try:
                    with container_lock(fn.handler):
                        return fn.handler(event, LambdaContext(fn.logical_id, timeout_s=fn.timeout_s))
                except Exception as exc:
                    self.out(f"{fn.logical_id} failed: {exc.__class__.__name__}: the stream batch is retried")
                    raise

            pump = StreamPump(ddb, streams, self.tables[source.table], source, invoke)
            readers.setdefault(self.tables[source.table], []).append(pump)
        for table, pumps in readers.items():  # every reader known before any trims
            for pump in pumps:
                self._spawn(f"stream-{pump.source.function}", self._poll_stream, pump, table, pumps)

    def _poll_stream(self, pump: StreamPump, table: str, readers: list[StreamPump]) -> None:
        while not self._stop.is_set():
            try:
                left = pump.pump()
                # what every reader of the stream has read goes (AWS keeps 24 hours; moto, everything)
                emulator.trim_stream(ACCOUNT, REGION, table, min(max(p.read_through.values(), default=-1) for p in readers))
            except Exception as exc:  # the emulator going away at shutdown
                if self._stop.is_set():
                    return
                self.out(f"stream poll failed: {exc.__class__.__name__}")
                left = 1
            self._stop.wait(STREAM_RETRY_DELAY_S if left else STREAM_POLL_S)

    # ---- EventBridge rules → functions (asynchronous invocation)

    def _start_bus_pollers(self) -> None:
        for rule, url in self.rules:
            props = self.template["Resources"][rule.function]["Properties"]
            config = props.get("EventInvokeConfig") or {}
            retries = int(config.get("MaximumRetryAttempts", 2))
            on_failure = ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            destination = self.queue_by_arn.get(self.resolved.value(on_failure)) if on_failure else None
            self._spawn(f"bus-{rule.name}", self._poll_rule, self.functions[rule.function], url, retries, destination)

    def _poll_rule(self, fn: Function, url: str, retries: int, destination: str | None) -> None:
        for sqs, messages in self._batches(url, attributes=True):
            for m in messages:
                attempt = int(m["Attributes"].get("ApproximateReceiveCount", 1))
                event = json.loads(m["Body"])
                try:
                    with container_lock(fn.handler):
                        fn.handler(event, LambdaContext(fn.logical_id, timeout_s=fn.timeout_s))
                except Exception as exc:
                    if attempt <= retries:
                        # Lambda retries an async event after about 1 min, then 2: locally 1 s, then 2 s
                        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                                      VisibilityTimeout=int(ASYNC_RETRY_DELAY_S * attempt))
                        continue
                    self.out(f"{fn.logical_id}: event failed {attempt} times, sent to its on-failure destination")
                    if destination:
                        sqs.send_message(QueueUrl=destination, MessageBody=json.dumps(_failure_record(fn, event, exc, attempt)))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def _print_triggers(self, url: str) -> None:
        for sqs, messages in self._batches(url):
            for m in messages:
                event = json.loads(m["Body"])
                if event.get("detail-type") == "LeadTriggered":
                    self.out(trigger_line(event.get("detail") or {}))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    # ---- schedules (EventBridge Schedule events; moto fires none)

    def _start_schedules(self) -> None:
        for logical_id, _, name, props in function_events(self.template, "Schedule"):
            interval = schedule_interval_s(props["Schedule"])
            rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{STACK}-{logical_id}{name}"
            self._spawn(f"schedule-{logical_id}", self._fire_schedule, self.functions[logical_id], rule_arn, interval)

    def _fire_schedule(self, fn: Function, rule_arn: str, interval_s: float) -> None:
        next_at = self.clock() + interval_s
        while not self._stop.wait(SCHEDULE_POLL_S):
            now = self.clock()
            if now < next_at:
                continue
            next_at = now + interval_s
            event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
                     "account": ACCOUNT, "time": datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "region": REGION, "resources": [rule_arn], "detail": {}}
            try:
                with container_lock(fn.handler):
                    fn.handler(event, LambdaContext(fn.logical_id, timeout_s=fn.timeout_s))
            except Exception as exc:
                if self._stop.is_set():
                    return
                self.out(f"{fn.logical_id} failed: {exc.__class__.__name__}: it runs again at its next schedule")

    # ---- shutdown

    def stop(self) -> None:
        self._stop.set()
        if self.http is not None:
            self.http.shutdown()
            self.http.server_close()
        for thread in self._threads:
            thread.join(timeout=3)
        if self.moto is not None:
            self._reset_emulator()
            self.moto.stop()
        emulator.unbound()
        self._restore_logs()

    def banner(self) -> str:
        base = f"http://{self.host}:{self.port}"
        slack = "posting to SLACK_WEBHOOK_URL" if os.environ.get("SLACK_WEBHOOK_URL") else "printed here (set SLACK_WEBHOOK_URL to post to Slack)"
        lines = [
            f"leadscore dev: the whole pipeline on {base} (AWS on moto at {self.endpoint}), ready in {self.startup_s:.1f} s",
            "",
            f"  demo site     {base}/demo/            (browse, then book a demo)",
            f"  live leads    {base}/demo/leads.html",
            f"  pixel         {base}/t.gif?vid=<visitor>&url=<page>",
            f"  SDK endpoint  {base}/v1/batch           write key: {self.write_key} (public)"
            + (f", {self.server_write_key} (server: purchases, opt-outs)" if self.server_write_key else ""),
            "  email pixel   .venv/bin/leadscore pixel-url --email <address> --campaign <cid>   (signed; an unsigned lid= is dropped)",
            f"  webhooks      {base}/hooks/<source>     secrets: WEBHOOK_SECRET_<SOURCE> (e.g. {os.environ['WEBHOOK_SECRET_GENERIC']})",
            f"  leads API     {base}/leads?stage=mql    Authorization: Bearer {os.environ['API_TOKEN']}",
            f"  alerts        {slack}; their \"View lead\" opens {base}/leads/<id>/page",
            f"  Slack buttons {base}/slack/interactions   signing secret: {os.environ.get('SLACK_SIGNING_SECRET', '')} "
            "(a Slack app's Request URL: through a tunnel)",
            "  triggers      the model's LeadTriggered events printed here (AutomationEndpoint's stand-in)",
            "",
            "Ctrl-C stops everything.",
        ]
        return "\n".join(lines)


def schedule_interval_s(expression: str) -> float:
    """Seconds between firings of an EventBridge `rate(N unit)` expression (the local stack fires no cron)."""
    m = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not m:
        raise ValueError(f"the local stack fires rate(N minutes|hours|days) schedules only, not {expression!r}")
    return int(m.group(1)) * {"minute": 60, "hour": 3600, "day": 86400}[m.group(2).rstrip("s")]


def _failure_record(fn: Function, event: dict[str, Any], exc: Exception, attempts: int) -> dict[str, Any]:
    """What Lambda sends to an on-failure destination after an async event's last retry."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "requestContext": {"requestId": str(uuid.uuid4()), "condition": "RetriesExhausted", "approximateInvokeCount": attempts,
                           "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{fn.logical_id}:$LATEST"},
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": str(exc)[:200], "errorType": exc.__class__.__name__},
    }


def run(host: str = "127.0.0.1", port: int = 3000, verbose: bool = False) -> int:
    """`leadscore dev`: start, print where everything is, run until Ctrl-C (or SIGTERM)."""
    import signal

    emulator.limit_malloc_arenas()  # before any thread starts: a long run's RSS stays nearer what it holds
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    stack = DevStack(host, port, verbose=verbose)
    try:
        stack.start()
        print(stack.banner(), flush=True)
        while not done.wait(0.5):
            pass
    except PortInUse as exc:
        print(f"leadscore dev: {exc}", flush=True)
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping...", flush=True)
        stack.stop()
    print("stopped", flush=True)
    return 0
