"""dciodvfy (dicom3tools) finds no error in the 12-lead ECG waveforms we build."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ecgbridge.dicom.waveform import build_ecg_waveform
from tests.results import page_3x4_result, source_image

pytestmark = pytest.mark.integration
NOW = dt.datetime(2026, 1, 2, 3, 4, 5)


def _write(tmp_path: Path, name: str, **kwargs: object) -> Path:
    source = kwargs.pop("source", None) or source_image()
    result = kwargs.pop("result", None) or page_3x4_result()
    ds = build_ecg_waveform(
        source, result, digitizer_version="0.1.0", now=NOW, **kwargs  # type: ignore[arg-type]
    )
    path = tmp_path / name
    ds.save_as(path, enforce_file_format=True)
    return path


def test_dciodvfy_detects_errors(dciodvfy: Callable[[Path], list[str]], tmp_path: Path) -> None:
    """The check can fail: a waveform without Patient ID (type 2) is reported."""
    import pydicom

    path = _write(tmp_path, "bad.dcm", weights_sha256=None)
    ds = pydicom.dcmread(path)
    del ds.PatientID
    del ds.WaveformSequence[0].ChannelDefinitionSequence[0].ChannelSourceSequence
    ds.save_as(path)
    errors = dciodvfy(path)
    assert any("PatientID" in line for line in errors), errors
    assert any("ChannelSourceSequence" in line for line in errors), errors


@pytest.mark.parametrize(
    "case", ["3x4", "all_drawn_with_weights", "multiframe_source", "minimal_source"]
)
def test_dciodvfy_reports_no_error(
    dciodvfy: Callable[[Path], list[str]], tmp_path: Path, case: str
) -> None:
    kwargs: dict[str, object] = {"weights_sha256": None}
    if case == "all_drawn_with_weights":
        result = page_3x4_result()
        full = np.nan_to_num(result.signals_uv, nan=0.0)
        kwargs = {"weights_sha256": "ab" * 32,
                  "result": dataclasses.replace(result, signals_uv=full)}
    elif case == "multiframe_source":
        kwargs["source"] = source_image(frames=2)
        kwargs["frame"] = 1
    elif case == "minimal_source":
        source = source_image()
        for keyword in ("PatientName", "PatientBirthDate", "PatientSex", "StudyDate",
                        "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName",
                        "StudyDescription", "AcquisitionDateTime", "IssuerOfPatientID"):
            delattr(source, keyword)
        kwargs["source"] = source
    path = _write(tmp_path, f"{case}.dcm", **kwargs)
    assert dciodvfy(path) == []


def test_dciodvfy_no_error_for_a_source_made_by_img2dcm(
    dciodvfy: Callable[[Path], list[str]], dcmtk: Callable[[str], Path], tmp_path: Path
) -> None:
    """A source as a modality might send it (dcmtk img2dcm: type 2 attributes empty)."""
    import subprocess

    import pydicom
    from PIL import Image

    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(tmp_path / "x.bmp")
    subprocess.run(
        [str(dcmtk("img2dcm")), "-i", "BMP", str(tmp_path / "x.bmp"), str(tmp_path / "sc.dcm")],
        check=True, capture_output=True, timeout=60,
    )
    source = pydicom.dcmread(tmp_path / "sc.dcm")
    path = _write(tmp_path, "from-img2dcm.dcm", source=source, weights_sha256="AB" * 32)
    assert dciodvfy(path) == []
    assert pydicom.dcmread(path).StudyInstanceUID == source.StudyInstanceUID
