"""Outbox against a real pynetdicom C-STORE SCP on loopback: delivery, retry with backoff on
0xA700 / destination down, dead letters on 0xC000 and on exhausted retries, local delivery."""
from __future__ import annotations

import random
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import TwelveLeadECGWaveformStorage  # type: ignore[attr-defined]

from ecgbridge.config import RetryConfig, Settings, load_settings
from ecgbridge.jobs.outbox import Outbox, retry_delay_s
from ecgbridge.jobs.store import JobStore
from ecgbridge.metrics import Metrics
from tests.unit.test_worker import StandIn, _page, _receive, _sc_bytes


class Pacs:
    """A C-STORE SCP answering `status` (settable) and remembering what it stored."""

    def __init__(self) -> None:
        self.status = 0x0000
        self.stored: list[str] = []
        self._lock = threading.Lock()
        ae = AE("PACS")
        ae.add_supported_context(TwelveLeadECGWaveformStorage)
        self.ae = ae
        self.server = ae.start_server(("127.0.0.1", 0), block=False,
                                      evt_handlers=[(evt.EVT_C_STORE, self._store)])
        self.port = int(self.server.server_address[1])

    def _store(self, event: evt.Event) -> int:
        with self._lock:
            if self.status == 0x0000:
                self.stored.append(str(event.request.AffectedSOPInstanceUID))
            return self.status


@pytest.fixture()
def pacs() -> Iterator[Pacs]:
    p = Pacs()
    yield p
    p.ae.shutdown()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _built_job(tmp: Path, port: int, *, max_attempts: int = 3,
               destination: bool = True) -> tuple[Settings, JobStore]:
    env = {
        "ECGBRIDGE__STORAGE__STATE_DIR": str(tmp / "var"),
        "ECGBRIDGE__RETRY__MAX_ATTEMPTS": str(max_attempts),
        "ECGBRIDGE__RETRY__BASE_DELAY_S": "0.01",
        "ECGBRIDGE__RETRY__MAX_DELAY_S": "0.02",
    }
    if destination:
        env.update({"ECGBRIDGE__DESTINATIONS__PACS__AE_TITLE": "PACS",
                    "ECGBRIDGE__DESTINATIONS__PACS__HOST": "127.0.0.1",
                    "ECGBRIDGE__DESTINATIONS__PACS__PORT": str(port)})
    settings = load_settings(environ=env)
    # the worker builds a real result for one image
    from ecgbridge.jobs.spool import Spool
    from ecgbridge.jobs.worker import Worker

    store = JobStore(settings.storage.database)
    spool = Spool(settings.storage.spool_dir, settings.storage.quarantine_dir)
    data, uid = _sc_bytes(_page(0.9), tmp, "p.dcm")
    _receive(store, spool, "job", data, uid, destination="pacs" if destination else None)
    Worker(settings, store, spool, StandIn(), Metrics(store.counts)).run_once()
    assert store.get("job").state == "built"
    return settings, store


def _outbox(settings: Settings, store: JobStore) -> Outbox:
    return Outbox(settings, store, Metrics(store.counts), rng=random.Random(7))


def _run_until_final(outbox: Outbox, store: JobStore, deadline_s: float = 10.0) -> str:
    import time

    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        outbox.run_once()
        state = store.get("job").state
        if state in ("delivered", "dead"):
            return state
        time.sleep(0.005)
    return store.get("job").state


def test_delivered_once(tmp_path: Path, pacs: Pacs) -> None:
    settings, store = _built_job(tmp_path, pacs.port)
    assert _run_until_final(_outbox(settings, store), store) == "delivered"
    job = store.get("job")
    assert (job.attempts, job.reason) == (1, None)
    assert len(pacs.stored) == 1


def test_out_of_resources_is_retried_then_delivered(tmp_path: Path, pacs: Pacs) -> None:
    settings, store = _built_job(tmp_path, pacs.port, max_attempts=5)
    pacs.status = 0xA700
    outbox = _outbox(settings, store)
    outbox.run_once()
    job = store.get("job")
    assert (job.state, job.attempts, job.reason) == ("built", 1, "retrying_0xA700")
    assert job.next_attempt_at > job.updated_at
    pacs.status = 0x0000
    assert _run_until_final(outbox, store) == "delivered"
    assert len(pacs.stored) == 1


def test_cannot_understand_is_a_dead_letter(tmp_path: Path, pacs: Pacs) -> None:
    settings, store = _built_job(tmp_path, pacs.port)
    pacs.status = 0xC000
    assert _run_until_final(_outbox(settings, store), store) == "dead"
    job = store.get("job")
    assert job.reason == "rejected_0xC000" and job.attempts == 1
    store.requeue("job")
    pacs.status = 0x0000
    assert _run_until_final(_outbox(settings, store), store) == "delivered"


def test_destination_down_exhausts_retries(tmp_path: Path) -> None:
    settings, store = _built_job(tmp_path, _closed_port(), max_attempts=3)
    assert _run_until_final(_outbox(settings, store), store) == "dead"
    job = store.get("job")
    assert (job.reason, job.attempts) == ("retries_exhausted", 3)
    assert job.message


def test_no_destination_writes_the_out_folder(tmp_path: Path) -> None:
    settings, store = _built_job(tmp_path, 0, destination=False)
    assert _run_until_final(_outbox(settings, store), store) == "delivered"
    folder = settings.storage.out_dir / Path(store.get("job").result_dir or "").name
    assert {p.name for p in folder.iterdir()} >= {"ecg-0.dcm", "ecg-0.hea", "ecg-0.dat",
                                                 "ecg-0.json"}
    assert not (folder / "source.dcm").exists()


def test_retry_delay_grows_and_is_capped() -> None:
    config = RetryConfig(base_delay_s=1.0, max_delay_s=10.0, jitter=0.0)
    rng = random.Random(0)
    assert [retry_delay_s(a, config, rng) for a in (1, 2, 3, 4, 5, 9)] == [1, 2, 4, 8, 10, 10]
    jittered = RetryConfig(base_delay_s=1.0, max_delay_s=10.0, jitter=0.5)
    values = [retry_delay_s(1, jittered, rng) for _ in range(200)]
    assert 0.5 <= min(values) < 0.6 and 1.4 < max(values) <= 1.5
    with pytest.raises(ValueError, match="attempts must be >= 1"):
        retry_delay_s(0, config, rng)
    assert np.isfinite(retry_delay_s(10_000, config, rng))
