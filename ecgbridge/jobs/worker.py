"""Workers: take received jobs in batches, decode their images, digitize them (batched), and
build the results into the archive; then hold them for review or pass them to the outbox.

Archive layout (UIDs and job ids only, never patient names or IDs):
    <archive>/<source SOP Instance UID>/source.dcm        the object as received
    <archive>/<source SOP Instance UID>/ecg-<frame>.dcm   12-lead ECG Waveform (sent)
    <archive>/<source SOP Instance UID>/ecg-<frame>.hea/.dat/.json/.qa.png
A bad input (corrupt DICOM, not an ECG, nothing decodable) ends its job as `failed` with the
error's `reason`, the object moved to quarantine; other jobs of the batch go on.
"""
from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from ecgbridge.config import Settings
from ecgbridge.dicom.pixels import frames_from_dataset
from ecgbridge.dicom.waveform import build_ecg_waveform, check_iod_limits
from ecgbridge.errors import CorruptObjectError, EcgBridgeError, InputError
from ecgbridge.inputs.pdf import ENCAPSULATED_PDF_SOP_CLASS, pages_from_encapsulated_pdf
from ecgbridge.jobs.review import review
from ecgbridge.jobs.spool import Spool, write_durably
from ecgbridge.jobs.store import Job, JobStore
from ecgbridge.logging import get_logger
from ecgbridge.metrics import Metrics
from ecgbridge.output.sidecar import write_sidecar
from ecgbridge.output.wfdb_record import write_wfdb_record
from pipeline.errors import DigitizerError
from pipeline.types import DigitizationResult

#: Renders a QA picture: (image (H, W, 3) uint8, result) -> (H', W', 3) uint8.
QaRenderer = Callable[[np.ndarray, DigitizationResult], np.ndarray]


class EventLike(Protocol):
    """A threading.Event or a multiprocessing Event."""

    def set(self) -> None: ...
    def clear(self) -> None: ...
    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


class DigitizerLike(Protocol):
    """What the worker needs from `pipeline.digitizer.Digitizer`."""

    @property
    def version(self) -> str: ...

    def digitize_batch(
        self, images: Sequence[np.ndarray]
    ) -> list[DigitizationResult | DigitizerError]: ...


class DigitizerCrashedError(DigitizerError):
    """The digitizer raised an unexpected exception on this image (a bug, not a bad page)."""

    reason = "digitizer_crashed"


@dataclass
class _Input:
    job: Job
    dataset: Dataset
    frames: list[np.ndarray]


