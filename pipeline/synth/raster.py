"""Exact, vectorised rasterisation of the page's ink with sub-pixel precision.

Coordinates are image pixels with pixel centres on integers: pixel (r, c) covers
x in [c - 0.5, c + 0.5), y in [r - 0.5, r + 0.5). Coverage is the fraction of a pixel's area
that is ink, in [0, 1]; a "mask" pixel is one with coverage >= 0.5 or one that the centre
line passes through (so hair lines thinner than a pixel still have mask pixels).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d


@dataclass(frozen=True)
class Patch:
    """Coverage of one stroke in a window of the image.

    r0, c0: top-left pixel of the window. coverage: (h, w) float32 in [0, 1].
    mask: (h, w) bool, the stroke's mask pixels.
    """

    r0: int
    c0: int
    coverage: np.ndarray
    mask: np.ndarray

    def slices(self, shape: tuple[int, int]) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
        """(image slices, patch slices) of the part of the patch inside an image of `shape`."""
        h, w = self.coverage.shape
        ir0, ic0 = max(self.r0, 0), max(self.c0, 0)
        ir1, ic1 = min(self.r0 + h, shape[0]), min(self.c0 + w, shape[1])
        if ir1 <= ir0 or ic1 <= ic0:
            return (slice(0, 0), slice(0, 0)), (slice(0, 0), slice(0, 0))
        return (
            (slice(ir0, ir1), slice(ic0, ic1)),
            (slice(ir0 - self.r0, ir1 - self.r0), slice(ic0 - self.c0, ic1 - self.c0)),
        )


def _column_spans(x: np.ndarray, y: np.ndarray, c_lo: int, c_hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of the polyline's y over each pixel column c_lo..c_hi (inclusive).

    x must be non-decreasing. Columns the polyline does not reach hold +inf / -inf.
    """
    n_cols = c_hi - c_lo + 1
    lo = np.full(n_cols, np.inf)
    hi = np.full(n_cols, -np.inf)
    cols = np.floor(x + 0.5).astype(np.int64) - c_lo
    np.minimum.at(lo, cols, y)
    np.maximum.at(hi, cols, y)
    # The polyline's value where it crosses each column boundary belongs to both columns.
    bounds = np.arange(c_lo, c_hi) + 0.5
    inside = (bounds > x[0]) & (bounds < x[-1])
    bounds = bounds[inside]
    yb = np.interp(bounds, x, y)
    left = (bounds - 0.5).astype(np.int64) - c_lo
    for index in (left, left + 1):
        np.minimum.at(lo, index, yb)
        np.maximum.at(hi, index, yb)
    return lo, hi


def stroke_patch(x: np.ndarray, y: np.ndarray, width_px: float, antialias: bool = True) -> Patch:
    """Rasterise a function-like polyline (x non-decreasing) drawn with a square pen.

    x, y: (N,) float vertex coordinates in px. width_px: pen width in px (any value > 0,
    sub-pixel included). The ink is the Minkowski sum of the polyline with a square of side
    `width_px`; per column it is one interval of rows, so coverage is exact vertically.
    Without antialiasing, coverage is 1 on mask pixels and 0 elsewhere.
    """
    if x.ndim != 1 or x.shape != y.shape or x.size < 2:
        raise ValueError(f"x and y must be equal (N>=2,) arrays; found {x.shape} and {y.shape}")
    if np.any(np.diff(x) < 0):
        raise ValueError("x must be non-decreasing (a function-like trace)")
    if not width_px > 0:
        raise ValueError(f"width_px must be > 0; found {width_px}")
    half = 0.5 * width_px
    c_lo = int(np.floor(x[0] - half + 0.5))
    c_hi = int(np.floor(x[-1] + half + 0.5))
    lo_c, hi_c = _column_spans(x, y, c_lo, c_hi)
    # Square pen: widen each column's window by `half` on both sides.
    k = int(np.floor(half))
    lo = minimum_filter1d(lo_c, 2 * k + 1, mode="constant", cval=np.inf) if k else lo_c.copy()
    hi = maximum_filter1d(hi_c, 2 * k + 1, mode="constant", cval=-np.inf) if k else hi_c.copy()
    cols = np.arange(c_lo, c_hi + 1, dtype=np.float64)
    for edge in (cols - 0.5 - half, cols + 0.5 + half):
        valid = (edge >= x[0]) & (edge <= x[-1])
        ye = np.interp(edge[valid], x, y)
        lo[valid] = np.minimum(lo[valid], ye)
        hi[valid] = np.maximum(hi[valid], ye)
    reached = np.isfinite(lo)
    lo = np.where(reached, lo - half, np.inf)
    hi = np.where(reached, hi + half, -np.inf)
    r_lo = int(np.floor(np.min(lo[reached]) + 0.5))
    r_hi = int(np.floor(np.max(hi[reached]) + 0.5))
    rows = np.arange(r_lo, r_hi + 1, dtype=np.float64)[:, None]
    coverage = np.clip(np.minimum(hi, rows + 0.5) - np.maximum(lo, rows - 0.5), 0.0, 1.0)
    centre = (rows + 0.5 > lo_c) & (rows - 0.5 <= hi_c)
    mask = (coverage >= 0.5) | centre
    if not antialias:
        coverage = mask.astype(np.float32)
    return Patch(r_lo, c_lo, coverage.astype(np.float32), mask)


def line_profile(
    positions: np.ndarray, width_px: float, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Coverage and mask of parallel lines across `n` pixels (one axis).

    positions: (K,) line centres in px; width_px: line width. Returns (n,) float32 coverage
    in [0, 1] and (n,) bool mask (coverage >= 0.5 or the pixel holding a line centre).
    """
    positions = np.sort(np.asarray(positions, dtype=np.float64))
    half = 0.5 * width_px
    edges = np.arange(n + 1, dtype=np.float64) - 0.5
    starts, ends = positions - half, positions + half
    # Ink length left of each pixel edge: sum over lines of clip(edge - start, 0, width).
    cum_start = np.concatenate([[0.0], np.cumsum(starts)])
    cum_end = np.concatenate([[0.0], np.cumsum(ends)])
    n_started = np.searchsorted(starts, edges, side="right")
    n_ended = np.searchsorted(ends, edges, side="right")
    # Lines that ended left of the edge contribute their whole width (end - start).
    ink_left = cum_end[n_ended] - cum_start[n_ended]
    partial = (n_started - n_ended) * edges - (cum_start[n_started] - cum_start[n_ended])
    ink_left = ink_left + partial
    coverage = np.clip(np.diff(ink_left), 0.0, 1.0)
    mask = coverage >= 0.5
    centres = np.floor(positions + 0.5).astype(np.int64)
    centres = centres[(centres >= 0) & (centres < n)]
    mask[centres] = True
    return coverage.astype(np.float32), mask
