"""Exact, vectorised rasterisation of the page's ink with sub-pixel precision.

Coordinates are image pixels with pixel centres on integers: pixel (r, c) covers
x in [c - 0.5, c + 0.5), y in [r - 0.5, r + 0.5). Coverage is the fraction of a pixel's area
that is ink, in [0, 1]; a "mask" pixel is one with coverage >= 0.5 or one that the centre
line passes through (so hair lines thinner than a pixel still have mask pixels).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def window_ranges(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Exact min and max of the polyline's y over each window [a_k, b_k] (px).

    x must be non-decreasing. The range over a window is set by the vertices inside it and
    the interpolated values at its ends (those inside [x_0, x_N-1]). Windows the polyline
    does not reach hold +inf / -inf.
    """
    n = x.size
    i0 = np.searchsorted(x, a, side="left")
    i1 = np.searchsorted(x, b, side="right")
    idx = np.empty(2 * a.size, dtype=np.int64)
    idx[0::2] = i0
    idx[1::2] = i1
    # reduceat over [i0, i1) for even slots; a sentinel makes index n valid.
    lo = np.minimum.reduceat(np.append(y, np.inf), np.minimum(idx, n))[0::2]
    hi = np.maximum.reduceat(np.append(y, -np.inf), np.minimum(idx, n))[0::2]
    empty = i1 <= i0
    lo[empty] = np.inf
    hi[empty] = -np.inf
    for ends in (a, b):
        ok = (ends >= x[0]) & (ends <= x[-1])
        ye = np.interp(ends[ok], x, y)
        lo[ok] = np.minimum(lo[ok], ye)
        hi[ok] = np.maximum(hi[ok], ye)
    return lo, hi


def stroke_patch(x: np.ndarray, y: np.ndarray, width_px: float, antialias: bool = True) -> Patch:
    """Rasterise a function-like polyline (x non-decreasing) drawn with a square pen.

    x, y: (N,) float vertex coordinates in px. width_px: pen width in px (any value > 0,
    sub-pixel included). The ink is the Minkowski sum of the polyline with a square of side
    `width_px`: in column c it is the curve's exact range over [c - 0.5 - h, c + 0.5 + h]
    widened by h = width_px / 2, so coverage is exact vertically; the first and last columns
    are covered over the part of their width the pen's square caps reach.
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
    cols = np.arange(c_lo, c_hi + 1, dtype=np.float64)
    lo, hi = window_ranges(x, y, cols - 0.5 - half, cols + 0.5 + half)
    lo_c, hi_c = window_ranges(x, y, cols - 0.5, cols + 0.5)
    reached = np.isfinite(lo)
    lo = np.where(reached, lo - half, np.inf)
    hi = np.where(reached, hi + half, -np.inf)
    r_lo = int(np.floor(np.min(lo[reached]) + 0.5))
    r_hi = int(np.floor(np.max(hi[reached]) + 0.5))
    rows = np.arange(r_lo, r_hi + 1, dtype=np.float64)[:, None]
    coverage = np.clip(np.minimum(hi, rows + 0.5) - np.maximum(lo, rows - 0.5), 0.0, 1.0)
    centre = (rows + 0.5 > lo_c) & (rows - 0.5 <= hi_c)
    mask = (coverage >= 0.5) | centre
    # The pen's caps cover only part of the first and last columns' width (the mask keeps
    # every column the pen reaches).
    across = np.clip(np.minimum(cols + 0.5, x[-1] + half) - np.maximum(cols - 0.5, x[0] - half),
                     0.0, 1.0)
    coverage = coverage * across[None, :]
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
