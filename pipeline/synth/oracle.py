"""Digitize a rendered page from its own truth masks: an upper bound and a truth check.

`digitize_from_masks` reads the binary instance mask; `digitize_from_coverage` reads the
exact soft per-panel ink (`render_page(..., with_coverage=True)`). All work per panel, on
unwarped pages. The binary readers:

- "mean": each pixel column's trace row is the mean row of its mask pixels (the naive
  column centroid; thick pens flatten peaks by up to half the pen's reach).
- "envelope": a column's mask is the range the curve sweeps over the pen's window
  [c - 0.5 - h, c + 0.5 + h] (h = half the pen width, px), widened by h. At a sample's x,
  the curve lies between the largest window minimum and the smallest window maximum over
  the windows holding x (a morphological opening and closing); the reading is their mean.

Rows become uV through the baseline and mm/mV, x becomes time through x0/t0 and mm/s.
Any reading of one value per pixel column is limited by the page itself: sampling the
truth at column centres and rounding to whole rows bounds the SNR (about 29-32 dB for
PTB-XL records at 300 dpi, 10 mm/mV, 25 mm/s; see docs/renderer.md).

The coverage reader inverts the renderer's ink model. In pixel column c the ink of a panel
is the interval [m_c - h, M_c + h], where m_c and M_c are the min and max of the polyline
over the pen's window [c - r, c + r] (r = 0.5 + h); its top and bottom rows' coverage give
both edges to float32 precision (when the ink spans >= 2 rows). The samples y_i (px) at the
known x_i are then fitted so that the polyline's window minima and maxima match m_c and M_c:
starting from the tightest bounds the windows give (the exact-valued "envelope"), a damped
Gauss-Newton fit on a soft max/min (log-sum-exp at temperatures falling from 0.1 to 1e-4 px)
with a second-difference penalty that falls from 1e-2 to 1e-5. The penalty only chooses
among signals that draw the same ink: where the trace zig-zags within one pen window, the
samples between a window's extremes touch no edge and are only bounded (see
docs/renderer.md for how much of the remaining error that is).
"""
from __future__ import annotations

import numpy as np

from pipeline.ink_fit import fit_samples
from pipeline.synth.render import RenderedPage
from pipeline.types import LEADS

READERS = ("mean", "envelope")


def _column_extents(c: np.ndarray, r: np.ndarray) -> tuple[int, np.ndarray, np.ndarray,
                                                             np.ndarray]:
    """(first column, top, bottom, mean row) per column from mask pixel coordinates."""
    c0 = int(c.min())
    n_cols = int(c.max()) - c0 + 1
    top = np.full(n_cols, np.inf)
    bottom = np.full(n_cols, -np.inf)
    np.minimum.at(top, c - c0, r)
    np.maximum.at(bottom, c - c0, r)
    counts = np.bincount(c - c0, minlength=n_cols)
    mean = np.bincount(c - c0, weights=r, minlength=n_cols) / np.maximum(counts, 1)
    mean[counts == 0] = np.nan
    return c0, top, bottom, mean


def _envelope_rows(xs: np.ndarray, c0: int, top: np.ndarray, bottom: np.ndarray,
                   half_pen: float) -> np.ndarray:
    """Rows (px) of the curve at xs (px) from per-column mask extents (see module doc)."""
    lo = top - 0.5 + half_pen
    hi = bottom + 0.5 - half_pen
    mid = 0.5 * (top + bottom)
    thin = lo > hi
    lo[thin] = mid[thin]
    hi[thin] = mid[thin]
    n_cols = top.size
    reach = 0.5 + half_pen
    lower = np.full(xs.size, -np.inf)
    upper = np.full(xs.size, np.inf)
    base = np.floor(xs).astype(np.int64) - c0
    k = int(np.ceil(reach)) + 1
    for off in range(-k, k + 1):
        col = base + off
        idx = np.clip(col, 0, n_cols - 1)
        ok = (col >= 0) & (col < n_cols) & (np.abs(xs - (col + c0)) <= reach)
        ok &= np.isfinite(top[idx])
        lower = np.where(ok, np.maximum(lower, lo[idx]), lower)
        upper = np.where(ok, np.minimum(upper, hi[idx]), upper)
    with np.errstate(invalid="ignore"):  # -inf + inf where no window reaches x
        rows = 0.5 * (lower + upper)
    rows[~np.isfinite(rows)] = np.nan
    return rows


