"""The outbox: send built results to their destination, retrying what can be retried.

A `built` job whose destination is None is "delivered" by copying its result folder to the
local out folder. Otherwise its waveform objects go by C-STORE (`ecgbridge.dicom.sender`).
Retryable failures (association refused/aborted, timeouts, 0xA7xx) come back after
    delay = min(max_delay_s, base_delay_s * 2 ** (attempts - 1)) * uniform(1 - jitter, 1 + jitter)
seconds; permanent failures (0xA9xx, 0xCxxx, ...) and exhausted attempts go to dead letters
with their reason. Sending twice is harmless: result UIDs derive from the source UID.
"""
from __future__ import annotations

import random
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from ecgbridge.config import DestinationConfig, RetryConfig, Settings
from ecgbridge.dicom.sender import DicomNode, send_datasets
from ecgbridge.errors import DeliveryError
from ecgbridge.jobs.routing import destination_config
from ecgbridge.jobs.store import Job, JobStore
from ecgbridge.jobs.worker import EventLike
from ecgbridge.logging import get_logger
from ecgbridge.metrics import Metrics

#: Sends datasets to a node; raises DeliveryError(retryable=..., status=...) on failure.
SendFn = Callable[[DicomNode, Sequence[Dataset]], object]


def retry_delay_s(attempts: int, config: RetryConfig, rng: random.Random) -> float:
    """Seconds to wait before the next try after `attempts` failed tries (attempts >= 1)."""
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1; found {attempts}")
    base = min(config.max_delay_s, config.base_delay_s * 2.0 ** min(attempts - 1, 60))
    return base * rng.uniform(1.0 - config.jitter, 1.0 + config.jitter)


def node_for(dest: DestinationConfig, default_calling_ae: str) -> DicomNode:
    """The sender's description of a configured destination."""
    return DicomNode(
        dest.ae_title, dest.host, dest.port, tls=dest.tls,
        calling_ae_title=dest.calling_ae_title or default_calling_ae,
    )


class Outbox:
    """One sender thread. `run(stop)` loops until `stop` is set; `run_once()` handles the jobs
    that are due and returns how many it handled."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        metrics: Metrics,
        *,
        send: SendFn = send_datasets,
        rng: random.Random | None = None,
        wake: EventLike | None = None,
        batch: int = 16,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.send = send
        self.rng = rng or random.Random()
        self.wake: EventLike = wake or threading.Event()
        self.batch = batch
        self.log = get_logger(__name__)

    def run(self, stop: EventLike) -> None:
        poll = self.settings.workers.poll_interval_s
        while not stop.is_set():
            try:
                done = self.run_once()
                due = self.store.next_due() if done == 0 else None
            except Exception as exc:  # noqa: BLE001 - the store may be briefly unavailable: log and go on
                self.log.error("outbox cycle failed", error=str(exc), error_type=type(exc).__name__)
                done, due = 0, None
            if done == 0:
                wait = poll if due is None else max(0.0, min(poll * 5, due - time.time()))
                self.wake.wait(max(wait, 0.01))
                self.wake.clear()

    def run_once(self) -> int:
        jobs = self.store.claim_sendable(self.batch)
        for job in jobs:
            self._deliver(job)
        return len(jobs)

    def _deliver(self, job: Job) -> None:
        log = self.log.bind(job_id=job.id, sop_instance_uid=job.sop_instance_uid,
                            calling_ae=job.calling_ae, destination=job.destination)
        try:
            if job.destination is None:
                self._write_local(job)
            else:
                self._send(job)
        except DeliveryError as exc:
            self._failed(job, exc)
            return
        except Exception as exc:  # noqa: BLE001 - missing outputs, unknown destination: a dead letter
            reason = "internal_error"
            message = f"{type(exc).__name__}: {exc}"
            self.store.mark_dead(job.id, reason=reason, message=message)
            self.metrics.dead.labels(reason=reason).inc()
            log.error("job dead", reason=reason, error=message)
            return
        self.store.mark_delivered(job.id)
        self.metrics.end_to_end.observe(max(0.0, time.time() - job.received_at))
        log.info("job delivered", outputs=len(job.outputs))

    def _write_local(self, job: Job) -> None:
        if job.result_dir is None:
            raise FileNotFoundError(f"job {job.id} has no result folder")
        source = Path(job.result_dir)
        target = self.settings.storage.out_dir / source.name
        shutil.copytree(source, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("source.dcm", ".*"))
        self.metrics.written.inc()

    def _send(self, job: Job) -> None:
        if job.destination is None:
            raise ValueError(f"job {job.id} has no destination to send to")
        dest = destination_config(self.settings, job.destination)
        datasets = [pydicom.dcmread(path) for path in job.outputs]
        if not datasets:
            raise FileNotFoundError(f"job {job.id} has no result objects to send")
        node = node_for(dest, self.settings.scp.ae_title)
        started = time.perf_counter()
        self.send(node, datasets)
        self.metrics.send_latency.observe(time.perf_counter() - started)
        self.metrics.sent.labels(destination=job.destination).inc()

    def _failed(self, job: Job, exc: DeliveryError) -> None:
        status = "" if exc.status is None else f"_0x{exc.status:04X}"
        attempts = job.attempts + 1
        bound = self.log.bind(job_id=job.id, sop_instance_uid=job.sop_instance_uid,
                              destination=job.destination, attempts=attempts)
        if exc.retryable and attempts < self.settings.retry.max_attempts:
            delay = retry_delay_s(attempts, self.settings.retry, self.rng)
            reason = f"retrying{status}"
            self.store.mark_retry(job.id, next_attempt_at=time.time() + delay, reason=reason,
                                  message=exc.message)
            self.metrics.retries.labels(reason=reason).inc()
            bound.warning("send failed, will retry", delay_s=round(delay, 2), error=exc.message)
            return
        reason = "retries_exhausted" if exc.retryable else f"rejected{status or '_permanent'}"
        self.store.mark_dead(job.id, reason=reason, message=exc.message)
        self.metrics.dead.labels(reason=reason).inc()
        bound.error("job dead", reason=reason, error=exc.message)
