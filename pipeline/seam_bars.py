"""Bars printed across the baseline where two leads of a row meet: found, not read.

Many programs and machines mark the seam between a row's lead windows with a short
vertical bar in the trace's ink, centred on the row's baseline (ECG-Image-Kit, which drew
the PhysioNet Challenge 2024 images: 3 x the trace's width and 3-10 mm tall). The line runs
into the bar and out of it, so a reading there follows the bar up or down and the leads on
either side end in a spike (kit pages 20.7 -> 17.9 dB with the bars, 20.3 with them
erased from the picture). A bar is told from a QRS stroke by its shape and place: a stretch
of 2 mm or more that all its columns ink, about centred on the baseline, at least 1.5 x as
wide as the line is thick; the same at the same column in other rows; and seams that split
every row they cross into equal columns. The line is followed through a bar (it joins a
lead's end to the next one's start) but not read there, and the seams say where the rows
start and end, more exactly than a calibration pulse that overlaps the first lead.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.extract import RowTrace
from pipeline.layout import TraceRow

#: Shortest bar, mm: a QRS stroke is shorter only in a quiet lead, and a bar of the kit's
#: at 100 dpi is 3.1 mm.
MIN_BAR_MM = 2.0
#: Widest bar, mm (the kit's is 0.8 mm; a thicker stroke is no tick).
MAX_BAR_MM = 1.5
#: Narrowest bar, in the row's line thickness (its mask's run length where flat): the
#: kit's bar is 3 x the trace's width, 3 columns at 100 dpi to the line's 2.
MIN_BAR_WIDTH = 1.5
#: A bar reaches about as far above the baseline as below it: the two parts differ by at
#: most this share of its height (each part a quarter of it or more: a row's baseline is
#: known to a mm before its line is read, and deep waves pull it off).
MAX_OFF_CENTRE = 0.5
#: Bars of one seam lie within this distance of each other across rows, mm ...
SEAM_TOLERANCE_MM = 0.5
#: ... and are of one size: width within this share of their median (and 1 px) ...
SEAM_WIDTH_SPREAD = 0.15
#: ... and height within this share (a line that enters a bar at its end shortens the
#: stretch all its columns share: kit bars of 55 px were measured 41 px tall).
SEAM_HEIGHT_SPREAD = 0.5
#: Farthest a row's start or end is moved onto its bars (`rows_on_seams`), mm.
SEAM_SHIFT_MM = 1.5


@dataclass(frozen=True)
class SeamBar:
    """A bar in one row: columns x0_px..x1_px and rows top_px..bottom_px (inclusive, px),
    its centre line at column centre_px (sub-pixel, from its ink's darkness)."""

    row: int
    x0_px: int
    x1_px: int
    top_px: int
    bottom_px: int
    centre_px: float

    @property
    def height_px(self) -> int:
        return self.bottom_px - self.top_px + 1

    @property
    def width_px(self) -> int:
        return self.x1_px - self.x0_px + 1


def find_seam_bars(mask: np.ndarray, darkness: np.ndarray, rows: list[TraceRow],
                   baselines: list[float], px_per_mm: float) -> list[SeamBar]:
    """Candidate seam bars of a page: (H, W) bool trace mask, (H, W) float ink darkness (0
    paper .. 1 and more: the trace's ink), its rows and their baselines (px, one per row),
    the page's scale (px/mm). A candidate seam is where two rows or more have a bar at the
    same column (SEAM_TOLERANCE_MM), of one size (SEAM_WIDTH_SPREAD, SEAM_HEIGHT_SPREAD);
    QRS strokes of simultaneous leads line up across rows too: `bars_on_seams` keeps the
    bars at seams that split their rows into equal columns."""
    found = [bar for k, (row, base) in enumerate(zip(rows, baselines, strict=True))
             for bar in _row_bars(mask, darkness, row, k, base, px_per_mm)]
    return [bar for seam in _seams(found, px_per_mm) for bar in seam]


def bars_on_seams(bars: list[SeamBar], starts: list[float], ends: list[float],
                  px_per_mm: float) -> list[SeamBar]:
    """The bars (`find_seam_bars`) at seams that split rows into equal columns: in each row
    with bars, from its start to its end (px, per row), 2, 3 or 4 columns put a seam
    within SEAM_SHIFT_MM of each of the page's seams, and enough of their seams have one:
    two of four columns' three (waves through a bar hide it in some rows, in all of them
    now and then), all of fewer columns'. Returns the bars of the rows that fit, when two
    rows or more fit, else none."""
    seams = _seams(bars, px_per_mm)
    if not seams:
        return []
    xs = np.array([_median_centre(seam) for seam in seams])
    reach = SEAM_SHIFT_MM * px_per_mm
    fits = {r for r in {bar.row for bar in bars}
            if _seam_columns(xs, starts[r], ends[r], reach) is not None}
    kept = [[bar for bar in seam if bar.row in fits] for seam in seams]
    if len({bar.row for seam in kept for bar in seam}) < 2:
        return []
    return [bar for seam in kept for bar in seam]


def _seam_columns(xs: np.ndarray, start: float, end: float, reach: float
                  ) -> tuple[int, np.ndarray] | None:
    """How a row from start to end (px) splits at seams xs ((m,) px, sorted): (n, k) for
    the first of 2, 3 or 4 equal columns whose seams (start + k D, D = (end - start) / n,
    k = 1..n-1) lie within reach of every one of xs, k ((m,) int) the seam each x is, and
    at least two of the n - 1 seams (all when fewer) are among xs; None when none do."""
    for n in (2, 3, 4):
        expected = start + (end - start) / n * np.arange(1, n)
        gaps = np.abs(xs[:, None] - expected[None, :])
        k = np.argmin(gaps, axis=1)
        near = gaps[np.arange(xs.size), k] <= reach
        if near.all() and np.unique(k).size == xs.size and xs.size >= min(2, n - 1):
            return n, k + 1
    return None


def _seams(bars: list[SeamBar], px_per_mm: float) -> list[list[SeamBar]]:
    """Bars grouped by column (centres within SEAM_TOLERANCE_MM of a group's first), one
    per row (the nearest the group's median), those of the group's median size (width
    within SEAM_WIDTH_SPREAD of it or 1 px, height within SEAM_HEIGHT_SPREAD); groups of
    two rows or more, left to right."""
    tol = SEAM_TOLERANCE_MM * px_per_mm
    groups: list[list[SeamBar]] = []
    for bar in sorted(bars, key=lambda b: b.centre_px):
        if groups and bar.centre_px - groups[-1][0].centre_px <= tol:
            groups[-1].append(bar)
        else:
            groups.append([bar])
    seams = []
    for group in groups:
        centre = _median_centre(group)
        nearest: dict[int, SeamBar] = {}
        for bar in group:
            held = nearest.get(bar.row)
            if held is None or abs(bar.centre_px - centre) < abs(held.centre_px - centre):
                nearest[bar.row] = bar
        alike = list(nearest.values())
        height = float(np.median([b.height_px for b in alike]))
        width = float(np.median([b.width_px for b in alike]))
        alike = [b for b in alike if abs(b.height_px - height) <= SEAM_HEIGHT_SPREAD * height
                 and abs(b.width_px - width) <= max(1.0, SEAM_WIDTH_SPREAD * width)]
        if len(alike) >= 2:
            seams.append(sorted(alike, key=lambda b: b.row))
    return seams


def _median_centre(bars: list[SeamBar]) -> float:
    return float(np.median([b.centre_px for b in bars]))


def bar_spans(bars: list[SeamBar], n_rows: int, px_per_mm: float
              ) -> list[list[tuple[int, int]]]:
    """Per row (n_rows of them), the columns (first, last px) its seams' bars hide the line
    in: at each seam (`find_seam_bars`), in every row with a bar at one of them (a bar too
    crossed by the line to be found is still there), the bars' median width and one more
    column on each side (their anti-aliased edges). The line is followed through them (a
    bar joins a lead's end to the next one's start) but not read there."""
    spans: list[list[tuple[int, int]]] = [[] for _ in range(n_rows)]
    seams = _seams(bars, px_per_mm)
    if not seams:
        return spans
    half = 0.5 * float(np.median([b.width_px for seam in seams for b in seam]))
    for r in sorted({bar.row for bar in bars}):
        for seam in seams:
            x = _median_centre(seam)
            spans[r].append((int(np.floor(x - half)), int(np.ceil(x + half))))
    return spans


def _row_bars(mask: np.ndarray, darkness: np.ndarray, row: TraceRow, index: int,
              baseline: float, px_per_mm: float) -> list[SeamBar]:
    """Bars of one row: the widest runs of adjacent columns whose ink through the baseline
    covers one common stretch MIN_BAR_MM tall or more, about centred on the baseline,
    MIN_BAR_WIDTH times the line's thickness wide or more and MAX_BAR_MM at most (the line
    that runs into and out of the bar may lengthen some of its columns' ink)."""
    if not np.isfinite(baseline):
        return []
    top, bottom = row.own_band
    y = round(baseline)
    if not top <= y < bottom:
        return []
    band = mask[top:bottom, row.x0_px:row.x1_px + 1]
    min_height = MIN_BAR_MM * px_per_mm
    through = band[max(0, y - top - 1):y - top + 2].any(axis=0)
    tall = through & (band.sum(axis=0) >= min_height)
    extents = {int(c): ext for c in np.flatnonzero(tall)
               if (ext := _run_through(band[:, c], y - top)) is not None
               and ext[1] - ext[0] + 1 >= min_height}
    min_width = MIN_BAR_WIDTH * _line_thickness(band, y - top, px_per_mm)
    max_width = MAX_BAR_MM * px_per_mm
    bars = []
    for cols in _adjacent_groups(sorted(extents)):
        core = _widest_core(cols, extents, y - top, min_height)
        if core is None or not min_width <= core[1] - core[0] + 1 <= max_width:
            continue
        first, last, (core_top, core_bottom) = core
        x0, x1 = row.x0_px + first, row.x0_px + last
        bars.append(SeamBar(index, x0, x1, top + core_top, top + core_bottom,
                            _centre_line(mask, darkness, x0, x1, top + core_top,
                                         top + core_bottom)))
    return bars


def _centre_line(mask: np.ndarray, darkness: np.ndarray, x0: int, x1: int, top: int,
                 bottom: int) -> float:
    """Column (px, sub-pixel) of a bar's centre line: per row of the bar, the centroid of
    the darkness of its trace pixels (`mask`) in columns x0 - 1 .. x1 + 1 (grid lines
    beside it left out); the median over its rows (the line that runs through the bar
    darkens a few rows on one side)."""
    lo, hi = max(0, x0 - 1), min(darkness.shape[1], x1 + 2)
    weights = np.clip(darkness[top:bottom + 1, lo:hi], 0.0, 1.0) * mask[top:bottom + 1, lo:hi]
    totals = weights.sum(axis=1)
    inked = totals > 0
    if not inked.any():
        return 0.5 * (x0 + x1)
    centroids = (weights[inked] @ np.arange(lo, hi, dtype=np.float64)) / totals[inked]
    return float(np.median(centroids))


def _widest_core(cols: list[int], extents: dict[int, tuple[int, int]], y: int,
                 min_height: float) -> tuple[int, int, tuple[int, int]] | None:
    """The widest run cols[i..j] (adjacent columns) whose extents (first, last row) share
    rows top..bottom at least min_height tall, row y inside with at most MAX_OFF_CENTRE
    of the height difference between the parts above and below it: (first col, last col,
    (top, bottom)), or None. The caller bounds its width: a core wider than a bar is a
    blob, not a bar with a wave beside it."""
    best: tuple[int, int, tuple[int, int]] | None = None
    for i in range(len(cols)):
        lo, hi = extents[cols[i]]
        for j in range(i, len(cols)):
            lo, hi = max(lo, extents[cols[j]][0]), min(hi, extents[cols[j]][1])
            height = hi - lo + 1
            if height < min_height:
                break
            above, below = y - lo, hi - y
            wide = cols[j] - cols[i] + 1
            if (above >= 0 and below >= 0 and abs(above - below) <= MAX_OFF_CENTRE * height
                    and (best is None or wide > best[1] - best[0] + 1)):
                best = (cols[i], cols[j], (lo, hi))
    return best


def _line_thickness(band: np.ndarray, y: int, px_per_mm: float) -> float:
    """The row's line thickness (px): the median length of the ink runs through row y of
    (h, w) bool `band` (or the row next to it, as `_run_through`) that are under 1 mm
    long, 1 when there are none."""
    h, w = band.shape
    lengths = np.zeros(w, dtype=np.int64)
    found = np.zeros(w, dtype=bool)
    reach = int(np.ceil(px_per_mm)) + 1  # runs this long or longer are left out anyway
    for start in (y, y - 1, y + 1):
        if not 0 <= start < h:
            continue
        # Unbroken ink above and below `start`, per column (cumprod stops at a gap).
        up = band[max(0, start - reach):start + 1][::-1]
        down = band[start:start + reach + 1]
        run = np.cumprod(up, axis=0).sum(axis=0) + np.cumprod(down, axis=0).sum(axis=0) - 1
        new = band[start] & ~found
        lengths[new], found[new] = run[new], True
    kept = lengths[found & (lengths < px_per_mm)]
    return float(np.median(kept)) if kept.size else 1.0


def _run_through(column: np.ndarray, y: int) -> tuple[int, int] | None:
    """(first, last) row of the run of True in (h,) bool `column` through row y (or the
    row next to it), None when neither is inked."""
    for start in (y, y - 1, y + 1):
        if 0 <= start < column.size and column[start]:
            break
    else:
        return None
    empty_above = np.flatnonzero(~column[:start])
    empty_below = np.flatnonzero(~column[start:])
    first = int(empty_above[-1]) + 1 if empty_above.size else 0
    last = start + int(empty_below[0]) - 1 if empty_below.size else column.size - 1
    return first, last


def _adjacent_groups(cols: list[int]) -> list[list[int]]:
    """Sorted column indices split into runs of consecutive values."""
    groups: list[list[int]] = []
    for c in cols:
        if groups and c == groups[-1][-1] + 1:
            groups[-1].append(c)
        else:
            groups.append([c])
    return groups


def rows_on_seams(starts: list[float], ends: list[float], bars: list[SeamBar],
                  px_per_mm: float) -> tuple[list[float], list[float], list[float | None]]:
    """Row starts and ends (px, one each per row) moved to where the page's seams put them
    (`bars_on_seams`; a seam's column: its bars' median centre): a row with bars splits
    into n equal columns (`_seam_columns`), so its start and column width D are those that
    put seam k at start + k D (least squares over the seams; with one seam, the row's end
    stays), and it ends n columns after its start. A row's start read from its
    calibration pulse is off by the pulse's stroke (ECG-Image-Kit starts a row's first
    lead under the pulse's falling stroke: read 16-20 ms late); the bars are not. Moves
    by under SEAM_SHIFT_MM only; rows without bars that started with the moved rows
    (within SEAM_SHIFT_MM) move their start by the same amount.

    Returns (starts, ends, readable_from): per row, where a start moved earlier, the start
    read before (the line is hidden under the pulse's stroke up to there), else None."""
    old_starts = list(starts)
    starts, ends = list(starts), list(ends)
    seams = _seams(bars, px_per_mm)
    xs = np.array([_median_centre(seam) for seam in seams])
    reach = SEAM_SHIFT_MM * px_per_mm
    with_bars = {bar.row for bar in bars}
    moved: list[tuple[float, float]] = []  # (old start, shift) of each moved row
    for r in sorted(with_bars) if xs.size else []:
        fit = _seam_columns(xs, starts[r], ends[r], reach)
        if fit is None:
            continue
        n, k = fit
        if xs.size >= 2:
            column, start = (float(v) for v in np.polyfit(k, xs, 1))
        else:
            column = (ends[r] - xs[0]) / (n - k[0])
            start = xs[0] - k[0] * column
        end = start + n * column
        if abs(start - starts[r]) <= reach and abs(end - ends[r]) <= reach:
            moved.append((starts[r], start - starts[r]))
            starts[r], ends[r] = start, end
    if moved:
        shift = float(np.median([s for _, s in moved]))
        for r in range(len(starts)):
            if r not in with_bars and any(abs(starts[r] - old) <= reach for old, _ in moved):
                starts[r] += shift
    readable_from = [old if new < old else None
                     for old, new in zip(old_starts, starts, strict=True)]
    return starts, ends, readable_from


def unread_before(trace: RowTrace, x_px: float | None) -> RowTrace:
    """Row line `trace` with its samples left of column x_px (px) unread (NaN); the line
    itself when x_px is None."""
    if x_px is None:
        return trace
    return RowTrace(trace.x_px, np.where(trace.x_px < x_px, np.nan, trace.y_px),
                    trace.line_width_px, trace.confident & (trace.x_px >= x_px))
