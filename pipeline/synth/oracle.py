"""Digitize a rendered page from its own truth masks: an upper bound and a truth check.

Both readers work per panel on that panel's instance-mask pixels, on unwarped pages:

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
"""
from __future__ import annotations

import numpy as np

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
