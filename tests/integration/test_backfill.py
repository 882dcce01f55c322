"""Back-conversion against a real Orthanc holding ECG pictures and other objects, with a real
`ecgbridge serve` digitizing and sending the results back.

Orthanc holds 3 SC ECG pages (PTB-XL renders, StudyDate in range), one ECG page outside the
date range, a CT image and a photo SC ("Wound photo"). The backfill is run as a process with a
slow rate, killed with SIGKILL after 2 objects were queued, and run again: every ECG in range is
converted and sent back exactly once, the others are skipped with a reason.
"""
from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from ecgbridge.backfill.ledger import BackfillLedger
from ecgbridge.inputs.wrap import secondary_capture, to_bytes
from pipeline.signal_io import load_record
from pipeline.synth.render import render_page
from pipeline.synth.spec import RenderSpec
from tests.integration.bridge import (
    SEND_ALL_REVIEW,
    Bridge,
    bridge_config,
    pacs_destination,
    running_bridge,
)
from tests.integration.orthanc import Modality, OrthancServer
from tests.paths import SHARED_PTBXL

pytestmark = pytest.mark.integration

PTBXL = SHARED_PTBXL
WAVEFORM_12_LEAD = "1.2.840.10008.5.1.4.1.1.9.1.1"
N_ECG = 3


def _page(index: int) -> np.ndarray:
    records = sorted(PTBXL.glob("*.hea"))
    if len(records) <= index:
        pytest.skip(f"PTB-XL records not found under {PTBXL}")
    signals, fs = load_record(records[index].with_suffix(""))
    return render_page(signals, fs, RenderSpec(dpi=100), np.random.default_rng(index)).image


