"""pipeline.digitizer row helpers: where a row's signal starts and ends."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.digitizer import _after_break, _line_samples
from pipeline.extract import RowTrace
from pipeline.layout import TraceRow

PPM = 8.0


def pulse_row(gap_px: int) -> tuple[np.ndarray, TraceRow]:
    """(H, W) mask: a pulse's flat tail (x 100..112) on the baseline, a gap, then a line."""
    mask = np.zeros((80, 400), dtype=bool)
    mask[40, 100:113] = True
    mask[40:42, 113 + gap_px:390] = True
    return mask, TraceRow(40.0, 60, 390, 10, 70)


def test_signal_starts_past_the_pulse_tail_and_its_break() -> None:
    mask, row = pulse_row(gap_px=5)
    assert _after_break(mask, row, 101.0, 4 * PPM, +1, PPM) == pytest.approx(118.0)


def test_no_break_after_the_pulse_keeps_the_start() -> None:
    mask, row = pulse_row(gap_px=0)
    assert _after_break(mask, row, 101.0, 4 * PPM, +1, PPM) == pytest.approx(101.0)


def test_signal_ends_before_the_break_of_an_end_pulse() -> None:
    mask = np.zeros((80, 400), dtype=bool)
    mask[40, 50:300] = True
    mask[40, 305:320] = True  # the end pulse's flat lead-in
    row = TraceRow(40.0, 50, 390, 10, 70)
    assert _after_break(mask, row, 318.0, 4 * PPM, -1, PPM) == pytest.approx(299.0)


def test_dropouts_of_a_thin_line_are_not_a_break() -> None:
    mask, row = pulse_row(gap_px=0)
    mask[40:42, 116:390:6] = False  # 1-px dropouts every 6 px (a faint 1-px line)
    assert _after_break(mask, row, 101.0, 4 * PPM, +1, PPM) == pytest.approx(101.0)


def test_stray_pieces_at_the_ends_are_not_the_line() -> None:
    x = np.arange(0, 305, dtype=np.float64)
    y = np.full(x.size, 50.0)
    y[4:20] = np.nan  # a 4-px speck at x 0..3, then the line from x 20
    y[290:300] = np.nan  # the line ends at 289, a 4-px speck at 300..304
    tr = RowTrace(x_px=x, y_px=y, line_width_px=1.5, confident=np.isfinite(y))
    idx = _line_samples(tr, PPM)
    assert (x[idx[0]], x[idx[-1]]) == (20.0, 289.0)
