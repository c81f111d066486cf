"""template.yaml, read as the single source of truth for local resources.

CloudFormation's short tags (!Ref, !GetAtt, !Sub, ...) become their long
forms; `create_queues` builds the template's queues (dead-letter queues and
redrive policies included) on whatever SQS endpoint it is given (moto here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(name: str, split_dots: bool = False):
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if split_dots:
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return construct


_CfnLoader.add_constructor("!Ref", _tag("Ref"))
_CfnLoader.add_constructor("!GetAtt", _tag("Fn::GetAtt", split_dots=True))
for _fn in ("Sub", "Join", "If", "Equals", "Not", "And", "Or", "Select", "Split", "FindInMap", "ImportValue", "Base64", "GetAZs", "Cidr"):
    _CfnLoader.add_constructor(f"!{_fn}", _tag(f"Fn::{_fn}"))


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)


def resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template.get("Resources", {}).items() if r.get("Type") == type_}


def create_queues(sqs: Any, template: dict[str, Any]) -> dict[str, str]:
    """Create every AWS::SQS::Queue; returns {logical id: queue URL}. Queues named as
    another's dead-letter target are created first."""
    queues = resources(template, "AWS::SQS::Queue")
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}

    def dlq_of(props: dict[str, Any]) -> str | None:
        target = (props.get("RedrivePolicy") or {}).get("deadLetterTargetArn")
        return target["Fn::GetAtt"][0] if isinstance(target, dict) and "Fn::GetAtt" in target else None

    def create(logical_id: str) -> None:
        if logical_id in urls:
            return
        props = queues[logical_id].get("Properties", {})
        attributes: dict[str, str] = {}
        for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
            if key in props:
                attributes[key] = str(props[key])
        dlq = dlq_of(props)
        if dlq:
            create(dlq)
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arns[dlq], "maxReceiveCount": int(props["RedrivePolicy"]["maxReceiveCount"])}
            )
        url = sqs.create_queue(QueueName=f"leadscore-{logical_id}", Attributes=attributes)["QueueUrl"]
        urls[logical_id] = url
        arns[logical_id] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    for logical_id in queues:
        create(logical_id)
    return urls


@dataclass(frozen=True)
class HttpRoute:
    method: str
    path: str  # API Gateway form: /hooks/{source}
    function: str  # logical id
    code_uri: Path
    handler: str  # module.function


def function_events(template: dict[str, Any], type_: str) -> Iterator[tuple[str, dict[str, Any], str, dict[str, Any]]]:
    """(function logical id, function properties, event name, event properties) for every
    event of type `type_` (HttpApi, SQS, EventBridgeRule, DynamoDB) of every function."""
    for logical_id, fn in resources(template, "AWS::Serverless::Function").items():
        props = fn.get("Properties", {})
        for event_name, event in (props.get("Events") or {}).items():
            if event.get("Type") == type_:
                yield logical_id, props, event_name, event.get("Properties", {})


def http_routes(template: dict[str, Any]) -> list[HttpRoute]:
    """Every HttpApi event of every function in the template."""
    return [HttpRoute(ep["Method"].upper(), ep["Path"], logical_id, ROOT / props["CodeUri"], props["Handler"])
            for logical_id, props, _, ep in function_events(template, "HttpApi")]


def http_api_cors(template: dict[str, Any]) -> dict[str, Any] | None:
    """The CorsConfiguration of the template's HttpApi (the functions' routes all use it), if any."""
    for api in resources(template, "AWS::Serverless::HttpApi").values():
        config = (api.get("Properties") or {}).get("CorsConfiguration")
        if config:
            return config if isinstance(config, dict) else {"AllowOrigins": ["*"]}  # `true`: SAM's all-open shorthand
    return None


@dataclass(frozen=True)
class BusRule:
    """An EventBridgeRule event of a function: which bus, which pattern, which handler."""

    name: str  # function logical id + event name, e.g. SlackNotifyFunctionQualified
    bus: str  # the bus's logical id
    pattern: dict[str, Any]
    function: str  # logical id
    code_uri: Path
    handler: str


def bus_rules(template: dict[str, Any]) -> list[BusRule]:
    """Every EventBridgeRule event of every function in the template (SAM's form of a rule and its target)."""
    rules = []
    for logical_id, props, event_name, ep in function_events(template, "EventBridgeRule"):
        bus = ep.get("EventBusName")
        bus_id = bus["Ref"] if isinstance(bus, dict) and "Ref" in bus else str(bus or "default")
        rules.append(BusRule(f"{logical_id}{event_name}", bus_id, ep["Pattern"], logical_id,
                             ROOT / props["CodeUri"], props["Handler"]))
    return rules


