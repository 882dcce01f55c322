"""WFDB record and sidecar outputs: round trip through wfdb, NaN, atomicity, bad input."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgbridge.output import write_sidecar, write_wfdb_record
from ecgbridge.output.wfdb_record import INVALID_SAMPLE, MAX_ABS_UV, digital_samples
from pipeline.types import LEADS
from tests.results import page_3x4_result


def test_round_trip_within_one_microvolt_and_nan_preserved(tmp_path: Path) -> None:
    result = page_3x4_result()
    paths = write_wfdb_record(result, tmp_path, "rec1", comments=["source: test", "v 1"])
    assert [p.name for p in paths] == ["rec1.hea", "rec1.dat"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec1.dat", "rec1.hea"]

    back = wfdb.rdrecord(str(tmp_path / "rec1"))
    assert back.sig_name == list(LEADS)
    assert back.units == ["uV"] * 12
    assert back.fs == result.fs_hz
    assert back.fmt == ["16"] * 12
    assert back.comments == ["source: test", "v 1"]
    read = back.p_signal.T
    assert read.shape == result.signals_uv.shape
    np.testing.assert_array_equal(np.isnan(read), np.isnan(result.signals_uv))
    drawn = ~np.isnan(result.signals_uv)
    assert drawn.sum() > 0 and (~drawn).sum() > 0
    assert np.max(np.abs(read[drawn] - result.signals_uv[drawn])) <= 1.0


def test_thirty_two_millivolts_fit_and_larger_values_clip(tmp_path: Path) -> None:
    result = page_3x4_result()
    signals = np.zeros_like(result.signals_uv)
    signals[0, :3] = [32000.0, -32000.0, 1e6]
    signals[1, :2] = [np.nan, -np.inf]
    write_wfdb_record(dataclasses.replace(result, signals_uv=signals), tmp_path, "big")
    read = wfdb.rdrecord(str(tmp_path / "big")).p_signal.T
    np.testing.assert_allclose(read[0, :3], [32000.0, -32000.0, MAX_ABS_UV])
    assert np.isnan(read[1, 0]) and read[1, 1] == -MAX_ABS_UV


def test_digital_samples_marks_nan_invalid() -> None:
    digital = digital_samples(np.array([[1.4, np.nan, -2.6]], dtype=np.float32))
    assert digital.dtype == np.int16
    assert digital.tolist() == [[1, INVALID_SAMPLE, -3]]


def test_rewrite_replaces_and_leaves_no_temporaries(tmp_path: Path) -> None:
    result = page_3x4_result()
    write_wfdb_record(result, tmp_path, "rec")
    shorter = dataclasses.replace(result, signals_uv=result.signals_uv[:, :1000])
    write_wfdb_record(shorter, tmp_path, "rec")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.dat", "rec.hea"]
    assert wfdb.rdrecord(str(tmp_path / "rec")).sig_len == 1000


@pytest.mark.parametrize("name", ["", "../x", "a b", "x/y"])
def test_bad_record_name_raises(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="record_name"):
        write_wfdb_record(page_3x4_result(), tmp_path, name)


def test_multiline_comment_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="single lines"):
        write_wfdb_record(page_3x4_result(), tmp_path, "r", comments=["a\nb"])


def test_sidecar_content(tmp_path: Path) -> None:
    result = page_3x4_result()
    result.timings_s["nan_stage"] = float("nan")
    path = write_sidecar(result, tmp_path / "sub" / "r.json", extra={"sop_instance_uid": "1.2.3"})
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["layout"] == "3x4+1"
    assert data["px_per_mm"] == pytest.approx(7.87)
    assert data["mm_per_mv"] == 10.0 and data["mm_per_s"] == 25.0
    assert list(data["quality"]) == list(LEADS)
    assert data["quality"]["I"] == pytest.approx(0.5)
    assert data["drawn_fraction"]["I"] == 0.25 and data["drawn_fraction"]["II"] == 1.0
    assert data["assumed"] == ["mm_per_mv"]
    assert data["timings_s"]["segment"] == 0.5 and data["timings_s"]["nan_stage"] is None
    assert data["sop_instance_uid"] == "1.2.3"
    assert set(data["version"]) == {"ecgbridge", "pipeline"}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_sidecar_extra_key_clash_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="layout"):
        write_sidecar(page_3x4_result(), tmp_path / "r.json", extra={"layout": "x"})
