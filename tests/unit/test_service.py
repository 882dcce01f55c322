"""The Service in-process (thread workers, stand-in digitizer): SCP and a swept folder feed
the same job store; results of a job routed nowhere land in the out folder; stop() drains."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import SecondaryCaptureImageStorage  # type: ignore[attr-defined]

from ecgbridge.config import Settings, load_settings
from ecgbridge.service import Service
from tests.integration.sc_images import make_sc
from tests.unit.test_worker import StandIn, _page


def standin_factory(settings: Settings) -> StandIn:
    return StandIn()


def _wait(predicate: object, deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise TimeoutError(f"condition not met within {deadline_s} s")


def test_scp_and_sweep_jobs_are_processed_and_written_out(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    settings = load_settings(environ={
        "ECGBRIDGE__STORAGE__STATE_DIR": str(tmp_path / "var"),
        "ECGBRIDGE__SCP__HOST": "127.0.0.1", "ECGBRIDGE__SCP__PORT": "0",
        "ECGBRIDGE__HTTP__ENABLED": "false",
        "ECGBRIDGE__WORKERS__ISOLATION": "thread", "ECGBRIDGE__WORKERS__POLL_INTERVAL_S": "0.05",
        "ECGBRIDGE__SWEEPS__FOLDERS": f"[{{name: inbox, path: '{inbox}', interval_s: 0.2, stable_s: 0}}]",
    })
    service = Service(settings, digitizer_factory=standin_factory)
    info = service.start()
    try:
        ae = AE("MOD1")
        ae.add_requested_context(SecondaryCaptureImageStorage)
        assoc = ae.associate("127.0.0.1", info["scp_port"])
        sent = make_sc(_page(0.9))
        assert assoc.send_c_store(sent).Status == 0
        assoc.release()
        swept = make_sc(_page(0.9))
        swept.save_as(inbox / "swept.dcm", enforce_file_format=True)
        _wait(lambda: service.store.counts()["delivered"] == 2)
        ready, details = service.readiness()
        assert ready and details["jobs"]["delivered"] == 2
    finally:
        service.stop(drain_s=5)
    for ds in (sent, swept):
        out = settings.storage.out_dir / str(ds.SOPInstanceUID)
        assert (out / "ecg-0.dcm").is_file() and (out / "ecg-0.hea").is_file()
    assert {j.peer_host for j in service.store.list()} == {"127.0.0.1", "sweep"}
    assert not service.readiness()[0]
    assert np.all([not t.is_alive() for t in service._threads])


def test_held_result_is_kept_until_released(tmp_path: Path) -> None:
    from ecgbridge.cli import main

    state = tmp_path / "var"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"storage: {{state_dir: '{state}'}}\nscp: {{host: 127.0.0.1, port: 0}}\n"
        "http: {enabled: false}\nworkers: {isolation: thread, poll_interval_s: 0.05}\n")
    settings = load_settings(cfg, environ={})
    service = Service(settings, digitizer_factory=standin_factory)
    info = service.start()
    try:
        ae = AE("MOD1")
        ae.add_requested_context(SecondaryCaptureImageStorage)
        assoc = ae.associate("127.0.0.1", info["scp_port"])
        low = make_sc(_page(0.2))
        assert assoc.send_c_store(low).Status == 0
        assoc.release()
        _wait(lambda: service.store.counts()["held"] == 1)
        (job,) = service.store.list()
        assert job.reason == "low_quality" and job.quality == pytest.approx(0.2, abs=0.01)
        folder = Path(job.result_dir or "")
        assert (folder / "ecg-0.dcm").is_file()
        assert not (settings.storage.out_dir / folder.name).exists()  # not sent
        assert main(["release", "--config", str(cfg), job.id]) == 0
        service.outbox_ready.set()
        _wait(lambda: service.store.counts()["delivered"] == 1)
        assert (settings.storage.out_dir / folder.name / "ecg-0.dcm").is_file()
    finally:
        service.stop(drain_s=5)


def test_metrics_show_backfill_ledger_progress(tmp_path: Path) -> None:
    """The backfill ledger in the state folder (written by `ecgbridge backfill`, a separate
    process) is counted on the service's own /metrics at scrape time."""
    from urllib.request import urlopen

    from ecgbridge.backfill.ledger import LEDGER_FILE, BackfillLedger

    settings = load_settings(environ={
        "ECGBRIDGE__STORAGE__STATE_DIR": str(tmp_path / "var"),
        "ECGBRIDGE__SCP__HOST": "127.0.0.1", "ECGBRIDGE__SCP__PORT": "0",
        "ECGBRIDGE__HTTP__PORT": "0", "ECGBRIDGE__WORKERS__ISOLATION": "thread",
    })
    service = Service(settings, digitizer_factory=standin_factory)
    info = service.start()
    try:
        url = f"http://127.0.0.1:{info['http_port']}/metrics"
        before = urlopen(url, timeout=10).read().decode()
        assert "# TYPE ecgbridge_backfill_ledger_items gauge" in before
        assert "ecgbridge_backfill_ledger_items{" not in before  # no ledger yet
        ledger = BackfillLedger(settings.storage.state_dir / LEDGER_FILE)
        for uid, state in (("1.2.1", "queued"), ("1.2.2", "queued"), ("1.2.3", "skipped")):
            ledger.mark(uid, pacs="PACS", study_uid="1.2", series_uid="1.2.9", state=state)
        ledger.close()
        after = urlopen(url, timeout=10).read().decode()
    finally:
        service.stop(drain_s=5)
    assert 'ecgbridge_backfill_ledger_items{state="queued"} 2.0' in after
    assert 'ecgbridge_backfill_ledger_items{state="skipped"} 1.0' in after
    assert 'ecgbridge_backfill_ledger_items{state="failed"} 0.0' in after
