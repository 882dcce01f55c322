"""Folder sweeps against a real job store and spool in a temporary folder (no digitizing)."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from ecgbridge.inputs.wrap import secondary_capture, to_bytes
from ecgbridge.jobs.spool import Spool
from ecgbridge.jobs.store import JobStore
from ecgbridge.sweeps.config import SweepFolderConfig
from ecgbridge.sweeps.ledger import SweepLedger
from ecgbridge.sweeps.lock import LOCK_NAME, folder_lock
from ecgbridge.sweeps.submit import StoreSink
from ecgbridge.sweeps.sweep import FolderSweeper


class FakeTime:
    """Clock in seconds; `sleep` advances it and runs `during_sleep` (files arriving...)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.during_sleep: Callable[[], None] = lambda: None

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.during_sleep()
        self.now += seconds


class Env:
    def __init__(self, tmp: Path) -> None:
        self.inbox = tmp / "inbox"
        self.inbox.mkdir()
        self.store = JobStore(tmp / "state" / "jobs.sqlite3")
        self.spool = Spool(tmp / "state" / "spool", tmp / "state" / "quarantine")
        self.ledger = SweepLedger(tmp / "state" / "sweeps.sqlite3")
        self.time = FakeTime()
        self.config = SweepFolderConfig(name="scans", path=self.inbox, interval_s=60, stable_s=5)
        self.sweeper = self.make_sweeper()

    def make_sweeper(self) -> FolderSweeper:
        return FolderSweeper(
            self.config, self.ledger, StoreSink(self.store, self.spool),
            default_destination="pacs", clock=self.time.clock, sleep=self.time.sleep,
        )

    def jobs(self) -> list:
        return self.store.list(limit=1000)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    e = Env(tmp_path)
    yield e
    e.store.close()
    e.ledger.close()


