"""Digitization workers in their own processes, so that the SCP's association threads never
wait on the digitizer for the GIL (acknowledgement latency stays low while pages are read).

The parent passes the validated settings as a plain document and three `multiprocessing`
events: stop (drain and exit), work_ready (set by the SCP on each accepted object) and
outbox_ready (set by the worker after each built job). A worker process dies with its parent
(Linux PR_SET_PDEATHSIG), so a kill -9 of the service leaves no orphan writing to the store;
jobs it had in `digitizing` are resumed by the next start.
"""
from __future__ import annotations

import ctypes
import importlib
import multiprocessing
import os
import signal
import sys
from typing import Any

from ecgbridge.config import Settings
from ecgbridge.jobs.spool import Spool
from ecgbridge.jobs.store import JobStore
from ecgbridge.jobs.worker import Worker
from ecgbridge.logging import configure_logging, get_logger
from ecgbridge.metrics import Metrics

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int | None) -> None:
    """Have the kernel kill this process when its parent dies; exit now if the parent
    (`parent_pid`, None: not known) already died before this could be asked, as it does
    when the service is killed while a worker is still importing its modules."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return  # no glibc (e.g. musl): the stop event still ends the worker on a clean exit
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(0)  # orphaned already: adopted by init, no signal will come


def load_factory(path: str) -> Any:
    """'package.module:function' -> the function (used for the digitizer factory)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def worker_process_main(
    settings_doc: dict[str, Any],
    index: int,
    stop: Any,
    work_ready: Any,
    outbox_ready: Any,
    digitizer_factory: str,
    with_qa: bool,
) -> None:
    """Entry point of one worker process (multiprocessing 'spawn' target)."""
    parent = multiprocessing.parent_process()
    _die_with_parent(parent.pid if parent is not None else None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent drains us through `stop`
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    settings = Settings.model_validate(settings_doc)
    os.nice(settings.workers.nice)
    configure_logging(settings.logging)
    log = get_logger(__name__, worker=index)
    store = JobStore(settings.storage.database)
    spool = Spool(settings.storage.spool_dir, settings.storage.quarantine_dir,
                  settings.scp.min_free_bytes)
    digitizer = load_factory(digitizer_factory)(settings)
    qa = None
    if with_qa:
        from ecgbridge.service import pipeline_qa_renderer

        qa = pipeline_qa_renderer()
    worker = Worker(settings, store, spool, digitizer, Metrics(),
                    weights_sha256=getattr(digitizer, "weights_sha256", None) or None,
                    qa_renderer=qa, wake=work_ready, on_built=outbox_ready.set)
    log.info("worker process started", digitizer_version=digitizer.version)
    worker.run(stop)
    store.close()
    log.info("worker process stopped")
