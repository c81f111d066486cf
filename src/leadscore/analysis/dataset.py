"""Historical leads from a CSV file, through a mapping, into what the engine scores."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .mapping import Mapping

#: a lead's events are applied at its creation time (or this instant when the data has no dates)
EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


class DataError(Exception):
    pass


@dataclass
class HistoricLead:
    id: str
    converted: bool
    facts: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # event type -> number of events
    amounts: dict[str, float] = field(default_factory=dict)  # event type -> the amount of its one event
    categories: dict[str, str] = field(default_factory=dict)  # category column -> the event type its value gave
    created_at: datetime | None = None
    converted_at: datetime | None = None
    row: dict[str, str] = field(default_factory=dict, repr=False)  # the raw values of the mapped columns
    times: dict[str, datetime] = field(default_factory=dict)  # event type -> when its events happened (`at:`)

    @property
    def since(self) -> datetime:
        """When the lead came in: its identify event, and its events that have no date of their own."""
        return self.created_at or min(self.times.values(), default=EPOCH)

    def event_time(self, type_: str) -> datetime:
        return self.times.get(type_) or self.since

    @property
    def scored_at(self) -> datetime:
        """When a backtest scores the lead: at its latest event, so earlier events have decayed by then."""
        return max([self.since, *self.times.values()])

    def decay(self, type_: str, half_life_days: float) -> float:
        """What one point of an event of `type_` is worth at `scored_at` (1 when it happened then)."""
        age = (self.scored_at - self.event_time(type_)).total_seconds()
        return 2.0 ** (-age / (half_life_days * 86400)) if age else 1.0


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None  # not NaN, not inf


_DATE_FORMATS = ("%Y/%m/%d", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S", "%d.%m.%Y", "%d.%m.%Y %H:%M")
DATE_HELP = "a date such as 2026-03-01, 2026-03-01 09:30, 2026-03-01T09:30:00Z or Unix seconds"


def _date(text: str) -> datetime | None:
    """A date or date-time as an event time, in UTC where it names no zone: ISO 8601 (with `T` or a
    space, `Z` or an offset), `2026/03/01`, `01.03.2026` (day first), or Unix seconds. Raises
    ValueError for anything else (and never guesses between day-first and month-first `01/03`)."""
    text = text.strip()
    if not text:
        return None
    value = None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                value = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if value is None and text.replace(".", "", 1).isdigit() and 8 <= len(text.split(".")[0]) <= 10:
        value = datetime.fromtimestamp(float(text), tz=timezone.utc)
    if value is None:
        raise ValueError(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


DELIMITERS = (",", ";", "\t", "|")
#: tried in this order when no --encoding is given: UTF-8 (a BOM or not), then Windows' Western
#: European code page, whose bytes are a superset of Latin-1's printable ones, then Latin-1 itself
ENCODINGS = ("utf-8", "cp1252", "latin-1")
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
GENERATED_ID = "row"  # a lead's id when the mapping names no id column: row-1, row-2, ... in file order


@dataclass
class LeadFile:
    """The leads of a file and how it was read."""

    path: Path
    leads: list[HistoricLead]
    encoding: str
    delimiter: str
    sha256: str
    generated_ids: bool
    outcome_values: dict[str, int]  # each value of the outcome column (trimmed) and its number of rows

    def describe_outcome(self, limit: int = 12) -> str:
        values = sorted(self.outcome_values, key=lambda v: (-self.outcome_values[v], v))
        shown = ", ".join(v if v else "(empty)" for v in values[:limit])
        return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _decode(path: Path, raw: bytes, encoding: str | None) -> tuple[str, str]:
    """The file's text and the encoding it was read with."""
    bom = next((name for mark, name in _BOMS if raw.startswith(mark)), None)
    if encoding is None and bom:
        encoding = bom
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise DataError(f"--encoding {encoding}: not an encoding Python knows (utf-8, latin-1, cp1252, utf-16, ...)") from None
        if codecs.lookup(encoding).name == "utf-8" and raw.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"  # the BOM is not part of the first column's name
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise DataError(f"{path}:{line}: not {encoding} text (byte 0x{raw[exc.start]:02x}): give the file's "
                            f"encoding, e.g. --encoding latin-1, or leave --encoding out to detect it") from None
    for candidate in ENCODINGS:
        try:
            return raw.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _delimiter(path: Path, text: str, given: str | None) -> str:
    """The given delimiter, or the one among DELIMITERS that cuts the first lines into the same
    number of columns, the most columns winning (a one-column file reads as `,`)."""
    if given is not None:
        given = {"\\t": "\t", "tab": "\t"}.get(given, given)
        if len(given) != 1 or given in "\"\r\n":
            raise DataError(f"--delimiter {given!r}: give one character, e.g. ';' or tab")
        return given
    sample = text[:65536].splitlines()[:50]
    best, best_columns = ",", 1
    for candidate in DELIMITERS:
        try:
            widths = [len(r) for r in csv.reader(sample, delimiter=candidate) if r]
        except csv.Error:
            continue
        if not widths or widths[0] < 2:
            continue
        consistent = sum(1 for w in widths if w == widths[0]) >= 0.8 * len(widths)
        if consistent and widths[0] > best_columns:
            best, best_columns = candidate, widths[0]
    return best


