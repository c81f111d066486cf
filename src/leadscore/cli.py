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
        + (f"{len(model.interests.categories)} interest categories; " if model.interests else "")
        + f"mql {model.stages.mql.score:g}, sql {model.stages.sql.score:g}, hysteresis {model.stages.hysteresis:g}"
        + (f"; {len(model.triggers)} triggers ({', '.join(t.id for t in model.triggers)})" if model.triggers else "")
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


def _analysis_or_exit():
    """The analysis extra (scikit-learn, matplotlib, tqdm): a clear message when it is missing."""
    missing = []
    for module in ("numpy", "sklearn", "matplotlib", "tqdm"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        print(f"leadscore: this command needs {', '.join(missing)}: pip install 'leadscore[analysis]'", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _leads_or_exit(args: argparse.Namespace):
    """The mapping and the lead file, or exit 1 with a one-line message naming file, line and field."""
    from .analysis.dataset import DataError, load_leads
    from .analysis.mapping import MappingError, load_mapping

    try:
        mapping = load_mapping(args.mapping)
        return mapping, load_leads(args.data, mapping, delimiter=args.delimiter, encoding=args.encoding)
    except (MappingError, DataError) as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(EXIT_INVALID) from None


def _fail(command: str, message: str, code: int = EXIT_INVALID) -> int:
    print(f"leadscore {command}: {message}", file=sys.stderr)
    return code


def cmd_backtest(args: argparse.Namespace) -> int:
    _analysis_or_exit()
    from scoring_core import Engine

    from .analysis.backtest import backtest, probabilities
    from .analysis.dataset import DataError, fitting_of, read_fit_record
    from .analysis.report import write_report

    model = _load_model_or_exit(args.model)
    if args.report and Path(args.report).exists() and not Path(args.report).is_dir():
        return _fail("backtest", f"--report {args.report}: is a file; give a folder (report.html and report.json go in it)",
                     EXIT_USAGE)
    mapping, file = _leads_or_exit(args)
    try:
        record = read_fit_record(args.model) if args.model else None
    except DataError as exc:
        return _fail("backtest", str(exc))
    leads, fitting = fitting_of(record, file, model_given=bool(args.model), all_leads=args.all_leads)
    curve = (record or {}).get("curve")
    predict = None
    if curve:
        def predict(scores, c=(curve["intercept"], curve["slope"])):
            return probabilities(c, scores)
    result = backtest(leads, Engine(model), progress=True, fitting=fitting, predict=predict,
                      predicted_from="the conversion curve of the leads calibrate fitted the model to (MODEL.fit.json)")
    print(f"used in fitting? {fitting['text']}", file=sys.stderr)
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    if args.report:
        try:
            html = write_report(result, args.report, title=f"Backtest of {model.name} on {Path(args.data).name}")
        except OSError as exc:
            return _fail("backtest", f"--report {args.report}: cannot write: {exc.strerror}")
        print(f"report: {html}", file=sys.stderr)
    t = result["thresholds"]
    auc = result["auc"]

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.1%}"

    if auc is None:
        print(f"{result['leads']:,} leads: AUC needs both converted and unconverted leads; the outcome column "
              f"{mapping.outcome.column!r} has: {file.describe_outcome()} (positive: "
              f"{', '.join(mapping.outcome.positive)}, at {mapping.where('outcome', 'positive')})", file=sys.stderr)
    else:
        low, high = result["auc_interval"]
        print(f"{result['leads']:,} leads, {result['converted']:,} converted ({result['base_rate']:.1%}); "
              f"ROC AUC {auc:.3f} (95% CI {low:.3f}-{high:.3f}); top decile {result['deciles'][0]['conversion']:.1%} converted "
              f"(lift {result['top_decile_lift']:.2f}); MQL {t['mql']['volume']:,} leads, precision "
              f"{pct(t['mql']['precision'])}, recall {pct(t['mql']['recall'])}; SQL {t['sql']['volume']:,} leads, "
              f"precision {pct(t['sql']['precision'])}, recall {pct(t['sql']['recall'])}", file=sys.stderr)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}, default=str))
    return EXIT_OK


def _target(precision: float | None, share: float | None, per_month: float | None, default_share: float):
    from .analysis.calibrate import Target

    given = [x for x in (precision, share, per_month) if x is not None]
    if len(given) > 1:
        raise SystemExit("leadscore calibrate: give one target per stage: precision, share or per-month")
    if not given:
        return Target(share=default_share)
    return Target(precision=precision, share=share, per_month=per_month)


