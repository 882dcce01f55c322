"""Pixel size of the page from the periodicity of its grid: px per mm.

An ECG grid has minor lines every 1 mm and major lines every 5 mm. The row and column
projections of the grid probability map are periodic; their autocorrelation is matched
against a comb of candidate periods (peaks at multiples of the period, troughs at half
multiples, which rejects sub- and super-harmonics). Whether the strongest period is the
1 mm or the 5 mm one is decided from the major lines' extra weight every fifth minor line
and, when the minor lines are not resolved, from the plausible page size.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pipeline.errors import NoGridFoundError
from pipeline.runs import true_runs

#: Smallest usable minor grid period, px (below this, lines merge).
MIN_PERIOD_PX = 2.0
#: Comb contrast below which a profile is called aperiodic.
MIN_STRENGTH = 0.12
#: Least fraction of the image the grid map must cover.
MIN_GRID_FRACTION = 0.01
#: Plausible length of the image's longer side, mm. Some programs size each lead's panel
#: to its largest amplitude: ecg_plot drew a 6x2 page 861 mm tall (a 5.7 mV QRS).
MIN_PAGE_MM, MAX_PAGE_MM = 40.0, 1100.0
#: Fraction of a profile's length compared with itself when the whole of it shows no period.
SHORT_LAGS = 0.12
#: Least comb contrast of the grid measured on short lags.
SHORT_LAGS_MIN_STRENGTH = 0.2
#: Least comb contrast of a grid whose 1 mm lines are not resolved (its period read from
#: the 5 mm lines alone). On gridless bench pages the traces' antialiased fringes and the
#: text repeat weakly (0.13-0.15: clean page 8, scan pages 14 and 35, read at 1.3-1.9x
#: their px/mm), real grids read this way 0.54-0.78 (photos), 0.61-0.63 (scans).
MAJOR_ONLY_MIN_STRENGTH = 0.2
#: Comb contrast each axis must show at the grid period when the 1 mm period is not
#: resolved on both axes (else the pattern is rows of traces, not a grid).
MIN_AXIS_STRENGTH = 0.03
#: Grid probability over which a pixel is grid when a page's panels are found, and the
#: least length (mm) of a panel (`panel_autocorrelation`).
PANEL_GRID_PROB = 0.3
PANEL_MIN_MM = 20.0
#: Relative differences of the two axes' periods over AXIS_AGREEMENT and up to
#: MAX_AXIS_BIAS are taken for one axis's bias, and the axis CLEARER_AXIS times clearer
#: than the other is believed (`_agreed_px_per_mm`); other pages take the mean.
AXIS_AGREEMENT = 0.003
MAX_AXIS_BIAS = 0.01
CLEARER_AXIS = 1.5
#: Least weight of every fifth line (`_fifth_line_weight`) that makes a period the 1 mm
#: one; a period whose fifth lines weigh less than its negative is taken for 5 mm (a
#: grid of 1 mm lines has heavier 5 mm ones). 1 mm periods weighed 0.05-0.35 (bench
#: pages: clean at 72-300 dpi, scans, photos; dicom-ecg-plot's 1 mm lines 0.09), 5 mm
#: periods -0.44 to 0.01.
HEAVIER_FIFTH = 0.03


@dataclass(frozen=True)
class GridScale:
    """Grid measurement of one page.

    px_per_mm: pixels per millimetre (mean of both axes when they agree).
    px_per_mm_x, px_per_mm_y: per axis, px/mm; NaN where that axis had no periodic grid.
    strength: comb contrast of the best axis in [0, 1] (higher is more certain).
    minor_visible: whether the 1 mm lines were resolved (else 5 mm lines were used).
    odd_deficit: how much lower the grid map's autocorrelation is at odd multiples of the
    1 mm period than at even ones (1-10 periods, mean over the axes; `_odd_deficit`): about
    0 where lines stand at every period, about 0.4 where the period is half the lines'
    spacing (a harmonic; odd multiples fall between lines). NaN: not measured.
    """

    px_per_mm: float
    px_per_mm_x: float
    px_per_mm_y: float
    strength: float
    minor_visible: bool
    odd_deficit: float = float("nan")


def autocorrelation(profile: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation of a detrended 1-D profile; ac[0] = 1. (N,) -> (N,)."""
    x = np.asarray(profile, dtype=np.float64)
    n = x.size
    k = max(3, int(n // 50))
    trend = np.convolve(np.pad(x, k, mode="edge"), np.ones(2 * k + 1) / (2 * k + 1), "same")[k:-k]
    x = x - trend
    x = x * np.hanning(n)
    f = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[:n]
    return ac / ac[0] if ac[0] > 0 else np.zeros(n)


def comb_scores(acs: list[np.ndarray], periods: np.ndarray, max_k: int = 10_000) -> np.ndarray:
    """Mean comb contrast over the given autocorrelations for each period. -> (P,).

    Comb contrast of one autocorrelation at one period: its mean at the multiples of the
    period (at most max_k of them, below 0.6 of its length) minus its mean at the half
    multiples; -1 when no multiple fits. All periods are scored at once (the grid search
    scores thousands of candidates per page)."""
    periods = np.asarray(periods, dtype=np.float64)
    out = np.zeros(periods.size)
    for ac in acs:
        max_lag = 0.6 * ac.size
        counts = np.minimum(max_k, np.maximum(2, (max_lag // periods).astype(np.int64)))
        k = np.arange(1, int(counts.max()) + 1, dtype=np.float64)
        lag = periods[:, None] * k[None, :]
        use = (k[None, :] <= counts[:, None]) & (lag < max_lag)
        lags = np.arange(ac.size)
        peaks = np.interp(lag, lags, ac)
        troughs = np.interp(lag - 0.5 * periods[:, None], lags, ac)
        n = use.sum(axis=1)
        diff = (np.where(use, peaks, 0.0).sum(axis=1) - np.where(use, troughs, 0.0).sum(axis=1))
        out += np.where(n > 0, diff / np.maximum(n, 1), -1.0)
    return out / max(1, len(acs))


def best_period(
    profiles: list[np.ndarray], min_period: float, max_period: float, lags: float = 1.0
) -> tuple[float, float]:
    """Fundamental period shared by 1-D profiles (grid squares are square), px.

    profiles: (N,) projections of a grid map (rows and columns). Periods are searched in
    [min_period, max_period] px, coarse (0.5% steps) then fine (0.05% steps). Multiples of the
    fundamental score about as high as it does, so the smallest period whose contrast is at
    least half the best is taken. lags: the fraction of each autocorrelation compared
    (`_autocorrelations`). Returns (period_px, strength).
    """
    acs = _autocorrelations(profiles, lags)
    if not acs:
        return float("nan"), 0.0
    max_period = min(max_period, min(0.6 * ac.size for ac in acs) / 3)
    if max_period <= min_period:
        return float("nan"), 0.0
    # Coarse: few multiples, so each peak is a few % wide and a 0.5% grid cannot miss it.
    cands = np.geomspace(min_period, max_period, int(np.log(max_period / min_period) / 0.005) + 2)
    scores = comb_scores(acs, cands, max_k=6)
    best = float(scores.max())
    if best <= 0:
        return float("nan"), 0.0
    is_peak = np.r_[False, (scores[1:-1] >= scores[:-2]) & (scores[1:-1] >= scores[2:]), False]
    is_peak[int(np.argmax(scores))] = True
    refined: list[tuple[float, float]] = []
    strong = np.flatnonzero(is_peak & (scores >= 0.4 * best))
    # The 12 strongest peaks, smallest period first: a fine grid's many weak local maxima
    # must not crowd out its fundamental (dotted 1 mm lines at 100 dpi).
    for i in np.sort(strong[np.argsort(scores[strong])[::-1][:12]]):
        # Fine: all multiples (sharp peak, precise period) within +-3% of the coarse one
        # (the coarse comb's few multiples can put its peak 2% off the true period).
        fine = np.linspace(cands[i] * 0.97, cands[i] * 1.03, 121)
        fscores = comb_scores(acs, fine)
        j = int(np.argmax(fscores))
        refined.append((float(fine[j]), float(fscores[j])))
    top = max(sc for _, sc in refined)
    if not top > 0:  # every peak's fine comb (all multiples) sees no period
        return float("nan"), 0.0
    period, strength = next((p, sc) for p, sc in refined if sc >= 0.5 * top)
    return period, strength


def _autocorrelations(profiles: list[np.ndarray], lags: float) -> list[np.ndarray]:
    """Autocorrelations of the profiles of at least 32 px, each cut to its first `lags`
    fraction (at least 32 lags): short lags compare the grid with itself within a panel."""
    return [autocorrelation(p)[:max(32, int(lags * p.size))] for p in profiles
            if p.size >= 32]


def _minor_period(acs: list[np.ndarray], period: float, extent_px: int) -> tuple[float, bool]:
    """Decide whether `period` is the 1 mm or 5 mm spacing; return (period of 1 mm, seen)."""
    fifth = period / 5.0
    if fifth >= MIN_PERIOD_PX and comb_scores(acs, np.array([fifth]))[0] > 0.2 * comb_scores(
        acs, np.array([period])
    )[0]:
        return fifth, True  # finer lines every fifth of the period: it is the 5 mm one
    weight = _fifth_line_weight(acs, period)
    if weight is not None and weight > HEAVIER_FIFTH:
        return period, True  # every fifth line heavier: the period is 1 mm
    # Ambiguous: a 1 mm grid would make the page implausibly small, or a 5 mm one too large.
    # More periods than any page has mm is no grid of 1 mm lines (the 5 mm reading is then
    # refused as too large). Pages over 400 mm are real: bemplt's two columns of 10 s at
    # 300 dpi are 518 mm wide, their heavier lines weigh 0.02.
    if extent_px / period > MAX_PAGE_MM:
        return fifth, False
    if period < 6.0:
        return period, True
    if weight is not None and weight < -HEAVIER_FIFTH:
        return fifth, False  # no heavier fifth line: a 1 mm grid's would show
    return (fifth, False) if extent_px / period < 60.0 else (period, True)


def _fifth_line_weight(acs: list[np.ndarray], period: float) -> float | None:
    """How much more every fifth line of a grid of `period` px weighs: the autocorrelations'
    mean at multiples of 5 periods minus their mean at the other multiples (below 0.6 of
    each one's length), averaged over the axes; None when no axis has 5 multiples.

    Over all multiples, not at 5 periods alone: the rows and panels of a page also repeat,
    and one lag can fall on them (dicom-ecg-plot's pages, whose grid has 5 mm lines only,
    read 0.03-0.08 at 5 periods, so their 5 mm period was taken for 1 mm: 39 px/mm at
    200 dpi; over all multiples -0.06). See HEAVIER_FIFTH."""
    weights = []
    for ac in acs:
        count = int(0.6 * ac.size / period)
        if count < 5:
            continue
        k = np.arange(1, count + 1)
        at = np.interp(k * period, np.arange(ac.size), ac)
        fifth = k % 5 == 0
        weights.append(float(at[fifth].mean() - at[~fifth].mean()))
    return float(np.mean(weights)) if weights else None


def _odd_deficit(acs: list[np.ndarray], period: float) -> float:
    """The autocorrelations' mean at even multiples of `period` (px) minus their mean at
    odd ones, 1-10 periods below 0.6 of each one's length, averaged over the axes; NaN
    when no axis has two of each. A half-mm harmonic read as the period has lines at even
    multiples only (clean 300-dpi bench page 2: 0.40); grids read right show -0.02 to
    0.01 (clean and photo bench pages, bemplt's and ecg_plot's pages), low-resolution
    ones too, whose autocorrelation at one period may be near 0 (ecg_plot's 3x4 reduced
    to 3.47 px/mm: -0.03 at one period, deficit -0.01), so one lag alone does not tell
    them apart; a photo's first look at 2.3 px/mm read 0.14."""
    deficits = []
    for ac in acs:
        k = np.arange(1, 11)
        k = k[k * period < 0.6 * ac.size]
        if k.size < 4:
            continue
        # Both whole lags around each multiple, not the value between them: thin lines a
        # few px apart stand at uneven whole spacings (3.47 px: 3, 4, 3, 4), so one
        # period's pairs split between lags 3 and 4 while two periods' all meet at 7.
        below = np.floor(k * period).astype(int)
        at = 0.5 * (ac[below] + ac[below + 1])
        deficits.append(float(at[k % 2 == 0].mean() - at[k % 2 == 1].mean()))
    return float(np.mean(deficits)) if deficits else float("nan")


def _refine(ac: np.ndarray, period: float) -> float:
    """Best period of one axis within +-4% of `period`, px (NaN if that axis is flat)."""
    fine = np.linspace(period * 0.96, period * 1.04, 161)
    s = comb_scores([ac], fine)
    return float(fine[int(np.argmax(s))]) if s.max() > MIN_STRENGTH / 2 else float("nan")


def _agreed_px_per_mm(acs: list[np.ndarray], px_x: float, px_y: float, period: float
                      ) -> float:
    """The page's px/mm from its axes' refined periods (px, NaN where an axis is flat):
    their mean, unless they disagree by AXIS_AGREEMENT to MAX_AXIS_BIAS and one axis's grid
    repeats CLEARER_AXIS times as clearly as the other's (comb contrast at its own
    period): then that axis's period. A grid drawn in panels shifts its phase from panel
    to panel, more along one axis than the other (ecg_plot's 3x4 at 100 dpi: columns 0.7%
    short at contrast 0.06, rows right at 0.11), and the mean of the two put a 10 s rhythm
    strip's end 34 ms late. Larger disagreements are a page's own aspect (a photo's
    perspective undone a few % off; the 26 real pictures' photos disagree by 1-4%, mostly
    with the clearer rows), where the mean is kept. `period` when both axes are flat."""
    both = [v for v in (px_x, px_y) if np.isfinite(v)]
    if not both:
        return period
    mean = float(np.mean(both))
    if len(both) == 1 or not AXIS_AGREEMENT < abs(px_x - px_y) / mean <= MAX_AXIS_BIAS:
        return mean
    contrast_x, contrast_y = (float(comb_scores([ac], np.array([v]))[0])
                              for ac, v in zip(acs, (px_x, px_y)))
    if contrast_x >= CLEARER_AXIS * contrast_y:
        return px_x
    if contrast_y >= CLEARER_AXIS * contrast_x:
        return px_y
    return mean


def measure_grid(grid_prob: np.ndarray, *, min_strength: float = MIN_STRENGTH) -> GridScale:
    """Measure px/mm from a grid probability map of a rectified page.

    grid_prob: (H, W) float in [0, 1]. Raises NoGridFoundError when no periodic grid shows
    (comb contrast below `min_strength`), over the whole page nor over short distances.

    Some programs draw each lead in its own gridded panel, with gaps between panels that
    are no multiple of the grid period: the grid's phase shifts from panel to panel, which
    blurs the autocorrelation at long lags. A page whose grid shows no period is measured
    again on lags up to SHORT_LAGS of its size, which stay within a panel, with a stricter
    least contrast (short lags also repeat what is no grid: a photo's JPEG blocks read
    0.14 there, panel pages drawn by ecg_plot 0.27-0.39), and its axes' periods are then
    refined panel by panel (`_refined_by_panels`).
    """
    try:
        return _measure(grid_prob, min_strength, 1.0)
    except NoGridFoundError as whole:
        try:
            short = _measure(grid_prob, max(min_strength, SHORT_LAGS_MIN_STRENGTH), SHORT_LAGS)
        except NoGridFoundError:
            raise whole from None
        return _refined_by_panels(grid_prob, short)


def _refined_by_panels(grid_prob: np.ndarray, short: GridScale) -> GridScale:
    """A grid measured on short lags with each axis's period refined again over the
    page's gridded panels (`panel_autocorrelation`), where it has at least two along that
    axis: short lags hold few periods, and some of them still span two panels (ecg_plot's
    3x4+II at 100 dpi: 3.933 / 3.931 px/mm on short lags, 3.937 / 3.935 panel by panel,
    its 5 mm lines 3.936 apart)."""
    refined = []
    for axis, value in ((1, short.px_per_mm_x), (0, short.px_per_mm_y)):
        ac = panel_autocorrelation(grid_prob, axis, short.px_per_mm, short.minor_visible)
        better = _refine(ac, short.px_per_mm) if ac is not None else float("nan")
        refined.append((better, ac) if np.isfinite(better) else (value, None))
    (px_x, ac_x), (px_y, ac_y) = refined
    if ac_x is None and ac_y is None:
        return short
    if ac_x is None or ac_y is None:
        # The axes' clarity is compared on like autocorrelations only; one is refined.
        finite = [v for v in (px_x, px_y) if np.isfinite(v)]
        return replace(short, px_per_mm_x=px_x, px_per_mm_y=px_y,
                       px_per_mm=float(np.mean(finite)))
    return replace(short, px_per_mm_x=px_x, px_per_mm_y=px_y,
                   px_per_mm=_agreed_px_per_mm([ac_x, ac_y], px_x, px_y, short.px_per_mm))


def panel_autocorrelation(grid_prob: np.ndarray, axis: int, px_per_mm: float,
                          minor_visible: bool) -> np.ndarray | None:
    """The grid's autocorrelation along `axis` of a (H, W) grid probability map (1:
    along x, the columns' profile; 0: along y), averaged over its panels: regions of grid
    (pixels over PANEL_GRID_PROB) cut apart by gridless gaps, first across the axis
    (bands), then along it within each band, each at least PANEL_MIN_MM long. Each
    panel's own profile is compared with itself only, so the phase shift from one panel
    to the next does not blur it. Lags beyond a panel's length count the longer ones only.
    None with fewer than two panels along the axis (one grid: the whole page's
    autocorrelation holds)."""
    m = grid_prob if axis == 1 else grid_prob.T
    on = m > PANEL_GRID_PROB
    window = max(3, round((1.0 if minor_visible else 5.0) * 2.5 * px_per_mm))
    min_len = PANEL_MIN_MM * px_per_mm
    sums, weights, count = np.zeros(m.shape[1]), np.zeros(m.shape[1]), 0
    for a, b in _gridded_runs(on.sum(axis=1), window, min_len):
        for c, d in _gridded_runs(on[a:b].sum(axis=0), window, min_len):
            ac = autocorrelation(m[a:b, c:d].sum(axis=0))
            sums[:ac.size] += ac * ac.size
            weights[:ac.size] += ac.size
            count += 1
    if count < 2:
        return None
    used = weights > 0
    return sums[used] / weights[used]


def _gridded_runs(counts: np.ndarray, window: int, min_len: float) -> list[tuple[int, int]]:
    """Runs (start, stop) px of a profile of grid-pixel counts, smoothed over `window` px
    (the lines' spacing leaves gridless rows between them), above a tenth of its median
    gridded value, at least min_len long."""
    smooth = np.convolve(counts.astype(np.float64), np.ones(window) / window, "same")
    positive = smooth[smooth > 0]
    if positive.size == 0:
        return []
    return [(a, b) for a, b in true_runs(smooth > 0.1 * float(np.median(positive)))
            if b - a >= min_len]


def _measure(grid_prob: np.ndarray, min_strength: float, lags: float) -> GridScale:
    """`measure_grid` comparing each profile with itself over the first `lags` fraction of
    its length."""
    if grid_prob.ndim != 2:
        raise ValueError(f"grid_prob must be (H, W); found shape {grid_prob.shape}")
    h, w = grid_prob.shape
    profiles = [grid_prob.sum(axis=0), grid_prob.sum(axis=1)]
    if min(h, w) < 32 or float(grid_prob.mean()) < MIN_GRID_FRACTION:
        raise NoGridFoundError(
            f"no ECG grid found: grid ink covers {float(grid_prob.mean()):.2%} of the image, "
            f"expected at least {MIN_GRID_FRACTION:.0%}")
    period, strength = best_period(profiles, MIN_PERIOD_PX, min(h, w) / 4, lags)
    if not np.isfinite(period) or strength < min_strength:
        raise NoGridFoundError(
            f"no ECG grid found: grid periodicity contrast {strength:.3f}, "
            f"expected at least {min_strength}"
        )
    acs = _autocorrelations(profiles, lags)
    ppm, minor = _minor_period(acs, period, max(h, w))
    if not minor and strength < MAJOR_ONLY_MIN_STRENGTH:
        raise NoGridFoundError(
            f"no ECG grid found: a weak pattern ({period:.1f} px, comb contrast "
            f"{strength:.3f}) without finer lines; a grid seen by its 5 mm lines alone shows "
            f"at least {MAJOR_ONLY_MIN_STRENGTH}")
    extent_mm = max(h, w) / ppm
    if not MIN_PAGE_MM <= extent_mm <= MAX_PAGE_MM:
        raise NoGridFoundError(
            f"no ECG grid found: the periodic pattern ({ppm:.2f} px/mm) would make the image "
            f"{extent_mm:.0f} mm long; expected {MIN_PAGE_MM:.0f}-{MAX_PAGE_MM:.0f} mm")
    px_x, px_y = _refine(acs[0], ppm), _refine(acs[1], ppm)
    both = [v for v in (px_x, px_y) if np.isfinite(v)]
    if len(both) < 2:
        # A grid's lines repeat along both axes; rows of traces on a page without a grid
        # (or their antialiased fringes) repeat along one only, at the row spacing.
        across = min(float(comb_scores([ac], np.array([period]))[0]) for ac in acs)
        if across < MIN_AXIS_STRENGTH:
            raise NoGridFoundError(
                f"no ECG grid found: a pattern repeats along one axis only (period "
                f"{period:.1f} px, comb contrast {across:.3f} across it, expected at least "
                f"{MIN_AXIS_STRENGTH})")
    return GridScale(
        px_per_mm=_agreed_px_per_mm(acs, px_x, px_y, float(ppm)),
        px_per_mm_x=px_x, px_per_mm_y=px_y, strength=float(strength), minor_visible=minor,
        odd_deficit=_odd_deficit(acs, ppm),
    )
