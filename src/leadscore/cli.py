"""The `leadscore` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _load_model_or_exit(path: str | None):
    from scoring_core import ModelFileError, load_model

    try:
        return load_model(path)
    except ModelFileError as exc:
        for err in exc.errors:
            print(err, file=sys.stderr)
        raise SystemExit(EXIT_INVALID) from None


def cmd_model_check(args: argparse.Namespace) -> int:
    from scoring_core import ModelFileError, load_model

    try:
        model = load_model(args.file)
    except ModelFileError as exc:
        for err in exc.errors:
            print(err)
        return EXIT_INVALID
    print(
        f"{args.file}: ok: model {model.name or '(unnamed)'} version {model.version}, "
        f"{len(model.fit)} fit, {len(model.engagement)} engagement, {len(model.disqualifiers)} disqualifier rules; "
        f"mql {model.stages.mql.score:g}, sql {model.stages.sql.score:g}, hysteresis {model.stages.hysteresis:g}"
    )
    return EXIT_OK


def cmd_score(args: argparse.Namespace) -> int:
    from .offline import read_events, score_leads

    model = _load_model_or_exit(args.model)
    path = Path(args.events)
    if not path.is_file():
        print(f"leadscore score: no such file: {path}", file=sys.stderr)
        return EXIT_USAGE
    at = args.at or datetime.now(timezone.utc)
    events, bad = read_events(path)
    for line_no, message in bad:
        print(f"{path}:{line_no}: skipped: {message}", file=sys.stderr)
    results, stats = score_leads(model, events, at)
    out = sys.stdout
    for row in results:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(
        f"scored {stats['applied']} events for {len(results)} leads at {at.isoformat()} "
        f"({len(bad)} bad lines, {stats['duplicates']} duplicates, {stats['future']} after --at skipped)",
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_dev(args: argparse.Namespace) -> int:
    from .dev.stack import run

    return run(args.host, args.port, verbose=args.verbose)


def cmd_not_yet(args: argparse.Namespace) -> int:
    print(f"leadscore {args.command}: not built yet.", file=sys.stderr)
    return EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadscore", description="Real-time, explainable lead scoring.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("score", help="score a JSONL file of canonical events offline, one JSON line per lead")
    p.add_argument("events", metavar="EVENTS.jsonl")
    p.add_argument("--model", metavar="FILE", help="model file (default: the shipped default model)")
    p.add_argument("--at", type=_parse_time, metavar="ISO_TIME", help="score as of this time (default: now)")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("model", help="work with model files")
    msub = p.add_subparsers(dest="model_command", required=True)
    c = msub.add_parser("check", help="validate a model file: exit 0, or 1 with file:line:col errors")
    c.add_argument("file", metavar="FILE")
    c.set_defaults(func=cmd_model_check)

    p = sub.add_parser("dev", help="run the whole pipeline locally: AWS on moto, routes on :3000, demo site")
    p.add_argument("--port", type=int, default=3000, help="HTTP port (default 3000)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--verbose", action="store_true", help="the handlers' JSON logs and one line per HTTP request")
    p.set_defaults(func=cmd_dev)
    for name in ("backtest", "calibrate"):
        p = sub.add_parser(name, help=f"{name} a model against known outcomes (not built yet)")
        p.set_defaults(func=cmd_not_yet)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
