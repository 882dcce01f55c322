"""SqliteDb: WAL, synchronous=FULL, busy timeout, row factory, schema; transactions commit or
roll back; every SQLite failure comes out as the caller's error naming the database."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from ecgbridge.errors import OutOfResourcesError
from ecgbridge.sqlite_util import SqliteDb

SCHEMA = "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER NOT NULL);"


class DbError(OutOfResourcesError):
    reason = "test_db_error"


def _open(path: Path, **kwargs: object) -> SqliteDb:
    return SqliteDb(path, SCHEMA, error=DbError, what="test db", **kwargs)  # type: ignore[arg-type]


def test_pragmas_schema_and_row_factory(tmp_path: Path) -> None:
    db = _open(tmp_path / "sub" / "x.sqlite3", row_factory=sqlite3.Row)
    try:
        with db.read() as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
        assert db.execute("INSERT INTO t VALUES (?, ?)", ("a", 1)) == 1
        (row,) = db.query("SELECT * FROM t")
        assert dict(row) == {"k": "a", "v": 1}
    finally:
        db.close()
    again = _open(tmp_path / "sub" / "x.sqlite3")  # schema is idempotent; tuples by default
    try:
        assert again.query("SELECT k, v FROM t") == [("a", 1)]
    finally:
        again.close()


def test_transaction_commits_or_rolls_back(tmp_path: Path) -> None:
    db = _open(tmp_path / "x.sqlite3")
    try:
        with db.transaction() as conn:
            conn.execute("INSERT INTO t VALUES ('a', 1)")
        with pytest.raises(ZeroDivisionError), db.transaction() as conn:
            conn.execute("INSERT INTO t VALUES ('b', 2)")
            raise ZeroDivisionError
        unique = r"test db .*x\.sqlite3: UNIQUE constraint failed"
        with pytest.raises(DbError, match=unique), db.transaction() as conn:
            conn.execute("INSERT INTO t VALUES ('c', 3)")
            conn.execute("INSERT INTO t VALUES ('a', 4)")
        assert db.query("SELECT k FROM t ORDER BY k") == [("a",)]
    finally:
        db.close()


def test_errors_name_the_database(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite3").mkdir()
    with pytest.raises(DbError, match=r"cannot open test db .*dir\.sqlite3: "):
        _open(tmp_path / "dir.sqlite3")
    db = _open(tmp_path / "x.sqlite3")
    try:
        with pytest.raises(DbError, match="no such table: missing"):
            db.query("SELECT * FROM missing")
    finally:
        db.close()


def test_shared_across_threads(tmp_path: Path) -> None:
    db = _open(tmp_path / "x.sqlite3")
    try:
        def insert(start: int) -> None:
            for i in range(start, start + 50):
                db.execute("INSERT INTO t VALUES (?, ?)", (f"k{i}", i))

        threads = [threading.Thread(target=insert, args=(n * 50,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert db.query("SELECT COUNT(*), SUM(v) FROM t") == [(200, sum(range(200)))]
    finally:
        db.close()
