"""One sweep of one folder: take stable files once, turn them into jobs, move them away.

A pass (`FolderSweeper.run_once`):
1. takes the folder's lock (another pass running: this one is skipped);
2. lists candidate files (top level; not hidden, not temporary, not sidecars);
3. looks at each: files that were already stable at an earlier look are taken at once; the
   others are looked at again after `stable_s` (the injected `sleep`), so a file is taken once
   its size and mtime agree across two looks;
4. for each stable file: reads its bytes, hashes them (sha256); a hash already in the ledger is
   a duplicate and goes where its first copy went; otherwise the file becomes job(s) and
   goes to done/, or, when it cannot be used, to failed/; a `<name>.reason.txt` says why.
Files that arrive during a pass are left for the next one. A store or ledger failure stops the
pass and leaves the file in place (it is taken again next time, idempotently).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pydicom.dataset import Dataset

from ecgbridge.errors import InputError
from ecgbridge.inputs.files import InputKind, detect_kind_of_bytes, load_non_dicom
from ecgbridge.inputs.patient_sidecar import find_sidecar, is_sidecar_name
from ecgbridge.inputs.pdf import PdfLimits
from ecgbridge.inputs.wrap import secondary_captures_for_input
from ecgbridge.jobs.spool import fsync_dir
from ecgbridge.logging import get_logger
from ecgbridge.sweeps.config import SweepFolderConfig
from ecgbridge.sweeps.ledger import SweepLedger
from ecgbridge.sweeps.lock import folder_lock
from ecgbridge.sweeps.stability import StabilityTracker
from ecgbridge.sweeps.submit import Submitted

#: Names never taken as inputs: in-progress copies of common tools.
_TEMP_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".filepart", "~")
#: Largest file read into memory (bytes).
MAX_INPUT_BYTES = 512 * 2**20


class JobSink(Protocol):
    """Where swept inputs become jobs (`ecgbridge.sweeps.submit.StoreSink` in the service)."""

    def submit_dicom(
        self, data: bytes, *, name: str, origin: str, destination: str | None
    ) -> Submitted: ...

    def submit_datasets(
        self, datasets: list[Dataset], *, origin: str, destination: str | None
    ) -> Submitted: ...


@dataclass
class SweepReport:
    """What one pass did (file names relative to the folder)."""

    folder: str
    locked: bool = False
    queued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    jobs: int = 0


class FolderSweeper:
    """Sweeps one configured folder; keep one instance per folder (it remembers file looks).

    default_destination: destination for inputs with DICOM metadata when the folder names none.
    clock / sleep: injected time source (s) and sleep, for tests.
    """

    def __init__(
        self,
        config: SweepFolderConfig,
        ledger: SweepLedger,
        sink: JobSink,
        *,
        default_destination: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.sink = sink
        self.default_destination = default_destination
        self.sleep = sleep
        self.tracker = StabilityTracker(config.stable_s, clock)
        self.limits = PdfLimits(
            dpi=config.pdf_dpi, max_pages=config.max_pages, max_pixels=config.max_pixels
        )
        self.origin = f"sweep:{config.name}"
        self.log = get_logger(__name__).bind(sweep=config.name)

    # -- one pass ----------------------------------------------------------------------------
    def run_once(self) -> SweepReport:
        """One pass over the folder (see module docstring). Raises OutOfResourcesError when the
        job store or ledger fails; the file being handled then stays where it is."""
        report = SweepReport(self.config.name)
        folder = self.config.path
        if not folder.is_dir():
            raise InputError(f"swept folder {folder} does not exist or is not a folder")
        with folder_lock(folder) as held:
            if not held:
                report.locked = True
                self.log.info("sweep skipped: another sweep of this folder is running")
                return report
            candidates = self.candidates()
            self.tracker.prune(set(candidates))
            pending = []
            for path in candidates:  # stable since an earlier pass: taken at once
                if self.tracker.look(path):
                    self._take(path, report)
                else:
                    pending.append(path)
            if pending:  # first seen or changed: a second look after stable_s
                self.sleep(max(self.tracker.wait_left(p) or 0.0 for p in pending))
                for path in pending:
                    if self.tracker.look(path):
                        self._take(path, report)
                    else:
                        report.waiting.append(path.name)
        if report.queued or report.failed or report.duplicates:
            self.log.info("sweep done", queued=len(report.queued), failed=len(report.failed),
                          duplicates=len(report.duplicates), waiting=len(report.waiting),
                          jobs=report.jobs)
        return report

    def candidates(self) -> list[Path]:
        """Files at the folder's top level that may be inputs, sorted by name."""
        found = []
        with os.scandir(self.config.path) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") or name.endswith(_TEMP_SUFFIXES):
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue
                path = Path(entry.path)
                if is_sidecar_name(path) or name.endswith(".reason.txt"):
                    continue
                found.append(path)
        return sorted(found)

    # -- one file ----------------------------------------------------------------------------
    def _take(self, path: Path, report: SweepReport) -> None:
        log = self.log.bind(file=path.name)
        try:
            size = path.stat().st_size
            if size > MAX_INPUT_BYTES:
                raise InputError(f"{path.name} is {size} bytes; at most {MAX_INPUT_BYTES} are read")
            data = path.read_bytes()
        except FileNotFoundError:
            self.tracker.forget(path)
            return  # moved away by someone else since the listing
        except InputError as exc:
            self._finish_failed(path, None, 0, exc.reason, exc.message, report)
            return
        except OSError as exc:
            self._finish_failed(path, None, 0, "unreadable_file",
                                f"cannot read {path.name}: {exc.strerror}", report)
            return
        sha = hashlib.sha256(data).hexdigest()
        entry = self.ledger.get(sha)
        if entry is not None:
            bucket = "done" if entry.outcome == "queued" else "failed"
            same = entry.folder == self.config.name and entry.name == path.name
            lines = {
                "outcome": entry.outcome if same else "duplicate",
                "reason": entry.reason if same else "duplicate_content",
                "message": entry.message if same else (
                    f"same content (sha256 {sha}) as {entry.name!r} taken by sweep "
                    f"{entry.folder!r} at {_iso(entry.taken_at)}, outcome {entry.outcome}"
                ),
                "jobs": " ".join(entry.job_ids),
            }
            self._move(path, bucket, sha, lines)
            report.duplicates.append(path.name)  # same name: re-dropped, or moved after a crash
            log.info("duplicate input", sha256=sha, first=entry.name)
            return
        try:
            submitted, has_metadata = self._submit(path, data)
        except InputError as exc:
            self._finish_failed(path, sha, len(data), exc.reason, exc.message, report)
            return
        self.ledger.record(sha, folder=self.config.name, name=path.name, size=len(data),
                           outcome="queued", job_ids=submitted.job_ids)
        self._move(path, "done", sha, {
            "outcome": "queued", "reason": "", "message":
                f"{len(submitted.job_ids)} job(s); results to PACS: "
                f"{'yes' if has_metadata or self.config.send_without_metadata else 'no'}",
            "jobs": " ".join(submitted.job_ids),
        })
        report.queued.append(path.name)
        report.jobs += submitted.new
        log.info("input queued", sha256=sha, jobs=submitted.job_ids)

    def _submit(self, path: Path, data: bytes) -> tuple[Submitted, bool]:
        kind = detect_kind_of_bytes(data[:1024], path.name)
        if kind is InputKind.DICOM:
            dest = self.config.destination or self.default_destination
            return self.sink.submit_dicom(
                data, name=path.name, origin=self.origin, destination=dest
            ), True
        item = load_non_dicom(path, data, self.limits)
        has_metadata = bool(item.identity.fields.PatientID)
        send = has_metadata or self.config.send_without_metadata
        dest = (self.config.destination or self.default_destination) if send else None
        conversion = "SD" if kind is InputKind.PDF else "SI"
        datasets = secondary_captures_for_input(item.pages, item.identity, conversion)
        return self.sink.submit_datasets(datasets, origin=self.origin, destination=dest), \
            has_metadata

    def _finish_failed(
        self, path: Path, sha: str | None, size: int, reason: str, message: str,
        report: SweepReport,
    ) -> None:
        # A bad sidecar is fixable without touching the input: do not remember its hash then.
        if sha is not None and reason != "sidecar_invalid":
            self.ledger.record(sha, folder=self.config.name, name=path.name, size=size,
                               outcome="failed", reason=reason, message=message)
        self._move(path, "failed", sha, {"outcome": "failed", "reason": reason,
                                          "message": message, "jobs": ""})
        report.failed.append(path.name)
        self.log.warning("input failed", file=path.name, reason=reason, error=message)

    def _move(self, path: Path, bucket: str, sha: str | None, lines: dict[str, str | None]) -> Path:
        """Move `path` (and its sidecar) into done/ or failed/ with `<name>.reason.txt`."""
        target_dir = self.config.done_path if bucket == "done" else self.config.failed_path
        target_dir.mkdir(parents=True, exist_ok=True)
        target = _free_name(target_dir, path.name, sha)
        sidecar = find_sidecar(path)
        text = "".join(f"{k}: {v or ''}\n" for k, v in lines.items())
        text += f"sha256: {sha or ''}\nsource: {path.name}\nsweep: {self.config.name}\n"
        text += f"at: {_iso(time.time())}\n"
        reason_file = target.with_name(target.name + ".reason.txt")
        reason_file.write_text(text, encoding="utf-8")
        shutil.move(str(path), str(target))
        if sidecar is not None:  # kept beside its input as `<moved name>.json|.csv`
            shutil.move(str(sidecar), str(target.with_name(target.name + sidecar.suffix)))
        fsync_dir(target_dir)
        self.tracker.forget(path)
        return target


def _free_name(folder: Path, name: str, sha: str | None) -> Path:
    """`folder/name`, or `folder/<stem>.<sha12>[.<n>]<suffix>` when that name is taken."""
    target = folder / name
    if not target.exists():
        return target
    stem, suffix = Path(name).stem, Path(name).suffix
    tag = (sha or "nohash")[:12]
    n = 0
    while True:
        candidate = folder / (f"{stem}.{tag}{suffix}" if n == 0 else f"{stem}.{tag}.{n}{suffix}")
        if not candidate.exists():
            return candidate
        n += 1


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat(timespec="seconds")