def _upload(orthanc: OrthancServer, data: bytes) -> None:
    request = urllib.request.Request(orthanc.http_url + "/instances", data=data, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def _sc(image: np.ndarray, *, patient: str, study_date: str, description: str) -> bytes:
    study = generate_uid()
    ds = secondary_capture(
        image,
        attributes={"PatientID": patient, "PatientName": f"Test^{patient}",
                    "StudyInstanceUID": study, "SeriesInstanceUID": generate_uid(),
                    "StudyDate": study_date},
        sop_instance_uid=generate_uid(), page_index=0, page_count=1, conversion_type="WSD",
    )
    ds.SeriesDescription = description
    return to_bytes(ds)


def _ct(study_date: str) -> bytes:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName, ds.StudyDate = "CT1", "Test^CT", study_date
    ds.Modality, ds.SeriesDescription = "CT", "Thorax ECG-gated"
    ds.Rows = ds.Columns = 64
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.zeros((64, 64), np.uint16).tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return to_bytes(ds)


@pytest.fixture(scope="module")
def archive(orthanc: OrthancServer) -> dict[str, list[str]]:
    """Fill Orthanc; returns the SOP Instance UIDs per kind."""
    orthanc.clear()
    kinds: dict[str, list[str]] = {"ecg": [], "old_ecg": [], "ct": [], "photo": []}
    for i in range(N_ECG):
        data = _sc(_page(i), patient=f"P{i}", study_date=f"2020010{i + 1}",
                   description="ECG 12-lead")
        kinds["ecg"].append(str(pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID))
        _upload(orthanc, data)
    old = _sc(_page(N_ECG), patient="OLD", study_date="20150101", description="ECG 12-lead")
    rng = np.random.default_rng(7)
    photo = _sc(rng.integers(0, 256, (600, 800, 3), dtype=np.uint8), patient="PH",
                study_date="20200301", description="Wound photo")
    for kind, data in (("old_ecg", old), ("ct", _ct("20200401")), ("photo", photo)):
        kinds[kind].append(str(pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID))
        _upload(orthanc, data)
    return kinds


@pytest.fixture(scope="module")
def bridge(orthanc: OrthancServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    work = tmp_path_factory.mktemp("backfill-bridge")
    config = bridge_config(
        work / "var",
        destinations=pacs_destination(orthanc.aet, orthanc.dicom_port),
        review=SEND_ALL_REVIEW,
    )
    with running_bridge(work, config) as running:
        yield running


def _backfill(bridge: Bridge, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ecgbridge.backfill", "--config", str(bridge.config_path),
         "--pacs", "pacs", "--from", "2020-01-01", "--to", "2020-12-31", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _ledger_counts(bridge: Bridge) -> dict[str, int]:
    path = bridge.state_dir / "backfill.sqlite3"
    if not path.exists():
        return {"queued": 0, "skipped": 0, "failed": 0}
    ledger = BackfillLedger(path)
    try:
        return ledger.counts("pacs")
    finally:
        ledger.close()


def _waveforms(orthanc: OrthancServer) -> list[Dataset]:
    found = orthanc.rest("POST", "/tools/find", {
        "Level": "Instance", "Query": {"SOPClassUID": WAVEFORM_12_LEAD}, "Expand": False})
    return [orthanc.instance_dataset(i) for i in json.loads(found)]


def test_backfill_converts_each_ecg_once_across_a_kill(
    orthanc: OrthancServer, archive: dict[str, list[str]], bridge: Bridge
) -> None:
    # Dry run: lists what it would do and changes nothing.
    dry = _backfill(bridge, "--dry-run")
    out, _ = dry.communicate(timeout=120)
    assert dry.returncode == 0, out
    assert f"{N_ECG + 2} found: {N_ECG} to retrieve, 2 to skip, 0 done before" in out, out
    assert "sop_class_not_ecg_picture" in out and "description_not_ecg" in out
    assert _ledger_counts(bridge)["queued"] == 0 and bridge.jobs() == []

    # Slow run, killed with SIGKILL after two objects were queued.
    slow = _backfill(bridge, "--rate", "1/s")
    end = time.monotonic() + 120
    while _ledger_counts(bridge)["queued"] < 2 and time.monotonic() < end:
        assert slow.poll() is None, slow.communicate()[0]
        time.sleep(0.05)
    slow.send_signal(signal.SIGKILL)
    slow.wait(timeout=30)
    before = _ledger_counts(bridge)
    queued_before = before["queued"]
    assert 2 <= queued_before < N_ECG

    # The re-run finishes the rest. (Results already sent back are found too, as waveforms:
    # they are skipped by SOP class, never converted.)
    rerun = _backfill(bridge)
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out
    summary = _summary(out)
    assert summary["queued"] == N_ECG - queued_before and summary["failed"] == 0, out
    assert summary["done_before"] == queued_before + before["skipped"], out
    counts = _ledger_counts(bridge)
    assert counts["queued"] == N_ECG and counts["failed"] == 0
    ledger = BackfillLedger(bridge.state_dir / "backfill.sqlite3")
    reasons = ledger.skip_reasons("pacs")
    ledger.close()
    assert reasons["description_not_ecg"] == 1  # the photo
    assert reasons["sop_class_not_ecg_picture"] >= 1  # the CT (+ waveforms already back)

    jobs = bridge.wait_jobs(
        lambda js: len(js) >= N_ECG and all(j.state in ("delivered", "failed", "dead", "held")
                                            for j in js),
        deadline_s=300, what="backfilled jobs to be delivered")
    assert sorted(j.sop_instance_uid for j in jobs) == sorted(archive["ecg"])
    assert {j.state for j in jobs} == {"delivered"}, [(j.state, j.reason) for j in jobs]
    sources = sorted(str(w.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID)
                     for w in _waveforms(orthanc))
    assert sources == sorted(archive["ecg"])  # each ECG once, nothing else converted

    # A third run finds everything done; the waveforms in Orthanc are skipped, not converted.
    third = _backfill(bridge)
    out, _ = third.communicate(timeout=120)
    assert third.returncode == 0, out
    summary = _summary(out)
    assert summary["queued"] == 0 and summary["failed"] == 0, out
    assert summary["found"] == N_ECG + 2 + N_ECG, out
    assert len(bridge.jobs()) == N_ECG
    assert len(_waveforms(orthanc)) == N_ECG


def _summary(out: str) -> dict[str, int]:
    """Numbers of the command's last line: found F: queued Q (...), skipped S ..., failed X,
    done before D."""
    match = re.search(r"found (\d+): queued (\d+) .*skipped (\d+).*failed (\d+), "
                      r"done before (\d+)", out)
    if match is None:
        raise AssertionError(f"no summary line in the output:\n{out}")
    keys = ("found", "queued", "skipped", "failed", "done_before")
    return dict(zip(keys, (int(g) for g in match.groups())))


def test_backfill_by_c_move_to_the_running_scp(orthanc: OrthancServer, bridge: Bridge) -> None:
    """--retrieve move: Orthanc pushes the ECG to the bridge's SCP, which makes the job."""
    data = _sc(_page(N_ECG + 1), patient="MV", study_date="20210615", description="EKG")
    sop_uid = str(pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID)
    _upload(orthanc, data)
    orthanc.register_modality("ECGBRIDGE", Modality(bridge.ae_title, "127.0.0.1", bridge.scp_port))
    try:
        run = subprocess.run(
            [sys.executable, "-m", "ecgbridge.backfill", "--config", str(bridge.config_path),
             "--pacs", "pacs", "--from", "2021-06-01", "--to", "2021-06-30", "--retrieve", "move"],
            check=False, capture_output=True, text=True, timeout=120,
        )
    finally:  # back to the session fixture's entry for the other tests
        orthanc.register_modality("ECGBRIDGE", Modality("ECGBRIDGE", "127.0.0.1", 11112))
    assert run.returncode == 0, run.stdout + run.stderr
    assert _summary(run.stdout)["queued"] == 1, run.stdout
    jobs = bridge.wait_jobs(
        lambda js: any(j.sop_instance_uid == sop_uid and j.state == "delivered" for j in js),
        deadline_s=120, what="the moved ECG to be delivered")
    moved = [j for j in jobs if j.sop_instance_uid == sop_uid]
    assert len(moved) == 1 and moved[0].calling_ae == orthanc.aet
