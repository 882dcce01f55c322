"""The running service: job store, spool, SCP, workers, outbox and HTTP, started and drained
together.

Start order: open the store, recover interrupted jobs (digitizing -> received, sending ->
built), reconcile the spool with the store, start workers and outbox, then the HTTP endpoint
and last the SCP (so nothing is accepted before it can be processed). `stop()` drains in the
reverse order: the SCP stops accepting and lets open associations finish, workers finish their
batch, the outbox its current send. The bound ports are written to `<state_dir>/service.json`.
`/metrics` also shows back-conversion progress (`ecgbridge_backfill_ledger_items{state}`)
from the backfill ledger in the same state_dir.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ecgbridge.backfill.ledger import LEDGER_FILE
from ecgbridge.backfill.progress import LedgerCollector
from ecgbridge.config import Settings
from ecgbridge.dicom.scp import StorageScp
from ecgbridge.jobs.outbox import Outbox, SendFn
from ecgbridge.jobs.process import worker_process_main
from ecgbridge.jobs.routing import destination_for
from ecgbridge.jobs.spool import Spool, reconcile_spool, write_durably
from ecgbridge.jobs.store import JobStore
from ecgbridge.jobs.worker import DigitizerLike, QaRenderer, Worker
from ecgbridge.logging import get_logger
from ecgbridge.metrics import Metrics
from ecgbridge.sweeps.scheduler import start_sweeps

#: Builds one digitizer (one per worker). With process isolation it is passed to the worker
#: process by name, so it must be a module-level function.
DigitizerFactory = Callable[[Settings], DigitizerLike]


def pipeline_digitizer(settings: Settings) -> DigitizerLike:
    """The real digitizer, `pipeline.digitizer.Digitizer`, on the configured device/batch."""
    from pipeline.digitizer import Digitizer
    from pipeline.types import DigitizeOptions

    options = DigitizeOptions(device=settings.workers.device,
                              batch_size=settings.workers.batch_size)
    return Digitizer(options)  # type: ignore[no-any-return]


def pipeline_qa_renderer() -> QaRenderer | None:
    """`pipeline.qa.render_qa` when the pipeline provides it, else None (no QA pictures)."""
    try:
        from pipeline.qa import render_qa
    except ImportError:
        return None
    return render_qa  # type: ignore[no-any-return]


class Service:
    """All parts of one ecgbridge instance."""

    def __init__(
        self,
        settings: Settings,
        *,
        digitizer_factory: DigitizerFactory = pipeline_digitizer,
        qa_renderer: QaRenderer | None = None,
        send: SendFn | None = None,
    ) -> None:
        self.settings = settings
        self.log = get_logger(__name__)
        storage = settings.storage
        self.store = JobStore(storage.database)
        self.spool = Spool(storage.spool_dir, storage.quarantine_dir, settings.scp.min_free_bytes)
        self.metrics = Metrics(self.store.counts, self.store.reason_counts,
                               export_worker_metrics=settings.workers.isolation == "thread")
        # back-conversion progress (`ecgbridge backfill` runs apart), read at scrape time
        self.metrics.registry.register(LedgerCollector(storage.state_dir / LEDGER_FILE))
        self.stop_event = threading.Event()
        self.signalled = threading.Event()
        self._mp = multiprocessing.get_context("spawn")
        self.process_stop = self._mp.Event()
        self.work_ready: Any = self._mp.Event()
        self.outbox_ready: Any = self._mp.Event()
        self.digitizer_factory = digitizer_factory
        self.qa_renderer = qa_renderer
        self.scp = StorageScp(
            settings.scp, self.store, self.spool, self.metrics,
            route=lambda ae: destination_for(settings, ae), on_received=self.work_ready.set,
        )
        outbox_kwargs: dict[str, Any] = {} if send is None else {"send": send}
        self.outbox = Outbox(settings, self.store, self.metrics, wake=self.outbox_ready,
                             **outbox_kwargs)
        self.http: Any = None
        self._threads: list[threading.Thread] = []
        self._processes: list[Any] = []
        self.sweeps: Any = None

    def start(self) -> dict[str, Any]:
        """Start everything; returns what was written to service.json (pid, ports)."""
        recovered = self.store.recover()
        tidied = reconcile_spool(self.spool, self.store.states())
        self.log.info("job store opened", path=str(self.store.path), recovered=recovered,
                      spool=tidied, counts=self.store.counts())
        for index in range(self.settings.workers.count):
            if self.settings.workers.isolation == "process":
                self._spawn_process(index)
                continue
            digitizer = self.digitizer_factory(self.settings)
            worker = Worker(
                self.settings, self.store, self.spool, digitizer, self.metrics,
                weights_sha256=getattr(digitizer, "weights_sha256", None) or None,
                qa_renderer=self.qa_renderer, wake=self.work_ready,
                on_built=self.outbox_ready.set,
            )
            self._spawn(f"worker-{index}", worker.run)
        self._spawn("outbox", self.outbox.run)
        self.sweeps = start_sweeps(
            self.settings.sweeps, state_dir=self.settings.storage.state_dir, store=self.store,
            spool=self.spool, default_destination=self.settings.routing.default,
            registry=self.metrics.registry, on_queued=self.work_ready.set,
        )
        info: dict[str, Any] = {"pid": os.getpid()}
        if self.settings.http.enabled:
            from ecgbridge.http import HealthServer

            self.http = HealthServer(self.settings.http.host, self.settings.http.port,
                                     self.metrics, self.readiness)
            info["http_port"] = self.http.start()[1]
        info["scp_port"] = self.scp.start()[1]
        info["ae_title"] = self.settings.scp.ae_title
        write_durably(self.settings.storage.state_dir / "service.json",
                      json.dumps(info).encode())
        self.work_ready.set()
        return info

    def _spawn(self, name: str, target: Callable[[threading.Event], None]) -> None:
        thread = threading.Thread(target=target, args=(self.stop_event,), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _spawn_process(self, index: int) -> None:
        factory = f"{self.digitizer_factory.__module__}:{self.digitizer_factory.__qualname__}"
        process = self._mp.Process(
            target=worker_process_main, name=f"worker-{index}",
            args=(self.settings.model_dump(mode="json"), index, self.process_stop,
                  self.work_ready, self.outbox_ready, factory, self.qa_renderer is not None),
            daemon=True,
        )
        process.start()
        self._processes.append(process)

    def workers_alive(self) -> bool:
        return all(p.is_alive() for p in self._processes)

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready when the SCP listens and every worker/outbox thread and process is alive."""
        alive = {t.name: t.is_alive() for t in self._threads}
        alive.update({p.name: p.is_alive() for p in self._processes})
        counts = self.store.counts()
        ready = self.scp.running and all(alive.values()) and not self.stop_event.is_set()
        return ready, {"threads": alive, "jobs": counts}

    def stop(self, drain_s: float = 30.0) -> None:
        """Drain: stop accepting, let workers finish their batch and the outbox its send."""
        self.log.info("draining", drain_s=drain_s)
        self.scp.stop(drain_s)
        if self.sweeps is not None:
            self.sweeps.shutdown(wait=True)
        self.stop_event.set()
        self.process_stop.set()
        self.work_ready.set()
        self.outbox_ready.set()
        for process in self._processes:
            process.join(timeout=drain_s)
            if process.is_alive():
                self.log.warning("worker process still busy at exit; its jobs resume on "
                                 "restart", worker=process.name)
                process.kill()
                process.join(timeout=10)
        for thread in self._threads:
            thread.join(timeout=drain_s)
            if thread.is_alive():
                self.log.warning("thread still busy at exit; its jobs resume on restart",
                                 thread=thread.name)
        if self.http is not None:
            self.http.stop()
        self.log.info("stopped", counts=self.store.counts())

    def serve_forever(self, drain_s: float = 30.0) -> int:
        """Start, wait for SIGTERM/SIGINT (exit code 0) or a worker process dying (1: the
        service manager restarts us and unfinished jobs resume), drain, return the code."""
        def _on_signal(signum: int, _frame: Any) -> None:
            self.log.info("signal received", signal=signal.Signals(signum).name)
            self.signalled.set()

        previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            try:
                self.start()
            except BaseException:
                self.stop(drain_s=1.0)  # what did start (workers, HTTP) stops again
                raise
            code = 0
            while not self.signalled.wait(1.0):
                if not self.workers_alive():
                    dead = [p.name for p in self._processes if not p.is_alive()]
                    self.log.error("worker process died; stopping so that the service manager "
                                   "restarts the service", workers=dead)
                    code = 1
                    break
            self.stop(drain_s)
            return code
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.store.close()


def state_info(state_dir: Path) -> dict[str, Any]:
    """The running service's service.json (pid, scp_port, http_port)."""
    data: dict[str, Any] = json.loads((state_dir / "service.json").read_text())
    return data
