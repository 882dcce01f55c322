"""Lead identity: placing each row window's line on the 12-lead time axis, and checking a
template against the linear relations of the limb leads.

The six limb leads span a plane: with I and II as a basis, III = II - I,
aVR = -(I + II) / 2, aVL = I - II / 2, aVF = II - I / 2. Any three limb leads drawn at the
same time are therefore linearly dependent; a template that names the rows wrongly
(standard vs Cabrera order, limb vs precordial) breaks that and leaves a large residual.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import correlate

from pipeline.calibration import Scales
from pipeline.extract import RowTrace
from pipeline.layouts import LayoutTemplate, parse_lead
from pipeline.result import PanelPlacement
from pipeline.signals import isoelectric_level, window_to_samples
from pipeline.types import LEADS

#: Limb leads in the (I, II) basis.
LIMB_BASIS: dict[str, tuple[float, float]] = {
    "I": (1.0, 0.0), "II": (0.0, 1.0), "III": (-1.0, 1.0),
    "aVR": (-0.5, -0.5), "aVL": (1.0, -0.5), "aVF": (-0.5, 1.0),
}
#: Where two lead windows of a row meet, the line jumps from one lead to the other (and a
#: separator tick may be drawn): this much of each side of such a join is left unread, s.
EDGE_TRIM_S = 0.01
#: Residual reported when a template has no simultaneous limb leads to check. Noisy reads
#: of the right template reach 0.4-0.7 (thin or faint lines); at 0.3, 6-row pages were
#: often called precordial-6x1 (renders, 6 pages each: limb-6x1 4/6 right at 0.3, 5/6 at
#: 0.5; 6x2 page 4 right only at 0.5; precordial-6x1 6/6 at both).
NEUTRAL_RESIDUAL = 0.5
#: Common time two reads of one lead (a rhythm strip and its panel) need to be compared, s.
MIN_OVERLAP_S = 0.5
#: Largest time shift tried between two reads of one lead, s: rows of one page are read a
#: little apart in time (a row start misread by a label on it, a slight shear left by the
#: rectification), and a few tens of ms decorrelate QRS complexes.
MAX_SHIFT_S = 0.06


@dataclass
class WindowMemo:
    """Lead windows already read from one page's rows (see `assemble_signals`): signals
    ((T,) float32 uV, baseline px) keyed by the row's line (its id) and the window's place,
    scales and polarity; isoelectric baselines (px) keyed by the line and columns. The
    lines are held (by id) so that no other object can take a known line's id."""

    signals: dict[tuple[object, ...], tuple[np.ndarray, float]] = field(default_factory=dict)
    baselines: dict[tuple[object, ...], float] = field(default_factory=dict)
    lines: dict[int, RowTrace] = field(default_factory=dict)


def assemble_signals(template: LayoutTemplate, traces: list[RowTrace], baselines: list[float],
                     starts: list[float], ends: list[float], scales: Scales, fs_hz: float,
                     n_samples: int, memo: WindowMemo | None = None,
                     row_scales: Sequence[Scales] | None = None
                     ) -> tuple[np.ndarray, list[PanelPlacement], float | None]:
    """Signals of a page read with `template`.

    traces, baselines, starts, ends: per drawn row (px). Column duration D is the median
    over rows of (row length / columns / px_per_s); a template of full columns places
    every column at [0, D). Rhythm strips are placed first; grid cells fill what they
    leave undrawn. Returns ((12, n_samples) float32 uV NaN where not
    drawn, placements, agreement): agreement is the mean correlation between a rhythm strip
    and the panel of the same lead over their common time, the best within +-MAX_SHIFT_S
    (None when no lead is drawn twice); a wrong template pairs a strip with another lead's
    panel.
    memo: windows read by earlier calls for the same page's traces (the candidate
    templates of a page share most windows), filled as windows are read; None: no memo.
    row_scales: scales row by row (a photo's rows, whose px/mm differs by a few %), or
    None: `scales` for every row.
    """
    n_cols = template.n_cols
    per_row = list(row_scales) if row_scales is not None else [scales] * len(traces)
    col_s = column_seconds(n_cols, starts, ends, per_row)
    signals = np.full((len(LEADS), n_samples), np.nan, dtype=np.float32)
    placements: list[PanelPlacement] = []
    agreement: list[float] = []
    n_grid = len(template.cells)
    order = list(range(n_grid, template.n_rows)) + list(range(n_grid))
    for r in order:
        tr, row_sc = traces[r], per_row[r]
        tokens = ((template.rhythm[r - n_grid],) if r >= n_grid else template.cells[r])
        n = len(tokens)
        width_s = col_s * n_cols / n
        for c, token in enumerate(tokens):
            lead, pol = parse_lead(token)
            t0, t1 = template.window_s(c, width_s) if r < n_grid else (0.0, width_s)
            x_start = starts[r] + c * width_s * row_sc.px_per_s
            sig, base = _window_signal(tr, baselines[r], x_start, width_s, t0, t1, pol,
                                       row_sc, fs_hz, n_samples, memo)
            _trim_joins(sig, c > 0, c < n - 1, EDGE_TRIM_S * fs_hz)
            i = LEADS.index(lead)
            fill = np.isnan(signals[i])
            if not fill.all():  # drawn twice (rhythm strip and panel): must agree
                # within the few tens of ms that rows of one page are read apart
                corr = shifted_correlation(signals[i], sig, fs_hz)
                if corr > -1.0:
                    agreement.append(corr)
            signals[i, fill] = sig[fill]
            placements.append(PanelPlacement(lead, pol, r, x_start, row_sc.px_per_s, base,
                                             row_sc.px_per_mv, t0, t1))
    return signals, placements, (float(np.mean(agreement)) if agreement else None)


