"""Which SOP Instances a back-conversion has handled: the resumption record.

One row per SOP Instance UID found by a query: `queued` (retrieved and made a job), `skipped`
(not an ECG, with the reason) or `failed` (retrieval failed; tried again on the next run).
A re-run skips `queued` and `skipped` rows, so nothing is converted twice.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ecgbridge.errors import OutOfResourcesError
from ecgbridge.sqlite_util import SqliteDb

_SCHEMA = """
CREATE TABLE IF NOT EXISTS backfill_items (
    sop_instance_uid TEXT PRIMARY KEY,
    pacs TEXT NOT NULL,
    study_instance_uid TEXT NOT NULL,
    series_instance_uid TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'skipped', 'failed')),
    reason TEXT,
    job_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS backfill_items_state ON backfill_items (pacs, state);
"""
#: The ledger's file name under the service's state_dir (`ecgbridge backfill` writes it, the
#: service's /metrics reads it).
LEDGER_FILE = "backfill.sqlite3"
#: States that end an item for good.
FINAL = ("queued", "skipped")


class BackfillLedgerError(OutOfResourcesError):
    """The ledger database could not be read or written."""

    reason = "backfill_ledger_error"


class BackfillLedger:
    """SQLite (WAL) record of handled SOP Instance UIDs; safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        self._sql = SqliteDb(path, _SCHEMA, error=BackfillLedgerError, what="backfill ledger")
        self.path = path

    def close(self) -> None:
        self._sql.close()

    def state_of(self, sop_uid: str) -> str | None:
        """'queued', 'skipped', 'failed' or None when never seen."""
        row = self._query("SELECT state FROM backfill_items WHERE sop_instance_uid = ?",
                          (sop_uid,))
        return None if not row else str(row[0][0])

    def final_uids(self, pacs: str) -> set[str]:
        """SOP Instance UIDs of `pacs` that are queued or skipped (never to be done again)."""
        rows = self._query(
            "SELECT sop_instance_uid FROM backfill_items WHERE pacs = ? AND state IN (?, ?)",
            (pacs, *FINAL),
        )
        return {str(r[0]) for r in rows}

    def mark(
        self,
        sop_uid: str,
        *,
        pacs: str,
        study_uid: str,
        series_uid: str,
        state: str,
        reason: str | None = None,
        job_id: str | None = None,
    ) -> None:
        """Record the outcome of one SOP Instance (a final state is never overwritten)."""
        if state not in ("queued", "skipped", "failed"):
            raise ValueError(f"state must be queued, skipped or failed; found {state!r}")
        self._execute(
            "INSERT INTO backfill_items (sop_instance_uid, pacs, study_instance_uid,"
            " series_instance_uid, state, reason, job_id, attempts, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)"
            " ON CONFLICT (sop_instance_uid) DO UPDATE SET state = excluded.state,"
            " reason = excluded.reason, job_id = excluded.job_id,"
            " attempts = backfill_items.attempts + 1, updated_at = excluded.updated_at"
            " WHERE backfill_items.state = 'failed'",
            (sop_uid, pacs, study_uid, series_uid, state, reason, job_id, time.time()),
        )

    def counts(self, pacs: str | None = None) -> dict[str, int]:
        """Items per state (of one PACS when given)."""
        sql = "SELECT state, COUNT(*) FROM backfill_items"
        args: tuple[str, ...] = ()
        if pacs is not None:
            sql, args = sql + " WHERE pacs = ?", (pacs,)
        rows = self._query(sql + " GROUP BY state", args)
        counts = {"queued": 0, "skipped": 0, "failed": 0}
        counts.update({str(s): int(n) for s, n in rows})
        return counts

    def skip_reasons(self, pacs: str) -> dict[str, int]:
        rows = self._query(
            "SELECT reason, COUNT(*) FROM backfill_items WHERE pacs = ? AND state = 'skipped'"
            " GROUP BY reason", (pacs,))
        return {str(r): int(n) for r, n in rows}

    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        return self._sql.query(sql, args)

    def _execute(self, sql: str, args: tuple[object, ...]) -> None:
        self._sql.execute(sql, args)
