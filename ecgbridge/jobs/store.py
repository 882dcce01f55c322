"""The job store: one SQLite database (WAL, synchronous=FULL) holding every job's state.

States and moves:
    received -> digitizing -> built -> sending -> delivered
                           \\-> held (review)      \\-> built (retry later) | dead
                           \\-> failed (bad input; the object is quarantined)
After a crash, `recover()` puts `digitizing` back to `received` and `sending` back to `built`:
sending again is harmless because result UIDs derive from the source UID.
A SOP Instance UID is unique: receiving it twice makes one job.

One connection shared by the service's threads, serialised by a lock.
"""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecgbridge.errors import EcgBridgeError, OutOfResourcesError
from ecgbridge.sqlite_util import SqliteDb

STATES: tuple[str, ...] = (
    "received", "digitizing", "built", "sending", "delivered", "held", "failed", "dead",
)
#: States a job never leaves by itself.
FINAL_STATES: tuple[str, ...] = ("delivered", "held", "failed", "dead")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    sop_instance_uid TEXT NOT NULL UNIQUE,
    sop_class_uid TEXT NOT NULL,
    calling_ae TEXT NOT NULL,
    peer_host TEXT NOT NULL,
    state TEXT NOT NULL,
    spool_path TEXT NOT NULL,
    destination TEXT,
    result_dir TEXT,
    outputs TEXT NOT NULL DEFAULT '[]',
    quality REAL,
    layout TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    reason TEXT,
    message TEXT,
    received_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, next_attempt_at, received_at);
