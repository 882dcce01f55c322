"""Progress of a back-conversion: a bar with ETA on a terminal, gauges for Prometheus.

`Progress` keeps the counts of the current run; it draws a one-line bar on stderr when stderr
is a terminal (a log line every `log_every` items otherwise) and mirrors the counts in gauges
of the given registry (served by `--metrics-port`). `LedgerCollector` exposes the ledger's
counts in the service's own /metrics, read at scrape time.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ecgbridge.backfill.ledger import BackfillLedger

#: Outcomes counted per run.
OUTCOMES = ("queued", "skipped", "failed", "already_done")


class Progress:
    """Counts of one run over `total` candidates; `advance(outcome)` after each."""

    def __init__(
        self,
        total: int,
        pacs: str,
        registry: CollectorRegistry,
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        log: Callable[[str], None] | None = None,
        log_every: int = 50,
    ) -> None:
        self.total = total
        self.pacs = pacs
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.clock = clock
        self.log = log
        self.log_every = log_every
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self.started = clock()
        self.worked = 0  # items that needed a retrieval (they drive the rate and ETA)
        self._last_draw = 0.0
        self.items = Gauge("ecgbridge_backfill_items", "Back-conversion items of this run",
                           ["pacs", "outcome"], registry=registry)
        self.remaining = Gauge("ecgbridge_backfill_remaining", "Items left in this run",
                               ["pacs"], registry=registry)
        self.rate = Gauge("ecgbridge_backfill_rate_per_second", "Retrievals per second",
                          ["pacs"], registry=registry)
        self.eta = Gauge("ecgbridge_backfill_eta_seconds", "Estimated seconds to finish",
                         ["pacs"], registry=registry)
        self.paused = Gauge("ecgbridge_backfill_paused", "1 while outside the time window",
                            ["pacs"], registry=registry)
        self.items.labels(pacs, "found").set(total)
        self._publish()

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def advance(self, outcome: str) -> None:
        if outcome not in self.counts:
            raise ValueError(f"outcome must be one of {OUTCOMES}; found {outcome!r}")
        self.counts[outcome] += 1
        if outcome in ("queued", "failed"):
            self.worked += 1
        self._publish()
        self.draw()

    def set_paused(self, seconds_left: float) -> None:
        self.paused.labels(self.pacs).set(1 if seconds_left > 0 else 0)
        if seconds_left > 0:
            self._write(f"paused: outside the time window, {seconds_left / 60:.0f} min to go")

    def rate_per_s(self) -> float:
        elapsed = self.clock() - self.started
        return self.worked / elapsed if elapsed > 0 else 0.0

    def eta_s(self) -> float | None:
        rate = self.rate_per_s()
        left = self.total - self.done
        if left == 0:
            return 0.0
        return left / rate if rate > 0 else None

    def line(self) -> str:
        width = 30
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        eta = self.eta_s()
        eta_text = "--:--:--" if eta is None else time.strftime("%H:%M:%S", time.gmtime(eta))
        c = self.counts
        return (f"[{bar}] {self.done}/{self.total} {frac:4.0%} queued={c['queued']} "
                f"skipped={c['skipped']} failed={c['failed']} done-before={c['already_done']} "
                f"{self.rate_per_s():.2f}/s ETA {eta_text}")

    def draw(self, force: bool = False) -> None:
        if self.tty:
            now = self.clock()
            if force or now - self._last_draw >= 0.2 or self.done == self.total:
                self._last_draw = now
                self.stream.write("\r" + self.line())
                self.stream.flush()
        elif self.log is not None and (force or self.done % self.log_every == 0):
            self.log(self.line())

    def finish(self) -> None:
        self.draw(force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _write(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r" + text.ljust(100))
            self.stream.flush()
        elif self.log is not None:
            self.log(text)

    def _publish(self) -> None:
        for outcome, n in self.counts.items():
            self.items.labels(self.pacs, outcome).set(n)
        self.remaining.labels(self.pacs).set(self.total - self.done)
        self.rate.labels(self.pacs).set(self.rate_per_s())
        eta = self.eta_s()
        self.eta.labels(self.pacs).set(-1 if eta is None else eta)


class LedgerCollector(Collector):
    """`ecgbridge_backfill_ledger_items{state}` from the ledger file, read at scrape time.

    For the service's registry: `metrics.registry.register(LedgerCollector(path))`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("ecgbridge_backfill_ledger_items",
                                   "SOP Instances handled by back-conversion, per state",
                                   labels=["state"])
        if self.path.exists():
            ledger = BackfillLedger(self.path)
            try:
                for state, n in ledger.counts().items():
                    family.add_metric([state], n)
            finally:
                ledger.close()
        yield family