def column_seconds(n_cols: int, starts: Sequence[float], ends: Sequence[float],
                   row_scales: Sequence[Scales]) -> float:
    """Column duration D, s, of rows (first and last column px, scales, each per drawn
    row) split into `n_cols` columns: the median over rows of length / n_cols / px_per_s."""
    spans = [(e - s) / sc.px_per_s / n_cols for s, e, sc in zip(starts, ends, row_scales)]
    return float(np.median(spans))


def _window_signal(tr: RowTrace, row_baseline: float, x_start: float, width_s: float,
                   t0: float, t1: float, polarity: int, scales: Scales, fs_hz: float,
                   n_samples: int, memo: WindowMemo | None
                   ) -> tuple[np.ndarray, float]:
    """One lead window of row line `tr` (px) on the time axis: ((n_samples,) float32 uV,
    the baseline used, px: the window's isoelectric level, else row_baseline). The window
    starts at column x_start (px), lasts width_s and shows [t0, t1) s. memo: see
    `assemble_signals`; a copy of the memo's signal is returned."""
    pps = scales.px_per_s
    key = (id(tr), row_baseline, x_start, width_s, t0, t1, polarity, scales.px_per_mv, pps,
           scales.band_limit, scales.min_cutoff_hz, fs_hz, n_samples)
    if memo is not None and key in memo.signals:
        sig, base = memo.signals[key]
        return sig.copy(), base
    base_key = (id(tr), row_baseline, x_start, width_s, pps)
    if memo is not None and base_key in memo.baselines:
        base = memo.baselines[base_key]
    else:
        sel = (tr.x_px >= x_start) & (tr.x_px < x_start + width_s * pps)
        base = isoelectric_level(tr.y_px[sel]) if sel.any() else row_baseline
        if not np.isfinite(base):
            base = row_baseline
    sig = window_to_samples(
        tr.x_px, tr.y_px, baseline_px=base, px_per_mv=scales.px_per_mv, x_start_px=x_start,
        px_per_s=pps, t0_s=t0, t1_s=t1, fs_hz=fs_hz, n_samples=n_samples, polarity=polarity,
        band_limit=scales.band_limit, min_cutoff_hz=scales.min_cutoff_hz)
    if memo is not None:
        memo.lines[id(tr)] = tr
        memo.signals[key] = (sig.copy(), base)
        memo.baselines[base_key] = base
    return sig, base


