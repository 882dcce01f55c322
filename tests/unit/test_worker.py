"""Worker: batches of received jobs -> archive (waveform, WFDB, sidecar) -> built | held |
failed, with a stand-in digitizer (the real one is exercised by the integration tests)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
import pytest
import wfdb

from ecgbridge.config import Settings, load_settings
from ecgbridge.jobs.spool import Spool
from ecgbridge.jobs.store import JobStore
from ecgbridge.jobs.worker import Worker
from ecgbridge.metrics import Metrics
from pipeline.errors import DigitizerError, NoTraceFoundError
from pipeline.types import DigitizationResult
from tests.integration.sc_images import make_sc, not_an_ecg, write_raw_payload


class StandIn:
    """Digitizes any image whose top-left pixel is black into a known 12-lead sine; refuses
    others as no trace found. Quality comes from the pixel at (0, 1) (0..255 -> 0..1)."""

    version = "standin-1"

    def __init__(self) -> None:
        self.batches: list[int] = []

    def digitize_batch(self, images: Sequence[np.ndarray]) -> list[DigitizationResult | DigitizerError]:
        self.batches.append(len(images))
        out: list[DigitizationResult | DigitizerError] = []
        for image in images:
            if image[0, 0].any():
                out.append(NoTraceFoundError("no trace"))
                continue
            t = np.arange(5000) / 500.0
            signals = np.stack([1000 * np.sin(2 * np.pi * (k + 1) * t) for k in range(12)])
            signals[6:, :1250] = np.nan
            out.append(DigitizationResult(
                signals_uv=signals.astype(np.float32), fs_hz=500.0, layout="3x4",
                px_per_mm=4.0, mm_per_mv=10.0, mm_per_s=25.0,
                quality=np.full(12, image[0, 1, 0] / 255.0)))
        return out


def _page(quality: float) -> np.ndarray:
    image = np.full((40, 60, 3), 255, np.uint8)
    image[0, 0] = 0
    image[0, 1] = round(quality * 255)
    return image


def _setup(tmp: Path, **env: str) -> tuple[Settings, JobStore, Spool, Worker, StandIn]:
    settings = load_settings(environ={"ECGBRIDGE__STORAGE__STATE_DIR": str(tmp / "var"), **env})
    store = JobStore(settings.storage.database)
    spool = Spool(settings.storage.spool_dir, settings.storage.quarantine_dir)
    digitizer = StandIn()
    worker = Worker(settings, store, spool, digitizer, Metrics(store.counts),
                    qa_renderer=lambda image, result: image)
    return settings, store, spool, worker, digitizer


def _receive(store: JobStore, spool: Spool, job_id: str, data: bytes, uid: str,
             destination: str | None = "pacs") -> None:
    path = spool.put(job_id, data)
    store.insert_received(job_id, sop_instance_uid=uid, sop_class_uid="1.2.840.10008.5.1.4.1.1.7",
                          calling_ae="MOD1", peer_host="127.0.0.1", spool_path=path,
                          destination=destination)


def _sc_bytes(image: np.ndarray, tmp: Path, name: str) -> tuple[bytes, str]:
    ds = make_sc(image)
    ds.save_as(tmp / name, enforce_file_format=True)
    return (tmp / name).read_bytes(), str(ds.SOPInstanceUID)


def test_batch_builds_holds_and_fails(tmp_path: Path) -> None:
    settings, store, spool, worker, digitizer = _setup(tmp_path)
    good, good_uid = _sc_bytes(_page(0.9), tmp_path, "good.dcm")
    low, low_uid = _sc_bytes(_page(0.1), tmp_path, "low.dcm")
    other, other_uid = _sc_bytes(not_an_ecg(), tmp_path, "other.dcm")
    zero = write_raw_payload(tmp_path / "zero.dcm", b"").read_bytes()
    corrupt = write_raw_payload(tmp_path / "bad.dcm", b"\x08\x00\x16\x00UI\xff\xffgarbage").read_bytes()
    for job_id, data, uid in [("good", good, good_uid), ("low", low, low_uid),
                              ("other", other, other_uid), ("zero", zero, "1.9.1"),
                              ("corrupt", corrupt, "1.9.2")]:
        _receive(store, spool, job_id, data, uid)
    assert worker.run_once() == 4  # batch_size default is 4
    assert worker.run_once() == 1
    assert worker.run_once() == 0
    assert digitizer.batches == [3]  # zero/corrupt never reach the digitizer

    states = {j.id: (j.state, j.reason) for j in store.list()}
    assert states["good"] == ("built", None)
    assert states["low"] == ("held", "low_quality")
    assert states["other"] == ("failed", "no_ecg_trace_found")
    assert states["zero"][0] == "failed" and states["zero"][1] == "corrupt_object"
    assert states["corrupt"][0] == "failed" and states["corrupt"][1] == "corrupt_object"
    for job_id in ("other", "zero", "corrupt"):
        assert (settings.storage.quarantine_dir / f"{job_id}.dcm").exists()
    assert list(settings.storage.spool_dir.glob("*.dcm")) == []

    job = store.get("good")
    folder = settings.storage.archive_dir / good_uid
    assert job.result_dir == str(folder)
    assert job.outputs == (str(folder / "ecg-0.dcm"),)
    assert {p.name for p in folder.iterdir()} >= {
        "source.dcm", "ecg-0.dcm", "ecg-0.hea", "ecg-0.dat", "ecg-0.json", "ecg-0.qa.png"}
    wave = pydicom.dcmread(folder / "ecg-0.dcm")
    record = wfdb.rdrecord(str(folder / "ecg-0"), physical=True)
    assert wave.PatientID == "PID-0001"
    lead_i = wave.waveform_array(0)[:, 0]
    np.testing.assert_allclose(lead_i, record.p_signal[:, 0] * _uv(record.units[0]), atol=1.0)
    assert "Test" not in str(folder) and "PID" not in str(folder)


def _uv(unit: str) -> float:
    return {"uV": 1.0, "mV": 1000.0}[unit]


def test_send_held_sends_low_quality(tmp_path: Path) -> None:
    _, store, spool, worker, _ = _setup(tmp_path, ECGBRIDGE__REVIEW__SEND_HELD="true")
    data, uid = _sc_bytes(_page(0.1), tmp_path, "low.dcm")
    _receive(store, spool, "low", data, uid)
    worker.run_once()
    assert store.get("low").state == "built"


@pytest.mark.parametrize("batch", [1, 3])
def test_batch_equals_one_by_one(tmp_path: Path, batch: int) -> None:
    _, store, spool, worker, digitizer = _setup(
        tmp_path, ECGBRIDGE__WORKERS__BATCH_SIZE=str(batch))
    for i in range(3):
        data, uid = _sc_bytes(_page(0.9), tmp_path, f"p{i}.dcm")
        _receive(store, spool, f"j{i}", data, uid)
    while worker.run_once():
        pass
    assert digitizer.batches == ([1, 1, 1] if batch == 1 else [3])
    assert store.counts()["built"] == 3


def test_multi_frame_sc_gives_one_waveform_per_frame(tmp_path: Path) -> None:
    from pydicom.uid import MultiFrameTrueColorSecondaryCaptureImageStorage

    _, store, spool, worker, digitizer = _setup(tmp_path)
    ds = make_sc(_page(0.9))
    frames = np.stack([_page(0.9), _page(0.8)])
    ds.SOPClassUID = MultiFrameTrueColorSecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.NumberOfFrames = 2
    ds.PixelData = frames.tobytes()
    ds.save_as(tmp_path / "mf.dcm", enforce_file_format=True)
    _receive(store, spool, "mf", (tmp_path / "mf.dcm").read_bytes(), str(ds.SOPInstanceUID))
    worker.run_once()
    job = store.get("mf")
    assert job.state == "built" and digitizer.batches == [2]
    uids = {str(pydicom.dcmread(p).SOPInstanceUID) for p in job.outputs}
    assert len(job.outputs) == 2 and len(uids) == 2


def _encapsulated_pdf(tmp: Path, n_pages: int) -> tuple[bytes, str]:
    """An Encapsulated PDF Storage object of `n_pages` black 300x200 px pages (pdf.dcm)."""
    from io import BytesIO

    from PIL import Image
    from pydicom.uid import EncapsulatedPDFStorage

    buf = BytesIO()
    pages = [Image.fromarray(np.zeros((200, 300, 3), np.uint8)) for _ in range(n_pages)]
    pages[0].save(buf, format="PDF", save_all=True, append_images=pages[1:])
    ds = make_sc(_page(0.9))
    for keyword in ("Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation",
                    "PlanarConfiguration", "BitsAllocated", "BitsStored", "HighBit",
                    "PixelRepresentation", "PixelData"):
        delattr(ds, keyword)
    ds.SOPClassUID = EncapsulatedPDFStorage
    ds.file_meta.MediaStorageSOPClassUID = EncapsulatedPDFStorage
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = buf.getvalue() + (b"\0" if len(buf.getvalue()) % 2 else b"")
    ds.save_as(tmp / "pdf.dcm", enforce_file_format=True)
    return (tmp / "pdf.dcm").read_bytes(), str(ds.SOPInstanceUID)


def test_encapsulated_pdf_pages_are_digitized(tmp_path: Path) -> None:
    _, store, spool, worker, digitizer = _setup(tmp_path)
    data, uid = _encapsulated_pdf(tmp_path, 1)
    _receive(store, spool, "pdf", data, uid)
    worker.run_once()
    job = store.get("pdf")
    assert digitizer.batches == [1]
    assert (job.state, job.reason, len(job.outputs)) == ("held", "low_quality", 1)


def test_two_page_encapsulated_pdf_gives_two_waveforms(tmp_path: Path) -> None:
    """A PDF has pages but no NumberOfFrames: page 2 must still make a valid waveform."""
    _, store, spool, worker, digitizer = _setup(tmp_path)
    data, uid = _encapsulated_pdf(tmp_path, 2)
    _receive(store, spool, "pdf2", data, uid)
    worker.run_once()
    job = store.get("pdf2")
    assert digitizer.batches == [2]
    assert (job.state, job.reason, job.message) == ("held", "low_quality", None)
    waves = [pydicom.dcmread(p) for p in job.outputs]
    assert len(waves) == 2 and len({str(w.SOPInstanceUID) for w in waves}) == 2
    assert all(w.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == uid for w in waves)


class Crashy(StandIn):
    """Raises on any batch holding an image whose pixel (0, 2) is 1 (a digitizer bug)."""

    def digitize_batch(self, images: Sequence[np.ndarray]) -> list[DigitizationResult | DigitizerError]:
        if any(image[0, 2, 0] == 1 for image in images):
            self.batches.append(-len(images))
            raise ZeroDivisionError("bug")
        return super().digitize_batch(images)


def test_a_digitizer_crash_fails_only_the_image_that_causes_it(tmp_path: Path) -> None:
    settings, store, spool, _, _ = _setup(tmp_path)
    crashy = Crashy()
    worker = Worker(settings, store, spool, crashy, Metrics(store.counts))
    bad = _page(0.9)
    bad[0, 2] = 1
    for name, image in (("ok1", _page(0.9)), ("bad", bad), ("ok2", _page(0.9))):
        data, uid = _sc_bytes(image, tmp_path, f"{name}.dcm")
        _receive(store, spool, name, data, uid)
    worker.run_once()
    states = {j.id: (j.state, j.reason) for j in store.list()}
    assert states == {"ok1": ("built", None), "ok2": ("built", None),
                      "bad": ("failed", "digitizer_crashed")}
    assert crashy.batches == [-3, 1, -1, 1]