def _writable_out_or_exit(out: Path) -> None:
    """--out is checked before the data is read and the points fitted: a fit can take minutes."""
    import os

    problem = None
    if out.is_dir():
        problem = "is a folder; give the model file's name, e.g. --out model.yaml"
    elif not out.parent.is_dir():
        problem = (f"the folder {out.parent} does not exist: create it first (mkdir -p {out.parent})"
                   if not out.parent.exists() else f"{out.parent} is not a folder")
    elif not os.access(out.parent, os.W_OK):
        problem = f"the folder {out.parent} is not writable"
    if problem:
        print(f"leadscore calibrate: --out {out}: {problem}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def cmd_calibrate(args: argparse.Namespace) -> int:
    _analysis_or_exit()
    from scoring_core import Engine, ModelFileError, load_model

    from .analysis.backtest import logistic_curve
    from .analysis.calibrate import CalibrationError, calibrate
    from .analysis.dataset import HistoricLead, held_out_path, score_leads, split_leads, write_fit_record

    out = Path(args.out)
    _writable_out_or_exit(out)
    mapping, file = _leads_or_exit(args)
    fitted, held = file.leads, list[HistoricLead]()
    if args.test_share:
        fitted, held = split_leads(file.leads, args.test_share, args.seed)
        if not any(lead.converted for lead in held) or all(lead.converted for lead in held):
            return _fail("calibrate", f"--test-share {args.test_share:g} holds out {len(held):,} leads, too few to have "
                                      f"both converters and others: give a larger share")
    try:
        mql = _target(args.mql_precision, args.mql_share, args.mql_per_month, 0.3)
        sql = _target(args.sql_precision, args.sql_share, args.sql_per_month, 0.1)
        result = calibrate(fitted, mapping, mql=mql, sql=sql, name=args.name, source=Path(args.data).name,
                           progress=True, seed=args.seed)
    except CalibrationError as exc:
        return _fail("calibrate", str(exc))
    for note in result.notes:
        print(f"warning: {note}", file=sys.stderr)
    text = result.text
    if held:
        text = (f"# Fitted to {len(fitted):,} of the {len(file.leads):,} leads of {file.path.name}; "
                f"{len(held):,} ({args.test_share:.0%}, stratified, seed {args.seed}) held out for the backtest, "
                f"their ids in {held_out_path(out).name}.\n" + text)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        return _fail("calibrate", f"--out {out}: cannot write: {exc.strerror}")
    try:
        written = load_model(out)  # what we write, the engine must read unchanged
    except ModelFileError as exc:  # pragma: no cover - a bug, not a user error
        for err in exc.errors:
            print(err, file=sys.stderr)
        return EXIT_INVALID
    # the conversion curve of the fitted leads' scores: the backtest's predicted conversion
    scores = [s.total for s, _ in score_leads(fitted, Engine(written))]
    labels = [lead.converted for lead in fitted]
    curve = logistic_curve(scores, labels) if len(set(scores)) > 1 else None
    try:
        records = write_fit_record(out, file, mapping, fitted, held, args.test_share, args.seed, curve)
    except OSError as exc:
        return _fail("calibrate", f"cannot write the fit record beside {out}: {exc.strerror}")
    print(f"{out}: {result.rules} rules from {result.features} candidate features; cross-validated ROC AUC "
          f"{result.cv_auc:.3f} ± {result.cv_auc_sd:.3f}; MQL at {result.mql:g}, SQL at {result.sql:g}. "
          f"Check it with `leadscore backtest --model {out}`.", file=sys.stderr)
    if held:
        print(f"held out {len(held):,} of {len(file.leads):,} leads (ids in {records[1]}): `leadscore backtest "
              f"--model {out} --data {args.data}` reports on those only", file=sys.stderr)
    else:
        print(f"fitted to all {len(file.leads):,} leads: a backtest on them flatters the model; "
              f"--test-share 0.3 holds some out (recorded in {records[0]})", file=sys.stderr)
    return EXIT_OK


def cmd_config_table(args: argparse.Namespace) -> int:
    from .settings import table

    print(table())
    return EXIT_OK


def cmd_pixel_url(args: argparse.Namespace) -> int:
    """A signed email pixel URL (docs/ingest.md, Signed email pixels); the secret from the settings."""
    import time

    from .identity import LOCAL_KEY_SECRET, email_key
    from .ingest.pixel import _ID, _TYPE
    from .ingest.signed_pixel import pixel_key, pixel_url
    from .settings import ConfigError, settings

    def fail(message: str) -> int:
        print(f"leadscore pixel-url: {message}", file=sys.stderr)
        return EXIT_USAGE

    if not _TYPE.fullmatch(args.event):
        return fail("--event must be an event type (lowercase letters, digits and _, e.g. email_opened)")
    try:
        s = settings()
        secret = s.lead_key_secret()
        from scoring_core.restrictions import load_restrictions

        restricted = load_restrictions(args.model or s.model_file).types
    except (ConfigError, OSError) as exc:
        return fail(str(exc))
    if args.event in restricted:
        return fail(f"{args.event} comes only from signed webhooks or server keys: the pixel drops it, signed or not")
    if args.email:
        from scoring_core.events import normalize_email

        try:
            lead = email_key(normalize_email(args.email), secret)
        except ValueError:
            return fail("--email is not an email address")
    else:
        lead = args.lead
    if not _ID.fullmatch(lead):
        return fail("--lead must be a lead key (letters, digits and . _ : -, at most 128)")
    if secret == LOCAL_KEY_SECRET:
        print("leadscore pixel-url: LEAD_KEY_SECRET is not set: signed with the local stack's key, which only "
              "`leadscore dev` accepts", file=sys.stderr)
    api_url = args.api_url or s.api_url or "http://127.0.0.1:3000"
    expires = None if args.valid_days is None else int(time.time() + args.valid_days * 86400)
    print(pixel_url(api_url, pixel_key(secret), lead, args.event, args.campaign, expires))
    return EXIT_OK


def cmd_outcomes_export(args: argparse.Namespace) -> int:
    """The leads table's outcomes as a CSV and a mapping for calibrate and backtest (leadscore.outcomes)."""
    import os

    from . import outcomes
    from .aws_clients import make_client
    from .settings import ConfigError, settings

    def fail(message: str) -> int:
        print(f"leadscore outcomes export: {message}", file=sys.stderr)
        return EXIT_USAGE

    try:
        s = settings()
        table, endpoint = args.table or s.leads_table, args.endpoint_url or s.aws_endpoint_url
    except ConfigError as exc:
        return fail(str(exc))
    if not table:
        return fail("which table? --table NAME (the stack output LeadsTableName), or LEADS_TABLE")
    if args.segments < 1:
        return fail("--segments must be at least 1")
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = make_client("dynamodb", endpoint)
        result = outcomes.export(outcomes.scan_leads(client, table, args.segments), Path(args.out),
                                 unknown=args.unknown, personal=args.with_personal, log=print)
    except (BotoCoreError, ClientError) as exc:
        return fail(f"cannot read {table}: {exc}")
    except OSError as exc:
        return fail(f"cannot write {args.out}: {exc}")
    print(f"wrote {result.csv_path} and {result.mapping_path}")
    return EXIT_OK


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"a share is between 0 and 1, e.g. 0.3 (got {text})")
    return value