def digitize_from_masks(page: RenderedPage, reader: str = "envelope") -> np.ndarray:
    """(L=12, T) float64 uV read from `page.instance_mask`; NaN where no panel gives the
    lead. Where a lead is drawn twice (a panel and a rhythm strip) the readings are
    averaged. reader: "envelope" or "mean" (see the module docstring)."""
    if reader not in READERS:
        raise ValueError(f"reader must be one of {READERS}; found {reader!r}")
    if not np.allclose(page.homography, np.eye(3)):
        raise ValueError("digitize_from_masks needs an unwarped page (identity homography); "
                         f"found {page.homography.tolist()}")
    n = page.truth_uv.shape[1]
    t_axis = np.arange(n) / page.fs_hz
    total = np.zeros((len(LEADS), n))
    count = np.zeros((len(LEADS), n))
    rows, cols = np.nonzero(page.instance_mask)
    ids = page.instance_mask[rows, cols].astype(np.int64)
    px_per_s = page.mm_per_s * page.px_per_mm
    px_per_uv = page.mm_per_mv * page.px_per_mm / 1000.0
    half_pen = 0.5 * float(page.conditions.get("trace_width_px", 1.0))
    for k, panel in enumerate(page.panels, start=1):
        mine = ids == k
        if not mine.any():
            continue
        c0, top, bottom, mean = _column_extents(cols[mine], rows[mine])
        window = (t_axis >= panel.t0_s) & (t_axis < panel.t1_s - 0.5 / page.fs_hz)
        xs = panel.x0_px + (t_axis[window] - panel.t0_s) * px_per_s
        if reader == "mean":
            have = np.isfinite(mean)
            y = np.interp(xs, np.nonzero(have)[0] + c0, mean[have])
        else:
            y = _envelope_rows(xs, c0, top, bottom, half_pen)
        uv = panel.polarity * (panel.baseline_y_px - y) / px_per_uv
        lead = LEADS.index(panel.lead)
        ok = np.isfinite(uv)
        total[lead, np.nonzero(window)[0][ok]] += uv[ok]
        count[lead, np.nonzero(window)[0][ok]] += 1
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def coverage_edges(rows: np.ndarray, cols: np.ndarray, coverage: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ink edges per column from one panel's sparse coverage ((K,) rows, cols, cov).

    Returns (columns, top, bottom): (C,) int columns whose ink spans >= 2 rows (the panel's
    first and last column left out: the pen's caps ink only part of their width), and the
    ink's top and bottom edges there, px (top = first row + 0.5 - its coverage).
    """
    r = rows.astype(np.int64)
    c = cols.astype(np.int64)
    cov = coverage.astype(np.float64)
    c0 = int(c.min())
    n_cols = int(c.max()) - c0 + 1
    first = np.full(n_cols, np.iinfo(np.int64).max)
    last = np.full(n_cols, -1)
    np.minimum.at(first, c - c0, r)
    np.maximum.at(last, c - c0, r)
    cov_first = np.zeros(n_cols)
    cov_last = np.zeros(n_cols)
    at_first = r == first[c - c0]
    at_last = r == last[c - c0]
    cov_first[c[at_first] - c0] = cov[at_first]
    cov_last[c[at_last] - c0] = cov[at_last]
    ok = (last >= 0) & (last > first)
    ok[[0, -1]] = False  # the pen's caps cover only part of the end columns' width
    columns = np.arange(n_cols)[ok] + c0
    return columns, (first + 0.5 - cov_first)[ok], (last - 0.5 + cov_last)[ok]


def digitize_from_coverage(page: RenderedPage) -> np.ndarray:
    """(L=12, T) float64 uV read from `page.trace_coverage` (render with
    `with_coverage=True`, antialiasing on); NaN where no panel gives the lead. A lead drawn
    twice (a panel and a rhythm strip) gets the mean of both readings."""
    if page.trace_coverage is None:
        raise ValueError("page has no trace_coverage; expected render_page(..., "
                         "with_coverage=True)")
    if not np.allclose(page.homography, np.eye(3)):
        raise ValueError("digitize_from_coverage needs an unwarped page (identity homography);"
                         f" found {page.homography.tolist()}")
    n = page.truth_uv.shape[1]
    t_axis = np.arange(n) / page.fs_hz
    total = np.zeros((len(LEADS), n))
    count = np.zeros((len(LEADS), n))
    px_per_s = page.mm_per_s * page.px_per_mm
    px_per_uv = page.mm_per_mv * page.px_per_mm / 1000.0
    half_pen = 0.5 * float(page.conditions.get("trace_width_px", 1.0))
    for panel, (rows, cols, cov) in zip(page.panels, page.trace_coverage):
        if rows.size == 0:
            continue
        columns, top, bottom = coverage_edges(rows, cols, cov)
        window = np.nonzero((t_axis >= panel.t0_s) & (t_axis < panel.t1_s - 0.5 / page.fs_hz))[0]
        if columns.size < 2 or window.size < 3:
            continue
        xs = panel.x0_px + (t_axis[window] - panel.t0_s) * px_per_s
        y = fit_samples(xs, columns, top, bottom, half_pen)
        lead = LEADS.index(panel.lead)
        total[lead, window] += panel.polarity * (panel.baseline_y_px - y) / px_per_uv
        count[lead, window] += 1
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)
