"""The sweep ledger: every input ever taken, keyed by the sha256 of its content.

A file whose content is already in the ledger is never processed again, whatever its name or
folder. The row is written after the input's jobs are durably in the job store and before the
file is moved, so a crash at any point is safe: jobs are idempotent (UIDs derive from the
content hash, the store ignores a SOP Instance UID it has), and a file found again with a known
hash is simply moved to the bucket its first copy went to.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from ecgbridge.errors import OutOfResourcesError
from ecgbridge.sqlite_util import SqliteDb

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sweep_inputs (
    sha256 TEXT PRIMARY KEY,
    folder TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('queued', 'failed')),
    reason TEXT,
    message TEXT,
    job_ids TEXT NOT NULL DEFAULT '[]',
    taken_at REAL NOT NULL
);
"""


class LedgerError(OutOfResourcesError):
    """The ledger database could not be read or written (the sweep stops; files stay put)."""

    reason = "sweep_ledger_error"


@dataclass(frozen=True)
class LedgerEntry:
    """What became of one content hash: outcome 'queued' (jobs made) or 'failed' (reason)."""

    sha256: str
    folder: str
    name: str
    size: int
    outcome: str
    reason: str | None
    message: str | None
    job_ids: tuple[str, ...]
    taken_at: float


class SweepLedger:
    """SQLite (WAL) table of taken inputs, shared by all folders; safe across threads."""

    def __init__(self, path: Path) -> None:
        self._sql = SqliteDb(path, _SCHEMA, error=LedgerError, what="sweep ledger")
        self.path = path

    def close(self) -> None:
        self._sql.close()

    def get(self, sha256: str) -> LedgerEntry | None:
        """The entry for a content hash, or None if never taken."""
        rows = self._sql.query(
            "SELECT sha256, folder, name, size, outcome, reason, message, job_ids,"
            " taken_at FROM sweep_inputs WHERE sha256 = ?",
            (sha256,),
        )
        row = rows[0] if rows else None
        if row is None:
            return None
        return LedgerEntry(
            sha256=row[0], folder=row[1], name=row[2], size=int(row[3]), outcome=row[4],
            reason=row[5], message=row[6], job_ids=tuple(json.loads(row[7])),
            taken_at=float(row[8]),
        )

    def record(
        self,
        sha256: str,
        *,
        folder: str,
        name: str,
        size: int,
        outcome: str,
        job_ids: list[str] | None = None,
        reason: str | None = None,
        message: str | None = None,
        now: float | None = None,
    ) -> bool:
        """Record a taken input; False (and no change) when the hash was already recorded."""
        if outcome not in ("queued", "failed"):
            raise ValueError(f"outcome must be 'queued' or 'failed'; found {outcome!r}")
        inserted = self._sql.execute(
            "INSERT OR IGNORE INTO sweep_inputs (sha256, folder, name, size, outcome,"
            " reason, message, job_ids, taken_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sha256, folder, name, size, outcome, reason, message,
             json.dumps(job_ids or []), time.time() if now is None else now),
        )
        return inserted == 1

    def count(self, folder: str | None = None) -> int:
        """Number of recorded inputs (of one folder when given)."""
        sql, args = "SELECT COUNT(*) FROM sweep_inputs", ()  # type: tuple[str, tuple[str, ...]]
        if folder is not None:
            sql, args = sql + " WHERE folder = ?", (folder,)
        return int(self._sql.query(sql, args)[0][0])
