"""Per-lead quality (pipeline.digitizer._quality): the share of a window actually read."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.calibration import Scales
from pipeline.digitizer import _quality
from pipeline.extract import RowTrace
from pipeline.result import PanelPlacement


def _line(hole: tuple[float, float] | None) -> RowTrace:
    """A row read every 0.5 px over columns 0-199; an unread stretch [a, b) holds no
    samples but one NaN marking where it begins, as `extract.fit_line` leaves it."""
    x = np.arange(0.0, 200.0, 0.5)
    y = np.full(x.size, 50.0)
    if hole is not None:
        a, b = hole
        keep = (x < a) | (x >= b)
        x, y = x[keep], y[keep]
        at = int(np.searchsorted(x, a))
        x, y = np.insert(x, at, a - 0.25), np.insert(y, at, np.nan)
    return RowTrace(x_px=x, y_px=y, line_width_px=1.0, confident=np.isfinite(y))


@pytest.mark.parametrize(("hole", "expected"), [(None, 1.0), ((40.0, 120.0), 0.6)])
def test_quality_is_the_share_of_the_window_read(hole: tuple[float, float] | None,
                                                 expected: float) -> None:
    scales = Scales(px_per_mv=10.0, px_per_s=100.0, px_per_mm=4.0, mm_per_mv=10.0,
                    mm_per_s=25.0, assumed=())
    placement = PanelPlacement("I", 1, 0, 0.0, 100.0, 50.0, 10.0, 0.0, 2.0)
    signals = np.zeros((12, 1000), dtype=np.float32)
    q = _quality(signals, [placement], [_line(hole)], scales, grid=None)
    assert q[0] == pytest.approx(0.6 * expected, abs=0.01)  # 0.6: no grid was found
