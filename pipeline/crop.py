"""Cropping to the signal region: where the trace ink is, without margins, header or
background clutter.

The region is the box holding the 1st to 99th percentile of long-trace ink in each axis,
widened by a margin; everything outside is ignored by the row finder.
"""
from __future__ import annotations

import numpy as np

from pipeline.errors import NoTraceFoundError
from pipeline.layout import long_trace_mask


def signal_box(trace_prob: np.ndarray, px_per_mm: float, margin_mm: float = 6.0
               ) -> tuple[int, int, int, int]:
    """Box (x0, y0, x1, y1), px, inclusive-exclusive, around the page's long traces.

    trace_prob: (H, W) float in [0, 1]; px_per_mm: page scale (an estimate is enough).
    Raises NoTraceFoundError when there is no long trace.
    """
    h, w = trace_prob.shape
    ink = long_trace_mask(trace_prob, min_width_px=max(8.0, 12.0 * px_per_mm))
    ys, xs = np.nonzero(ink)
    if ys.size == 0:
        raise NoTraceFoundError(
            "no ECG trace found: no ink line is longer than 12 mm "
            f"({12.0 * px_per_mm:.0f} px at {px_per_mm:.2f} px/mm)")
    m = int(margin_mm * px_per_mm)
    x0, x1 = np.percentile(xs, [0.5, 99.5])
    y0, y1 = np.percentile(ys, [0.5, 99.5])
    return (max(0, int(x0) - m), max(0, int(y0) - m), min(w, int(x1) + m + 1),
            min(h, int(y1) + m + 1))


def signal_region(trace_prob: np.ndarray, px_per_mm: float) -> np.ndarray:
    """(H, W) float32 mask, 1 inside `signal_box`, 0 outside."""
    x0, y0, x1, y1 = signal_box(trace_prob, px_per_mm)
    region = np.zeros(trace_prob.shape, dtype=np.float32)
    region[y0:y1, x0:x1] = 1.0
    return region