@dataclass(frozen=True)
class StreamSource:
    """A function's DynamoDB event: its table's stream, delivered in batches, filtered."""

    function: str  # logical id
    table: str  # logical id of the table whose stream it reads
    batch_size: int
    patterns: tuple[str, ...]  # FilterCriteria patterns (JSON); a record passes if any matches
    partial: bool  # ReportBatchItemFailures
    code_uri: Path
    handler: str
    window_s: float = 0.0  # MaximumBatchingWindowInSeconds


def stream_sources(template: dict[str, Any]) -> list[StreamSource]:
    """Every DynamoDB (stream) event of every function in the template."""
    found = []
    for logical_id, props, _, ep in function_events(template, "DynamoDB"):
        stream = ep["Stream"]
        if not (isinstance(stream, dict) and "Fn::GetAtt" in stream):
            raise ValueError(f"{logical_id}: a DynamoDB event's Stream must be !GetAtt <Table>.StreamArn")
        patterns = tuple(f["Pattern"] for f in ((ep.get("FilterCriteria") or {}).get("Filters") or []))
        found.append(StreamSource(logical_id, stream["Fn::GetAtt"][0], int(ep.get("BatchSize", 100)), patterns,
                                  "ReportBatchItemFailures" in (ep.get("FunctionResponseTypes") or []),
                                  ROOT / props["CodeUri"], props["Handler"], float(ep.get("MaximumBatchingWindowInSeconds", 0))))
    return found


def matches(pattern: Any, event: Any) -> bool:
    """Whether an event matches an EventBridge pattern, for the pattern forms the template uses
    (lists of exact values, nested objects): enough for tests to pick a sample's functions."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(k in event and matches(v, event[k]) for k, v in pattern.items())
    if isinstance(pattern, list):
        return event in pattern
    return pattern == event


def function_environment(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """Globals' and the function's own environment variables (intrinsics left unresolved)."""
    env = dict(((template.get("Globals") or {}).get("Function") or {}).get("Environment", {}).get("Variables", {}))
    fn = template["Resources"][logical_id].get("Properties", {})
    env.update((fn.get("Environment") or {}).get("Variables", {}))
    return env


def create_tables(dynamodb: Any, template: dict[str, Any]) -> dict[str, str]:
    """Create every AWS::DynamoDB::Table with its keys, indexes and TTL; {logical id: table name}."""
    names = {}
    for logical_id, table in resources(template, "AWS::DynamoDB::Table").items():
        props = table.get("Properties", {})
        name = f"leadscore-{logical_id}"
        args: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if props.get("StreamSpecification"):
            args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        dynamodb.create_table(**args)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True})
        names[logical_id] = name
    return names


def create_buses(events: Any, template: dict[str, Any]) -> dict[str, str]:
    """Create every AWS::Events::EventBus; {logical id: bus name}."""
    names = {}
    for logical_id in resources(template, "AWS::Events::EventBus"):
        name = f"leadscore-{logical_id}"
        events.create_event_bus(Name=name)
        names[logical_id] = name
    return names


def functions_for_sample(template: dict[str, Any], event: dict[str, Any]) -> list[str]:
    """The logical ids of the functions a sample event (events/functions) is for: an HTTP
    event's route, an SQS batch's consumer, a DynamoDB stream batch's consumer, or, for an
    EventBridge event, every function whose rule matches it, as the bus would deliver it, or,
    for EventBridge's scheduled event, every function with a Schedule."""
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        return [logical_id for logical_id, *_ in function_events(template, "Schedule")]
    if "detail-type" in event:
        return [r.function for r in bus_rules(template) if matches(r.pattern, event)]
    if "Records" in event:
        sources = {r.get("eventSource") for r in event["Records"]}
        kind = {"aws:sqs": "SQS", "aws:dynamodb": "DynamoDB"}.get(sources.pop()) if len(sources) == 1 else None
        return [logical_id for logical_id, *_ in function_events(template, kind)] if kind else []
    route = event.get("routeKey")
    return [logical_id for logical_id, _, _, ep in function_events(template, "HttpApi")
            if f"{ep['Method'].upper()} {ep['Path']}" == route]
