"""The SQLite connection our embedded databases share: the job store, the sweep ledger and
the back-conversion ledger.

`SqliteDb(path, schema, error=..., what=...)` opens (creating the parent folder) one
connection in autocommit mode (`isolation_level=None`: transactions are explicit), usable
from every thread and serialised by a lock, with
- `journal_mode=WAL`: readers do not block the writer, and other processes (the service, the
  `ecgbridge sweep`/`backfill` commands, `ecgbridge jobs`) can share the file;
- `synchronous=FULL`: a committed row survives a power cut (an acknowledged image must);
- a busy timeout of `busy_timeout_s` s (another process holding the write lock is waited for);
- the schema (idempotent `CREATE ... IF NOT EXISTS` statements) applied.
Every `sqlite3.Error` is raised as `error(message)` naming `what` and the path, e.g.
"cannot open job store var/jobs.sqlite3: unable to open database file".
"""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: Seconds a statement waits for another connection's write lock before failing.
BUSY_TIMEOUT_S = 30.0


class SqliteDb:
    """One shared SQLite connection (see the module docstring).

    path: the database file. schema: SQL script run at open. error: builds the exception
    raised for any SQLite failure (an `EcgBridgeError` subclass taking a message). what: the
    database's name in messages. row_factory: e.g. `sqlite3.Row` (default: tuples).
    """

    def __init__(
        self,
        path: Path,
        schema: str,
        *,
        error: Callable[[str], Exception],
        what: str,
        row_factory: Any = None,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.error = error
        self.what = what
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None, timeout=busy_timeout_s
            )
            if row_factory is not None:
                self._db.row_factory = row_factory
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(schema)
        except sqlite3.Error as exc:
            raise error(f"cannot open {what} {path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The connection under the lock, for single statements (each commits by itself:
        autocommit); SQLite errors raised as `error`."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise self.error(f"{self.what} {self.path}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection under the lock inside `BEGIN IMMEDIATE` (the write lock taken at
        once); committed when the block ends, rolled back when it raises."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise self.error(f"{self.what} {self.path}: {exc}") from exc

    def query(self, sql: str, args: tuple[object, ...] | list[Any] = ()) -> list[Any]:
        """All rows of one statement."""
        with self.read() as db:
            return list(db.execute(sql, args).fetchall())

    def execute(self, sql: str, args: tuple[object, ...] | list[Any] = ()) -> int:
        """Run one statement (autocommit); the number of rows it changed."""
        with self.read() as db:
            return int(db.execute(sql, args).rowcount)
