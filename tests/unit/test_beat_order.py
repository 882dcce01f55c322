"""Which way time runs along a row: T waves follow QRS complexes."""
from __future__ import annotations

import numpy as np

from pipeline.beat_order import time_asymmetry
from pipeline.extract import RowTrace

PX_PER_S = 200.0  # 25 mm/s at 8 px/mm


def beats(seconds: float = 10.0, rate_hz: float = 1.2, px_per_s: float = PX_PER_S
          ) -> np.ndarray:
    """(T,) upward deflection in px, one px per sample at px_per_s: a small P wave, a
    narrow QRS spike and a wide T wave per beat."""
    t = np.arange(round(seconds * px_per_s)) / px_per_s
    phase = (t % (1.0 / rate_hz))[:, None] - np.array([0.25, 0.4, 0.65])[None, :]
    widths = np.array([0.03, 0.012, 0.06])
    heights = np.array([6.0, 60.0, 15.0])
    return (heights * np.exp(-0.5 * (phase / widths) ** 2)).sum(axis=1)


def row(upward: np.ndarray, baseline_px: float = 300.0) -> RowTrace:
    """A RowTrace of an (N,) upward deflection (image y grows downward)."""
    x = np.arange(upward.size, dtype=np.float64)
    return RowTrace(x_px=x, y_px=baseline_px - upward, line_width_px=2.0,
                    confident=np.ones(upward.size, bool))


def test_rows_read_as_drawn_run_forward() -> None:
    assert time_asymmetry([row(beats()), row(-0.7 * beats())], PX_PER_S) > 0.3
    assert time_asymmetry([row(beats(rate_hz=0.8))], PX_PER_S) > 0.3


def test_rows_drawn_at_50_mm_s_run_forward() -> None:
    # The windows are shares of the beat interval, so twice the paper speed (and half the
    # beats a row) reads the same way.
    fast = beats(seconds=5.0, px_per_s=2 * PX_PER_S)
    assert time_asymmetry([row(fast)], PX_PER_S) > 0.3
    assert time_asymmetry([row(-fast[::-1])], PX_PER_S) < -0.3


def test_rows_read_upside_down_run_backward() -> None:
    # Turned 180 degrees: the row runs right to left and its deflections point down.
    turned = [row(-beats()[::-1]), row(0.7 * beats()[::-1])]
    assert time_asymmetry(turned, PX_PER_S) < -0.3


def test_the_deflections_direction_does_not_matter() -> None:
    # Deep S waves or a negative lead (aVR): still forward.
    assert time_asymmetry([row(-beats())], PX_PER_S) > 0.3


def test_rows_too_short_or_unread_tell_nothing() -> None:
    short = row(beats(seconds=0.5))
    unread = row(np.full(2000, np.nan))
    assert time_asymmetry([short, unread], PX_PER_S) == 0.0
    assert time_asymmetry([], PX_PER_S) == 0.0
