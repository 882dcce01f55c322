"""Durable files: write-then-rename with fsync, so an acknowledged object survives a crash.

A file written by `write_durably` is either absent or complete after power loss: the bytes go to
a temporary file in the same folder, which is fsynced, renamed over the final name, and the
folder itself is fsynced so the rename is on disk too.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from ecgbridge.errors import OutOfResourcesError


def fsync_dir(directory: Path) -> None:
    """fsync a folder so that entries created or renamed in it are durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> Path:
    """Write `data` to `path` atomically and durably; returns `path`. OSError on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def check_free_space(directory: Path, needed_bytes: int, min_free_bytes: int) -> None:
    """Raise OutOfResourcesError when writing `needed_bytes` would leave < min_free_bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(directory).free
    if free - needed_bytes < min_free_bytes:
        raise OutOfResourcesError(
            f"disk under {directory} has {free} bytes free; need {needed_bytes} "
            f"+ reserve {min_free_bytes}"
        )


class Spool:
    """The folder of received objects, one file per job: `<spool>/<job_id>.dcm`.

    Objects that fail permanently are moved to `<quarantine>/<job_id>.dcm`, kept for a person.
    """

    def __init__(self, spool_dir: Path, quarantine_dir: Path, min_free_bytes: int = 0) -> None:
        self.spool_dir = spool_dir
        self.quarantine_dir = quarantine_dir
        self.min_free_bytes = min_free_bytes
        spool_dir.mkdir(parents=True, exist_ok=True)
        quarantine_dir.mkdir(parents=True, exist_ok=True)

    def path_for(self, job_id: str) -> Path:
        return self.spool_dir / f"{job_id}.dcm"

    def put(self, job_id: str, data: bytes) -> Path:
        """Store one received object durably. Raises OutOfResourcesError / OSError."""
        check_free_space(self.spool_dir, len(data), self.min_free_bytes)
        return write_durably(self.path_for(job_id), data)

    def quarantine(self, path: Path) -> Path:
        """Move a spooled object to the quarantine folder (same file system: a rename)."""
        target = self.quarantine_dir / path.name
        if path.exists():
            os.replace(path, target)
            fsync_dir(self.quarantine_dir)
        return target

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)



def reconcile_spool(spool: Spool, states: Mapping[str, str]) -> dict[str, int]:
    """Tidy the spool after a crash, given each job id's state: files with no job were never
    acknowledged (deleted); files of failed jobs go to quarantine; files of built, held or
    sent jobs were copied to the archive already (deleted). Files of waiting jobs stay."""
    moved = {"deleted": 0, "quarantined": 0}
    for path in spool.spool_dir.glob("*.dcm"):
        state = states.get(path.stem)
        if state in ("received", "digitizing"):
            continue
        if state == "failed":
            spool.quarantine(path)
            moved["quarantined"] += 1
        else:
            spool.remove(path)
            moved["deleted"] += 1
    for tmp in spool.spool_dir.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    return moved