"""


class JobStoreError(OutOfResourcesError):
    """The job database could not be read or written (answered as 0xA700 when receiving)."""

    reason = "job_store_error"


class UnknownJobError(EcgBridgeError):
    """No job has this id, or it is not in a state the operation accepts."""

    reason = "unknown_job"


@dataclass(frozen=True)
class Job:
    """One received object and what became of it. Times are UNIX seconds (s)."""

    id: str
    sop_instance_uid: str
    sop_class_uid: str
    calling_ae: str
    peer_host: str
    state: str
    spool_path: str
    destination: str | None
    result_dir: str | None
    outputs: tuple[str, ...]
    quality: float | None
    layout: str | None
    attempts: int
    next_attempt_at: float
    reason: str | None
    message: str | None
    received_at: float
    updated_at: float
    delivered_at: float | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        data = dict(row)
        data["outputs"] = tuple(json.loads(data["outputs"]))
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["outputs"] = list(self.outputs)
        return data


class JobStore:
    """Thread-safe access to the jobs table. Every method commits before returning."""

    def __init__(self, path: Path) -> None:
        self._sql = SqliteDb(path, _SCHEMA, error=JobStoreError, what="job store",
                             row_factory=sqlite3.Row)
        self.path = path

    def close(self) -> None:
        self._sql.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error)."""
        return self._sql.transaction()

    def _read(self) -> AbstractContextManager[sqlite3.Connection]:
        """Reads: one statement each, no write lock (WAL readers do not block writers)."""
        return self._sql.read()

    # -- receiving ---------------------------------------------------------------------------
    def has_sop(self, sop_instance_uid: str) -> bool:
        with self._read() as db:
            row = db.execute(
                "SELECT 1 FROM jobs WHERE sop_instance_uid = ?", (sop_instance_uid,)
            ).fetchone()
        return row is not None

    def insert_received(
        self,
        job_id: str,
        *,
        sop_instance_uid: str,
        sop_class_uid: str,
        calling_ae: str,
        peer_host: str,
        spool_path: Path,
        destination: str | None,
        now: float | None = None,
    ) -> bool:
        """Record a durably spooled object. False when its SOP Instance UID already has a job."""
        now = time.time() if now is None else now
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO jobs (id, sop_instance_uid, sop_class_uid, calling_ae,"
                " peer_host, state, spool_path, destination, received_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 'received', ?, ?, ?, ?)",
                (job_id, sop_instance_uid, sop_class_uid, calling_ae, peer_host,
                 str(spool_path), destination, now, now),
            )
        return cur.rowcount == 1

    # -- workers -----------------------------------------------------------------------------
    def claim_received(self, limit: int) -> list[Job]:
        """Move up to `limit` oldest `received` jobs to `digitizing` and return them."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT * FROM jobs WHERE state = 'received' ORDER BY received_at LIMIT ?",
                (limit,),
            ).fetchall()
            now = time.time()
            db.executemany(
                "UPDATE jobs SET state = 'digitizing', updated_at = ? WHERE id = ?",
                [(now, r["id"]) for r in rows],
            )
        return [Job.from_row(r) for r in rows]

    def finish_digitizing(
        self,
        job_id: str,
        *,
        state: str,
        result_dir: Path | None = None,
        outputs: list[str] | None = None,
        quality: float | None = None,
        layout: str | None = None,
        reason: str | None = None,
        message: str | None = None,
        spool_path: Path | None = None,
    ) -> None:
        """Record a worker's outcome: built, held, delivered (local only) or failed."""
        if state not in ("built", "held", "delivered", "failed"):
            raise ValueError(f"state must be built/held/delivered/failed; found {state!r}")
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state = ?, result_dir = ?, outputs = ?, quality = ?, layout = ?,"
                " reason = ?, message = ?, spool_path = COALESCE(?, spool_path), updated_at = ?,"
                " delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END,"
                " next_attempt_at = 0 WHERE id = ?",
                (state, None if result_dir is None else str(result_dir),
                 json.dumps(outputs or []), quality, layout, reason, message,
                 None if spool_path is None else str(spool_path), now, state, now, job_id),
            )

    # -- outbox ------------------------------------------------------------------------------
    def claim_sendable(self, limit: int, now: float | None = None) -> list[Job]:
        """Move up to `limit` `built` jobs that are due to `sending` and return them."""
        now = time.time() if now is None else now
        with self._tx() as db:
            rows = db.execute(
                "SELECT * FROM jobs WHERE state = 'built' AND next_attempt_at <= ?"
                " ORDER BY next_attempt_at, received_at LIMIT ?",
                (now, limit),
            ).fetchall()
            db.executemany(
                "UPDATE jobs SET state = 'sending', updated_at = ? WHERE id = ?",
                [(now, r["id"]) for r in rows],
            )
        return [Job.from_row(r) for r in rows]

    def next_due(self) -> float | None:
        """Earliest next_attempt_at of a `built` job (s), or None."""
        with self._read() as db:
            row = db.execute(
                "SELECT MIN(next_attempt_at) FROM jobs WHERE state = 'built'"
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def mark_delivered(self, job_id: str) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state = 'delivered', attempts = attempts + 1, reason = NULL,"
                " message = NULL, delivered_at = ?, updated_at = ? WHERE id = ?",
                (now, now, job_id),
            )

    def mark_retry(self, job_id: str, *, next_attempt_at: float, reason: str, message: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state = 'built', attempts = attempts + 1, next_attempt_at = ?,"
                " reason = ?, message = ?, updated_at = ? WHERE id = ?",
                (next_attempt_at, reason, message, time.time(), job_id),
            )

    def mark_dead(self, job_id: str, *, reason: str, message: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state = 'dead', attempts = attempts + 1, reason = ?, message = ?,"
                " updated_at = ? WHERE id = ?",
                (reason, message, time.time(), job_id),
            )

    # -- operators ---------------------------------------------------------------------------
    def requeue(self, job_id: str | None, *, from_states: tuple[str, ...] = ("dead",)) -> int:
        """Put jobs (one, or all when job_id is None) in `from_states` back into the outbox."""
        marks = ",".join("?" for _ in from_states)
        sql = (
            f"UPDATE jobs SET state = 'built', attempts = 0, next_attempt_at = 0, updated_at = ?"
            f" WHERE state IN ({marks})"
        )
        params: list[Any] = [time.time(), *from_states]
        if job_id is not None:
            sql += " AND id = ?"
            params.append(job_id)
        with self._tx() as db:
            count = db.execute(sql, params).rowcount
        if job_id is not None and count == 0:
            raise UnknownJobError(f"no job {job_id!r} in state {'/'.join(from_states)}")
        return count

    def recover(self) -> dict[str, int]:
        """After a restart: digitizing -> received, sending -> built. Returns counts moved."""
        now = time.time()
        with self._tx() as db:
            digitizing = db.execute(
                "UPDATE jobs SET state = 'received', updated_at = ? WHERE state = 'digitizing'",
                (now,),
            ).rowcount
            sending = db.execute(
                "UPDATE jobs SET state = 'built', updated_at = ? WHERE state = 'sending'", (now,)
            ).rowcount
        return {"digitizing": digitizing, "sending": sending}

    def get(self, job_id: str) -> Job:
        with self._read() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise UnknownJobError(f"no job with id {job_id!r}")
        return Job.from_row(row)

    def list(self, state: str | None = None, limit: int = 100) -> list[Job]:
        """Newest first; optionally only one state."""
        if state is not None and state not in STATES:
            raise ValueError(f"state must be one of {STATES}; found {state!r}")
        with self._read() as db:
            if state is None:
                rows = db.execute(
                    "SELECT * FROM jobs ORDER BY received_at DESC LIMIT ?", (limit,)
                ).fetchall()
            else:
                rows = db.execute(
                    "SELECT * FROM jobs WHERE state = ? ORDER BY received_at DESC LIMIT ?",
                    (state, limit),
                ).fetchall()
        return [Job.from_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Number of jobs per state (every state present, 0 when none)."""
        with self._read() as db:
            rows = db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        counts = dict.fromkeys(STATES, 0)
        counts.update({r[0]: int(r[1]) for r in rows})
        return counts

    def reason_counts(self) -> dict[tuple[str, str], int]:
        """(state, reason) -> number of jobs, for jobs that have a reason (failed, held, dead,
        retrying)."""
        with self._read() as db:
            rows = db.execute(
                "SELECT state, reason, COUNT(*) FROM jobs WHERE reason IS NOT NULL"
                " GROUP BY state, reason"
            ).fetchall()
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def states(self) -> dict[str, str]:
        """Every job's id -> state."""
        with self._read() as db:
            return {r[0]: r[1] for r in db.execute("SELECT id, state FROM jobs").fetchall()}
