"""The `ecgbridge` command lists every subcommand, and `sweep` runs through it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ecgbridge.cli import main

COMMANDS = ("serve", "digitize", "jobs", "retry", "release", "check-config", "backfill", "sweep")


def test_help_lists_every_command() -> None:
    done = subprocess.run([sys.executable, "-m", "ecgbridge", "--help"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    listed = done.stdout.split("{", 1)[1].split("}", 1)[0].split(",")
    assert sorted(listed) == sorted(COMMANDS)


def test_sweep_is_the_sweeps_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"storage: {{state_dir: '{tmp_path / 'var'}'}}\n")
    assert main(["sweep", "--config", str(cfg), "--once"]) == 2  # no folders: a config error
    assert "no sweep folders configured" in capsys.readouterr().err
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "notes.txt").write_text("not an ECG")
    cfg.write_text(cfg.read_text() + f"sweeps: {{folders: [{{name: inbox, path: '{inbox}', "
                                      "interval_s: 60, stable_s: 0}]}\n")
    assert main(["sweep", "--config", str(cfg), "--once"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("inbox: queued 0 (0 jobs), failed 1"), out
