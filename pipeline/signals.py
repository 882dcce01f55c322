"""From line positions in px to signals in microvolts on the recording's time axis.

Amplitude: (baseline - y) / px_per_mv * 1000 uV, the baseline being the isoelectric level:
the most common line height (the histogram mode over the quiet stretches between beats),
not the row mean (which large QRS complexes bias). Time: column x of a lead window starting
at x_start shows t = t0 + (x - x_start) / px_per_s; samples are interpolated onto
k / fs and are NaN where the lead was not drawn or not read. The page holds one reading per
pixel column, so nothing above half the column rate (px_per_s / 2) is on it: the signal
is band-limited below that (BAND_LIMIT), which takes out most of the reading's
column-to-column jitter (scan and photo pages: +1.9 and +0.9 dB on 8 pages each; clean
pages +0.2 to +0.5).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.ndimage import gaussian_filter1d
from scipy.signal import butter, sosfiltfilt

#: Cut-off of the output's low-pass, as a share of the page's column Nyquist rate
#: (px_per_s / 2): 0.9 scored best or near it on every condition of the bench (8 scan,
#: 8 photo, 4 each of clean 100/200/300 dpi, 12x1 and 50 mm/s pages); 0.6 scored up to
#: 0.3 dB more on scans and photos but lost 1-2 dB on clean 100 and 200 dpi pages.
BAND_LIMIT = 0.9
#: The cut-off on photos (a sheet whose perspective was undone): a camera's optics, focus
#: and shake leave less detail on the page than a scanner, and what the reading holds
#: above this is mostly noise. 0.5 / 0.6 / 0.65 / 0.75 / 0.9 scored 11.43 / 11.70 / 11.72 /
#: 11.67 / 11.50 dB on photo pages 0-7 (pages 8-15: 0.6 11.90, 0.65 11.91, 0.9 11.71).
PHOTO_BAND_LIMIT = 0.65
#: Lowest cut-off (Hz) of pages seen square-on, whatever their column rate: below 200 dpi
#: at 25 mm/s (or 200 dpi at 12.5 mm/s) BAND_LIMIT's share of the column Nyquist rate
#: falls under 45 Hz and flattens QRS spikes that the reading itself keeps. Bench, 8 pages
#: each, floors 0 / 50 / 60 / 70 / 90 Hz: clean 100 dpi 17.68 / 17.88 / 17.97 / 17.92 /
#: 17.76 dB; clean 72 dpi 14.74 / 15.89 / 15.82 (50-60 Hz); scans at 100 dpi, whose noise
#: it lets in too, 14.88 / 14.84 / 14.60 (so 50, not 60). Photos keep their own narrower
#: band (PHOTO_BAND_LIMIT, no floor): a camera's blur leaves no such detail.
MIN_CUTOFF_HZ = 50.0
#: Order of the Butterworth low-pass (applied forwards and backwards: zero phase).
BAND_LIMIT_ORDER = 2
#: Longest stretch of a window's line left unread (s) that is bridged by interpolation;
#: longer ones stay NaN (not read) rather than a drawn-in curve. On photo pages 0-15 the
#: reader's unread stretches of 0.1-0.2 s hid a truth range of 31 uV (median; none over
#: 0.5 mV), those over 0.2 s 135 uV, and 2 of 24 hid a QRS complex. Bridging only up to
#: 0.2 s scored the same on every condition of the bench, photos 8-31 +0.06 dB, 12x1
#: +0.1; up to 0.1 s lost 0.06 dB on photos 0-7.
MAX_BRIDGED_GAP_S = 0.2


def isoelectric_level(y_px: np.ndarray, bin_px: float = 0.5) -> float:
    """Most common line position (px) of a stretch of trace: its isoelectric baseline.

    y_px: (N,) float, NaN allowed. Returns NaN if nothing is finite.
    """
    y = y_px[np.isfinite(y_px)]
    if y.size == 0:
        return float("nan")
    lo, hi = float(y.min()), float(y.max())
    if hi - lo < bin_px:
        return float(np.median(y))
    # Quiet stretches: small column-to-column motion.
    dy = np.abs(np.diff(y_px))
    quiet = np.r_[dy, np.inf] <= max(1.0, np.nanpercentile(dy, 50)) if dy.size else None
    sel = y_px[np.isfinite(y_px) & quiet] if quiet is not None else y
    if sel.size < 0.1 * y.size:
        sel = y
    bins = np.arange(lo, hi + 2 * bin_px, bin_px)
    hist, edges = np.histogram(sel, bins=bins)
    hist = gaussian_filter1d(hist.astype(np.float64), 1.5)
    k = int(np.argmax(hist))
    centre = 0.5 * (edges[k] + edges[k + 1])
    near = sel[np.abs(sel - centre) <= 2 * bin_px]
    return float(np.median(near)) if near.size else float(centre)


def window_to_samples(x_px: np.ndarray, y_px: np.ndarray, *, baseline_px: float,
                      px_per_mv: float, x_start_px: float, px_per_s: float, t0_s: float,
                      t1_s: float, fs_hz: float, n_samples: int, polarity: int = 1,
                      band_limit: float = BAND_LIMIT,
                      min_cutoff_hz: float = MIN_CUTOFF_HZ) -> np.ndarray:
    """Signal of one lead window on the output time axis.

    x_px, y_px: (N,) column indices and line positions of the row (NaN where unread).
    The window covers columns x with t0_s <= t0_s + (x - x_start_px) / px_per_s < t1_s.
    polarity: -1 for a lead drawn inverted. band_limit: the low-pass cut-off as a share of
    the column Nyquist rate (px_per_s / 2), and at least min_cutoff_hz (Hz). Returns
    (n_samples,) float32 uV, NaN outside [t0_s, t1_s) and where the line was not read
    (stretches up to MAX_BRIDGED_GAP_S between read columns are interpolated).
    """
    if px_per_mv <= 0 or px_per_s <= 0:
        raise ValueError(f"scales must be positive; found {px_per_mv} px/mV, {px_per_s} px/s")
    out = np.full(n_samples, np.nan, dtype=np.float32)
    t_col = t0_s + (x_px - x_start_px) / px_per_s
    sel = (t_col >= t0_s - 1.0 / px_per_s) & (t_col < t1_s + 1.0 / px_per_s)
    if sel.sum() < 2:
        return out
    t_col, v = t_col[sel], (baseline_px - y_px[sel]) / px_per_mv * 1000.0 * polarity
    k0 = max(0, int(np.ceil(t0_s * fs_hz)))
    k1 = min(n_samples, int(np.ceil(t1_s * fs_hz)))
    if k1 <= k0:
        return out
    t_out = np.arange(k0, k1) / fs_hz
    finite = np.isfinite(v)
    if finite.sum() < 2:
        return out
    # Monotone cubic between column centres: follows the line's curvature without
    # overshooting at steep QRS flanks (plain linear interpolation clips sharp peaks).
    tc, vc = t_col[finite], v[finite]
    keep = np.r_[True, np.diff(tc) > 0]
    if keep.sum() < 2:
        return out  # every read sample in one column: no line to interpolate
    tk = tc[keep]
    vals = PchipInterpolator(tk, vc[keep], extrapolate=False)(t_out)
    # NaN where the nearest column was unread, and inside unread stretches too long to
    # bridge (the reader marks a stretch by one NaN sample at its start).
    nearest = np.clip(np.searchsorted(t_col, t_out), 0, t_col.size - 1)
    vals[~finite[nearest]] = np.nan
    after = np.clip(np.searchsorted(tk, t_out), 1, tk.size - 1)
    vals[tk[after] - tk[after - 1] > MAX_BRIDGED_GAP_S] = np.nan
    out[k0:k1] = band_limited(vals, max(band_limit * 0.5 * px_per_s, min_cutoff_hz), fs_hz)
    return out


def band_limited(values: np.ndarray, cutoff_hz: float, fs_hz: float) -> np.ndarray:
    """`values` ((T,) uV at fs_hz, NaN where unread) low-passed at cutoff_hz with a
    zero-phase Butterworth filter, each stretch between NaNs alone (stretches too short to
    filter are left as they are). A cut-off at or above 0.98 of fs_hz / 2 leaves them all.
    """
    if cutoff_hz >= 0.98 * 0.5 * fs_hz:
        return values
    sos = _low_pass(cutoff_hz, fs_hz)
    out = values.copy()
    finite = np.flatnonzero(np.isfinite(values))
    pad = 3 * (2 * len(sos) + 1)
    for run in np.split(finite, np.flatnonzero(np.diff(finite) > 1) + 1):
        if run.size > pad:
            out[run] = sosfiltfilt(sos, values[run], padlen=pad)
    return out


@lru_cache(maxsize=64)
def _low_pass(cutoff_hz: float, fs_hz: float) -> np.ndarray:
    """Second-order sections of the band limit's Butterworth filter (designing one costs
    ~0.7 ms; a page's windows share one cut-off). Callers must not write to it
    (scipy's filters only read it)."""
    sos: np.ndarray = butter(BAND_LIMIT_ORDER, cutoff_hz, fs=fs_hz, output="sos")
    return sos
