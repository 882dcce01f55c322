"""Reading 12-lead signals from WFDB records (PTB-XL records, digitizer outputs).

Arrays use L for leads (always 12, in `pipeline.types.LEADS` order) and T for samples.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import wfdb

from pipeline.types import LEADS

#: Multipliers from a WFDB unit string (lower-cased) to millivolts.
_TO_MV: dict[str, float] = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3}


def _lead_order(sig_names: list[str], path: str | Path) -> list[int | None]:
    """Index into the record's signals for each of `LEADS` (None where absent)."""
    lowered = [name.strip().lower() for name in sig_names]
    order: list[int | None] = []
    for lead in LEADS:
        order.append(lowered.index(lead.lower()) if lead.lower() in lowered else None)
    if all(index is None for index in order):
        raise ValueError(
            f"record {path} names none of the 12 leads {LEADS}; found signals {sig_names}"
        )
    return order


def read_record_mv(path: str | Path) -> tuple[np.ndarray, float]:
    """Read a WFDB record as ((L=12, T) float64 mV, fs Hz), leads in `LEADS` order.

    `path` is the record path without extension. Units are read from the header (mV, uV
    or V); a lead that is absent from the record is all NaN, as are invalid samples.
    """
    record = wfdb.rdrecord(str(path))
    if record.p_signal is None or record.sig_name is None:
        raise ValueError(f"record {path} holds no physical signals")
    order = _lead_order(list(record.sig_name), path)
    units = [str(u).strip().lower() for u in (record.units or ["mV"] * len(record.sig_name))]
    n_samples = record.p_signal.shape[0]
    out = np.full((len(LEADS), n_samples), np.nan, dtype=np.float64)
    for row, index in enumerate(order):
        if index is None:
            continue
        unit = units[index]
        if unit not in _TO_MV:
            raise ValueError(
                f"record {path} signal {record.sig_name[index]} has unit {unit!r}; "
                f"expected one of {sorted(_TO_MV)}"
            )
        out[row] = record.p_signal[:, index] * _TO_MV[unit]
    return out, float(record.fs)


def load_record(path: str | Path) -> tuple[np.ndarray, float]:
    """Load a 12-lead record for rendering: ((L=12, T) float64 mV, fs Hz).

    Unlike `read_record_mv`, every lead must be present and finite.
    """
    signals_mv, fs_hz = read_record_mv(path)
    missing = [lead for lead, row in zip(LEADS, signals_mv) if not np.all(np.isfinite(row))]
    if missing:
        raise ValueError(f"record {path}: leads {missing} are absent or hold invalid samples")
    return signals_mv, fs_hz


def record_name(path: str | Path) -> str:
    """The record's name: its file name without folder or extension (e.g. "00009_hr")."""
    name = Path(path).name
    for suffix in (".hea", ".dat"):
        name = name.removesuffix(suffix)
    return name
