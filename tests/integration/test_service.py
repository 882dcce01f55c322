"""ecgbridge serve end to end, with real peers on loopback: dcmtk echoscu/storescu send,
Orthanc receives the 12-lead ECG waveforms; faults: bad inputs, unknown AE, destination down
then up, kill -9 during a batch."""
from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
import wfdb
from PIL import Image
from pydicom.uid import JPEG2000Lossless, RLELossless
from pynetdicom import AE
from pynetdicom import _config as pynetdicom_config
from pynetdicom.sop_class import SecondaryCaptureImageStorage  # type: ignore[attr-defined]

from ecgbridge.jobs.store import Job
from pipeline.signal_io import load_record
from pipeline.synth.render import render_page
from pipeline.synth.spec import RenderSpec
from tests.integration.bridge import (
    SEND_ALL_REVIEW,
    Bridge,
    TcpGate,
    bridge_config,
    pacs_destination,
    running_bridge,
)
from tests.integration.orthanc import OrthancServer
from tests.integration.sc_images import make_sc, not_an_ecg, write_raw_payload
from tests.paths import SHARED_PTBXL

PTBXL = SHARED_PTBXL
#: One record kept in the repository, used when the shared PTB-XL copy is not there (CI).
FIXTURE_RECORDS = Path(__file__).parents[1] / "fixtures" / "ptbxl"
STORESCU = "/usr/bin/storescu"
ECHOSCU = "/usr/bin/echoscu"
IMG2DCM = "/usr/bin/img2dcm"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not all(Path(p).is_file() for p in (STORESCU, ECHOSCU, IMG2DCM)),
                       reason="dcmtk is not installed (Debian package dcmtk: /usr/bin/storescu)"),
]


def _page(index: int, dpi: float = 100.0) -> np.ndarray:
    """A clean 3x4+1 page of PTB-XL record number `index` (cycling through the records found),
    (H, W, 3) uint8; the page's rendering seed is `index`, so pages differ even when records
    repeat."""
    records = sorted(PTBXL.glob("*.hea")) or sorted(FIXTURE_RECORDS.glob("*.hea"))
    if not records:
        raise FileNotFoundError(f"no WFDB records under {PTBXL} or {FIXTURE_RECORDS}")
    signals, fs = load_record(records[index % len(records)].with_suffix(""))
    return render_page(signals, fs, RenderSpec(dpi=dpi), np.random.default_rng(index)).image


