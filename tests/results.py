"""Hand-built `DigitizationResult`s from PTB-XL records, for tests of outputs and DICOM."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import wfdb
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from pipeline.types import LEADS, DigitizationResult
from tests.paths import SHARED_PTBXL

PTBXL_DIR = SHARED_PTBXL
#: A record checked in as a golden fixture, used when the shared data folder is absent.
FIXTURE_DIR = Path(__file__).parent / "fixtures" / "ptbxl"


def _record_path(record: str) -> Path:
    for folder in (PTBXL_DIR, FIXTURE_DIR):
        if (folder / f"{record}.hea").exists():
            return folder / record
    raise FileNotFoundError(f"PTB-XL record {record} not in {PTBXL_DIR} or {FIXTURE_DIR}")


def load_signals_uv(record: str = "00009_hr") -> tuple[np.ndarray, float]:
    """A PTB-XL record as ((L=12, T) float32 uV, fs Hz), leads in `LEADS` order."""
    rec = wfdb.rdrecord(str(_record_path(record)))
    order = [rec.sig_name.index(lead) for lead in LEADS]
    scale = np.array([1000.0 if u.lower() == "mv" else 1.0 for u in rec.units])
    signals = (rec.p_signal * scale).T[order].astype(np.float32)
    return signals, float(rec.fs)


def page_3x4_result(record: str = "00009_hr", *, rhythm_lead: str = "II") -> DigitizationResult:
    """A result shaped like a 3x4+1 page: each lead drawn only in its 2.5 s column window,
    plus one full-length rhythm lead; NaN elsewhere."""
    signals, fs = load_signals_uv(record)
    n_samples = signals.shape[1]
    out = np.full_like(signals, np.nan)
    columns = [("I", "II", "III"), ("aVR", "aVL", "aVF"), ("V1", "V2", "V3"), ("V4", "V5", "V6")]
    quarter = n_samples // 4
    for column, leads in enumerate(columns):
        window = slice(column * quarter, (column + 1) * quarter)
        for lead in leads:
            out[LEADS.index(lead), window] = signals[LEADS.index(lead), window]
    out[LEADS.index(rhythm_lead)] = signals[LEADS.index(rhythm_lead)]
    quality = np.linspace(0.5, 0.95, len(LEADS))
    return DigitizationResult(
        signals_uv=out,
        fs_hz=fs,
        layout="3x4+1",
        px_per_mm=7.87,
        mm_per_mv=10.0,
        mm_per_s=25.0,
        quality=quality,
        assumed=("mm_per_mv",),
        timings_s={"segment": 0.5, "extract": 0.25},
        rotation_deg=0.0,
    )


def source_image(*, frames: int = 1) -> Dataset:
    """The attributes of a received SC image that the waveform copies or references."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7" if frames == 1 else "1.2.840.10008.5.1.4.1.1.7.4"
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["test-waveform-source", str(frames)])
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["test-waveform-study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["test-waveform-series"])
    ds.PatientName = "Müller^Jörg"
    ds.PatientID = "PID-42"
    ds.IssuerOfPatientID = "HOSP"
    ds.PatientBirthDate = "19600131"
    ds.PatientSex = "M"
    ds.StudyDate, ds.StudyTime = "20250314", "091500"
    ds.StudyID, ds.AccessionNumber = "ST1", "ACC-7"
    ds.ReferringPhysicianName = "House^Gregory"
    ds.StudyDescription = "Resting ECG"
    ds.AcquisitionDateTime = "20250314091212"
    ds.Modality = "OT"
    if frames > 1:
        ds.NumberOfFrames = frames
    return ds
