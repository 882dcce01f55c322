"""Job store and spool: states, duplicates, recovery after a crash, reconcile, durability."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ecgbridge.errors import OutOfResourcesError
from ecgbridge.jobs.spool import Spool, check_free_space, reconcile_spool, write_durably
from ecgbridge.jobs.store import JobStore, JobStoreError, UnknownJobError


def _insert(store: JobStore, spool: Spool, n: int) -> list[str]:
    ids = []
    for i in range(n):
        job_id = f"job{i:03d}"
        path = spool.put(job_id, b"x" * 10)
        assert store.insert_received(
            job_id, sop_instance_uid=f"1.2.3.{i}", sop_class_uid="1.2.840.10008.5.1.4.1.1.7",
            calling_ae="MOD1", peer_host="127.0.0.1", spool_path=path, destination=None,
            now=1000.0 + i,
        )
        ids.append(job_id)
    return ids


@pytest.fixture()
def parts(tmp_path: Path) -> tuple[JobStore, Spool]:
    return JobStore(tmp_path / "jobs.sqlite3"), Spool(tmp_path / "spool", tmp_path / "q")


def test_wal_mode_and_unique_sop(parts: tuple[JobStore, Spool]) -> None:
    store, spool = parts
    _insert(store, spool, 1)
    mode = sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    again = store.insert_received(
        "other", sop_instance_uid="1.2.3.0", sop_class_uid="x", calling_ae="MOD2",
        peer_host="h", spool_path=Path("p"), destination=None,
    )
    assert again is False
    assert store.has_sop("1.2.3.0") and not store.has_sop("9.9")
    assert store.counts()["received"] == 1


def test_claim_order_and_state_moves(parts: tuple[JobStore, Spool]) -> None:
    store, spool = parts
    ids = _insert(store, spool, 5)
    claimed = store.claim_received(3)
    assert [j.id for j in claimed] == ids[:3]
    assert all(store.get(i).state == "digitizing" for i in ids[:3])
    store.finish_digitizing(ids[0], state="built", outputs=["a.dcm"], quality=0.9, layout="3x4")
    store.finish_digitizing(ids[1], state="failed", reason="corrupt_object", message="bad")
    store.finish_digitizing(ids[2], state="held", reason="low_quality", quality=0.1)
    assert store.get(ids[0]).outputs == ("a.dcm",)
    assert store.get(ids[1]).reason == "corrupt_object"
    sending = store.claim_sendable(10, now=2e9)
    assert [j.id for j in sending] == [ids[0]]
    store.mark_retry(ids[0], next_attempt_at=5e9, reason="retrying_0xA700", message="busy")
    assert store.claim_sendable(10, now=2e9) == []
    assert store.next_due() == 5e9
    assert [j.id for j in store.claim_sendable(10, now=6e9)] == [ids[0]]
    store.mark_dead(ids[0], reason="retries_exhausted", message="busy")
    job = store.get(ids[0])
    assert (job.state, job.attempts) == ("dead", 2)
    assert store.requeue(ids[0]) == 1
    assert (store.get(ids[0]).state, store.get(ids[0]).attempts) == ("built", 0)
    with pytest.raises(UnknownJobError):
        store.requeue(ids[1])  # failed, not dead
    assert store.requeue(ids[2], from_states=("held",)) == 1
    assert [j.id for j in store.list("received")] == [ids[4], ids[3]]


def test_recover_after_crash_resumes_unfinished_jobs(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    spool = Spool(tmp_path / "spool", tmp_path / "q")
    ids = _insert(store, spool, 3)
    store.claim_received(2)
    store.finish_digitizing(ids[1], state="built", outputs=["a.dcm"])
    store.claim_sendable(1, now=2e9)
    # a second store on the same file, as after a restart (the first one is never closed)
    again = JobStore(tmp_path / "jobs.sqlite3")
    assert again.recover() == {"digitizing": 1, "sending": 1}
    assert [again.get(i).state for i in ids] == ["received", "built", "received"]


def test_reconcile_spool(parts: tuple[JobStore, Spool]) -> None:
    store, spool = parts
    ids = _insert(store, spool, 3)
    store.claim_received(2)
    store.finish_digitizing(ids[0], state="failed", reason="corrupt_object", message="m")
    store.finish_digitizing(ids[1], state="built")
    orphan = spool.put("never-acked", b"y")
    moved = reconcile_spool(spool, store.states())
    assert moved == {"deleted": 2, "quarantined": 1}
    assert not orphan.exists()
    assert (spool.quarantine_dir / f"{ids[0]}.dcm").exists()
    assert spool.path_for(ids[2]).exists()


def test_write_durably_replaces_atomically(tmp_path: Path) -> None:
    path = write_durably(tmp_path / "d" / "f.bin", b"one")
    write_durably(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in path.parent.iterdir()] == ["f.bin"]


def test_free_space_check_refuses_with_numbers(tmp_path: Path) -> None:
    with pytest.raises(OutOfResourcesError, match="bytes free"):
        check_free_space(tmp_path, 10, min_free_bytes=2**62)


def test_closed_database_is_a_job_store_error(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.close()
    with pytest.raises(JobStoreError):
        store.counts()
