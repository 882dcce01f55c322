"""Write a `DigitizationResult` as a WFDB record (`<name>.hea` + `<name>.dat`).

Format 16 (16-bit two's complement), one digital unit per microvolt (adc_gain 1.0/uV,
baseline 0), so +-32.767 mV fits and the round-trip error is at most 0.5 uV. Samples that
were not drawn (NaN) are stored as format 16's invalid sample value (-32768), which
`wfdb.rdrecord` reads back as NaN. Files are written under temporary names in a private
folder of `directory` and moved into place with `os.replace`, `.dat` before `.hea`, so a
reader never sees a header whose data file is incomplete.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import wfdb

from pipeline.types import LEADS, DigitizationResult

#: WFDB signal format used for every signal: 16-bit little-endian two's complement.
WFDB_FORMAT = "16"
#: Digital units per microvolt.
ADC_GAIN_PER_UV = 1.0
#: Format 16's "invalid sample" value; wfdb maps it to NaN on reading.
INVALID_SAMPLE = -32768
#: Largest magnitude stored, in uV (= digital units); larger values are clipped.
MAX_ABS_UV = 32767

_RECORD_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def digital_samples(signals_uv: np.ndarray) -> np.ndarray:
    """Convert (L, T) float uV with NaN to (L, T) int16 digital units.

    Values are rounded to whole uV and clipped to +-`MAX_ABS_UV`; NaN becomes
    `INVALID_SAMPLE`. Non-finite values other than NaN (+-inf) are clipped like large values.
    """
    signals = np.asarray(signals_uv, dtype=np.float64)
    missing = np.isnan(signals)
    digital = np.clip(np.rint(np.nan_to_num(signals, nan=0.0)), -MAX_ABS_UV, MAX_ABS_UV)
    out = digital.astype(np.int16)
    out[missing] = INVALID_SAMPLE
    return out


def write_wfdb_record(
    result: DigitizationResult,
    directory: Path,
    record_name: str,
    *,
    comments: Sequence[str] = (),
) -> list[Path]:
    """Write `result.signals_uv` (L=12, T) uV as WFDB record `directory/record_name`.

    Signals are named exactly `pipeline.types.LEADS` (I, II, III, aVR, aVL, aVF, V1..V6), units
    "uV", sampling frequency `result.fs_hz` Hz. `comments` go to the header's comment lines
    (one string per line, no newlines). Returns the written paths `[<name>.hea, <name>.dat]`.

    Raises ValueError when the record name is not a plain WFDB name, the result has no
    samples, its leads are not `LEADS`, or a comment contains a newline.
    """
    if not _RECORD_NAME.match(record_name):
        raise ValueError(
            f"record_name must match {_RECORD_NAME.pattern} (letters, digits, _ . -); "
            f"found {record_name!r}"
        )
    if tuple(result.leads) != LEADS:
        raise ValueError(f"result.leads must be {LEADS}; found {tuple(result.leads)}")
    n_leads, n_samples = result.signals_uv.shape
    if n_samples == 0:
        raise ValueError(f"signals_uv must have at least one sample; found shape "
                         f"{result.signals_uv.shape}")
    if not (np.isfinite(result.fs_hz) and result.fs_hz > 0):
        raise ValueError(f"fs_hz must be a positive number; found {result.fs_hz}")
    for line in comments:
        if "\n" in line or "\r" in line:
            raise ValueError(f"comments must be single lines; found {line!r}")

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    d_signal = digital_samples(result.signals_uv).T.astype(np.int64)  # (T, L)
    staging = Path(tempfile.mkdtemp(prefix=f".{record_name}.", suffix=".tmp", dir=directory))
    try:
        record = wfdb.Record(
            record_name=record_name,
            n_sig=n_leads,
            fs=float(result.fs_hz),
            sig_len=n_samples,
            d_signal=d_signal,
            fmt=[WFDB_FORMAT] * n_leads,
            adc_gain=[ADC_GAIN_PER_UV] * n_leads,
            baseline=[0] * n_leads,
            units=["uV"] * n_leads,
            sig_name=list(LEADS),
            file_name=[f"{record_name}.dat"] * n_leads,
            adc_res=[16] * n_leads,
            adc_zero=[0] * n_leads,
            comments=list(comments),
        )
        record.set_d_features()  # checksums and initial values, from d_signal
        record.set_defaults()  # block sizes, byte offsets and the like
        record.wrsamp(write_dir=str(staging))
        written: list[Path] = []
        for suffix in (".dat", ".hea"):
            staged = staging / f"{record_name}{suffix}"
            with open(staged, "rb") as handle:
                os.fsync(handle.fileno())
            final = directory / staged.name
            os.replace(staged, final)
            written.append(final)
        _fsync_directory(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [written[1], written[0]]


def _fsync_directory(directory: Path) -> None:
    """Make the renames in `directory` durable (POSIX); a no-op where unsupported."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on directories; the data files are synced
    finally:
        os.close(fd)