def _png(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _pdf(n_pages: int) -> bytes:
    pages = [Image.new("RGB", (200, 150), (30 * i, 255, 255)) for i in range(n_pages)]
    buf = io.BytesIO()
    pages[0].save(buf, "PDF", save_all=True, append_images=pages[1:], resolution=72)
    return buf.getvalue()


def _dicom_sc(uid: str) -> bytes:
    ds = secondary_capture(
        np.full((32, 40, 3), 200, np.uint8),
        attributes={"PatientID": "P7", "StudyInstanceUID": "1.2.3.4",
                    "SeriesInstanceUID": "1.2.3.4.5"},
        sop_instance_uid=uid, page_index=0, page_count=1, conversion_type="WSD",
    )
    return to_bytes(ds)


def _reason(path: Path) -> dict[str, str]:
    text = path.with_name(path.name + ".reason.txt").read_text()
    return dict(line.split(": ", 1) for line in text.splitlines())


def test_png_with_sidecar_becomes_one_job_with_patient_and_destination(env: Env) -> None:
    (env.inbox / "scan.png").write_bytes(_png(1))
    (env.inbox / "scan.json").write_text(json.dumps({"PatientID": "123", "PatientName": "A^B"}))
    report = env.sweeper.run_once()
    assert report.queued == ["scan.png"] and report.jobs == 1
    jobs = env.jobs()
    assert len(jobs) == 1 and jobs[0].destination == "pacs"
    assert jobs[0].calling_ae == "sweep:scans" and jobs[0].state == "received"
    ds = pydicom.dcmread(jobs[0].spool_path)
    assert ds.PatientID == "123" and ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
    assert ds.pixel_array.shape == (48, 64, 3)
    done = env.config.done_path
    assert (done / "scan.png").read_bytes() == _png(1)
    assert (done / "scan.png.json").exists() and not (env.inbox / "scan.json").exists()
    assert _reason(done / "scan.png")["outcome"] == "queued"
    assert not (env.inbox / "scan.png").exists()


def test_image_without_metadata_goes_to_archive_only(env: Env) -> None:
    (env.inbox / "a.jpg").write_bytes(_png(2))  # content decides the kind, not the name
    env.sweeper.run_once()
    (job,) = env.jobs()
    assert job.destination is None
    assert pydicom.dcmread(job.spool_path).PatientID == ""


def test_half_written_file_waits_until_stable(env: Env) -> None:
    path = env.inbox / "slow.png"
    data = _png(3)
    path.write_bytes(data[:100])

    def grow() -> None:
        with path.open("ab") as fh:
            fh.write(data[100:])

    env.time.during_sleep = grow
    report = env.sweeper.run_once()
    assert report.waiting == ["slow.png"] and report.queued == [] and env.jobs() == []
    env.time.during_sleep = lambda: None
    report = env.sweeper.run_once()
    assert report.queued == ["slow.png"] and len(env.jobs()) == 1


def test_file_arriving_during_a_sweep_is_left_for_the_next(env: Env) -> None:
    (env.inbox / "first.png").write_bytes(_png(4))
    env.time.during_sleep = lambda: (env.inbox / "late.png").write_bytes(_png(5))
    report = env.sweeper.run_once()
    assert report.queued == ["first.png"]
    assert (env.inbox / "late.png").exists()
    env.time.during_sleep = lambda: None
    assert env.sweeper.run_once().queued == ["late.png"]
    assert len(env.jobs()) == 2


def test_duplicates_under_other_names_are_not_reprocessed(env: Env) -> None:
    (env.inbox / "a.png").write_bytes(_png(6))
    env.sweeper.run_once()
    (env.inbox / "copy of a.png").write_bytes(_png(6))
    (env.inbox / "a.png").write_bytes(_png(6))  # same name again, same content
    report = env.sweeper.run_once()
    assert sorted(report.duplicates) == ["a.png", "copy of a.png"]
    assert len(env.jobs()) == 1
    done = env.config.done_path
    assert _reason(done / "copy of a.png")["reason"] == "duplicate_content"
    assert len(list(done.glob("a*.png"))) == 2  # the second a.png got a free name


def test_unreadable_files_go_to_failed_with_reason(env: Env) -> None:
    (env.inbox / "notes.txt").write_text("not an ECG")
    (env.inbox / "broken.png").write_bytes(_png(7)[:60])
    (env.inbox / "bad.pdf").write_bytes(b"%PDF-1.4\n garbage")
    (env.inbox / "empty.dcm").write_bytes(b"")
    (env.inbox / "withbad.png").write_bytes(_png(8))
    (env.inbox / "withbad.json").write_text('{"PatientSex": "Q"}')
    report = env.sweeper.run_once()
    assert sorted(report.failed) == ["bad.pdf", "broken.png", "empty.dcm", "notes.txt",
                                     "withbad.png"]
    assert env.jobs() == []
    failed = env.config.failed_path
    assert _reason(failed / "notes.txt")["reason"] == "unsupported_file_type"
    assert _reason(failed / "broken.png")["reason"] == "image_unreadable"
    assert _reason(failed / "bad.pdf")["reason"] == "pdf_unreadable"
    assert "PatientSex" in _reason(failed / "withbad.png")["message"]
    assert [p.name for p in env.inbox.iterdir() if p.is_file()] == [LOCK_NAME]


def test_multi_page_pdf_is_one_job_per_page(env: Env) -> None:
    (env.inbox / "export.pdf").write_bytes(_pdf(3))
    (env.inbox / "export.csv").write_text("PatientID,StudyDate\n42,2024-01-05\n")
    report = env.sweeper.run_once()
    assert report.queued == ["export.pdf"] and report.jobs == 3
    datasets = [pydicom.dcmread(j.spool_path) for j in env.jobs()]
    assert sorted(int(d.InstanceNumber) for d in datasets) == [1, 2, 3]
    assert {d.SeriesInstanceUID for d in datasets} == {datasets[0].SeriesInstanceUID}
    assert {d.StudyDate for d in datasets} == {"20240105"}
    assert datasets[0].pixel_array.shape == (417, 556, 3)  # 200x150 px at 72 dpi -> 200 dpi


def test_dicom_file_goes_as_received_object(env: Env) -> None:
    data = _dicom_sc("1.2.3.4.5.6")
    (env.inbox / "IMG0001").write_bytes(data)
    env.sweeper.run_once()
    (job,) = env.jobs()
    assert job.sop_instance_uid == "1.2.3.4.5.6" and job.destination == "pacs"
    assert Path(job.spool_path).read_bytes() == data


def test_restart_after_jobs_but_before_ledger_makes_no_duplicate(env: Env) -> None:
    data = _dicom_sc("1.2.3.9")
    StoreSink(env.store, env.spool).submit_dicom(data, name="x", origin="sweep:scans",
                                                 destination=None)
    (env.inbox / "x.dcm").write_bytes(data)
    report = env.make_sweeper().run_once()
    assert report.queued == ["x.dcm"] and report.jobs == 0
    assert len(env.jobs()) == 1


def test_restart_after_ledger_but_before_move_just_moves(env: Env) -> None:
    (env.inbox / "a.png").write_bytes(_png(9))
    env.sweeper.run_once()
    done = env.config.done_path / "a.png"
    done.rename(env.inbox / "a.png")  # as if the move had not happened
    report = env.make_sweeper().run_once()
    assert report.duplicates == ["a.png"] and report.queued == [] and len(env.jobs()) == 1
    assert _reason(env.config.done_path / "a.png")["outcome"] == "queued"


def test_one_sweep_at_a_time_per_folder(env: Env) -> None:
    (env.inbox / "a.png").write_bytes(_png(10))
    with folder_lock(env.inbox) as held:
        assert held
        report = env.sweeper.run_once()
    assert report.locked and env.jobs() == []
    assert env.sweeper.run_once().queued == ["a.png"]


def test_lock_excludes_another_process(env: Env) -> None:
    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(env.inbox / LOCK_NAME)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with folder_lock(env.inbox) as held:
            assert not held
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)
    with folder_lock(env.inbox) as held:
        assert held


