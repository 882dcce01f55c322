"""ecgbridge.digitize_cmd: files and folders in, WFDB + JSON + QA out, one line per failure."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import wfdb
from PIL import Image

from ecgbridge import digitize_cmd
from pipeline.types import LEADS
from tests.unit.test_digitizer import RECORD, needs_data, render
from tests.unit.test_io import _png_header_only


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("in")
    if RECORD.with_suffix(".hea").exists():
        Image.fromarray(render().image).save(d / "page one.png")
    (d / "notes.txt").write_text("not an image")
    good = (d / "page one.png").read_bytes() if (d / "page one.png").exists() else b""
    (d / "truncated.png").write_bytes(good[: len(good) // 3] or b"\x89PNG\r\n\x1a\n")
    (d / "huge.png").write_bytes(_png_header_only(50_000, 50_000))
    Image.fromarray(np.full((600, 800, 3), 255, np.uint8)).save(d / "blank.jpg")
    return d


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = digitize_cmd.main(args)
    out, err = capsys.readouterr()
    return code, out, err


@needs_data
def test_folder_with_good_and_bad_inputs(inputs: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "out"
    code, _, err = run([str(inputs), "--out", str(out_dir), "--fs", "250",
                        "--segmenter", "classic"], capsys)
    assert code == 1
    failed = [line for line in err.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 3, err  # notes.txt beside the pictures is skipped
    assert any("truncated.png: not_an_image" in line for line in failed)
    assert any("huge.png: image_too_large" in line for line in failed)
    assert any("blank.jpg: no_ecg_trace_found" in line for line in failed)
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == ["page_one.dat", "page_one.hea", "page_one.json", "page_one.png"]
    rec = wfdb.rdrecord(str(out_dir / "page_one"))
    assert rec.sig_name == list(LEADS) and rec.fs == 250 and rec.p_signal.shape == (2500, 12)
    assert set(rec.units) == {"uV"}
    assert np.isnan(rec.p_signal[:, LEADS.index("V1")]).mean() > 0.5  # drawn 2.5 s of 10
    meta = json.loads((out_dir / "page_one.json").read_text())
    assert meta["layout"] == "3x4+1" and meta["source_file"].endswith("page one.png")
    assert "segment" in meta["timings_s"]
    assert len(meta["panels"]) == 13  # 3 x 4 windows and the rhythm strip
    strip = [p for p in meta["panels"] if p["row"] == 3]
    assert [(p["lead"], p["start_s"], p["inverted"]) for p in strip] == [("II", 0.0, False)]
    assert strip[0]["end_s"] == pytest.approx(9.68, abs=0.05)  # the page shows 4 x 2.42 s


@needs_data
def test_worker_processes_share_batches_across_inputs(inputs: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    good = inputs / "page one.png"
    second = tmp_path / "second.png"
    second.write_bytes(good.read_bytes())
    out_dir = tmp_path / "out"
    code, out, err = run([str(good), str(inputs / "blank.jpg"), str(second), "--out",
                          str(out_dir), "--workers", "2", "--batch", "3",
                          "--segmenter", "classic"], capsys)
    assert code == 1
    assert [line.rsplit(" -> ", 1)[0] for line in out.splitlines()] == [f"ok {good}",
                                                                         f"ok {second}"]
    assert [line.split(":")[0] for line in err.splitlines() if line.startswith("FAILED")] == [
        f"FAILED {inputs / 'blank.jpg'}"]
    one = wfdb.rdrecord(str(out_dir / "page_one")).p_signal
    two = wfdb.rdrecord(str(out_dir / "second")).p_signal
    np.testing.assert_array_equal(one, two)
    assert sorted(p.suffix for p in out_dir.iterdir()) == [".dat", ".dat", ".hea", ".hea",
                                                           ".json", ".json", ".png", ".png"]


@needs_data
def test_all_good_exits_zero_and_forced_layout(inputs: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([str(inputs / "page one.png"), "--out", str(tmp_path), "--layout",
                        "3x4+1"], capsys)
    assert code == 0 and "ok" in out
    code, _, err = run([str(inputs / "page one.png"), "--out", str(tmp_path / "x"),
                        "--layout", "12x1", "--segmenter", "classic"], capsys)
    assert code == 1 and "layout_not_found" in err
    code, _, err = run([str(inputs / "notes.txt"), "--out", str(tmp_path / "y")], capsys)
    assert code == 1 and "notes.txt: not_an_image" in err  # named, it is tried and refused
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_no_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run([str(tmp_path / "empty"), "--out", str(tmp_path / "o")], capsys)
    assert code == 1 and "no input files" in err


@pytest.mark.parametrize("flag", ["--workers", "--batch"])
def test_zero_workers_or_batch_is_refused(tmp_path: Path, flag: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([str(tmp_path), "--out", str(tmp_path / "o"), flag, "0"], capsys)
    assert code == 2 and "must be >= 1" in err
    assert not (tmp_path / "o").exists()


def test_module_entry_point_help() -> None:
    proc = subprocess.run([sys.executable, "-m", "ecgbridge.digitize_cmd", "--help"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and "--layout" in proc.stdout
