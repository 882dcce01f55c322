"""Folder sweeps on schedules: one APScheduler 3 job per folder (interval or cron trigger).

Each job has `max_instances=1` and `coalesce=True`: a slow sweep is never run twice at once
and missed runs collapse into one. The folder lock (`ecgbridge.sweeps.lock`) additionally
keeps two processes (two services, or a service and a manual run) from sweeping one folder.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import CollectorRegistry, Counter, Gauge

from ecgbridge.errors import EcgBridgeError
from ecgbridge.jobs.spool import Spool
from ecgbridge.jobs.store import JobStore
from ecgbridge.logging import get_logger
from ecgbridge.sweeps.config import SweepFolderConfig, SweepsConfig
from ecgbridge.sweeps.ledger import SweepLedger
from ecgbridge.sweeps.submit import StoreSink
from ecgbridge.sweeps.sweep import FolderSweeper, JobSink, SweepReport


def trigger_for(config: SweepFolderConfig) -> BaseTrigger:
    """The APScheduler trigger of a folder: IntervalTrigger(interval_s) or a crontab."""
    if config.cron is not None:
        return CronTrigger.from_crontab(config.cron)
    if config.interval_s is None:  # the config model guarantees one of them
        raise ValueError(f"folder {config.name!r} has neither interval_s nor cron")
    return IntervalTrigger(seconds=config.interval_s)


@dataclass
class SweepMetrics:
    """Prometheus series of the sweeps, on the service's registry."""

    registry: CollectorRegistry
    files: Counter = field(init=False)
    runs: Counter = field(init=False)
    waiting: Gauge = field(init=False)

    def __post_init__(self) -> None:
        r = self.registry
        self.files = Counter("ecgbridge_sweep_files", "Swept files by outcome",
                             ["folder", "outcome"], registry=r)
        self.runs = Counter("ecgbridge_sweep_runs", "Sweep passes by result",
                            ["folder", "result"], registry=r)
        self.waiting = Gauge("ecgbridge_sweep_waiting_files",
                             "Files not yet stable at the last pass", ["folder"], registry=r)

    def observe(self, report: SweepReport) -> None:
        folder = report.folder
        if report.locked:
            self.runs.labels(folder, "locked").inc()
            return
        self.runs.labels(folder, "ok").inc()
        for outcome, names in (("queued", report.queued), ("failed", report.failed),
                               ("duplicate", report.duplicates)):
            if names:
                self.files.labels(folder, outcome).inc(len(names))
        self.waiting.labels(folder).set(len(report.waiting))


class SweepScheduler:
    """Runs every configured folder's sweeps in a BackgroundScheduler.

    on_queued: called after a pass that queued jobs (wakes the workers).
    """

    def __init__(
        self,
        config: SweepsConfig,
        ledger: SweepLedger,
        sink: JobSink,
        *,
        default_destination: str | None = None,
        registry: CollectorRegistry | None = None,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.sweepers = {
            f.name: FolderSweeper(f, ledger, sink, default_destination=default_destination)
            for f in config.folders
        }
        self.metrics = SweepMetrics(registry or CollectorRegistry())
        self.on_queued = on_queued
        self.log = get_logger(__name__)
        self.scheduler = BackgroundScheduler(
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        )
        for folder in config.folders:
            self.scheduler.add_job(
                self.run_folder, trigger=trigger_for(folder), args=[folder.name],
                id=f"sweep:{folder.name}", name=f"sweep {folder.name}",
                max_instances=1, coalesce=True, replace_existing=True,
            )

    def run_folder(self, name: str) -> SweepReport | None:
        """One pass over folder `name`; errors are logged and counted, never raised (the
        scheduler keeps running and the next pass tries again)."""
        sweeper = self.sweepers[name]
        try:
            report = sweeper.run_once()
        except EcgBridgeError as exc:
            self.metrics.runs.labels(name, "error").inc()
            self.log.error("sweep failed", sweep=name, reason=exc.reason, error=exc.message)
            return None
        except OSError as exc:
            self.metrics.runs.labels(name, "error").inc()
            self.log.error("sweep failed", sweep=name, reason="os_error", error=str(exc))
            return None
        self.metrics.observe(report)
        if report.jobs:
            self.on_queued()
        return report

    def start(self, run_now: bool = True) -> None:
        """Start the scheduler; with `run_now`, each folder's first pass starts at once."""
        self.scheduler.start()
        if run_now:
            now = dt.datetime.now(self.scheduler.timezone)
            for job in self.scheduler.get_jobs():
                job.modify(next_run_time=now)
        self.log.info("sweeps scheduled", folders=sorted(self.sweepers))

    def shutdown(self, wait: bool = True) -> None:
        """Stop scheduling; with `wait`, let passes in progress finish."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        self.ledger.close()



def start_sweeps(
    config: SweepsConfig,
    *,
    state_dir: Path,
    store: JobStore,
    spool: Spool,
    default_destination: str | None,
    registry: CollectorRegistry,
    on_queued: Callable[[], None] = lambda: None,
) -> SweepScheduler | None:
    """What `Service.start()` calls: the running sweep scheduler, or None with no folders.

    The ledger is `config.ledger` or `<state_dir>/sweeps.sqlite3`; swept inputs become jobs of
    `store` (spooled in `spool`); `on_queued` wakes the workers.
    """
    if not config.folders:
        return None
    ledger = SweepLedger(config.ledger or state_dir / "sweeps.sqlite3")
    scheduler = SweepScheduler(
        config, ledger, StoreSink(store, spool), default_destination=default_destination,
        registry=registry, on_queued=on_queued,
    )
    scheduler.start(run_now=True)
    return scheduler