def test_config_needs_exactly_one_schedule(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one of interval_s or cron"):
        SweepFolderConfig(name="x", path=tmp_path)
    with pytest.raises(ValueError, match="crontab"):
        SweepFolderConfig(name="x", path=tmp_path, cron="every minute")
    assert SweepFolderConfig(name="x", path=tmp_path, cron="*/5 7-19 * * mon-fri").cron




def test_encapsulated_pdf_file_becomes_one_sc_job_per_page(env: Env) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.104.1"
    ds.SOPInstanceUID = "1.2.3.77"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3.70", "1.2.3.71"
    ds.PatientID, ds.PatientName = "PDF-7", "Pdf^Seven"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    data = _pdf(2)
    ds.EncapsulatedDocument = data + b"\x00" * (len(data) % 2)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, "1.2.3.77"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    (env.inbox / "report.dcm").write_bytes(to_bytes(ds))
    report = env.sweeper.run_once()
    assert report.queued == ["report.dcm"] and report.jobs == 2
    pages = [pydicom.dcmread(j.spool_path) for j in env.jobs()]
    assert {(p.PatientID, p.StudyInstanceUID) for p in pages} == {("PDF-7", "1.2.3.70")}
    assert sorted(int(p.InstanceNumber) for p in pages) == [1, 2]
    assert all(j.destination == "pacs" for j in env.jobs())


def test_files_stable_since_an_earlier_pass_are_taken_before_the_wait(env: Env) -> None:
    (env.inbox / "seen.png").write_bytes(_png(12))
    env.sweeper.tracker.look(env.inbox / "seen.png")  # looked at by an earlier pass
    env.time.now += 10
    (env.inbox / "new.png").write_bytes(_png(13))
    taken_before_sleep: list[bool] = []
    env.time.during_sleep = lambda: taken_before_sleep.append(
        not (env.inbox / "seen.png").exists())
    report = env.sweeper.run_once()
    assert report.queued == ["seen.png", "new.png"] and taken_before_sleep == [True]