def read_spooled(path: Path) -> Dataset:
    """Read a spooled object; CorruptObjectError (with what was found) when it is not DICOM."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise CorruptObjectError(f"spooled object {path} is missing") from exc
    if len(data) <= 132:
        raise CorruptObjectError(f"object is empty: {len(data)} bytes including file meta")
    try:
        ds = pydicom.dcmread(BytesIO(data))
        if len(ds) == 0:
            raise CorruptObjectError("object holds no data elements (0-byte data set)")
        if "SOPInstanceUID" not in ds or "PixelData" not in ds and "EncapsulatedDocument" not in ds:
            raise CorruptObjectError(
                f"object lacks SOP Instance UID or pixel data; found {len(ds)} elements")
    except (InvalidDicomError, AttributeError, ValueError, EOFError, KeyError, TypeError,
            OverflowError, NotImplementedError) as exc:
        raise CorruptObjectError(f"object cannot be parsed as DICOM: {exc}") from exc
    return ds


def archive_name(sop_instance_uid: str) -> str:
    """The archive folder name of a source: its UID, or a hash when it is not a plain UID."""
    if len(sop_instance_uid) <= 64 and re.fullmatch(r"[0-9]+(\.[0-9]+)*", sop_instance_uid):
        return sop_instance_uid
    return "sha256-" + hashlib.sha256(sop_instance_uid.encode()).hexdigest()


def decode_pages(ds: Dataset, max_pixels: int) -> list[np.ndarray]:
    """The pictures of a received object, (H, W, 3) uint8 each: the frames of an SC image, or
    the rendered pages of an Encapsulated PDF. InputError subclasses when there are none."""
    if str(ds.get("SOPClassUID", "")) == ENCAPSULATED_PDF_SOP_CLASS:
        pages = pages_from_encapsulated_pdf(ds)
    else:
        pages = list(frames_from_dataset(ds, max_pixels=max_pixels))
    if not pages:
        raise InputError("object holds no image frames or pages")
    return pages


def _png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


class Worker:
    """One digitization worker. `run(stop)` loops until `stop` is set; `run_once()` does one
    batch and returns the number of jobs it finished (0: nothing was waiting)."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        spool: Spool,
        digitizer: DigitizerLike,
        metrics: Metrics,
        *,
        weights_sha256: str | None = None,
        qa_renderer: QaRenderer | None = None,
        wake: EventLike | None = None,
        on_built: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.spool = spool
        self.digitizer = digitizer
        self.metrics = metrics
        self.weights_sha256 = weights_sha256
        self.qa_renderer = qa_renderer
        self.wake: EventLike = wake or threading.Event()
        self.on_built = on_built
        self.log = get_logger(__name__)

    def run(self, stop: EventLike) -> None:
        while not stop.is_set():
            try:
                done = self.run_once()
            except EcgBridgeError as exc:  # job store unavailable: wait and try again
                self.log.error("worker cycle failed", error=str(exc), reason=exc.reason)
                done = 0
            if done == 0:
                self.wake.wait(self.settings.workers.poll_interval_s)
                self.wake.clear()

    def run_once(self) -> int:
        jobs = self.store.claim_received(self.settings.workers.batch_size)
        if not jobs:
            return 0
        started = time.perf_counter()
        inputs: list[_Input] = []
        for job in jobs:
            try:
                ds = read_spooled(Path(job.spool_path))
                frames = decode_pages(ds, self.settings.scp.max_pixels)
                inputs.append(_Input(job, ds, frames))
            except (InputError, DigitizerError) as exc:
                self._fail(job, exc.reason, exc.message)
            except Exception as exc:  # noqa: BLE001 - a decoder bug must fail one job, not the worker
                self._fail(job, "decode_error", f"{type(exc).__name__}: {exc}")
        images = [frame for item in inputs for frame in item.frames]
        results = self._digitize(images) if images else []
        offset = 0
        for item in inputs:
            page_results = results[offset:offset + len(item.frames)]
            offset += len(item.frames)
            try:
                self._finish(item, page_results)
            except (EcgBridgeError, DigitizerError) as exc:
                self._fail(item.job, exc.reason, exc.message)
            except Exception as exc:  # noqa: BLE001 - building one result must not stop the others
                self._fail(item.job, "build_error", f"{type(exc).__name__}: {exc}")
        self.metrics.digitize_latency.observe(time.perf_counter() - started)
        return len(jobs)

    def _digitize(self, images: list[np.ndarray]) -> list[DigitizationResult | DigitizerError]:
        """Digitize a batch; if the digitizer crashes on it, retry image by image so that one
        bad image fails alone (as `digitizer_crashed`) and the others are still read."""
        try:
            return self._checked_batch(images)
        except Exception as exc:  # noqa: BLE001 - a crash is isolated below, never fatal
            if len(images) == 1:
                return [DigitizerCrashedError(f"{type(exc).__name__}: {exc}")]
            self.log.warning("digitizer crashed on a batch; retrying one by one",
                             batch=len(images), error=f"{type(exc).__name__}: {exc}")
        return [result for image in images for result in self._digitize([image])]

    def _checked_batch(self, images: list[np.ndarray]) -> list[DigitizationResult | DigitizerError]:
        results = list(self.digitizer.digitize_batch(images))
        if len(results) != len(images):
            raise RuntimeError(f"digitizer returned {len(results)} results for {len(images)} images")
        return results

    # -- one job -----------------------------------------------------------------------------
    def _finish(self, item: _Input, page_results: list[DigitizationResult | DigitizerError]) -> None:
        job = item.job
        good = [(i, r) for i, r in enumerate(page_results) if isinstance(r, DigitizationResult)]
        errors = [r for r in page_results if not isinstance(r, DigitizationResult)]
        if not good:
            first = errors[0]
            raise first if isinstance(first, DigitizerError) else InputError(str(first))
        self.metrics.digitized.inc(len(good))
        folder = self.settings.storage.archive_dir / archive_name(job.sop_instance_uid)
        folder.mkdir(parents=True, exist_ok=True)
        decision = review([r for _, r in good], self.settings.review)
        outputs: list[str] = []
        for frame, result in good:
            outputs.append(str(self._write_frame(item, frame, result, folder, decision.reason)))
        source = folder / "source.dcm"
        write_durably(source, Path(job.spool_path).read_bytes())
        skipped = [f"frame {i}: {r.reason}" for i, r in enumerate(page_results)
                   if isinstance(r, DigitizerError)]
        message = "; ".join(skipped) or None
        if decision.hold:
            state, reason = "held", decision.reason
            self.metrics.held.labels(reason=decision.reason or "").inc()
        else:
            state, reason = "built", None
        self.store.finish_digitizing(
            job.id, state=state, result_dir=folder, outputs=outputs, quality=decision.quality,
            layout=good[0][1].layout, reason=reason, message=message, spool_path=source,
        )
        self.spool.remove(self.spool.path_for(job.id))
        self.log.info("job built", job_id=job.id, sop_instance_uid=job.sop_instance_uid,
                      calling_ae=job.calling_ae, state=state, reason=reason,
                      quality=round(decision.quality, 3), pages=len(good))
        if state == "built":
            self.on_built()

    def _write_frame(self, item: _Input, frame: int, result: DigitizationResult, folder: Path,
                     review_reason: str | None) -> Path:
        version = self.digitizer.version
        # an Encapsulated PDF has pages but no NumberOfFrames: give the page count; an image's
        # frame count comes from its NumberOfFrames
        is_pdf = str(item.dataset.get("SOPClassUID", "")) == ENCAPSULATED_PDF_SOP_CLASS
        wave = build_ecg_waveform(item.dataset, result, digitizer_version=version,
                                  weights_sha256=self.weights_sha256, frame=frame,
                                  n_source_frames=len(item.frames) if is_pdf else None)
        check_iod_limits(wave)
        name = f"ecg-{frame}"
        buf = BytesIO()
        wave.save_as(buf, enforce_file_format=True)
        path = write_durably(folder / f"{name}.dcm", buf.getvalue())
        write_wfdb_record(result, folder, name, comments=[
            f"source_sop_instance_uid: {item.job.sop_instance_uid}",
            f"digitizer_version: {version}",
        ])
        extra: dict[str, Any] = {
            "job_id": item.job.id,
            "frame": frame,
            "source_sop_instance_uid": item.job.sop_instance_uid,
            "waveform_sop_instance_uid": str(wave.SOPInstanceUID),
            "digitizer_version": version,
            "weights_sha256": self.weights_sha256,
            "review_reason": review_reason,
        }
        write_sidecar(result, folder / f"{name}.json", extra=extra)
        if self.qa_renderer is not None:
            try:
                qa = self.qa_renderer(item.frames[frame], result)
                write_durably(folder / f"{name}.qa.png", _png_bytes(qa))
            except Exception as exc:  # noqa: BLE001 - a QA picture is an aid: its failure is logged, not fatal
                self.log.warning("qa picture failed", job_id=item.job.id, error=str(exc))
        return path

    def _fail(self, job: Job, reason: str, message: str) -> None:
        target = self.spool.quarantine_dir / Path(job.spool_path).name
        self.store.finish_digitizing(job.id, state="failed", reason=reason, message=message,
                                     spool_path=target)
        self.spool.quarantine(Path(job.spool_path))
        self.metrics.failed.labels(reason=reason).inc()
        self.log.warning("job failed", job_id=job.id, sop_instance_uid=job.sop_instance_uid,
                         calling_ae=job.calling_ae, reason=reason, error=message)
