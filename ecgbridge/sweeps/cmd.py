"""`ecgbridge sweep`: run the folder sweeps outside the service, once or on their schedules.

    ecgbridge sweep --config service.yaml [--sweeps sweeps.yaml] [--once] [--folder NAME]

Jobs go to the job store of the service configured by `--config` (its running workers pick
them up). The folders come from `--sweeps` (a YAML file with a top-level `sweeps:` mapping, or
the mapping itself) or, when the service configuration has a `sweeps` section, from there.
With `--once` every folder (or just `--folder`) is swept once, waiting `stable_s` for files
first seen; without it the schedules run until SIGTERM/SIGINT.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from ecgbridge.command import module_main
from ecgbridge.config import Settings, load_settings
from ecgbridge.errors import ConfigError, EcgBridgeError
from ecgbridge.jobs.spool import Spool
from ecgbridge.jobs.store import JobStore
from ecgbridge.logging import configure_logging, get_logger
from ecgbridge.sweeps.config import SweepsConfig
from ecgbridge.sweeps.ledger import SweepLedger
from ecgbridge.sweeps.scheduler import SweepScheduler
from ecgbridge.sweeps.submit import StoreSink
from ecgbridge.sweeps.sweep import FolderSweeper


def load_sweeps(settings: Settings, path: str | None) -> SweepsConfig:
    """The sweeps configuration from `path`, else from `settings.sweeps` when present."""
    if path is None:
        found = getattr(settings, "sweeps", None)
        if isinstance(found, SweepsConfig) and found.folders:
            return found
        raise ConfigError("no sweep folders configured: add `sweeps.folders` to the config or "
                          "give --sweeps FILE (a YAML `sweeps:` section)")
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read sweeps file {path}: {exc}") from exc
    if isinstance(data, dict) and "sweeps" in data:
        data = data["sweeps"]
    try:
        config = SweepsConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"sweeps.{'.'.join(str(p) for p in e['loc'])}: "
            f"{'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc
    for folder in config.folders:
        if folder.destination is not None and folder.destination not in settings.destinations:
            raise ConfigError(
                f"{path}: sweeps.folders[{folder.name}].destination names {folder.destination!r};"
                f" configured destinations: {sorted(settings.destinations)}"
            )
    return config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", help="service YAML file (default: embedded defaults)")
    p.add_argument("--sweeps", help="YAML file with the sweeps section")
    p.add_argument("--once", action="store_true", help="sweep once and exit")
    p.add_argument("--folder", help="only this folder (by name)")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `sweep` on the `ecgbridge` command's subparsers."""
    p = subparsers.add_parser("sweep", help="sweep watched folders into the job store",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Exit code 0, or 1 when a pass failed (`--once`)."""
    settings = load_settings(args.config)
    configure_logging(settings.logging)
    log = get_logger("ecgbridge.sweeps")
    config = load_sweeps(settings, args.sweeps)
    if args.folder is not None:
        chosen = [f for f in config.folders if f.name == args.folder]
        if not chosen:
            raise ConfigError(f"--folder {args.folder!r} is not configured; configured: "
                              f"{[f.name for f in config.folders]}")
        config = SweepsConfig(folders=chosen, ledger=config.ledger)
    storage = settings.storage
    store = JobStore(storage.database)
    spool = Spool(storage.spool_dir, storage.quarantine_dir, settings.scp.min_free_bytes)
    ledger = SweepLedger(config.ledger or storage.state_dir / "sweeps.sqlite3")
    sink = StoreSink(store, spool)
    try:
        if args.once:
            failed = 0
            for folder in config.folders:
                sweeper = FolderSweeper(folder, ledger, sink,
                                        default_destination=settings.routing.default)
                try:
                    report = sweeper.run_once()
                except EcgBridgeError as exc:
                    failed += 1
                    print(f"{folder.name}: {exc.reason}: {exc.message}", file=sys.stderr)
                    continue
                print(f"{folder.name}: queued {len(report.queued)} ({report.jobs} jobs), "
                      f"failed {len(report.failed)}, duplicates {len(report.duplicates)}, "
                      f"waiting {len(report.waiting)}{' (locked: skipped)' if report.locked else ''}")
            return 1 if failed else 0
        scheduler = SweepScheduler(config, ledger, sink,
                                   default_destination=settings.routing.default,
                                   registry=CollectorRegistry())
        stop = threading.Event()

        def _on_signal(signum: int, _frame: Any) -> None:
            log.info("stopping sweeps", signal=signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
        scheduler.start(run_now=True)
        stop.wait()
        scheduler.shutdown(wait=True)
        return 0
    finally:
        store.close()
        ledger.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m ecgbridge.sweeps ...` (same as `ecgbridge sweep ...`)."""
    return module_main("ecgbridge sweep", __doc__, add_arguments, run, argv)
