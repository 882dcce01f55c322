"""Which lead is drawn where: trace rows, their extent, and the layout template they fit.

A layout is a grid of `rows x cols` cells (each cell one lead over one time window) plus
0..3 full-width rhythm strips below it. Column c of the grid shows the time window
[c * D, (c + 1) * D) of the recording; a rhythm strip shows [0, cols * D). A lead written
"-aVR" is drawn inverted (Cabrera). Template names match the renderer's (`pipeline.synth`).

Rows are found from the horizontal projection of the long trace components (text and
specks are left out); templates with the right number of rows are compared by where their
rows break into columns (ink gaps, separator ticks, baseline jumps) and, for templates with
the same geometry (standard vs Cabrera, limb vs precordial), by the linear relations that
simultaneous limb leads obey (I - II + III = 0, aVR + aVL + aVF = 0, ...), checked after
extraction by `pipeline.digitizer`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

from pipeline.errors import LayoutNotFoundError, NoTraceFoundError
from pipeline.extract import RowTrace, column_edges
from pipeline.frame import EDGE_LINE_MM, find_frame, spine_rows
from pipeline.layouts import LAYOUTS, LayoutTemplate

#: Extraction reaches at least this far from a row's baseline, mm: closely spaced rows
#: (12x1, 6x2) cross, and a 2 mV wave at 10 mm/mV must still be read whole.
READ_REACH_MM = 20.0
#: Beyond READ_REACH_MM, a row's line may go on up to this far from its baseline, mm, through
#: ink joined to its band's where a wave leaves the band (a deep S wave in V1-V3 reaches
#: 3-6 mV, through one or two rows below; `extract._choose_far`).
FAR_REACH_MM = 60.0
#: Lines thinner than this (median flat run, px) are read within the half-way band only.
MIN_WIDE_LINE_PX = 1.5
#: Share of the found rows within 0.15 spacing of their places on the lattice spanned
#: by the first and last row (`span_lattice_rows`), tried only where no other reading of
#: the rows gives a known count of them (three in four for `snap_to_lattice`).
SPAN_LATTICE_SHARE = 0.6
#: Least share of the page's inked width a row's line must span (`_row_positions`) ...
ROW_INK_SHARE = 0.18
#: ... and that the one place left between found rows on their lattice must hold ink
#: across (`span_lattice_rows`).
LONE_PLACE_INK_SHARE = 0.1
#: Trace-probability thresholds tried in turn until at least three rows of long lines show.
INK_THRESHOLDS = (0.5, 0.3, 0.2)
#: A row's line runs on over breaks in its ink up to this long (mm): a grid line's crossing
#: lost with the grid, or a faint stretch of line under a photo's glare or in its
#: brightest light (photo bench page 3: three of four rows ended 1-2 panels early at 2 mm).
MAX_LINE_BREAK_MM = 5.0
#: A row's line changes lead at a column boundary when its upward or downward reach (from
#: the line's median, robust percentiles) differs this much on the two sides, as a log
#: ratio: none at CHANGE_LOG_RATIO[0] (1.35x: one lead breathes by 10-30%) ... certain
#: at CHANGE_LOG_RATIO[1] (2x).
CHANGE_LOG_RATIO = (0.3, 0.7)
#: Reaches under this are counted as this (mm): a flat line's noise is no lead's shape.
MIN_REACH_MM = 1.0
#: A QRS complex is steeper than this (rise over run, over 0.5 mm of the line): P and T
#: waves and a noisy line are not (up to 3.2 on a 50 mm/s render with a jagged line, where
#: QRS complexes reached 5-10). Small complexes at 50 mm/s or 5 mm/mV fall under it too:
#: their side then gives no evidence, which is the safe way to be wrong.
MIN_QRS_SLOPE = 3.5
#: Known templates in the order candidates are tried: the first of equal-cost candidates
#: wins, so common layouts come first.
_PREFERENCE = ("3x4+1", "3x4", "3x4+2", "3x4+3", "6x2", "6x2+1", "12x1", "cabrera-3x4+1",
               "cabrera-3x4", "limb-6x1", "precordial-6x1", "6x2-full", "3x4-full")
TEMPLATES: dict[str, LayoutTemplate] = {name: LAYOUTS[name] for name in _PREFERENCE}
#: A layout of full columns (each a lead's whole record) is read where its columns, read
#: one after another, would last over this many times the record: two columns of 10 s
#: are 20 s, and 6x2's two of 5 s are 10 s.
FULL_COLUMNS_MIN_OVERRUN = 1.25
#: `component_sizes` reads sizes from borders unless there is a component per this many
#: px of image (speckle), where OpenCV's per-pixel statistics cost less.
SPECKLE_AREA_PX = 1000


def get_template(name: str) -> LayoutTemplate:
    """The template called `name`; raises LayoutNotFoundError listing known names."""
    if name not in TEMPLATES:
        raise LayoutNotFoundError(f"unknown layout {name!r}; expected one of {sorted(TEMPLATES)}")
    return TEMPLATES[name]


@dataclass(frozen=True)
class TraceRow:
    """One drawn row of traces on the rectified page.

    y_px: baseline estimate (row of the projection peak), px.
    x0_px, x1_px: first and last column holding this row's ink, px.
    top_px, bottom_px: band the row's extraction may use, px: half-way to its neighbours,
    or READ_REACH_MM from the baseline where that is further (closely spaced rows cross).
    own_top_px, own_bottom_px: the half-way band alone, px (None: top_px, bottom_px).
    far_top_px, far_bottom_px: rows beyond the band that the line may reach only through ink
    connected to the band's (FAR_REACH_MM), px (None: top_px, bottom_px).
    """

    y_px: float
    x0_px: int
    x1_px: int
    top_px: int
    bottom_px: int
    own_top_px: int | None = None
    own_bottom_px: int | None = None
    far_top_px: int | None = None
    far_bottom_px: int | None = None

    @property
    def own_band(self) -> tuple[int, int]:
        """(top, bottom) px of the rows between this row's neighbours' half-way lines."""
        top = self.top_px if self.own_top_px is None else self.own_top_px
        bottom = self.bottom_px if self.own_bottom_px is None else self.own_bottom_px
        return top, bottom

    @property
    def far_band(self) -> tuple[int, int]:
        """(top, bottom) px that a tall wave's connected ink may reach (see the class)."""
        top = self.top_px if self.far_top_px is None else self.far_top_px
        bottom = self.bottom_px if self.far_bottom_px is None else self.far_bottom_px
        return top, bottom


