"""Sweeps run by APScheduler: triggers from config, one pass at a time, metrics."""
from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from PIL import Image
from prometheus_client import CollectorRegistry

from ecgbridge.jobs.spool import Spool
from ecgbridge.jobs.store import JobStore
from ecgbridge.sweeps.config import SweepFolderConfig, SweepsConfig
from ecgbridge.sweeps.ledger import SweepLedger
from ecgbridge.sweeps.scheduler import SweepScheduler, start_sweeps, trigger_for
from ecgbridge.sweeps.submit import StoreSink


def _png(seed: int) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_triggers_from_config(tmp_path: Path) -> None:
    interval = SweepFolderConfig(name="a", path=tmp_path, interval_s=30)
    cron = SweepFolderConfig(name="b", path=tmp_path / "b", cron="0 19-23 * * *")
    assert isinstance(trigger_for(interval), IntervalTrigger)
    assert trigger_for(interval).interval.total_seconds() == 30
    assert isinstance(trigger_for(cron), CronTrigger)


def test_scheduled_sweeps_of_two_folders(tmp_path: Path) -> None:
    folders = []
    for name in ("ward", "clinic"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.png").write_bytes(_png(len(name)))
        folders.append(SweepFolderConfig(name=name, path=tmp_path / name, interval_s=3600,
                                         stable_s=0))
    store = JobStore(tmp_path / "jobs.sqlite3")
    spool = Spool(tmp_path / "spool", tmp_path / "quarantine")
    ledger = SweepLedger(tmp_path / "sweeps.sqlite3")
    registry = CollectorRegistry()
    woken = threading.Semaphore(0)
    scheduler = SweepScheduler(SweepsConfig(folders=folders), ledger, StoreSink(store, spool),
                               registry=registry, on_queued=woken.release)
    jobs = scheduler.scheduler.get_jobs()
    assert {j.id for j in jobs} == {"sweep:ward", "sweep:clinic"}
    assert all(j.max_instances == 1 and j.coalesce for j in jobs)
    scheduler.start(run_now=True)
    try:
        assert woken.acquire(timeout=30) and woken.acquire(timeout=30)
    finally:
        scheduler.shutdown()
    assert len(store.list(limit=10)) == 2
    assert registry.get_sample_value(
        "ecgbridge_sweep_files_total", {"folder": "ward", "outcome": "queued"}) == 1
    store.close()
    ledger.close()


def test_failing_pass_is_counted_not_raised(tmp_path: Path) -> None:
    folder = SweepFolderConfig(name="gone", path=tmp_path / "missing", interval_s=60)
    registry = CollectorRegistry()
    store = JobStore(tmp_path / "jobs.sqlite3")
    scheduler = SweepScheduler(
        SweepsConfig(folders=[folder]), SweepLedger(tmp_path / "l.sqlite3"),
        StoreSink(store, Spool(tmp_path / "s", tmp_path / "q")), registry=registry)
    assert scheduler.run_folder("gone") is None
    assert registry.get_sample_value(
        "ecgbridge_sweep_runs_total", {"folder": "gone", "result": "error"}) == 1
    store.close()


def test_start_sweeps_without_folders_starts_nothing(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    started = start_sweeps(SweepsConfig(), state_dir=tmp_path, store=store,
                           spool=Spool(tmp_path / "s", tmp_path / "q"), default_destination=None,
                           registry=CollectorRegistry())
    assert started is None and not (tmp_path / "sweeps.sqlite3").exists()
    store.close()
