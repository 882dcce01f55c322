"""`ecgbridge sweep --once` (python -m ecgbridge.sweeps) with real config files."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from ecgbridge.jobs.store import JobStore
from ecgbridge.sweeps.cmd import main


def _write_configs(tmp: Path, folder: dict[str, object]) -> tuple[Path, Path]:
    service = tmp / "service.yaml"
    service.write_text(yaml.safe_dump({
        "storage": {"state_dir": str(tmp / "var")},
        "destinations": {"pacs": {"ae_title": "PACS", "host": "127.0.0.1", "port": 104}},
        "logging": {"format": "json", "level": "WARNING"},
    }))
    sweeps = tmp / "sweeps.yaml"
    sweeps.write_text(yaml.safe_dump({"sweeps": {"folders": [folder]}}))
    return service, sweeps


def test_once_sweeps_into_the_service_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    buf = io.BytesIO()
    Image.fromarray(np.full((40, 60, 3), 128, np.uint8)).save(buf, "PNG")
    (inbox / "a.png").write_bytes(buf.getvalue())
    (inbox / "a.json").write_text('{"PatientID": "7"}')
    service, sweeps = _write_configs(tmp_path, {"name": "in", "path": str(inbox),
                                                "interval_s": 60, "stable_s": 0,
                                                "destination": "pacs"})
    assert main(["--config", str(service), "--sweeps", str(sweeps), "--once"]) == 0
    assert "in: queued 1 (1 jobs)" in capsys.readouterr().out
    store = JobStore(tmp_path / "var" / "jobs.sqlite3")
    (job,) = store.list()
    assert job.destination == "pacs" and job.calling_ae == "sweep:in"
    store.close()


def test_config_errors_name_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    service, sweeps = _write_configs(tmp_path, {"name": "in", "path": str(tmp_path),
                                                "interval_s": 60, "destination": "nope"})
    assert main(["--config", str(service), "--sweeps", str(sweeps), "--once"]) == 2
    assert "destination names 'nope'" in capsys.readouterr().err
    service, sweeps = _write_configs(tmp_path, {"name": "in", "path": str(tmp_path),
                                                "interval_s": 60, "stable": 3})
    assert main(["--config", str(service), "--sweeps", str(sweeps), "--once"]) == 2
    assert "sweeps.folders.0.stable: unknown key" in capsys.readouterr().err
    assert main(["--config", str(service), "--once"]) == 2
    assert "no sweep folders configured" in capsys.readouterr().err
