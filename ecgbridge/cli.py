"""The `ecgbridge` command: serve, digitize, backfill, sweep, jobs, retry, release, check-config.

Commands with their own module (`digitize`, `backfill`, `sweep`) register through its
`add_parser(subparsers)`."""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Sequence

from ecgbridge.command import run_reporting_errors
from ecgbridge.config import Settings, load_settings
from ecgbridge.jobs.store import STATES, JobStore
from ecgbridge.logging import configure_logging


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def cmd_serve(args: argparse.Namespace) -> int:
    from ecgbridge.service import Service, pipeline_qa_renderer

    settings = _settings(args)
    configure_logging(settings.logging)
    return Service(settings, qa_renderer=pipeline_qa_renderer()).serve_forever(
        drain_s=args.drain_s)


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = load_settings(args.file)
    print(f"{args.file}: valid")
    if args.show:
        print(json.dumps(settings.model_dump(mode="json"), indent=2))
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    store = JobStore(_settings(args).storage.database)
    jobs = store.list(args.state, args.limit)
    if args.json:
        print(json.dumps([j.as_dict() for j in jobs], indent=2))
        return 0
    print(f"{'JOB':32}  {'STATE':10}  {'ATT':>3}  {'RECEIVED (UTC)':19}  {'FROM':16}  REASON")
    for j in jobs:
        received = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(j.received_at))
        print(f"{j.id:32}  {j.state:10}  {j.attempts:>3}  {received:19}  {j.calling_ae:16}  "
              f"{j.reason or ''}{': ' + j.message if j.message else ''}")
    counts = store.counts()
    print("  ".join(f"{s}={n}" for s, n in counts.items()))
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    store = JobStore(_settings(args).storage.database)
    count = store.requeue(None if args.all_dead else args.job_id, from_states=("dead",))
    print(f"re-queued {count} dead job(s); a running service sends them within its poll interval")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    store = JobStore(_settings(args).storage.database)
    count = store.requeue(args.job_id, from_states=("held",))
    print(f"released {count} held job(s) to the outbox")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ecgbridge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", "-c", help="YAML file (default: embedded defaults)")
        return p

    p = with_config(sub.add_parser("serve", help="run the DICOM service"))
    p.add_argument("--drain-s", type=float, default=30.0,
                   help="on SIGTERM, seconds to let work in flight finish (default 30)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("check-config", help="validate a config file (exit 2 if invalid)")
    p.add_argument("file")
    p.add_argument("--show", action="store_true", help="print the effective configuration")
    p.set_defaults(func=cmd_check_config)

    p = with_config(sub.add_parser("jobs", help="list jobs, newest first"))
    p.add_argument("--state", choices=STATES)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_jobs)

    p = with_config(sub.add_parser("retry", help="send dead letters again"))
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("job_id", nargs="?")
    group.add_argument("--all-dead", action="store_true")
    p.set_defaults(func=cmd_retry)

    p = with_config(sub.add_parser("release", help="send a job held for review"))
    p.add_argument("job_id")
    p.set_defaults(func=cmd_release)

    for name in ("ecgbridge.digitize_cmd", "ecgbridge.backfill.cmd", "ecgbridge.sweeps.cmd"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise  # the module exists but something it imports is missing: say so
        else:
            module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_reporting_errors("ecgbridge", args.func, args)
    except OSError as exc:  # e.g. a port already in use, a state folder not writable
        print(f"ecgbridge: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