def _shown(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else repr(delimiter)


def load_leads(path: str | Path, mapping: Mapping, *, delimiter: str | None = None,
               encoding: str | None = None) -> LeadFile:
    """Every row as a lead, with how the file was read. The encoding and the delimiter are
    detected unless given; a BOM is honoured. Raises DataError naming the file, the line and
    the column, and saying what to do (an empty file, a missing column, a bad value, an outcome
    value that never occurs)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None
    text, used = _decode(path, raw, encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise DataError(f"{path}: the file is empty: it needs a header line naming the columns, then one line per lead")
    sep = _delimiter(path, text, delimiter)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        header = [h.strip() if h else h for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise DataError(f"{path}:1: not readable as CSV: {exc}") from None
    reader.fieldnames = header
    needed = [*([mapping.id] if mapping.id else []), mapping.outcome.column, *mapping.feature_columns(),
              *(c for c in (mapping.created_at, mapping.converted_at) if c), *(c.at for c in mapping.events if c.at)]
    absent = [c for c in needed if c not in header]
    if absent:
        columns = ", ".join(repr(h if len(h or "") <= 40 else h[:37] + "...") for h in header[:8]) + (f" and {len(header) - 8} more" if len(header) > 8 else "")
        hint = ""
        if len(header) == 1:
            hint = " If the file uses another delimiter than the one detected, give it: --delimiter ';'"
        raise DataError(f"{path}:1: no column {', '.join(repr(c) for c in absent)} (the mapping names it); "
                        f"the header has {columns} (read with delimiter {_shown(sep)}, {used}).{hint}")
    positive = set(mapping.outcome.positive)
    leads: list[HistoricLead] = []
    values: Counter[str] = Counter()
    first_line: dict[str, int] = {}  # lead id -> the line it was first on
    try:
        for number, row in enumerate(reader, start=1):
            where = f"{path}:{reader.line_num}"
            lead = _lead(row, mapping, positive, where, number)
            if lead.id in first_line:
                # one lead twice would be fitted (and counted) twice, and a held-out id would name two rows
                raise DataError(f"{where}: lead id {lead.id!r} (column {mapping.id!r}) is also on line "
                                f"{first_line[lead.id]}: each lead once; remove or merge the duplicate rows")
            first_line[lead.id] = reader.line_num
            leads.append(lead)
            values[(row[mapping.outcome.column] or "").strip()] += 1
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: not readable as CSV: {exc}") from None
    if not leads:
        raise DataError(f"{path}: a header line and no leads under it")
    found = LeadFile(path, leads, used, sep, hashlib.sha256(raw).hexdigest(), mapping.id is None, dict(values))
    if not any(lead.converted for lead in leads):
        quoted = ", ".join(repr(v) for v in mapping.outcome.positive)
        raise DataError(f"{mapping.where('outcome', 'positive')}: outcome.positive: no row of {path} has {quoted} in "
                        f"column {mapping.outcome.column!r}; the outcome column has: {found.describe_outcome()} "
                        f"(compared exactly, case included: list the values that mean converted)")
    return found


def read_leads(path: str | Path, mapping: Mapping, *, delimiter: str | None = None,
               encoding: str | None = None) -> list[HistoricLead]:
    """Every row as a lead (see `load_leads`)."""
    return load_leads(path, mapping, delimiter=delimiter, encoding=encoding).leads


def _lead(row: dict[str, str], mapping: Mapping, positive: set[str], where: str, number: int) -> HistoricLead:
    if mapping.id:
        lead_id = (row[mapping.id] or "").strip()
        if not lead_id:
            raise DataError(f"{where}: column {mapping.id!r} (the lead id) is empty: every lead needs an id, "
                            f"or leave `id` out of the mapping to number the rows")
    else:
        lead_id = f"{GENERATED_ID}-{number}"
    lead = HistoricLead(id=lead_id, converted=(row[mapping.outcome.column] or "").strip() in positive)
    missing = set(mapping.missing)
    for col in mapping.facts:
        raw = (row[col.column] or "").strip()
        lead.row[col.column] = raw
        if raw in missing or raw in col.missing:
            continue
        if col.numeric:
            value = _number(raw)
            if value is None:
                raise DataError(f"{where}: column {col.column!r} is numeric in the mapping, got {raw!r}")
            lead.facts[col.fact] = value
        else:
            lead.facts[col.fact] = raw.lower() if col.lowercase else raw
    for col in mapping.events:
        raw = (row[col.column] or "").strip()
        lead.row[col.column] = raw
        if raw in missing or raw in col.missing or raw in col.ignore:
            continue
        if col.kind == "category":
            type_ = col.event_type(raw)
            lead.counts[type_] = lead.counts.get(type_, 0) + 1
            lead.categories[col.column] = type_
            _event_time(lead, row, col.at, type_, where)
            continue
        value = _number(raw)
        if value is None or value < 0:
            raise DataError(f"{where}: column {col.column!r} needs a number of 0 or more, got {raw!r}")
        if col.kind == "count":
            if value:
                lead.counts[col.event] = lead.counts.get(col.event, 0) + int(round(value))  # type: ignore[index]
                _event_time(lead, row, col.at, col.event, where)  # type: ignore[arg-type]
        elif value:
            lead.amounts[col.event] = value  # type: ignore[index]
            _event_time(lead, row, col.at, col.event, where)  # type: ignore[arg-type]
    for key in ("created_at", "converted_at"):
        column = getattr(mapping, key)
        if column:
            try:
                setattr(lead, key, _date(row[column] or ""))
            except ValueError:
                raise DataError(f"{where}: column {column!r} ({key} in the mapping) needs {DATE_HELP}, "
                                f"got {row[column].strip()!r}") from None
    return lead


def _event_time(lead: HistoricLead, row: dict[str, str], column: str | None, type_: str, where: str) -> None:
    """The date of an event column's events, from its `at:` column (an empty cell: no date of its own)."""
    if not column:
        return
    try:
        at = _date(row[column] or "")
    except ValueError:
        raise DataError(f"{where}: column {column!r} (the `at` of an event column in the mapping) needs {DATE_HELP}, "
                        f"got {row[column].strip()!r}") from None
    if at is not None:
        lead.times[type_] = at


def events_of(lead: HistoricLead, index: int) -> list[Any]:
    """The canonical events a lead's row stands for: an identify with its facts at its creation
    time, then its events, each at its column's `at:` date or else at the creation time (the
    data says how many, and at most when; events of one column share one time)."""
    from scoring_core.events import Event

    at = lead.since
    key = f"h{index}"
    events = [Event(event_id=f"{key}-id", type="identify", occurred_at=at, received_at=at, source="backtest",
                    lead_id=key, traits=dict(lead.facts))]
    for type_, n in lead.counts.items():
        t = lead.event_time(type_)
        events += [Event(event_id=f"{key}-{type_}-{i}", type=type_, occurred_at=t, received_at=t, source="backtest",
                         lead_id=key) for i in range(n)]
    for type_, amount in lead.amounts.items():
        t = lead.event_time(type_)
        events.append(Event(event_id=f"{key}-{type_}", type=type_, occurred_at=t, received_at=t, source="backtest",
                            lead_id=key, properties={"amount": amount}))
    return events


def score_leads(leads: list[HistoricLead], engine: Any, *, progress: bool = False) -> list[Any]:
    """Each lead's score from the engine at its latest event (`HistoricLead.scored_at`: without
    `at:` dates every event happens then, so nothing decays), and its stage after advancing
    from `lead`: [(Score, stage)]."""
    from scoring_core import LeadState

    iterator: Any = leads
    if progress:
        from tqdm import tqdm

        iterator = tqdm(leads, desc="scoring", unit="lead", disable=None)
    out = []
    for i, lead in enumerate(iterator):
        state = LeadState()
        for event in events_of(lead, i):
            engine.apply(state, event)
        score, _ = engine.advance(state, lead.scored_at)
        out.append((score, state.stage))
    return out


# --- held-out leads, and the record of which leads a model was fitted to ------------------------

def split_leads(leads: list[HistoricLead], test_share: float, seed: int) -> tuple[list[HistoricLead], list[HistoricLead]]:
    """(to fit, held out): `test_share` of the converters and of the others, drawn at random with
    `seed` (stratified: both parts keep the data's conversion rate), each part in file order."""
    if not 0 < test_share < 1:
        raise ValueError("the test share is between 0 and 1")
    rng = random.Random(seed)
    held: set[int] = set()
    for outcome in (True, False):
        idx = [i for i, lead in enumerate(leads) if lead.converted is outcome]
        rng.shuffle(idx)
        held.update(idx[: round(len(idx) * test_share)])
    return ([lead for i, lead in enumerate(leads) if i not in held],
            [lead for i, lead in enumerate(leads) if i in held])


def fit_record_path(model: str | Path) -> Path:
    """Where calibrate records the leads it fitted `model` to: `MODEL.fit.json` beside it."""
    model = Path(model)
    return model.with_name(f"{model.stem}.fit.json")


def held_out_path(model: str | Path) -> Path:
    """Where calibrate writes the ids of the leads it held out: `MODEL.held-out.csv` beside it."""
    model = Path(model)
    return model.with_name(f"{model.stem}.held-out.csv")


def write_fit_record(model: str | Path, file: LeadFile, mapping: Mapping, fitted: list[HistoricLead],
                     held_out: list[HistoricLead], test_share: float | None, seed: int,
                     curve: tuple[float, float] | None) -> list[Path]:
    """The fit record (JSON: the data file and its SHA-256, the ids fitted and held out, the
    conversion curve of the fitted leads' scores) and, with a held-out part, its ids as a CSV."""
    record = {"model": Path(model).name, "data": file.path.name, "data_sha256": file.sha256,
              "id_column": mapping.id, "test_share": test_share, "seed": seed,
              "curve": None if curve is None else {"intercept": curve[0], "slope": curve[1]},
              "fitted_ids": [lead.id for lead in fitted], "held_out_ids": [lead.id for lead in held_out]}
    path = fit_record_path(model)
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    written = [path]
    if held_out:
        with held_out_path(model).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([mapping.id or GENERATED_ID])
            writer.writerows([lead.id] for lead in held_out)
        written.append(held_out_path(model))
    return written


def read_fit_record(model: str | Path) -> dict[str, Any] | None:
    path = fit_record_path(model)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or not isinstance(record.get("fitted_ids"), list):
            raise ValueError("not a fit record")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a fit record that calibrate wrote ({exc}): remove it, or calibrate again") from None
    return record


def fitting_of(record: dict[str, Any] | None, file: LeadFile, *, model_given: bool,
               all_leads: bool = False) -> tuple[list[HistoricLead], dict[str, Any]]:
    """The leads to report on and what to say about them: with a held-out part, only the held-out
    leads (unless `all_leads`); and whether the leads scored were used to fit the model."""
    leads = file.leads
    n = len(leads)
    if record is None:
        if not model_given:
            return leads, {"status": "new", "text": "No: the shipped default model was written by hand, not fitted to these leads."}
        return leads, {"status": "unknown", "text": (
            "Unknown: there is no fit record beside the model (calibrate writes MODEL.fit.json), so these figures may "
            "come from the leads the model was fitted to.")}
    if file.generated_ids and record.get("data_sha256") != file.sha256:
        return leads, {"status": "unknown", "text": (
            "Unknown: the mapping has no id column, so leads are matched by row number, and this file is not the one "
            f"the model was calibrated on ({record.get('data')}).")}
    fitted, held = set(record["fitted_ids"]), set(record.get("held_out_ids") or [])
    share = record.get("test_share")
    if held and not all_leads:
        test = [lead for lead in leads if lead.id in held]
        if test:
            left = n - len(test)
            return test, {"status": "held-out", "held_out": len(test), "left_out": left, "text": (
                f"No: these are the {len(test):,} leads calibrate held out (a {share:.0%} test part, seed "
                f"{record.get('seed')}); the other {left:,} leads of {file.path.name} are left out of every figure"
                + (", since the model was fitted to them." if left else "."))}
    used = sum(1 for lead in leads if lead.id in fitted)
    if used == 0:
        return leads, {"status": "new", "text": f"No: none of these {n:,} leads was among the {len(fitted):,} the model was fitted to."}
    if used == n:
        return leads, {"status": "fitted", "text": (
            f"Yes: all {n:,} leads were used to fit the model, so these figures flatter it. Calibrate with "
            f"--test-share 0.3 and backtest again to see how it does on leads it has not seen.")}
    return leads, {"status": "partly", "used_in_fitting": used, "text": (
        f"Partly: {used:,} of these {n:,} leads were used to fit the model, so these figures flatter it"
        + (" (--all-leads was given)." if all_leads and held else "."))}
