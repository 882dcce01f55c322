"""Logging keeps PHI out unless allowed; the CLI validates configs and lists/requeues jobs."""
from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
import structlog

from ecgbridge.cli import main
from ecgbridge.config import LoggingConfig
from ecgbridge.jobs.store import JobStore
from ecgbridge.logging import configure_logging, get_logger


class _Stream(io.StringIO):
    def isatty(self) -> bool:
        return False


@pytest.fixture(autouse=True)
def _reset_logging() -> object:
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers[:] = []


@pytest.mark.parametrize("phi", [False, True])
def test_json_logs_bind_ids_and_drop_phi_unless_allowed(phi: bool) -> None:
    stream = _Stream()
    configure_logging(LoggingConfig(format="auto", phi=phi), stream=stream)
    log = get_logger("t", job_id="j1", sop_instance_uid="1.2.3", calling_ae="MOD1")
    log.info("object received", patient_name="Doe^Jane", PatientID="12345")
    logging.getLogger("other.lib").warning("stdlib message")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    event = lines[0]
    assert (event["job_id"], event["sop_instance_uid"], event["calling_ae"]) == ("j1", "1.2.3", "MOD1")
    assert ("patient_name" in event) is phi and ("PatientID" in event) is phi
    assert lines[1]["event"] == "stdlib message" and lines[1]["level"] == "warning"


def test_check_config_names_the_bad_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("scp: {port: 11113}\n")
    assert main(["check-config", str(good)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("scp: {port: 11113, colour: red}\n")
    assert main(["check-config", str(bad)]) == 2
    assert "scp.colour: unknown key" in capsys.readouterr().err


def test_jobs_retry_release(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "var"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"storage: {{state_dir: {state}}}\n")
    store = JobStore(state / "jobs.sqlite3")
    for i, final in enumerate(["dead", "held"]):
        store.insert_received(f"j{i}", sop_instance_uid=f"1.2.{i}", sop_class_uid="x",
                              calling_ae="MOD1", peer_host="h", spool_path=Path("p"),
                              destination="pacs")
    store.claim_received(2)
    store.finish_digitizing("j0", state="built", outputs=["a.dcm"])
    store.claim_sendable(1, now=2e9)
    store.mark_dead("j0", reason="rejected_0xC000", message="refused")
    store.finish_digitizing("j1", state="held", reason="low_quality")
    assert main(["jobs", "--config", str(cfg), "--json", "--state", "dead"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(j["id"], j["reason"]) for j in listed] == [("j0", "rejected_0xC000")]
    assert main(["retry", "--config", str(cfg), "--all-dead"]) == 0
    assert main(["release", "--config", str(cfg), "j1"]) == 0
    assert main(["retry", "--config", str(cfg), "nope"]) == 1
    assert {j.id: j.state for j in store.list()} == {"j0": "built", "j1": "built"}
    assert main(["jobs", "--config", str(cfg)]) == 0
    assert "built=2" in capsys.readouterr().out


def test_serve_reports_a_port_in_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        cfg = tmp_path / "c.yaml"
        cfg.write_text(f"storage: {{state_dir: '{tmp_path / 'var'}'}}\n"
                       f"scp: {{host: 127.0.0.1, port: {port}}}\nhttp: {{enabled: false}}\n"
                       "workers: {isolation: process}\n")
        assert main(["serve", "--config", str(cfg)]) == 1
    assert "Address already in use" in capsys.readouterr().err
