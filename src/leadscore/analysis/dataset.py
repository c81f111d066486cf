"""Historical leads from a CSV file, through a mapping, into what the engine scores."""

from __future__ import annotations

import csv
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


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None  # not NaN, not inf


def _date(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def read_leads(path: str | Path, mapping: Mapping) -> list[HistoricLead]:
    """Every row as a lead. Raises DataError naming what is wrong (a missing column, a bad value)."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        needed = [mapping.id, mapping.outcome.column, *mapping.feature_columns(),
                  *(c for c in (mapping.created_at, mapping.converted_at) if c)]
        absent = [c for c in needed if c not in header]
        if absent:
            raise DataError(f"{path}: no column {', '.join(repr(c) for c in absent)} (the mapping names it)")
        positive = set(mapping.outcome.positive)
        leads = []
        for line, row in enumerate(reader, start=2):
            leads.append(_lead(row, mapping, positive, f"{path}:{line}"))
    return leads


def _lead(row: dict[str, str], mapping: Mapping, positive: set[str], where: str) -> HistoricLead:
    lead = HistoricLead(id=row[mapping.id], converted=(row[mapping.outcome.column] or "").strip() in positive)
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
            continue
        value = _number(raw)
        if value is None or value < 0:
            raise DataError(f"{where}: column {col.column!r} needs a number of 0 or more, got {raw!r}")
        if col.kind == "count":
            if value:
                lead.counts[col.event] = lead.counts.get(col.event, 0) + int(round(value))  # type: ignore[index]
        elif value:
            lead.amounts[col.event] = value  # type: ignore[index]
    if mapping.created_at:
        lead.created_at = _date(row[mapping.created_at] or "")
    if mapping.converted_at:
        lead.converted_at = _date(row[mapping.converted_at] or "")
    return lead


def events_of(lead: HistoricLead, index: int) -> list[Any]:
    """The canonical events a lead's row stands for: an identify with its facts, then its
    events, all at its creation time (the data says how many, not when)."""
    from scoring_core.events import Event

    at = lead.created_at or EPOCH
    key = f"h{index}"
    events = [Event(event_id=f"{key}-id", type="identify", occurred_at=at, received_at=at, source="backtest",
                    lead_id=key, traits=dict(lead.facts))]
    for type_, n in lead.counts.items():
        events += [Event(event_id=f"{key}-{type_}-{i}", type=type_, occurred_at=at, received_at=at, source="backtest",
                         lead_id=key) for i in range(n)]
    for type_, amount in lead.amounts.items():
        events.append(Event(event_id=f"{key}-{type_}", type=type_, occurred_at=at, received_at=at, source="backtest",
                            lead_id=key, properties={"amount": amount}))
    return events


def score_leads(leads: list[HistoricLead], engine: Any, *, progress: bool = False) -> list[Any]:
    """Each lead's score from the engine, at the moment its events happened (no decay), and
    its stage after advancing from `lead`: [(Score, stage)]."""
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
        score, _ = engine.advance(state, lead.created_at or EPOCH)
        out.append((score, state.stage))
    return out
