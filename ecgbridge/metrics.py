"""Prometheus metrics of one service instance, on their own registry (no global state)."""
from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class _QueueCollector(Collector):
    """Reads job counts per state (and per state and reason) from the store at scrape time:
    the store is shared by the worker processes, so these are exact whatever process did
    the work."""

    def __init__(self, counts: Callable[[], dict[str, int]],
                 reasons: Callable[[], dict[tuple[str, str], int]] | None) -> None:
        self._counts = counts
        self._reasons = reasons

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "ecgbridge_jobs", "Jobs in the job store per state", labels=["state"]
        )
        counts = self._counts()
        for state, count in counts.items():
            family.add_metric([state], count)
        yield family
        depth = GaugeMetricFamily(
            "ecgbridge_queue_depth", "Jobs waiting for a worker or the outbox", labels=["queue"]
        )
        depth.add_metric(["digitize"], counts.get("received", 0) + counts.get("digitizing", 0))
        depth.add_metric(["send"], counts.get("built", 0) + counts.get("sending", 0))
        yield depth
        if self._reasons is not None:
            by_reason = GaugeMetricFamily(
                "ecgbridge_jobs_by_reason", "Jobs per state and reason (failed, held, dead, "
                "retrying)", labels=["state", "reason"])
            for (state, reason), count in sorted(self._reasons().items()):
                by_reason.add_metric([state, reason], count)
            yield by_reason


class Metrics:
    """Counters and latency histograms (seconds) of the service.

    Counters of the worker (digitized, failed, held, digitize latency) count in the process
    that runs the worker. With `export_worker_metrics=False` (process isolation: the workers
    count in their own processes) they are kept off the exported registry, and the
    store-backed gauges `ecgbridge_jobs{state}` and `ecgbridge_jobs_by_reason{state,reason}`
    report them instead.
    """

    def __init__(self, counts: Callable[[], dict[str, int]] | None = None,
                 reasons: Callable[[], dict[tuple[str, str], int]] | None = None,
                 *, export_worker_metrics: bool = True) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        w = r if export_worker_metrics else CollectorRegistry()
        self.received = Counter("ecgbridge_received", "Objects accepted (0x0000 answered)",
                                ["calling_ae"], registry=r)
        self.duplicates = Counter("ecgbridge_duplicates", "Objects received again (same SOP UID)",
                                  registry=r)
        self.refused = Counter("ecgbridge_refused", "C-STOREs answered with an error status",
                               ["status"], registry=r)
        self.digitized = Counter("ecgbridge_digitized", "Pages digitized", registry=w)
        self.sent = Counter("ecgbridge_sent", "Jobs delivered to a destination", ["destination"],
                            registry=r)
        self.written = Counter("ecgbridge_written_local", "Jobs written to the out folder only",
                               registry=r)
        self.failed = Counter("ecgbridge_failed", "Jobs failed (bad input)", ["reason"],
                              registry=w)
        self.held = Counter("ecgbridge_held", "Jobs held for review", ["reason"], registry=w)
        self.dead = Counter("ecgbridge_dead", "Jobs moved to dead letters", ["reason"],
                            registry=r)
        self.retries = Counter("ecgbridge_send_retries", "Send attempts to be retried",
                               ["reason"], registry=r)
        self.ack_latency = Histogram(
            "ecgbridge_ack_latency_seconds", "C-STORE handler time: spool + job row (s)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0), registry=r)
        self.digitize_latency = Histogram(
            "ecgbridge_digitize_seconds", "Worker time per batch: decode, digitize, build (s)",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120), registry=w)
        self.send_latency = Histogram(
            "ecgbridge_send_seconds", "Time of one C-STORE send to a destination (s)",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=r)
        self.end_to_end = Histogram(
            "ecgbridge_end_to_end_seconds", "From acknowledgement to delivery (s)",
            buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600), registry=r)
        if counts is not None:
            r.register(_QueueCollector(counts, reasons))
