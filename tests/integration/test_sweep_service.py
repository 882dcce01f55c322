"""A folder sweep feeding a real `ecgbridge serve`, with Orthanc as the PACS.

Inputs: an ECG page PNG with a JSON sidecar (patient known), an ECG page PNG without one, and a
2-page PDF of ECG pages with a CSV sidecar. Every page is digitized and archived as WFDB; only
pages with patient metadata are sent to the PACS, with the sidecar's patient on them.
"""
from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ecgbridge.jobs.spool import Spool
from ecgbridge.jobs.store import JobStore
from ecgbridge.sweeps.config import SweepFolderConfig
from ecgbridge.sweeps.ledger import SweepLedger
from ecgbridge.sweeps.submit import StoreSink
from ecgbridge.sweeps.sweep import FolderSweeper
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
from tests.integration.orthanc import OrthancServer
from tests.paths import SHARED_PTBXL

pytestmark = pytest.mark.integration

PTBXL = SHARED_PTBXL
WAVEFORM_12_LEAD = "1.2.840.10008.5.1.4.1.1.9.1.1"


def _page(index: int) -> Image.Image:
    records = sorted(PTBXL.glob("*.hea"))
    if len(records) <= index:
        pytest.skip(f"PTB-XL records not found under {PTBXL}")
    signals, fs = load_record(records[index].with_suffix(""))
    page = render_page(signals, fs, RenderSpec(dpi=100), np.random.default_rng(index)).image
    return Image.fromarray(page)


@pytest.fixture(scope="module")
def bridge(orthanc: OrthancServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    work = tmp_path_factory.mktemp("sweep-bridge")
    config = bridge_config(
        work / "var",
        destinations=pacs_destination(orthanc.aet, orthanc.dicom_port),
        routing={"default": "pacs"},
        review=SEND_ALL_REVIEW,
    )
    with running_bridge(work, config) as running:
        yield running


def test_swept_files_are_digitized_archived_and_sent_when_metadata_exists(
    bridge: Bridge, orthanc: OrthancServer, tmp_path: Path
) -> None:
    orthanc.clear()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _page(10).save(inbox / "known.png")
    (inbox / "known.json").write_text(json.dumps({"PatientID": "SW-1", "PatientName": "Sweep^One"}))
    _page(11).save(inbox / "unknown.png")
    pdf = io.BytesIO()
    _page(12).save(pdf, "PDF", save_all=True, append_images=[_page(13)], resolution=100)
    (inbox / "export.pdf").write_bytes(pdf.getvalue())
    (inbox / "export.csv").write_text("PatientID,PatientName\nSW-2,Sweep^Two\n")

    store = JobStore(bridge.state_dir / "jobs.sqlite3")
    spool = Spool(bridge.state_dir / "spool", bridge.state_dir / "quarantine")
    ledger = SweepLedger(bridge.state_dir / "sweeps.sqlite3")
    config = SweepFolderConfig(name="inbox", path=inbox, interval_s=60, stable_s=0, pdf_dpi=100)
    sweeper = FolderSweeper(config, ledger, StoreSink(store, spool), default_destination="pacs")
    report = sweeper.run_once()
    store.close()
    ledger.close()
    assert sorted(report.queued) == ["export.pdf", "known.png", "unknown.png"]
    assert report.jobs == 4

    jobs = bridge.wait_jobs(
        lambda js: len(js) == 4 and all(j.state in ("delivered", "failed", "dead", "held")
                                        for j in js),
        deadline_s=300, what="4 swept pages to finish")
    assert {j.state for j in jobs} == {"delivered"}, [(j.state, j.reason, j.message) for j in jobs]
    assert sorted(str(j.destination) for j in jobs) == ["None", "pacs", "pacs", "pacs"]
    for job in jobs:  # every page has its WFDB record in the archive
        assert any(Path(o).with_suffix(".hea").exists() for o in job.outputs), job.outputs
    found = json.loads(orthanc.rest("POST", "/tools/find", {
        "Level": "Instance", "Query": {"SOPClassUID": WAVEFORM_12_LEAD}, "Expand": False}))
    patients = sorted(str(orthanc.instance_dataset(i).PatientID) for i in found)
    assert patients == ["SW-1", "SW-2", "SW-2"]
    assert sorted(p.name for p in config.done_path.iterdir() if p.suffix != ".txt") == [
        "export.pdf", "export.pdf.csv", "known.png", "known.png.json", "unknown.png"]


def test_serve_runs_the_configured_sweeps(tmp_path: Path) -> None:
    """`ecgbridge serve` with a `sweeps` section sweeps on its own schedule."""
    inbox = tmp_path / "drop"
    inbox.mkdir()
    config = bridge_config(
        tmp_path / "var",
        review=SEND_ALL_REVIEW,
        sweeps={"folders": [{"name": "drop", "path": str(inbox), "interval_s": 0.5,
                             "stable_s": 0.2}]},
    )
    with running_bridge(tmp_path, config, name="sweeping") as running:
        _page(14).save(inbox / ".part-copy", format="PNG")  # hidden while being copied ...
        (inbox / ".part-copy").rename(inbox / "page.png")  # ... then renamed into place
        jobs = running.wait_jobs(
            lambda js: len(js) == 1 and js[0].state in ("delivered", "failed", "dead", "held"),
            deadline_s=120, what="the swept page to be digitized")
    assert jobs[0].state == "delivered" and jobs[0].calling_ae == "sweep:drop"
    assert jobs[0].destination is None  # no sidecar: archive and local out only
    assert (inbox / "done" / "page.png").exists()
    assert (inbox / "done" / "page.png.reason.txt").read_text().startswith("outcome: queued")
