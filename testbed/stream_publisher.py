"""The stream publisher (functions/publish) on the leads table's stream, on a modelled clock."""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

from leadscore.dev.functions import LambdaContext, load_module
from leadscore.dev.streams import StreamPump, streams_client
from leadscore.dev.template import stream_sources

from testbed.request_units import Meter


class Publisher:
    """The stream publisher (functions/publish) on the leads table's stream, as the template's
    event source mapping runs it: its filter, its batch size and its batching window, on a
    modelled clock. PutEvents calls per transition depend on how many transitions one window
    collects, so on the event rate: the stream's batches arrive at `rate` events per second
    (default: a backlog drained by 4 containers at about 40 ms per batch of 10), and the stream
    is read once per window. The figure at other rates is computed from the same stream
    (`by_rate`: one invocation per window with transitions, up to BatchSize records each, a
    PutEvents call per 10). Reading the stream is Lambda's (not billed, not counted); the
    publisher's own calls are counted."""

    def __init__(self, aws: Any, template: dict[str, Any], batch_size: int, rate: float, meter: Meter):
        self.source = next(s for s in stream_sources(template) if s.function == "PublishFunction")
        self.app = load_module(self.source.code_uri)
        self.app.init()  # warm
        self.meter, self.batch_size, self.rate = meter, batch_size, rate
        self.window_s = self.source.window_s or 1.0
        self.batches = 0
        self.next_read = self.window_s
        self.wall_s = self.call_s = 0.0
        self.per_batch: list[int] = []  # transitions recorded by each worker batch (filtered stream records)
        self.pump = StreamPump(aws.ddb, streams_client(), aws.tables[self.source.table], self.source, self._invoke,
                               LambdaContext("publish", memory_mb=256, timeout_s=30))
        self._seen = 0

    def _invoke(self, event: dict[str, Any], context: Any) -> Any:
        calls0 = self.meter.call_s
        self.meter.active = True
        t0 = time.perf_counter()
        try:
            return self.app.lambda_handler(event, context)
        finally:
            self.wall_s += time.perf_counter() - t0
            self.meter.active = False
            self.call_s += self.meter.call_s - calls0

    def after_batch(self, took_s: float) -> None:
        self.batches += 1
        self.pump.read()
        pending = self.pump.pending  # what this batch added to the stream, filtered
        self.per_batch.append(pending - self._seen)
        self._seen = pending
        clock = self.batches * self.batch_size / self.rate
        if clock >= self.next_read:
            self.drain()
            self.next_read = clock + self.window_s

    def drain(self) -> None:
        if self.pump.pump():
            raise SystemExit("the stream publisher reported a failure on moto")
        self._seen = 0

    def calls_per_transition_at(self, rate: float) -> float | None:
        """PutEvents calls per transition if the same batches arrived at `rate` events per second."""
        per_window: Counter[int] = Counter()
        for b, n in enumerate(self.per_batch):
            per_window[int((b + 1) * self.batch_size / rate / self.window_s)] += n
        calls = 0
        for k in per_window.values():
            while k > 0:
                take = min(k, self.source.batch_size)
                calls += math.ceil(take / 10)
                k -= take
        total = sum(self.per_batch)
        return round(calls / total, 4) if total else None

    def figures(self, n_events: int, transitions: int) -> dict[str, Any]:
        n = self.pump.invocations or 1
        eb_calls = sum(v for k, v in self.meter.calls.items() if ".PutEvents" in k)
        return {
            "rate_events_per_s": self.rate,
            "window_s": self.window_s,
            "invocations": self.pump.invocations,
            "invocations_per_event": round(self.pump.invocations / n_events, 6),
            "transitions_per_invocation": round(transitions / n, 3),
            "put_events_calls_per_invocation": round(eb_calls / n, 3),
            "ms_per_invocation": round(self.wall_s * 1000 / n, 3),
            "compute_ms_per_invocation": round((self.wall_s - self.call_s) * 1000 / n, 3),
            "stream_records_read": self.pump.records_read,
            "eb_calls_per_transition_by_rate": {str(r): self.calls_per_transition_at(r) for r in (1, 10, 100, 1000, 10000)},
        }
