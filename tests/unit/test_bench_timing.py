"""The accuracy breakdown's timing diagnostic (bench/accuracy_breakdown.py `local_timing`)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from accuracy_breakdown import local_timing

from pipeline.evaluate import score_lead

FS = 500.0


def _beats(t_s: np.ndarray) -> np.ndarray:
    """(T,) uV: a narrow 1 mV complex every 0.8 s over a slow wave."""
    phase = (t_s % 0.8) - 0.4
    return 1000.0 * np.exp(-0.5 * (phase / 0.01) ** 2) + 100.0 * np.sin(2 * np.pi * 0.3 * t_s)


def test_a_stretched_time_axis_drifts_and_local_shifts_recover_it() -> None:
    t = np.arange(5000) / FS
    ref = _beats(t).astype(np.float32)
    est = _beats(t * 1.003).astype(np.float32)  # 0.3 %: 15 samples late at 10 s
    s = score_lead(ref, est, FS)
    assert s is not None
    local, drift = local_timing(ref, est, int(s["shift_samples"]), float(s["offset_uv"]))
    assert drift >= 8
    assert local > s["score_db"] + 5.0


def test_a_read_on_time_does_not_drift() -> None:
    t = np.arange(5000) / FS
    ref = _beats(t).astype(np.float32)
    noise = np.random.default_rng(0).normal(0.0, 20.0, ref.size).astype(np.float32)
    est = np.roll(ref, 3) + noise  # whole lead 3 samples late: one shift fits every window
    s = score_lead(ref, est, FS)
    assert s is not None and s["shift_samples"] == -3
    local, drift = local_timing(ref, est, -3, float(s["offset_uv"]))
    assert drift == 0
    assert abs(local - s["score_db"]) < 0.3
