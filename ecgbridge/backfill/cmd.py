"""`ecgbridge backfill`: convert the ECG pictures of a PACS's archive, resumably.

    ecgbridge backfill --pacs NAME --from 2019-01-01 --to 2019-12-31 [--modality OT ...]
        [--series-description '*ECG*'] [--rate 2/s] [--window 19:00-06:00] [--dry-run]

NAME is a destination of the configuration: it is queried (C-FIND), retrieved from (C-GET, or
C-MOVE to our SCP with --retrieve move) and receives the results. Jobs go to the service's job
store (the running service digitizes and sends them); a re-run skips what is done.
"""
from __future__ import annotations

import argparse
import datetime as dt
import re
import signal
import sys
import threading
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from ecgbridge.backfill.ledger import LEDGER_FILE, BackfillLedger
from ecgbridge.backfill.pacing import TimeWindow, TokenBucket, WindowGate
from ecgbridge.backfill.progress import Progress
from ecgbridge.backfill.query import PacsPeer, find_candidates
from ecgbridge.backfill.retrieve import GetRetriever, MoveRetriever, Retriever
from ecgbridge.backfill.runner import BackfillRunner, plan
from ecgbridge.backfill.selection import Selection
from ecgbridge.command import module_main
from ecgbridge.config import Settings, load_settings
from ecgbridge.errors import ConfigError
from ecgbridge.jobs.spool import Spool
from ecgbridge.jobs.store import JobStore
from ecgbridge.logging import configure_logging, get_logger
from ecgbridge.sweeps.submit import StoreSink

_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*s)?\s*$")


def _date(text: str) -> dt.date:
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD or YYYYMMDD; found {text!r}")


def _rate(text: str) -> float:
    match = _RATE_RE.match(text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"expected a rate like 2/s or 0.5 (> 0); found {text!r}")
    return float(match.group(1))


def _window(text: str) -> TimeWindow:
    try:
        return TimeWindow.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", help="YAML file (default: embedded defaults)")
    p.add_argument("--pacs", required=True, help="configured destination to convert")
    p.add_argument("--from", dest="date_from", type=_date, required=True,
                   help="first StudyDate (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", type=_date, required=True,
                   help="last StudyDate (YYYY-MM-DD)")
    p.add_argument("--modality", action="append", default=[],
                   help="series Modality to include (repeatable; default any)")
    p.add_argument("--series-description", metavar="PATTERN",
                   help="shell pattern the SeriesDescription must match (case-insensitive); "
                        "default: descriptions mentioning ECG/EKG")
    p.add_argument("--rate", type=_rate, help="at most N retrievals per second, e.g. 2/s")
    p.add_argument("--window", type=_window,
                   help="daily local time window to work in, e.g. 19:00-06:00")
    p.add_argument("--dry-run", action="store_true", help="list what would be done; change nothing")
    p.add_argument("--retrieve", choices=("get", "move"), default="get",
                   help="C-GET (default) or C-MOVE to our SCP's AE title")
    p.add_argument("--move-ae", help="AE title for C-MOVE (default: scp.ae_title)")
    p.add_argument("--send-to", help="destination for results (default: the --pacs one)")
    p.add_argument("--limit", type=int, help="stop after this many retrievals")
    p.add_argument("--min-side-px", type=int, default=300,
                   help="skip pictures whose shorter side is smaller (px; default 300)")
    p.add_argument("--metrics-port", type=int,
                   help="serve this run's progress gauges for Prometheus on this port")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `backfill` on the `ecgbridge` command's subparsers."""
    p = subparsers.add_parser("backfill", help="convert ECG pictures already in a PACS",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def peer_for(settings: Settings, name: str) -> PacsPeer:
    """The configured destination `name` as a query/retrieve peer; ConfigError if unknown."""
    dest = settings.destinations.get(name)
    if dest is None:
        raise ConfigError(
            f"--pacs {name!r} is not a configured destination; configured: "
            f"{sorted(settings.destinations)}"
        )
    ssl_context = None
    if dest.tls is not None:
        from ecgbridge.dicom.tls import client_ssl_context

        ssl_context = client_ssl_context(dest.tls, check_hostname=dest.tls.verify_hostname)
    return PacsPeer(
        ae_title=dest.ae_title, host=dest.host, port=dest.port,
        calling_ae_title=dest.calling_ae_title or settings.scp.ae_title,
        ssl_context=ssl_context, timeout_s=settings.scp.timeouts.dimse_s,
    )


def run(args: argparse.Namespace) -> int:
    """Run the command; exit code 0 when every selected object was queued or skipped."""
    settings = load_settings(args.config)
    configure_logging(settings.logging)
    log = get_logger("ecgbridge.backfill")
    peer = peer_for(settings, args.pacs)
    send_to = args.send_to or args.pacs
    if send_to not in settings.destinations:
        raise ConfigError(f"--send-to {send_to!r} is not a configured destination")
    selection = Selection(tuple(args.modality), args.series_description, args.min_side_px)
    ledger = BackfillLedger(settings.storage.state_dir / LEDGER_FILE)
    candidates = list(find_candidates(peer, args.date_from, args.date_to, tuple(args.modality)))
    if args.dry_run:
        lines = plan(candidates, selection, ledger.final_uids(args.pacs))
        for line in lines:
            c = line.candidate
            print(f"{line.action:8} {c.sop_uid}  {c.modality or '-':4} "
                  f"{c.series_description or '-'!s:30.30}  {line.reason or ''}")
        totals = {a: sum(1 for ln in lines if ln.action == a) for a in ("retrieve", "skip", "done")}
        print(f"{len(lines)} found: {totals['retrieve']} to retrieve, {totals['skip']} to skip, "
              f"{totals['done']} done before (dry run: nothing changed)")
        return 0
    store = JobStore(settings.storage.database)
    retriever: Retriever
    if args.retrieve == "get":
        spool = Spool(settings.storage.spool_dir, settings.storage.quarantine_dir,
                      settings.scp.min_free_bytes)
        retriever = GetRetriever(peer, StoreSink(store, spool), destination=send_to)
    else:
        retriever = MoveRetriever(peer, args.move_ae or settings.scp.ae_title, store.has_sop)
    registry = CollectorRegistry()
    if args.metrics_port is not None:
        start_http_server(args.metrics_port, registry=registry)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        log.info("stopping after the current object", signal=signal.Signals(signum).name)
        stop.set()

    def _sleep(seconds: float) -> None:
        stop.wait(seconds)  # a stop request ends a pause at once

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    runner = BackfillRunner(
        args.pacs, selection, ledger, retriever,
        bucket=TokenBucket(args.rate, burst=max(1.0, args.rate)) if args.rate else None,
        gate=WindowGate(args.window, sleep=_sleep), stop=stop,
        limit=args.limit,
        progress_factory=lambda n: Progress(n, args.pacs, registry, stream=sys.stderr,
                                            log=lambda text: log.info("progress", line=text)),
    )
    summary = runner.run(candidates)
    print(f"found {summary.found}: queued {summary.queued} ({summary.new_jobs} new jobs), "
          f"skipped {summary.skipped} {summary.skip_reasons or ''}, failed {summary.failed}, "
          f"done before {summary.already_done}{' (stopped early)' if summary.stopped else ''}")
    store.close()
    ledger.close()
    return 0 if summary.failed == 0 else 1


def main(argv: list[str] | None = None) -> int:
    """`python -m ecgbridge.backfill ...` (same as `ecgbridge backfill ...`)."""
    return module_main("ecgbridge backfill", __doc__, add_arguments, run, argv)