def long_trace_mask(trace_prob: np.ndarray, min_width_px: float, threshold: float = 0.5,
                    max_density_px: float | None = None, *, above: np.ndarray | None = None
                    ) -> np.ndarray:
    """Trace pixels belonging to connected components at least `min_width_px` wide.

    trace_prob: (H, W) float. max_density_px: components with more ink pixels per column
    than this are text lines, not traces (None: no limit). above: trace_prob > threshold
    when the caller has it (None: worked out here). Returns (H, W) bool. Leaves out
    text, specks and ticks.
    """
    full = trace_prob > threshold if above is None else above
    out = np.zeros(full.shape, dtype=bool)
    # Only the box around the ink (with room for the closing's reach) can hold components:
    # the same components as over the whole page, at the cost of the box.
    box = _ink_box(full, pad=6)
    if box is None:
        return out
    raw = full[box]
    # Bridge the small breaks a removed grid line or a faint antialiased stroke leaves.
    ink = cv2.morphologyEx(raw.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    if max_density_px is None:
        out[box] = wide_components(ink, min_width_px) & raw
        return out
    labels, sizes = component_sizes(ink)
    n = sizes.shape[0]
    keep = np.zeros(n, dtype=bool)
    width = sizes[1:, 0]
    keep[1:] = width >= min_width_px
    if max_density_px is not None and n > 1:
        counts = np.bincount(labels[raw], minlength=n)[1:]
        keep[1:] &= counts / np.maximum(width, 1) <= max_density_px
    out[box] = np.take(keep, labels) & raw
    return out


def wide_components(ink: np.ndarray, min_width_px: float) -> np.ndarray:
    """(H, W) bool: the 8-connected components of `ink` ((H, W) uint8, 1 is ink, 0 paper)
    whose bounding box is at least min_width_px wide.

    A component's outer border (a top-level contour) gives its box; each wide one is
    filled from a point of that border. This costs what the few wide components and the
    borders cost, not two passes over every pixel of the page (labelling, then looking up
    each pixel's label).
    """
    h, w = ink.shape
    if _speckled(ink):
        _, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
        keep = stats[:, cv2.CC_STAT_WIDTH] >= min_width_px
        keep[0] = False  # the background
        return np.take(keep, np.asarray(labels))
    contours, hierarchy = cv2.findContours(ink, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros((h + 2, w + 2), dtype=np.uint8)
    if not contours:
        return filled[1:-1, 1:-1] > 0
    flags = 8 | cv2.FLOODFILL_MASK_ONLY | (1 << 8)  # 8-connected; mark the mask with 1
    for contour, links in zip(contours, hierarchy[0], strict=True):
        if links[3] >= 0:
            continue  # the border of a hole
        width = cv2.boundingRect(contour)[2]
        if width < min_width_px:
            continue
        x, y = (int(v) for v in contour[0, 0])
        if not filled[y + 1, x + 1]:
            cv2.floodFill(ink, filled, (x, y), 1, 0, 0, flags)
    return filled[1:-1, 1:-1] > 0


#: The neighbours met before a pixel in raster order (above it, and left), as a kernel.
_BEFORE = np.array([[1, 1, 1], [1, 0, 0], [0, 0, 0]], np.uint8)


def _speckled(ink: np.ndarray) -> bool:
    """Whether `ink` ((H, W) uint8 0/1) holds a component per SPECKLE_AREA_PX px or more.

    Each 8-connected component's first pixel in raster order has no ink among its
    neighbours above and to its left: when even such pixels (and the background) are too
    few, the page is not speckled, known without labelling it (0.7 vs 4.5 ms on a page,
    where they number a few hundred).
    """
    firsts = np.count_nonzero(ink > cv2.dilate(ink, _BEFORE))
    if (firsts + 1) * SPECKLE_AREA_PX <= ink.size:
        return False
    return cv2.connectedComponents(ink, connectivity=8)[0] * SPECKLE_AREA_PX > ink.size


def component_sizes(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-connected components of `ink` ((H, W) uint8, nonzero is ink) and the width and
    height of each one's bounding box.

    Returns labels (H, W) int32 (0: background) and sizes (n, 2) int (width, height, px;
    row 0 is the background's, zero). The same as OpenCV's component statistics, taken
    from each component's border (its contours) rather than from all of its pixels,
    which costs a third as much on a page. (Speckle, thousands of tiny pieces, has more
    border than area: there OpenCV's statistics are used.)
    """
    n, labels = cv2.connectedComponents(ink, connectivity=8)
    if n * SPECKLE_AREA_PX > ink.size:
        _, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
        sizes = stats[:, [cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT]].astype(np.int64)
        sizes[0] = 0
        return labels, sizes
    sizes = np.zeros((n, 2), dtype=np.int64)
    # Each component's outer border holds its bounding box; the borders of its holes lie
    # inside it. Any point of a border lies on its component.
    contours, _ = cv2.findContours(ink, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return labels, sizes
    points = np.concatenate(contours).reshape(-1, 2)  # (x, y) of each contour in turn
    first = np.r_[0, np.cumsum([len(c) for c in contours])[:-1]]
    extent = (np.maximum.reduceat(points, first, axis=0)
              - np.minimum.reduceat(points, first, axis=0) + 1)  # (contours, 2)
    label = labels[points[first, 1], points[first, 0]]
    np.maximum.at(sizes, label, extent)
    return labels, sizes


def _ink_box(mask: np.ndarray, pad: int) -> tuple[slice, slice] | None:
    """(rows, columns) slices of the box around the True pixels of `mask` ((H, W) bool),
    widened by `pad` px each way within the image; None when there are none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0]:rows[-1] + 1].any(axis=0))
    h, w = mask.shape
    return (slice(max(0, int(rows[0]) - pad), min(h, int(rows[-1]) + pad + 1)),
            slice(max(0, int(cols[0]) - pad), min(w, int(cols[-1]) + pad + 1)))


def find_rows(trace_prob: np.ndarray, px_per_mm: float) -> list[TraceRow]:
    """Find the rows of traces of a rectified page.

    trace_prob: (H, W) float in [0, 1]; px_per_mm: page scale.
    Returns rows top to bottom. Raises NoTraceFoundError when no long trace exists.
    """
    return rows_and_long_ink(trace_prob, px_per_mm)[0]


def rows_and_long_ink(trace_prob: np.ndarray, px_per_mm: float
                      ) -> tuple[list[TraceRow], np.ndarray]:
    """`find_rows`, and the long traces it looked at first: (H, W) bool
    `long_trace_mask(trace_prob, max(8, 12 px_per_mm))` (at the usual threshold)."""
    h, _w = trace_prob.shape
    rows_y: list[int] = []
    best: tuple[np.ndarray, np.ndarray] | None = None  # (trace_prob > threshold, long ink)
    long_ink = np.zeros(trace_prob.shape, dtype=bool)
    first: np.ndarray | None = None
    for threshold in INK_THRESHOLDS:
        # Faint thin lines (grey antialiased traces of low-resolution pages) break into
        # short pieces at the usual threshold: look again lower when too few rows show.
        above = trace_prob > threshold
        long_ink = long_trace_mask(trace_prob, max(8.0, 12.0 * px_per_mm), threshold,
                                   above=above)
        first = long_ink if first is None else first
        found = _row_positions(long_ink, above, px_per_mm)
        if len(found) > len(rows_y):
            rows_y, best = found, (above, long_ink)
        if len(rows_y) >= 3:
            break
    if best is None:
        if not long_ink.any():
            raise NoTraceFoundError(
                "no ECG trace found: no ink line is longer than 12 mm "
                f"({12.0 * px_per_mm:.0f} px at {px_per_mm:.2f} px/mm)")
        raise NoTraceFoundError("no ECG trace found: no row of traces spans the page")
    ink, long_ink = best
    rows_y = _off_frame_lines(rows_y, ink, px_per_mm)
    if not rows_y:
        raise NoTraceFoundError("no ECG trace found: no row of traces spans the page")
    # Thin lines break into pieces the line follower cannot tell from a neighbour's across
    # a wide band: only lines drawn solid are read beyond the half-way line.
    wide = line_thickness(long_ink) >= MIN_WIDE_LINE_PX
    reach = READ_REACH_MM * px_per_mm if wide else 0.0
    far = FAR_REACH_MM * px_per_mm if wide else 0.0
    measured = [_row_span(ink, long_ink, rows_y, i, px_per_mm) for i in range(len(rows_y))]
    known = [sp for sp in measured if sp is not None]
    if not known:
        raise NoTraceFoundError("no ECG trace found: no row of traces spans the page")
    # Rows of a page start (and end) together: a row whose line begins with a break
    # (a QRS stroke lost on a grid line) is read from where the other rows start.
    start = consensus([float(a) for a, _ in known], 1.5 * px_per_mm)
    end = consensus([float(b) for _, b in known], 1.5 * px_per_mm)
    spans = [sp if sp is not None else (round(start), round(end)) for sp in measured]
    rows: list[TraceRow] = []
    for i, y in enumerate(rows_y):
        top = (rows_y[i - 1] + y) // 2 if i > 0 else max(0, y - int(0.8 * (rows_y[1] - y))
                                                          if len(rows_y) > 1 else 0)
        bottom = ((y + rows_y[i + 1]) // 2 if i + 1 < len(rows_y)
                  else min(h, y + int(0.8 * (y - rows_y[i - 1])) if i > 0 else h))
        x0, x1 = spans[i]
        rows.append(TraceRow(float(y), int(min(x0, round(start))), int(max(x1, round(end))),
                             *_widened(top, bottom, y, reach, h), int(top), int(bottom),
                             *_widened(top, bottom, y, far, h)))
    assert first is not None  # INK_THRESHOLDS is not empty
    return rows, first


def _widened(top: int, bottom: int, y: int, distance: float, h: int) -> tuple[int, int]:
    """A row's band [top, bottom) (px) widened to at least `distance` px either side of its
    baseline y, within a page of h rows."""
    return int(min(top, max(0, y - distance))), int(max(bottom, min(h, y + distance)))


def _off_frame_lines(rows_y: list[int], ink: np.ndarray, px_per_mm: float) -> list[int]:
    """Rows (px, top to bottom) without those on a plot frame's top or bottom line
    (`pipeline.frame.spine_rows`, within 2 px): on a black-and-white page the line is as
    dark as the traces and spans the page like a row (bemplt's 100-dpi 6x2 page of record
    00180_hr: 7 rows, read as 6x2+1). ink: (H, W) bool trace ink the rows were found in."""
    if len(rows_y) < 2:
        return rows_y
    frame = find_frame(ink, rows_y[0], rows_y[-1] + 1, px_per_mm)
    lines = spine_rows(ink, frame, px_per_mm)
    return [y for y in rows_y
            if not any(int(r[0]) - 2 <= y <= int(r[-1]) + 2 for r in lines)]


def _row_spacing(rows_y: list[int]) -> float:
    """The spacing (px) most gaps between row positions `rows_y` (px, >= 2) agree on."""
    gaps = np.diff(rows_y).astype(np.float64)
    return consensus(gaps.tolist(), 0.1 * float(np.median(gaps)))


def _flat_columns(long_ink: np.ndarray, y: int, px_per_mm: float) -> np.ndarray:
    """(W,) bool columns where `long_ink` ((H, W) bool) holds ink within 2 mm of row y px."""
    reach = int(2 * px_per_mm)
    return np.asarray(long_ink[max(0, y - reach):y + reach + 1].any(axis=0), dtype=bool)


#: Two found rows closer than this share of the row spacing may be one sloped row...
SPLIT_ROW_GAP = 0.4
#: ...when their flat lines overlap in at most this share of the shorter one's columns.
SPLIT_ROW_OVERLAP = 0.25


def _merge_split_rows(rows_y: list[int], long_ink: np.ndarray, px_per_mm: float
                      ) -> list[int]:
    """Row positions (px, top to bottom) with the two halves of a sloped row made one.

    A row whose line drifts across the page (a lead drawn with its DC offset or baseline
    wander, or a photo's leftover tilt) shows in the horizontal projection as two peaks a
    few mm apart, each from the flat stretches on one part of the page: photo bench page
    25 was read as 3x4+2 (7.9 dB; 14.9 as one row). Two rows under SPLIT_ROW_GAP of the
    spacing most gaps agree on apart become one, at their mean weighted by columns, when
    their flat lines (`long_ink` (H, W) bool within 2 mm of each position) overlap in at
    most SPLIT_ROW_OVERLAP of the shorter one's columns; two real rows that close would
    both span the page. Where no two gaps agree (the split's own small gap among them),
    the spacing is the median gap: the consensus then is the smallest gap, the split's
    (scan black-grid bench page 3, rows 364, 283, 70 and 330 px apart: read as 3x4+2)."""
    if len(rows_y) < 4:
        return rows_y
    spacing = max(_row_spacing(rows_y), float(np.median(np.diff(rows_y))))
    out = list(rows_y)
    i = 0
    while i < len(out) - 1:
        if out[i + 1] - out[i] < SPLIT_ROW_GAP * spacing:
            upper = _flat_columns(long_ink, out[i], px_per_mm)
            lower = _flat_columns(long_ink, out[i + 1], px_per_mm)
            n_up, n_low = int(upper.sum()), int(lower.sum())
            if min(n_up, n_low) > 0 and int((upper & lower).sum()) <= (
                    SPLIT_ROW_OVERLAP * min(n_up, n_low)):
                out[i:i + 2] = [round((out[i] * n_up + out[i + 1] * n_low) / (n_up + n_low))]
                continue
        i += 1
    return out


#: An end row nearer its neighbour than this share of the row spacing...
STRAY_ROW_GAP = 0.6
#: ...whose flat line covers under this share of the other rows' (median) columns is no row.
STRAY_ROW_COVER = 0.5


def _drop_stray_end_row(rows_y: list[int], long_ink: np.ndarray, px_per_mm: float
                        ) -> list[int]:
    """Row positions (px, top to bottom) without a stray first or last row: one nearer its
    neighbour than STRAY_ROW_GAP of the spacing most gaps agree on, whose flat line
    (`long_ink` (H, W) bool within 2 mm of it) covers under STRAY_ROW_COVER of the other
    rows' median columns, when a known layout's count of rows is left. Photo bench page
    21: a handwritten ellipse half a spacing under the rhythm strip read as a fifth row
    (3x4+2). Session 10 dropped such rows without the spacing condition and lost real
    rows of 7 real pictures, rows a whole spacing from their neighbours."""
    counts = {t.n_rows for t in TEMPLATES.values()}
    if len(rows_y) < 4 or len(rows_y) - 1 not in counts:
        return rows_y
    spacing = _row_spacing(rows_y)
    cover = [int(_flat_columns(long_ink, y, px_per_mm).sum()) for y in rows_y]
    for end, neighbour in ((len(rows_y) - 1, len(rows_y) - 2), (0, 1)):
        others = cover[:end] + cover[end + 1:]
        if (abs(rows_y[end] - rows_y[neighbour]) < STRAY_ROW_GAP * spacing
                and cover[end] < STRAY_ROW_COVER * float(np.median(others))):
            return rows_y[:end] + rows_y[end + 1:]
    return rows_y


#: A row missed above the first or below the last found row is added when its flat line
#: covers this share of the found rows' median columns...
MISSED_ROW_COVER = 0.6
#: ...within this share of the row spacing of one spacing beyond the end row.
MISSED_ROW_REACH = 0.2


def _add_missed_end_row(rows_y: list[int], long_ink: np.ndarray, px_per_mm: float
                        ) -> list[int]:
    """Row positions (px, top to bottom) with a row added one spacing above the first or
    below the last found row, where a long line runs there as the found rows' do.

    A row drawn busy all along (flutter, a fast rhythm) has few flat stretches, so its peak
    in the projection can fall under the prominence that the page's longest flat line sets:
    real picture ecg00028's top row (flutter) made a peak of 15 against the rhythm strip's
    122, and one network missed it by 1 (read as 3x4 from the three rows below it, every
    lead in the wrong place). The lattice only fills places between found rows. Only a row
    whose flat line (`long_ink` (H, W) bool, within 2 mm) covers MISSED_ROW_COVER of the
    found rows' median columns is added, and only when a known layout's count results."""
    counts = {t.n_rows for t in TEMPLATES.values()}
    if len(rows_y) < 3 or len(rows_y) + 1 not in counts:
        return rows_y
    h = long_ink.shape[0]
    spacing = _row_spacing(rows_y)
    needed = MISSED_ROW_COVER * float(np.median(
        [_flat_columns(long_ink, y, px_per_mm).sum() for y in rows_y]))
    reach = int(MISSED_ROW_REACH * spacing)
    for end, sign in ((0, -1), (len(rows_y) - 1, 1)):
        place = round(rows_y[end] + sign * spacing)
        if place - reach < 0 or place + reach >= h:
            continue
        cover = {y: int(_flat_columns(long_ink, y, px_per_mm).sum())
                 for y in range(place - reach, place + reach + 1)}
        best = max(cover, key=lambda y: cover[y])
        if cover[best] >= needed:
            return sorted([*rows_y, best])
    return rows_y


#: Rows of broken lines (`_rows_of_broken_lines`) are added where the flat stretches of all
#: trace ink cover this share of the found rows' median columns.
BROKEN_ROW_COVER = 0.6


def _rows_of_broken_lines(rows_y: list[int], ink: np.ndarray, px_per_mm: float
                          ) -> list[int]:
    """Row positions (px, top to bottom) with the rows added that the long lines missed,
    on a page where too few rows were found for any layout (2).

    Where heavy grid lines are as dark as thin traces, the lines' mask takes the grid line
    pixels out of the traces and a row's line falls into pieces shorter than the long
    lines that rows are found from: clean black-grid bench page 7 showed 2 of its 4 rows
    and was refused. The two found rows set the spacing (halved when their midway holds a
    row too); places a spacing on above the first and below the last row are added while
    the flat stretches (2.5 mm and longer) of `ink` ((H, W) bool, all trace ink) within
    2 mm of a place (at their projection's peak within a fifth of the spacing) cover
    BROKEN_ROW_COVER of the found rows' median columns; kept only when a known layout's
    count of rows results."""
    counts = {t.n_rows for t in TEMPLATES.values()}
    if len(rows_y) != 2:
        return rows_y
    h = ink.shape[0]
    flat = _flat_stretches(ink, px_per_mm) > 0
    needed = BROKEN_ROW_COVER * float(np.median(
        [_flat_columns(flat, y, px_per_mm).sum() for y in rows_y]))
    if needed <= 0:
        return rows_y

    def row_near(place: float, spacing: float) -> int | None:
        # The row's line: the peak of the flat stretches' projection near the place.
        reach = int(0.2 * spacing)
        lo, hi = round(place) - reach, round(place) + reach
        if lo < 0 or hi >= h:
            return None
        profile = gaussian_filter1d(flat[lo:hi + 1].sum(axis=1).astype(np.float64),
                                    max(1.0, 0.7 * px_per_mm))
        best = lo + int(np.argmax(profile))
        return best if _flat_columns(flat, best, px_per_mm).sum() >= needed else None

    out = list(rows_y)
    spacing = float(out[1] - out[0])
    middle = row_near(0.5 * (out[0] + out[1]), 0.5 * spacing)
    if middle is not None:
        out, spacing = [out[0], middle, out[1]], 0.5 * spacing
    for sign in (-1, 1):
        while len(out) < max(counts):
            end = out[0] if sign < 0 else out[-1]
            found = row_near(end + sign * spacing, spacing)
            if found is None:
                break
            out = sorted([*out, found])
    return out if len(out) in counts else rows_y


def _drop_squeezed(rows_y: list[int]) -> list[int]:
    """Row positions (px, top to bottom) without those squeezed between two rows that are
    one row spacing apart: handwriting or a stamp's line under a row is no layout's row.

    The spacing is the one most gaps agree on (within 10%); a row is squeezed when both its
    gaps are under 3/4 of it and its neighbours are within 15% of it apart."""
    if len(rows_y) < 4:
        return rows_y
    spacing = _row_spacing(rows_y)
    keep = list(rows_y)
    i = 1
    while i < len(keep) - 1:
        before, after = keep[i] - keep[i - 1], keep[i + 1] - keep[i]
        if (max(before, after) < 0.75 * spacing
                and abs(keep[i + 1] - keep[i - 1] - spacing) <= 0.15 * spacing):
            del keep[i]
        else:
            i += 1
    return keep


def line_thickness(ink: np.ndarray) -> float:
    """Median vertical thickness of the ink (H, W) bool where it runs flat, px (0 if none):
    runs whose top is at the same height in the next column."""
    box = _ink_box(ink, pad=0)
    if box is None:
        return 0.0
    ink = ink[box]
    # Run starts and ends in column-major order: each column's edges alternate, a start
    # then its end, so the k-th end closes the k-th start.
    edge_col, edge_row = column_edges(ink)
    s_col, s_row = edge_col[0::2], edge_row[0::2]
    e_row = edge_row[1::2]
    if s_row.size == 0:
        return 0.0
    length = e_row - s_row
    # Column-major order makes the keys increase: a sorted lookup, not np.isin's sort.
    key = s_col.astype(np.int64) * (ink.shape[0] + 2) + s_row
    after = key + ink.shape[0] + 2
    flat = key[np.minimum(np.searchsorted(key, after), key.size - 1)] == after
    return float(np.median(length[flat] if flat.any() else length))


def _flat_stretches(ink: np.ndarray, px_per_mm: float) -> np.ndarray:
    """(H, W) uint8 0/1: the horizontal stretches of `ink` ((H, W) bool) at least 2.5 mm
    long, after thickening it by a pixel up and down (a noisy baseline wiggles by one)."""
    k = max(3, round(2.5 * px_per_mm))
    thick = cv2.dilate(ink.astype(np.uint8), np.ones((3, 1), np.uint8))
    return cv2.morphologyEx(thick, cv2.MORPH_OPEN, np.ones((1, k), np.uint8))


def _row_positions(long_ink: np.ndarray, ink: np.ndarray, px_per_mm: float) -> list[int]:
    """Baselines of the rows of long trace ink (H, W) bool, px, top to bottom: peaks of the
    horizontal projection of its flat stretches that span a good part of the page width,
    snapped to their lattice, with rows the peaks missed added where `ink` (H, W) bool
    (all trace ink: a faint row's line may be broken) spans the page at a lattice place."""
    if not long_ink.any():
        return []
    cols_with_ink = long_ink.any(axis=0)
    # Baselines show as long horizontal stretches of line; text and QRS strokes do not.
    flat = _flat_stretches(long_ink, px_per_mm)
    if not flat.any():
        flat = long_ink.astype(np.uint8)
    counts = flat.sum(axis=1).astype(np.float64)
    # A line along the picture's top or bottom edge is a plot's frame (a figure whose axes
    # fill it, as ECG-Image-Kit's pages), not a row: no wave has room there. Page-long and
    # dead straight, it would set the prominence every row is measured against.
    edge = max(1, round(EDGE_LINE_MM * px_per_mm))
    counts[:edge] = 0.0
    counts[-edge:] = 0.0
    profile = gaussian_filter1d(counts, max(1.0, 0.7 * px_per_mm))
    min_dist = max(3, int(7.0 * px_per_mm))
    peaks, _props = find_peaks(profile, distance=min_dist, prominence=0.12 * profile.max())
    # A row's trace must span a good part of the page width.
    rows_y: list[int] = []
    extent = float(cols_with_ink.sum())
    for p in peaks:
        if _flat_columns(long_ink, int(p), px_per_mm).sum() >= ROW_INK_SHARE * extent:
            rows_y.append(int(p))
    if not rows_y:
        return []

    rows_y = _drop_squeezed(rows_y)
    rows_y = _merge_split_rows(rows_y, long_ink, px_per_mm)
    rows_y = _drop_stray_end_row(rows_y, long_ink, px_per_mm)
    rows_y = _add_missed_end_row(rows_y, long_ink, px_per_mm)
    rows_y = _rows_of_broken_lines(rows_y, ink, px_per_mm)

    def holds_row(yy: int, d: float, share: float = ROW_INK_SHARE) -> bool:
        band = ink[max(0, yy - int(0.25 * d)): yy + int(0.25 * d) + 1]
        return bool(band.any(axis=0).sum() >= share * extent)

    # Known layouts have so many rows: of the completed lattice, the lattice alone and the
    # peaks as found, the first with a known count of rows wins; when the peaks already
    # count as a known layout, the first that keeps their count.
    counts = {t.n_rows for t in TEMPLATES.values()}
    halves = half_lattice_rows(rows_y, holds_row)
    if halves is not None and len(halves) in counts:
        return halves
    options = [snap_to_lattice(rows_y, holds_row), snap_to_lattice(rows_y), rows_y]
    if len(options[0]) in counts and _adds_rows(rows_y, options[0]):
        return options[0]  # no layout leaves a lattice place empty between its rows
    wanted = {len(rows_y)} if len(rows_y) in counts else counts
    known = next((o for o in options if len(o) in wanted), None)
    if known is not None:
        return known
    # No known count of rows: the page would be refused. Tall waves (a 12x1 page of 5 mV
    # S waves) pull several rows' projection peaks a quarter spacing off their baselines,
    # too many for the lattice to hold; the first and last row then still mark its ends.
    known_counts = sorted(counts)
    spanned = span_lattice_rows(rows_y, known_counts, holds_row,
                                lambda yy, d: holds_row(yy, d, LONE_PLACE_INK_SHARE))
    if spanned is not None:
        return spanned
    extended = extend_lattice_rows(options[0], known_counts, holds_row)
    return extended if extended is not None else options[0]


def extend_lattice_rows(rows_y: list[int], counts: list[int],
                        holds_row: Callable[[int, float], bool]) -> list[int] | None:
    """Rows (px, top to bottom) with lattice places added above the first row and below
    the last, at their median spacing d, up to the fewest rows of `counts` (row counts of
    known layouts) above theirs, where every place added holds ink (holds_row(y, d)) and
    one way only of adding them (so many above, the rest below) does. None when no count
    or more than one way fits.

    A row busy all along has no flat stretch to show in the projection: a gridless 12x1
    photo's V5 and V6, whose lines step at every beat (ST shifts), made no peaks, and its
    other 10 rows, a count no layout has, had the page refused (photo 12x1 page 8)."""
    if len(rows_y) < 3:
        return None
    y = np.asarray(rows_y, dtype=np.float64)
    d = float(np.median(np.diff(y)))
    n = next((c for c in counts if c > y.size), None)
    if n is None:
        return None
    missing = n - y.size
    ways = []
    for above in range(missing + 1):
        places = ([round(y[0] - k * d) for k in range(above, 0, -1)]
                  + [round(y[-1] + k * d) for k in range(1, missing - above + 1)])
        if all(holds_row(p, d) for p in places):
            ways.append(places)
    if len(ways) != 1:
        return None
    return sorted([*rows_y, *ways[0]])


def span_lattice_rows(rows_y: list[int], counts: list[int],
                      holds_row: Callable[[int, float], bool],
                      holds_lone_row: Callable[[int, float], bool] | None = None
                      ) -> list[int] | None:
    """Rows on the lattice from the first found row to the last with the fewest places of
    `counts` (row counts of known layouts) above the found rows' count whose places hold
    at least SPAN_LATTICE_SHARE of the rows within 0.15 spacing, every row within 0.45
    spacing of its own place, and ink at every place no row is near (holds_row(y, d)).
    Rows within 0.07 spacing of their place keep their position, the others move onto
    it. rows_y: top to bottom, px. None when no count fits.

    holds_lone_row (None: holds_row) stands for holds_row where the one place left is
    between found rows: no layout leaves a row's place empty there, so fainter evidence
    does (a 12x1 page whose V4 line wanders a spacing off its place, along V5's, left 17 %
    of the page's width inked there, and the page was refused)."""
    if len(rows_y) < 3:
        return None
    y = np.asarray(rows_y, dtype=np.float64)
    for n in (c for c in counts if c > y.size):
        d = (y[-1] - y[0]) / (n - 1)
        k = np.round((y - y[0]) / d).astype(int)
        resid = np.abs(y - (y[0] + k * d))
        if (np.mean(resid <= 0.15 * d) < SPAN_LATTICE_SHARE or (resid > 0.45 * d).any()
                or np.unique(k).size < k.size):
            continue
        places = {int(kk): int(yy) if r <= 0.07 * d else round(y[0] + kk * d)
                  for kk, yy, r in zip(k, y, resid, strict=True)}
        empty = [kk for kk in range(n) if kk not in places]
        # The first and last places are found rows: a lone empty place lies between rows.
        test = holds_lone_row if len(empty) == 1 and holds_lone_row is not None else holds_row
        if all(test(round(y[0] + kk * d), d) for kk in empty):
            places.update({kk: round(y[0] + kk * d) for kk in empty})
            return [places[kk] for kk in range(n)]
    return None


def _adds_rows(found: list[int], filled: list[int]) -> bool:
    """Whether `filled` (px, top to bottom) is `found` with rows added: more rows, each found
    row within a fifth of the median spacing of its own row of `filled`."""
    if len(filled) <= len(found) or len(filled) < 2:
        return False
    f = np.asarray(filled, dtype=np.float64)
    tol = 0.2 * float(np.median(np.diff(f)))
    nearest = [int(np.argmin(np.abs(f - y))) for y in found]
    return (len(set(nearest)) == len(found)
            and all(abs(f[n] - y) <= tol for n, y in zip(nearest, found, strict=True)))


def _lattice_hypothesis(y: np.ndarray) -> tuple[float, float] | None:
    """(spacing d, offset a) px of the lattice most found rows y (N,) px lie on (within
    0.15 d): each pair of rows and whole number of spacings between them is a hypothesis;
    the most rows win, then the smaller residual. Spacings under 0.7 of the median gap
    (every lattice also fits its halves) count only when they hold every row and leave
    one place between the first and last row empty: three rows found of four, a spacing
    and two apart (a faint row missed between them), have a median gap of 1.5 spacings
    (photo bench pages 7 and 53 were read as 3x4, every lead of a row misplaced)."""
    best: tuple[int, float, float, float] | None = None
    gaps = np.diff(y)
    med = float(np.median(gaps))
    low = max(0.7 * float(gaps.min()), 0.35 * med)  # (two rows at one place: gap 0)
    for i in range(y.size):
        for j in range(i + 1, y.size):
            span = y[j] - y[i]
            for m in range(1, int(span / low) + 1):
                d = span / m
                if d < low:
                    break
                resid = np.abs((y - y[i]) / d - np.round((y - y[i]) / d))
                n = int((resid <= 0.15).sum())
                if d < 0.7 * med and (n < y.size or round((y[-1] - y[0]) / d) != y.size):
                    continue
                key = (n, -float(resid[resid <= 0.15].sum()), d)
                if best is None or key > best[:3]:
                    best = (n, key[1], d, float(y[i]))
    if best is None or best[0] < 3:
        return None
    return best[2], best[3]


def _fit_lattice(y: np.ndarray) -> tuple[float, float] | None:
    """(spacing d, offset a) px of the lattice y = a + k d that the rows y (N,) px lie on:
    `_lattice_hypothesis` refined by a robust refit over the rows near it (Theil-Sen: a
    busy row cannot pull). None when there is no such lattice."""
    fit = _lattice_hypothesis(y)
    if fit is None:
        return None
    d, a = fit
    for _ in range(2):
        k = np.round((y - a) / d)
        near = np.abs(y - (a + k * d)) <= 0.2 * d
        kn, yn = k[near], y[near]
        i, j = np.triu_indices(kn.size, 1)
        apart = kn[j] != kn[i]
        if not apart.any():
            return None
        d = float(np.median((yn[j] - yn[i])[apart] / (kn[j] - kn[i])[apart]))
        if d <= 0:
            return None
        a = float(np.median(yn - kn * d))
    return d, a


def half_lattice_rows(rows_y: list[int], holds_row: Callable[[int, float], bool]
                      ) -> list[int] | None:
    """Rows on the lattice of half the spacing of the found rows' lattice, when that is
    what they are (see `_half_lattice`); None otherwise. rows_y: top to bottom, px."""
    if len(rows_y) < 4:
        return None
    y = np.asarray(rows_y, dtype=np.float64)
    fit = _fit_lattice(y)
    if fit is None:
        return None
    d, a = fit
    return _half_lattice(y, a, d, holds_row)


def snap_to_lattice(rows_y: list[int],
                    holds_row: Callable[[int, float], bool] | None = None) -> list[int]:
    """Rows of a layout are equally spaced: fit a lattice y = a + k d to the found rows and,
    when it holds (three in four rows within 0.15 d), move each row 0.07-0.45 d from a
    lattice place onto it (a busy row's projection peak can sit far off its baseline) and
    add the places between the first and last row that were missed, where
    holds_row(y, d) says ink is there. Rows far off the lattice stay as found beyond its
    ends (a rhythm strip set apart) and are dropped between them (a busy row's second
    projection peak). Returns rows_y unchanged when fewer than 3 rows or no lattice.

    rows_y: row positions top to bottom, px.
    """
    if len(rows_y) < 3:
        return rows_y
    y = np.asarray(rows_y, dtype=np.float64)
    fit = _fit_lattice(y)
    if fit is None:
        return rows_y
    d, a = fit
    k = np.round((y - a) / d)
    resid = np.abs(y - (a + k * d))
    if np.mean(resid <= 0.15 * d) < 0.75:
        return rows_y
    on = resid <= 0.45 * d
    for kk in np.unique(k[on]):
        # Two rows on one lattice place: the nearer is the row, the other stays as found.
        same = np.flatnonzero(on & (k == kk))
        on[same[np.argsort(resid[same])[1:]]] = False
    # Rows near their place keep their own (measured) position; the far ones are moved.
    out = {int(kk): int(yy) if r <= 0.07 * d else round(a + kk * d)
           for kk, yy, r in zip(k[on], y[on], resid[on], strict=True)}
    # Off-lattice peaks between the lattice's first and last row are a busy row's second
    # peak; beyond them they may be a rhythm strip set apart, and stay.
    lo, hi = a + k[on].min() * d, a + k[on].max() * d
    off = [int(v) for v in y[~on] if not lo < v < hi]
    if holds_row is not None:
        for kk in range(int(k[on].min()), int(k[on].max()) + 1):
            place = a + kk * d
            if kk in out or any(abs(v - place) < 0.5 * d for v in off):
                continue
            if holds_row(round(place), d):
                out[kk] = round(place)
    return sorted(set(out.values()) | set(off))


def _half_lattice(y: np.ndarray, a: float, d: float,
                  holds_row: Callable[[int, float], bool]) -> list[int] | None:
    """Rows on the lattice of half the spacing, y = a + k d / 2, when that is what the found
    rows y (N,) px are: a row beyond the ends of lattice (a, d) px sits half a spacing off
    it, every found row lies within 0.15 d / 2 of a half-lattice place, and every place
    between the first and last row that holds no found row holds ink (holds_row). Rows
    whose baseline runs along a printed grid line lose their flat stretches in the trace
    map, and their projection peaks with them: every other row of a 6x2 page then looks
    like a 3x4 grid with a rhythm strip set apart. None when the rows are not that."""
    k = np.round((y - a) / d)
    frac = np.abs((y - a) / d - k)
    lo, hi = a + k[frac <= 0.15].min() * d, a + k[frac <= 0.15].max() * d
    beyond = (y < lo - 0.25 * d) | (y > hi + 0.25 * d)
    if not (beyond & (np.abs(frac - 0.5) <= 0.15)).any():
        return None
    h = 0.5 * d
    j = np.round((y - a) / h)
    if np.any(np.abs(y - (a + j * h)) > 0.15 * h) or np.unique(j).size < j.size:
        return None
    out = {int(jj): int(yy) for jj, yy in zip(j, y, strict=True)}
    for jj in range(int(j.min()) + 1, int(j.max())):
        if jj not in out:
            if not holds_row(round(a + jj * h), h):
                return None
            out[jj] = round(a + jj * h)
    return sorted(out.values())


def _row_span(ink: np.ndarray, long_ink: np.ndarray, rows_y: list[int], i: int,
              px_per_mm: float) -> tuple[int, int] | None:
    """First and last column of row i's line, px (None when no ink is near its baseline).

    The core is the long-trace ink within 3 mm of the baseline; it is extended over any
    trace ink near the baseline (within 0.3 row spacings, at least 3 mm) that follows on
    with breaks up to MAX_LINE_BREAK_MM: a line broken by a lost grid-line crossing, or
    faint under glare, is still one line.
    ink, long_ink: (H, W) bool.
    """
    y = rows_y[i]
    spacing = float(np.median(np.diff(rows_y))) if len(rows_y) > 1 else 40.0 * px_per_mm
    core = long_ink[max(0, y - int(3 * px_per_mm)): y + int(3 * px_per_mm) + 1].any(axis=0)
    if not core.any():  # a row added at its lattice place: its line may be broken
        core = ink[max(0, y - int(3 * px_per_mm)): y + int(3 * px_per_mm) + 1].any(axis=0)
    xs = np.flatnonzero(core)
    if xs.size == 0:
        return None
    reach = int(max(3.0 * px_per_mm, 0.3 * spacing))
    strip = ink[max(0, y - reach): y + reach + 1].astype(np.uint8)
    # Specks (grid-line crossings, noise) do not extend a line: only pieces at least 1 mm
    # wide or tall do, once 1-2 px dropouts of a thin antialiased line are bridged.
    bridged = cv2.morphologyEx(strip, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    labels, sizes = component_sizes(bridged)
    size = sizes.max(axis=1)
    keep = size >= max(2.0, px_per_mm)
    keep[0] = False
    near = keep[labels].any(axis=0)
    near[xs[0]:xs[-1] + 1] = True
    gap = max(2, int(MAX_LINE_BREAK_MM * px_per_mm))
    # Close breaks of up to `gap` columns, then take the run holding the core.
    closed = cv2.morphologyEx(near.astype(np.uint8)[None, :], cv2.MORPH_CLOSE,
                              np.ones((1, gap + 1), np.uint8))[0].astype(bool)
    closed[xs[0]:xs[-1] + 1] = True
    x0 = int(xs[0])
    while x0 > 0 and closed[x0 - 1]:
        x0 -= 1
    x1 = int(xs[-1])
    while x1 + 1 < closed.size and closed[x1 + 1]:
        x1 += 1
    # The closing may pad the run's ends: end on ink.
    inked = np.flatnonzero(near[x0:x1 + 1])
    return x0 + int(inked[0]), x0 + int(inked[-1])


def consensus(values: list[float], tol: float) -> float:
    """The value most rows agree on: the median of the largest cluster (values within tol
    of one value; ties go to the earlier value). values: per row, px."""
    v = np.asarray(values, dtype=np.float64)
    support = (np.abs(v[:, None] - v[None, :]) <= tol).sum(axis=1)
    best = support == support.max()
    centre = float(v[best].min())
    return float(np.median(v[np.abs(v - centre) <= tol]))


def break_evidence(ink: np.ndarray, long_ink: np.ndarray, row: TraceRow, x: float,
                   px_per_mm: float, trace: RowTrace | None = None) -> float:
    """How much row `row` looks broken at column `x` (gap in the ink or separator), in [0, 1].

    ink: (H, W) bool all trace pixels; long_ink: (H, W) bool pixels of long traces. A gap:
    some column within +-1.5 mm has no long-trace ink in the row's band. A separator: a
    vertical stroke at least 3 mm long crossing the baseline within +-1.5 mm that the row's
    line (`trace`, when given) does not run along: a QRS complex is such a stroke too, and
    simultaneous leads put one at the same column in every row.
    """
    half = max(2, int(1.5 * px_per_mm))
    x0, x1 = max(row.x0_px, int(x) - half), min(row.x1_px, int(x) + half + 1)
    if x1 <= x0:
        return 1.0
    top, bottom = row.own_band
    band = long_ink[top:bottom, x0:x1]
    if band.size == 0 or not band.any(axis=0).all():
        return 1.0
    reach = int(3.0 * px_per_mm)
    y = int(row.y_px)
    top = max(0, y - reach)
    strip = ink[top:y + reach + 1, x0:x1]
    if not strip.size:
        return 0.0
    counts = strip.sum(axis=0)
    if int(counts.max()) < 3.0 * px_per_mm:
        return 0.0
    if trace is not None and _line_runs_along(trace, strip, top, x0, px_per_mm):
        return 0.0
    return 0.7  # a long vertical stroke the line does not follow: a separator


def _line_runs_along(trace: RowTrace, strip: np.ndarray, top: int, x0: int,
                     px_per_mm: float) -> bool:
    """Whether row line `trace` (px) covers most (70%) of the height of the tallest ink
    column of `strip` ((h, w) bool, its top-left pixel at (top, x0)) within 0.5 mm of it:
    the stroke is the line's own (a QRS), not a separator printed across it."""
    col = int(np.argmax(strip.sum(axis=0)))
    ys = np.flatnonzero(strip[:, col])
    height = float(ys[-1] - ys[0] + 1)
    near = np.abs(trace.x_px - (x0 + col)) <= max(2.0, 0.5 * px_per_mm)
    line = trace.y_px[near]
    line = line[np.isfinite(line)]
    if line.size == 0:
        return False
    covered = min(float(line.max()), top + float(ys[-1])) - max(float(line.min()),
                                                                 top + float(ys[0]))
    return covered >= 0.7 * height - 1.0


def change_evidence(trace: RowTrace, x: float, half_px: float, px_per_mm: float) -> float:
    """How much row line `trace` changes character at column x (px), in [0, 1]: the log
    ratio of its upward reach (99th percentile above the median, px) and of its downward
    reach (1st percentile below) left of x against right of x (half_px each, less margins),
    the larger
    of the two, mapped through CHANGE_LOG_RATIO. Where a lead gives way to another the line
    grows or shrinks (precordial QRS are several times the limb leads') or turns over;
    within one lead it keeps its reach. 0 when either side has under half its samples or
    no QRS complex (`_has_beat`)."""
    y, xs = trace.y_px, trace.x_px
    # Boundaries are known to a few mm only (a row's start misread by a label on it): the
    # sides leave out a tenth of their width next to x and a fifth at their far end.
    near, far = 0.1 * half_px, 0.8 * half_px
    left = y[(xs >= x - far) & (xs < x - near)]
    right = y[(xs > x + near) & (xs <= x + far)]
    left, right = left[np.isfinite(left)], right[np.isfinite(right)]
    expected = (far - near) / max(float(np.median(np.diff(xs))), 1e-6)
    if min(left.size, right.size) < 0.5 * expected:
        return 0.0
    # A pause (or a short window at 50 mm/s) shrinks the reach of one lead: each side must
    # hold a QRS complex of its own, not just the tail of one next to x.
    if not (_has_beat(trace, x - far, x - 2 * near, px_per_mm)
            and _has_beat(trace, x + 2 * near, x + far, px_per_mm)):
        return 0.0
    floor = MIN_REACH_MM * px_per_mm
    reach = [(max(float(np.median(v) - np.percentile(v, 1)), floor),  # image y points down
              max(float(np.percentile(v, 99) - np.median(v)), floor)) for v in (left, right)]
    ratio = max(abs(np.log(reach[0][k] / reach[1][k])) for k in range(2))
    lo, hi = CHANGE_LOG_RATIO
    return float(np.clip((ratio - lo) / (hi - lo), 0.0, 1.0))


def _has_beat(trace: RowTrace, x0: float, x1: float, px_per_mm: float) -> bool:
    """Whether row line `trace` holds a QRS complex between columns x0 and x1 (px): a rise
    or fall steeper than MIN_QRS_SLOPE over 0.5 mm."""
    sel = (trace.x_px >= x0) & (trace.x_px <= x1)
    xs, ys = trace.x_px[sel], trace.y_px[sel]
    step = max(1, round(0.5 * px_per_mm / max(float(np.median(np.diff(trace.x_px))), 1e-6)))
    if ys.size <= step:
        return False
    rise = np.abs(ys[step:] - ys[:-step])
    run = xs[step:] - xs[:-step]
    steep = rise >= MIN_QRS_SLOPE * run
    return bool(np.any(steep[np.isfinite(rise)]))


def choose_template(rows: list[TraceRow], ink: np.ndarray, long_ink: np.ndarray,
                    px_per_mm: float, forced: str = "auto",
                    extent_px: tuple[float, float] | None = None,
                    traces: list[RowTrace] | None = None
                    ) -> list[tuple[LayoutTemplate, float]]:
    """Templates that fit the rows with their geometry cost, cheapest first (equal costs keep
    TEMPLATES order). Cost: per row and quarter/half boundary, the disagreement between the
    break evidence (or, with `traces`, the row line's change of character where that is
    stronger: `change_evidence`) and the template's column boundaries; 0 for all when the
    candidates share one geometry.

    rows: from `find_rows`; ink, long_ink: (H, W) bool. forced: "auto" or a template name.
    extent_px: (first, last) column of the signal (calibration pulses left out); default
    the rows' ink extent. traces: the rows' lines (px), one per row, or None. Raises
    LayoutNotFoundError when no template has that many rows.
    """
    if forced != "auto":
        t = get_template(forced)
        if t.n_rows != len(rows):
            raise LayoutNotFoundError(
                f"layout {forced} has {t.n_rows} rows of traces; found {len(rows)} on the page"
            )
        return [(t, 0.0)]
    candidates = [t for t in TEMPLATES.values() if t.n_rows == len(rows)]
    if not candidates:
        raise LayoutNotFoundError(
            f"found {len(rows)} rows of traces; no layout template has that many "
            f"(known: {sorted({t.n_rows for t in TEMPLATES.values()})} rows)"
        )
    if len({tuple(t.row_cols(i) for i in range(len(rows))) for t in candidates}) == 1:
        return [(t, 0.0) for t in candidates]  # one geometry: nothing to tell apart by it
    evidence = _column_break_evidence(rows, ink, long_ink, px_per_mm, extent_px, traces)
    scored = [(t, _geometry_cost(t, evidence)) for t in candidates]
    return sorted(scored, key=lambda tc: tc[1])


def fit_record_length(candidates: list[tuple[LayoutTemplate, float]],
                      column_s: Callable[[LayoutTemplate], float], duration_s: float
                      ) -> list[tuple[LayoutTemplate, float]]:
    """The candidates (template, cost) whose columns fit a record of `duration_s` s: a
    template of full columns only where its columns, `column_s(template)` s each, read one
    after another would last over FULL_COLUMNS_MIN_OVERRUN x duration_s, and then no
    template read one after another that would (its later columns would fall past the
    record's end: ecg_plot's full 3x4 read as Cabrera's, whose cells differ). All
    candidates when none is left."""
    def overruns(t: LayoutTemplate) -> bool:
        return t.n_cols * column_s(t) > FULL_COLUMNS_MIN_OVERRUN * duration_s

    full_fits = any(t.full_columns and overruns(t) for t, _ in candidates)
    # With a full template that fits: it, and the others only where they do not overrun.
    kept = [(t, c) for t, c in candidates
            if (overruns(t) == t.full_columns if full_fits else not t.full_columns)]
    return kept or candidates


def turned_fit_gain(rows: list[TraceRow], ink: np.ndarray, long_ink: np.ndarray,
                    px_per_mm: float, traces: list[RowTrace] | None = None) -> float:
    """How much better (geometry cost, as in `choose_template`) the rows fit a template when
    the page is read turned 180 degrees: > 0 when the rows fit better turned, as a page whose
    rhythm strips lie above its grid of leads; 0 when no template tells the two apart (no
    rhythm strips, or no template with that many rows).

    Turning reverses the rows' order and maps each column boundary (quarters, halves) onto
    another, so the evidence read once serves both orientations.
    """
    candidates = [t for t in TEMPLATES.values() if t.n_rows == len(rows)]
    if not candidates:
        return 0.0
    evidence = _column_break_evidence(rows, ink, long_ink, px_per_mm, None, traces)
    turned = {1.0 - f: ev[::-1] for f, ev in evidence.items()}
    as_read = min(_geometry_cost(t, evidence) for t in candidates)
    return as_read - min(_geometry_cost(t, turned) for t in candidates)


def _column_break_evidence(rows: list[TraceRow], ink: np.ndarray, long_ink: np.ndarray,
                           px_per_mm: float, extent_px: tuple[float, float] | None,
                           traces: list[RowTrace] | None) -> dict[float, list[float]]:
    """Evidence (0..1) per row that its line breaks into columns at a quarter, half and
    three quarters of the signal's extent: {fraction: [evidence per row]}."""
    if extent_px is None:
        x0 = float(np.median([r.x0_px for r in rows]))
        x1 = float(np.median([r.x1_px for r in rows]))
    else:
        x0, x1 = extent_px
    lines: list[RowTrace | None] = list(traces) if traces is not None else [None] * len(rows)
    evidence = {f: [break_evidence(ink, long_ink, r, x0 + f * (x1 - x0), px_per_mm, tr)
                    for r, tr in zip(rows, lines, strict=True)] for f in (0.25, 0.5, 0.75)}
    if traces is not None:
        half = 0.25 * (x1 - x0)
        for f, ev in evidence.items():
            ev[:] = [max(e, change_evidence(tr, x0 + f * (x1 - x0), half, px_per_mm))
                     for e, tr in zip(ev, traces, strict=True)]
    return evidence


def _geometry_cost(template: LayoutTemplate, evidence: dict[float, list[float]]) -> float:
    """Disagreement per row between break evidence and the template's column boundaries."""
    n_rows = len(next(iter(evidence.values())))
    cost = 0.0
    for i in range(n_rows):
        n = template.row_cols(i)
        for f, ev in evidence.items():
            expected = 1.0 if (n > 1 and (f * n) % 1 == 0) else 0.0
            if expected == 0.0:
                cost += ev[i]
            else:
                cost += 0.5 * (1.0 - ev[i])  # continuous rows with lead changes are common
    return cost / max(1, n_rows)