def _storescu(bridge: Bridge, files: list[Path], aet: str = "MOD1",
              options: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """dcmtk's storescu; `options` e.g. ("-xr",) to propose RLE for RLE files."""
    return subprocess.run(
        [STORESCU, *options, "-aet", aet, "-aec", bridge.ae_title, "127.0.0.1",
         str(bridge.scp_port), *map(str, files)], capture_output=True, text=True, timeout=120,
        check=False)


def _echoscu(bridge: Bridge, aet: str = "MOD1") -> subprocess.CompletedProcess[str]:
    return subprocess.run([ECHOSCU, "-aet", aet, "-aec", bridge.ae_title, "127.0.0.1",
                           str(bridge.scp_port)], capture_output=True, text=True, timeout=60,
                          check=False)


def _by_sop(jobs: list[Job]) -> dict[str, Job]:
    return {j.sop_instance_uid: j for j in jobs}


def _all_final(count: int) -> object:
    return lambda jobs: len(jobs) >= count and all(
        j.state in ("delivered", "held", "failed", "dead") for j in jobs)


@pytest.fixture(scope="module")
def bridge(orthanc: OrthancServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    """One bridge for the tests that do not stop it: allow-list MOD1/MOD2, Orthanc as PACS."""
    work = tmp_path_factory.mktemp("bridge")
    config = bridge_config(
        work / "var",
        scp={"host": "127.0.0.1", "port": 0, "allowed_calling_aes": ["MOD1", "MOD2"]},
        destinations=pacs_destination(orthanc.aet, orthanc.dicom_port),
        routing={"default": "pacs"},
        review=SEND_ALL_REVIEW,
    )
    with running_bridge(work, config) as running:
        yield running


def test_waveforms_arrive_in_orthanc_for_plain_and_compressed_sc(
    bridge: Bridge, orthanc: OrthancServer, tmp_path: Path, dciodvfy: object
) -> None:
    orthanc.clear()
    page = _page(0)
    study = pydicom.uid.generate_uid()
    plain = make_sc(page, study_instance_uid=study)
    files = {"plain": tmp_path / "plain.dcm"}
    plain.save_as(files["plain"], enforce_file_format=True)
    for name, syntax in (("rle", RLELossless), ("j2k", JPEG2000Lossless)):
        ds = make_sc(page, study_instance_uid=study)
        ds.compress(syntax)
        files[name] = tmp_path / f"{name}.dcm"
        ds.save_as(files[name], enforce_file_format=True)
    # JPEG baseline made by dcmtk's img2dcm, and the same decoded pixels uncompressed
    jpg = tmp_path / "page.jpg"
    Image.fromarray(page).save(jpg, quality=95)
    files["jpeg"] = tmp_path / "jpeg.dcm"
    subprocess.run([IMG2DCM, str(jpg), str(files["jpeg"]), "-k", "PatientName=Test^Patient",
                    "-k", "PatientID=PID-0001", "-k", f"StudyInstanceUID={study}"],
                   check=True, capture_output=True, timeout=60)
    decoded = np.asarray(Image.open(jpg).convert("RGB"))
    files["jpeg_plain"] = tmp_path / "jpeg_plain.dcm"
    make_sc(decoded, study_instance_uid=study).save_as(files["jpeg_plain"],
                                                       enforce_file_format=True)
    sources = {name: pydicom.dcmread(path) for name, path in files.items()}
    proposals = {"rle": ("-xr",), "j2k": ("-xv",), "jpeg": ("-xy",)}
    for name, path in files.items():
        done = _storescu(bridge, [path], options=proposals.get(name, ()))
        assert done.returncode == 0, (name, done.stderr)
    jobs = _by_sop(bridge.wait_jobs(
        lambda js: all(_by_sop(js).get(str(s.SOPInstanceUID)) is not None
                       and _by_sop(js)[str(s.SOPInstanceUID)].state in ("delivered", "failed",
                                                                         "dead", "held")
                       for s in sources.values()),
        deadline_s=120, what="5 images delivered"))
    waves: dict[str, np.ndarray] = {}
    for name, source in sources.items():
        job = jobs[str(source.SOPInstanceUID)]
        assert job.state == "delivered", (name, job.state, job.reason, job.message)
        local = pydicom.dcmread(job.outputs[0])
        assert Path(job.outputs[0]).with_suffix(".qa.png").is_file()  # the QA picture
        (found,) = orthanc.find_instances(SOPInstanceUID=str(local.SOPInstanceUID))
        sent = orthanc.instance_dataset(found)
        assert sent.SOPClassUID == "1.2.840.10008.5.1.4.1.1.9.1.1"
        assert sent.Modality == "ECG"
        assert (sent.PatientID, sent.StudyInstanceUID) == (source.PatientID, study)
        assert sent.SeriesInstanceUID != source.SeriesInstanceUID
        wave = sent.waveform_array(0).astype(np.float64)
        record = wfdb.rdrecord(str(Path(job.outputs[0]).with_suffix("")), physical=True)
        scale = 1000.0 if record.units[0] == "mV" else 1.0
        ref = record.p_signal * scale
        drawn = np.isfinite(ref)
        np.testing.assert_allclose(wave[drawn], ref[drawn], atol=1.0)
        out = tmp_path / f"{name}-wave.dcm"
        out.write_bytes(orthanc.instance_file(found))
        assert dciodvfy(out) == []  # type: ignore[operator]
        waves[name] = wave
    # lossless encodings give exactly the result of the uncompressed image
    np.testing.assert_array_equal(waves["rle"], waves["plain"])
    np.testing.assert_array_equal(waves["j2k"], waves["plain"])
    # JPEG baseline: libjpeg (pydicom) and Pillow decode a few pixels differently, so the
    # result equals the uncompressed one's on all but a handful of samples
    close = np.abs(waves["jpeg"] - waves["jpeg_plain"]) <= 50.0
    assert close.mean() >= 0.999, f"{close.size - close.sum()} of {close.size} samples differ"
    assert len(orthanc.instances()) == len(sources)


def test_bad_inputs_fail_with_a_reason_while_serving(
    bridge: Bridge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_sc(not_an_ecg(seed=3))
    other_path = tmp_path / "other.dcm"
    other.save_as(other_path, enforce_file_format=True)
    assert _storescu(bridge, [other_path]).returncode == 0
    zero = write_raw_payload(tmp_path / "zero.dcm", b"")
    corrupt = write_raw_payload(tmp_path / "corrupt.dcm", b"\xe0\x7f\x10\x00OB\x00\x00" + b"\x01" * 64)
    monkeypatch.setattr(pynetdicom_config, "STORE_SEND_CHUNKED_DATASET", True)
    ae = AE("MOD2")
    ae.add_requested_context(SecondaryCaptureImageStorage)
    assoc = ae.associate("127.0.0.1", bridge.scp_port, ae_title=bridge.ae_title)
    assert assoc.is_established
    assert [assoc.send_c_store(p).Status for p in (zero, corrupt)] == [0, 0]
    assoc.release()
    uids = {"other": str(other.SOPInstanceUID),
            "zero": str(pydicom.dcmread(zero).file_meta.MediaStorageSOPInstanceUID),
            "corrupt": str(pydicom.dcmread(corrupt, force=True).file_meta.MediaStorageSOPInstanceUID)}
    jobs = _by_sop(bridge.wait_jobs(
        lambda js: all(_by_sop(js).get(u) is not None and _by_sop(js)[u].state == "failed"
                       for u in uids.values()), deadline_s=60, what="3 failed jobs"))
    # whichever stage notices first that it is not an ECG page gives the reason
    assert jobs[uids["other"]].reason in {"no_ecg_trace_found", "no_ecg_grid_found",
                                          "layout_not_found"}
    assert jobs[uids["other"]].message
    assert jobs[uids["zero"]].reason == "corrupt_object"
    assert "0-byte" in (jobs[uids["zero"]].message or "")
    assert jobs[uids["corrupt"]].reason == "corrupt_object"
    for uid in uids.values():
        assert Path(jobs[uid].spool_path).exists()  # kept in quarantine
    assert _echoscu(bridge).returncode == 0
    with urllib.request.urlopen(f"http://127.0.0.1:{bridge.http_port}/readyz", timeout=10) as r:
        assert r.status == 200
    with urllib.request.urlopen(f"http://127.0.0.1:{bridge.http_port}/metrics", timeout=10) as r:
        metrics = r.read().decode()
    assert 'ecgbridge_jobs_by_reason{reason="corrupt_object",state="failed"} 2.0' in metrics
    assert "ecgbridge_ack_latency_seconds_bucket" in metrics


def test_unknown_calling_ae_is_rejected(bridge: Bridge) -> None:
    refused = _echoscu(bridge, aet="INTRUDER")
    assert refused.returncode != 0
    assert "Rejected" in refused.stdout + refused.stderr
    assert _echoscu(bridge, aet="MOD1").returncode == 0


def test_destination_down_then_up_delivers_once(
    orthanc: OrthancServer, tmp_path: Path
) -> None:
    orthanc.clear()
    gate = TcpGate("127.0.0.1", orthanc.dicom_port)
    config = bridge_config(
        tmp_path / "var",
        destinations={"pacs": {"ae_title": orthanc.aet, "host": "127.0.0.1", "port": gate.port}},
        routing={"default": "pacs"},
        review=SEND_ALL_REVIEW,
    )
    path = tmp_path / "p.dcm"
    make_sc(_page(1)).save_as(path, enforce_file_format=True)
    try:
        with running_bridge(tmp_path, config) as bridge:
            assert _storescu(bridge, [path]).returncode == 0
            bridge.wait_jobs(lambda js: bool(js) and js[0].attempts >= 2, deadline_s=60,
                             what="two failed send attempts")
            (job,) = bridge.jobs()
            assert job.state in ("built", "sending") and (job.reason or "").startswith("retrying")
            gate.up()
            (job,) = bridge.wait_jobs(_all_final(1), deadline_s=30, what="delivery")
            assert job.state == "delivered"
            uid = str(pydicom.dcmread(job.outputs[0]).SOPInstanceUID)
            assert len(orthanc.find_instances(SOPInstanceUID=uid)) == 1
            assert len(orthanc.instances()) == 1
            assert bridge.terminate() == 0  # SIGTERM drains and exits cleanly
    finally:
        gate.close()


def test_kill9_during_a_batch_loses_nothing_and_duplicates_nothing(
    orthanc: OrthancServer, tmp_path: Path
) -> None:
    orthanc.clear()
    config = bridge_config(
        tmp_path / "var",
        destinations=pacs_destination(orthanc.aet, orthanc.dicom_port),
        routing={"default": "pacs"},
        workers={"batch_size": 2, "poll_interval_s": 0.1, "device": "cpu", "nice": 0},
        review=SEND_ALL_REVIEW,
    )
    files = []
    for i in range(4):
        files.append(tmp_path / f"p{i}.dcm")
        make_sc(_page(i + 2)).save_as(files[-1], enforce_file_format=True)
    sources = {str(pydicom.dcmread(f).SOPInstanceUID) for f in files}
    with running_bridge(tmp_path, config, name="first") as first:
        assert _storescu(first, files).returncode == 0
        first.wait_jobs(lambda js: any(j.state == "digitizing" for j in js), deadline_s=30,
                        what="a batch in progress")
        first.kill9()
    assert len(first.jobs()) == 4  # every acknowledged image has its job row
    with running_bridge(tmp_path, config, name="second") as second:
        jobs = second.wait_jobs(_all_final(4), deadline_s=120, what="all 4 delivered")
        assert {j.sop_instance_uid for j in jobs} == sources
        assert [j.state for j in jobs] == ["delivered"] * 4, [(j.state, j.reason) for j in jobs]
        for job in jobs:
            uid = str(pydicom.dcmread(job.outputs[0]).SOPInstanceUID)
            assert len(orthanc.find_instances(SOPInstanceUID=uid)) == 1
        assert len(orthanc.instances()) == 4


def test_tls_client_certificates_with_dcmtk(tmp_path: Path) -> None:
    """dcmtk's echoscu over TLS: a client certificate from the hospital CA is accepted, one
    from another CA is refused (the bridge requires client certificates)."""
    from tests.integration.certs import make_pki

    pki = make_pki(tmp_path / "pki")
    config = bridge_config(tmp_path / "var", scp={
        "host": "127.0.0.1", "port": 0,
        "tls": {"cert": str(pki.server.cert), "key": str(pki.server.key),
                "ca": str(pki.server.ca), "require_client_cert": True}})

    def echo(bridge: Bridge, cert: Path, key: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ECHOSCU, "+tls", str(key), str(cert), "+cf", str(pki.server.ca),
             "-aet", "MOD1", "-aec", bridge.ae_title, "127.0.0.1", str(bridge.scp_port)],
            capture_output=True, text=True, timeout=60, check=False)

    with running_bridge(tmp_path, config) as bridge:
        good = echo(bridge, pki.client.cert, pki.client.key)
        assert good.returncode == 0, good.stdout + good.stderr
        rogue = echo(bridge, pki.rogue_client.cert, pki.rogue_client.key)
        assert rogue.returncode != 0
        plain = _echoscu(bridge)
        assert plain.returncode != 0
        assert echo(bridge, pki.client.cert, pki.client.key).returncode == 0  # still serving