def _file_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--delimiter", metavar="C", help="the CSV's delimiter (default: detected among , ; tab |)")
    p.add_argument("--encoding", metavar="NAME", help="the CSV's encoding (default: detected: UTF-8 with or without "
                                                      "BOM, else cp1252/latin-1)")

def cmd_routing_check(args: argparse.Namespace) -> int:
    """A routing file against the model its leads are scored with (a `when` on a fact the model
    never keeps is an error): the same checks as the worker's at cold start."""
    from scoring_core import Engine, ModelFileError
    from scoring_core.routing import load_routing

    engine = Engine(_load_model_or_exit(args.model))
    try:
        routing = load_routing(args.file, frozenset(engine.fact_names), frozenset(t.id for t in engine.model.triggers))
    except ModelFileError as exc:
        for err in exc.errors:
            print(err)
        return EXIT_INVALID
    members = sum(len(t.members) for t in routing.teams.values())
    print(f"{args.file}: ok: {len(routing.routes)} routes, {len(routing.teams)} teams, {members} members; "
          f"sticky per lead{', per company domain' if routing.sticky.domain else ''}")
    return EXIT_OK


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

    p = sub.add_parser("routing", help="work with routing files (docs/routing.md)")
    rsub = p.add_subparsers(dest="routing_command", required=True)
    c = rsub.add_parser("check", help="validate a routing file: exit 0, or 1 with file:line:col errors")
    c.add_argument("file", metavar="FILE")
    c.add_argument("--model", metavar="FILE", help="the model its leads are scored with (default: the shipped default model)")
    c.set_defaults(func=cmd_routing_check)

    p = sub.add_parser("config", help="the settings")
    csub = p.add_subparsers(dest="config_command", required=True)
    c = csub.add_parser("table", help="print every setting, its source and what it does (README, Configuration)")
    c.set_defaults(func=cmd_config_table)

    p = sub.add_parser("pixel-url", help="a signed email pixel URL for one lead (LEAD_KEY_SECRET from the settings)")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--lead", metavar="KEY", help="the lead's key (e:…, u:…) as the leads API gives it")
    who.add_argument("--email", metavar="ADDRESS", help="the lead's email address: its key is computed, not sent")
    p.add_argument("--event", default="email_opened", help="event type (default email_opened; email_clicked, ...)")
    p.add_argument("--campaign", metavar="CID", help="campaign id (cid)")
    p.add_argument("--valid-days", type=float, metavar="N", help="the URL stops counting N days from now (default: never)")
    p.add_argument("--api-url", metavar="URL", help="the API's base URL (default: API_URL, else http://127.0.0.1:3000)")
    p.add_argument("--model", metavar="FILE", help="model file whose restricted events are refused (default: MODEL_FILE)")
    p.set_defaults(func=cmd_pixel_url)

    p = sub.add_parser("dev", help="run the whole pipeline locally: AWS on moto, routes on :3000, demo site")
    p.add_argument("--port", type=int, default=3000, help="HTTP port (default 3000)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--verbose", action="store_true", help="the handlers' JSON logs and one line per HTTP request")
    p.set_defaults(func=cmd_dev)
    p = sub.add_parser("backtest", help="score historical leads with a model and report how well it ranks them")
    p.add_argument("--data", required=True, metavar="LEADS.csv", help="historical leads with a known outcome")
    p.add_argument("--mapping", required=True, metavar="MAPPING.yaml", help="which columns are the id, outcome, facts and events")
    p.add_argument("--model", metavar="FILE", help="model file (default: the shipped default model)")
    p.add_argument("--report", metavar="DIR", help="write report.html (one file, charts inside) and report.json here")
    p.add_argument("--json", action="store_true", help="print every figure as one JSON object on stdout")
    p.add_argument("--all-leads", action="store_true",
                   help="score every lead, also those the model was fitted to (default: only the held-out ones, "
                        "when calibrate held some out)")
    _file_options(p)
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser("outcomes", help="outcomes from the live leads table, for calibrate and backtest")
    osub = p.add_subparsers(dest="outcomes_command", required=True)
    c = osub.add_parser("export", help="write DIR/outcomes.csv and DIR/mapping.yaml from the leads table (a parallel Scan)")
    c.add_argument("--out", required=True, metavar="DIR", help="the folder to write outcomes.csv and mapping.yaml into")
    c.add_argument("--table", metavar="NAME", help="the leads table (default: LEADS_TABLE; the stack output LeadsTableName)")
    c.add_argument("--endpoint-url", metavar="URL", help="DynamoDB endpoint (default: AWS_ENDPOINT_URL; the local stack's)")
    c.add_argument("--region", metavar="NAME", help="AWS region (default: the AWS configuration's)")
    c.add_argument("--segments", type=int, default=4, metavar="N", help="parallel Scan segments (default 4)")
    c.add_argument("--unknown", choices=("skip", "negative"), default="skip",
                   help="leads with no outcome yet: left out (default) or counted as not converted")
    c.add_argument("--with-personal", action="store_true",
                   help="also write the email and name-like facts (excluded from the mapping's features)")
    c.set_defaults(func=cmd_outcomes_export)

    p = sub.add_parser("calibrate", help="fit a points model to historical outcomes and write it as a model file")
    p.add_argument("--data", required=True, metavar="LEADS.csv")
    p.add_argument("--mapping", required=True, metavar="MAPPING.yaml")
    p.add_argument("--out", required=True, metavar="MODEL.yaml", help="where to write the model")
    p.add_argument("--name", default="calibrated", help="the model's name (default: calibrated)")
    p.add_argument("--test-share", type=_share, metavar="S",
                   help="hold out this share of the leads (stratified) for the backtest, e.g. 0.3; their ids go to "
                        "MODEL.held-out.csv and MODEL.fit.json")
    p.add_argument("--seed", type=int, default=0, help="random seed of the held-out draw and the cross-validation folds "
                                                       "(default 0)")
    _file_options(p)
    for stage, share in (("mql", 0.3), ("sql", 0.1)):
        p.add_argument(f"--{stage}-precision", type=float, metavar="P",
                       help=f"{stage.upper()} threshold: the lowest score whose leads convert at least this often (0-1)")
        p.add_argument(f"--{stage}-share", type=float, metavar="S",
                       help=f"{stage.upper()} threshold: this share of leads scores above it (default {share})")
        p.add_argument(f"--{stage}-per-month", type=float, metavar="N",
                       help=f"{stage.upper()} threshold: about N leads a month (needs created_at dates)")
    p.set_defaults(func=cmd_calibrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
