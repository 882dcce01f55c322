"""Which way time runs along a page's rows: a beat's T wave follows its QRS complex.

Read upside down, a row runs backwards in time (and its deflections are negated). The
QRS complex is the steepest stretch of a beat; the T wave, a wide deflection 0.1-0.35 s
after it, is larger than the P wave the same distance before it in most leads. Steepness
near the line's large deflections therefore leads them on an upright page and trails them
on a turned one, whichever way the deflections point. Calibration pulses, rhythm strips
and the QRS polarity tell a turned page more directly; this cue is for pages without
them (many exported pages draw no pulse, and 12x1 pages have no strips).
"""
from __future__ import annotations

import numpy as np

from pipeline.extract import RowTrace

#: Where a T wave lies after its QRS complex (and a P wave before it), as shares of the
#: beat-to-beat interval: 0.12-0.4 s at 60 beats a minute. Shares, not seconds, so the
#: unknown paper speed (25 or 50 mm/s) does not matter.
WINDOW_RR = (0.12, 0.4)
#: Beat-to-beat intervals looked for, seconds at 25 mm/s (0.15-1.5 s at 50 mm/s).
RR_RANGE_S = (0.3, 3.0)
#: The steepness is smoothed over this long (s at 25 mm/s) before its beat interval is
#: found: the QRS strokes of beats a non-whole number of samples apart then still overlap.
SMOOTH_S = 0.04
#: A shorter lag whose autocorrelation reaches this share of the best is the interval.
HARMONIC_SHARE = 0.8
#: The steepest stretches (this top share of a row's samples) stand for the QRS complexes.
STEEPEST_SHARE = 0.02
#: Rows with fewer read samples than this are left out.
MIN_SAMPLES = 200


def time_asymmetry(traces: list[RowTrace], px_per_s: float) -> float:
    """In [-1, 1]: > 0 when the rows' large deflections follow their steepest stretches
    (time runs left to right, as on an upright page), < 0 when they precede them.

    traces: the page's rows as read; px_per_s: px per second at 25 mm/s (the beat interval
    is looked for in RR_RANGE_S of it). 0.0 when no row is long enough to tell.
    """
    rows = [r for r in (_row_signals(t) for t in traces) if r is not None]
    if not rows:
        return 0.0
    step = float(np.median([s for s, _, _ in rows]))
    rr = _beat_interval([steep for _, steep, _ in rows],
                        [round(v * px_per_s / step) for v in RR_RANGE_S],
                        max(1, round(SMOOTH_S * px_per_s / step)))
    if rr is None:
        return 0.0
    lo, hi = (max(1, round(f * rr)) for f in WINDOW_RR)
    after = before = 0.0
    for _, steep, deflection in rows:
        n = steep.size
        if hi >= n:
            continue
        # Cross-correlation by FFT: c[k] = sum_i steep[i] * deflection[i + k], k = -n+1..n-1
        # (k < 0 wrapped to the end).
        size = 1 << int(np.ceil(np.log2(2 * n)))
        c = np.fft.irfft(np.conj(np.fft.rfft(steep, size)) * np.fft.rfft(deflection, size),
                         size)
        after += float(c[lo:hi].sum())
        before += float(c[size - hi + 1:size - lo + 1].sum())
    total = after + before
    return (after - before) / total if total > 0 else 0.0


def _row_signals(trace: RowTrace) -> tuple[float, np.ndarray, np.ndarray] | None:
    """(sample step px, steepness (N,), |deflection| (N,)) of a row, gaps filled
    linearly; steepness is the slope's magnitude at the row's steepest STEEPEST_SHARE of
    samples, 0 elsewhere. None for a row with under MIN_SAMPLES read samples."""
    read = np.isfinite(trace.y_px)
    if np.count_nonzero(read) < MIN_SAMPLES:
        return None
    y = np.interp(trace.x_px, trace.x_px[read], trace.y_px[read])
    slope = np.abs(np.gradient(y))
    k = min(slope.size - 1, int((1.0 - STEEPEST_SHARE) * slope.size))
    steep = np.where(slope >= np.partition(slope, k)[k], slope, 0.0)
    return float(np.median(np.diff(trace.x_px))), steep, np.abs(y - np.median(y))


def _beat_interval(steeps: list[np.ndarray], lags: list[int], smooth: int) -> int | None:
    """The beat-to-beat interval (samples): the shortest lag in [lags[0], lags[1]] where
    the rows' steepness, smoothed over `smooth` samples, autocorrelates within
    HARMONIC_SHARE of its most (summed over rows: the leads of a page share one rhythm;
    the shortest, as whole multiples of the interval correlate as well). None when no row
    is long enough to hold the longest lag."""
    lo, hi = lags
    kernel = np.ones(smooth) / smooth
    total = np.zeros(hi + 1)
    for steep in steeps:
        if steep.size <= hi:
            continue
        smoothed = np.convolve(steep, kernel, mode="same")
        size = 1 << int(np.ceil(np.log2(2 * smoothed.size)))
        spectrum = np.fft.rfft(smoothed - smoothed.mean(), size)
        total += np.fft.irfft(spectrum * np.conj(spectrum), size)[:hi + 1]
    window = total[lo:hi + 1]
    if not window.any() or window.max() <= 0:
        return None
    # Local maxima only: the slope down from lag `lo` is not a beat.
    peaks = np.flatnonzero((window[1:-1] >= window[:-2]) & (window[1:-1] >= window[2:])) + 1
    if peaks.size == 0:
        return None
    best = window[peaks].max()
    return lo + int(peaks[np.argmax(window[peaks] >= HARMONIC_SHARE * best)])