def correlation(a: np.ndarray, b: np.ndarray, fs_hz: float) -> float | None:
    """Pearson r of (T,) a and b over their common finite samples (None under
    MIN_OVERLAP_S in common or when one is constant there)."""
    both = np.isfinite(a) & np.isfinite(b)
    if both.sum() < MIN_OVERLAP_S * fs_hz:
        return None
    x, y = a[both], b[both]
    if x.std() == 0 or y.std() == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def shifted_correlation(a: np.ndarray, b: np.ndarray, fs_hz: float) -> float:
    """The best Pearson r of a and b ((T,) at fs_hz) over time shifts within +-MAX_SHIFT_S
    (-1 when they never have MIN_OVERLAP_S in common).

    At a shift of k samples a[i + k] pairs with b[i], over the samples both have. The
    sums that Pearson's r needs are cross-correlations of the values and their finite
    masks, all shifts at once by FFT (one `correlation` per shift cost ~10 ms a pair).
    A side constant over the common samples (variance under 1e-12 of its mean square)
    gives no r at that shift.
    """
    max_lag = round(MAX_SHIFT_S * fs_hz)
    ma, mb = np.isfinite(a), np.isfinite(b)
    if not (ma.any() and mb.any()):
        return -1.0
    if a.size == b.size:  # only where both can meet within the shifts
        ia, ib = np.flatnonzero(ma), np.flatnonzero(mb)
        lo = max(0, max(int(ia[0]), int(ib[0])) - max_lag)
        hi = min(a.size, min(int(ia[-1]), int(ib[-1])) + max_lag + 1)
        if hi <= lo:
            return -1.0
        a, b, ma, mb = a[lo:hi], b[lo:hi], ma[lo:hi], mb[lo:hi]
    x = np.where(ma, a, 0.0).astype(np.float64)
    y = np.where(mb, b, 0.0).astype(np.float64)
    fa, fb = ma.astype(np.float64), mb.astype(np.float64)
    centre = b.size - 1  # index of shift 0 in a full cross-correlation

    def sums(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        full = correlate(u, v, mode="full", method="fft")
        return np.asarray(full[centre - max_lag:centre + max_lag + 1])

    n = np.round(sums(fa, fb))
    sa, sb = sums(x, fb), sums(fa, y)
    saa, sbb, sab = sums(x * x, fb), sums(fa, y * y), sums(x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        va, vb = n * saa - sa * sa, n * sbb - sb * sb
        r = (n * sab - sa * sb) / np.sqrt(va * vb)
    ok = ((n >= MIN_OVERLAP_S * fs_hz) & (va > 1e-12 * n * np.abs(saa))
          & (vb > 1e-12 * n * np.abs(sbb)) & np.isfinite(r))
    return float(np.clip(r[ok].max(), -1.0, 1.0)) if ok.any() else -1.0


def _trim_joins(sig: np.ndarray, start: bool, end: bool, n_trim: float) -> None:
    """Set NaN (in place) the first / last n_trim samples of the finite stretch of sig
    ((T,) uV) at the sides that meet another lead's window in the same row."""
    k = round(n_trim)
    finite = np.flatnonzero(np.isfinite(sig))
    if k <= 0 or finite.size <= 4 * k:
        return
    if start:
        sig[finite[0]:finite[0] + k] = np.nan
    if end:
        sig[finite[-1] - k + 1:finite[-1] + 1] = np.nan


def limb_relation_residual(template: LayoutTemplate, signals: np.ndarray, fs_hz: float,
                           min_s: float = 0.5) -> float:
    """How badly simultaneous limb leads break the limb-lead plane, in [0, 1] (0 = exact).

    signals: (12, T) uV. Samples are grouped by which limb leads are drawn; each group with
    at least three leads and min_s seconds contributes the relative residual of the best
    rank-2 fit with the fixed lead vectors. Returns NEUTRAL_RESIDUAL when no group exists.
    """
    limb = [LEADS.index(k) for k in LIMB_BASIS]
    drawn = np.isfinite(signals[limb])  # (6, T)
    codes = np.packbits(drawn, axis=0, bitorder="little")[0]
    total, weight = 0.0, 0.0
    for code in np.unique(codes):
        members = [k for k in range(6) if code >> k & 1]
        if len(members) < 3:
            continue
        sel = codes == code
        if sel.sum() < min_s * fs_hz:
            continue
        x = signals[[limb[k] for k in members]][:, sel].astype(np.float64)
        x = x - np.median(x, axis=1, keepdims=True)
        a = np.array([LIMB_BASIS[list(LIMB_BASIS)[k]] for k in members])
        fit = a @ np.linalg.pinv(a) @ x
        norm = float(np.linalg.norm(x))
        if norm == 0:
            continue
        total += float(np.linalg.norm(x - fit)) / norm * sel.sum()
        weight += sel.sum()
    return total / weight if weight else NEUTRAL_RESIDUAL
