"""One sweep at a time per folder, across threads and processes: an fcntl lock file.

`flock` locks belong to an open file description, so two opens in one process exclude each
other too; the kernel drops the lock when the holder dies, so a crash never leaves it stuck.
"""
from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Lock file name inside a swept folder (hidden, so it is never taken as an input).
LOCK_NAME = ".ecgbridge-sweep.lock"


@contextmanager
def folder_lock(folder: Path) -> Iterator[bool]:
    """Try to take the folder's sweep lock without waiting.

    Yields True when this caller holds the lock for the duration of the block, False when
    another sweep holds it (the caller should skip this run).
    """
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
