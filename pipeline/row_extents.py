"""Where a read page's rows start and end.

A row's signal starts past its calibration pulse and the break after the pulse's tail
(`after_break`), where the line's pen cap begins (`line_cap`), or further back where a
faint first stretch fell below the mask; the rows are held inside the plot's frame and
made to start and end together (`row_extents`). The lengths of the rows no crop cut
(`whole_row_lengths`) give a gridless page's time scale, and gaps between panels are
taken out of the rows' traces (`close_panel_gaps`). Positions are px along the rows of
the rectified page (`ReadPage`), sub-pixel.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from pipeline.extract import RowTrace
from pipeline.frame import Frame, find_frame, hold_inside, tick_frame
from pipeline.layout import TraceRow, consensus
from pipeline.panels import PanelGaps, close_trace, find_panel_gaps
from pipeline.read_page import ReadPage, page_px_per_mm

#: Rows of a page start (and end) together: a row whose start is further than 1.5 mm or
#: this many seconds (the nearer) from the others' takes theirs. 1.5 mm is 60 ms at
#: 25 mm/s but 120 ms at 12.5 mm/s, where a row read from its pulse's tail (no break seen
#: after it) started 1.5 mm early and was kept (6x2-full bench page 5, aVR and V4 124 ms
#: early).
ROW_AGREEMENT_S = 0.06
#: Ink-free columns that make a break between a calibration pulse's tail and the signal.
MIN_BREAK_PX = 2
#: A row's start is moved back along faint ink (`_faint_start`) by at least this (mm)...
FAINT_START_MM = 1.0
#: ... through breaks of at most this many columns (a grid line's crossing), in columns
#: whose ink there is at most FAINT_RUN_PX tall (a flat line's, not a lead label's stroke).
FAINT_GAP_PX = 2
FAINT_RUN_PX = 4
#: ... and inked in this share of its columns at least (a dotted grid line: about half).
FAINT_COVER = 0.8


def row_extents(page: ReadPage, px_per_s: float | None = None
                ) -> tuple[list[float], list[float]]:
    """Where each row's signal starts and ends (px), calibration pulses left out, inside
    the plot's frame where it has one (`pipeline.frame`). px_per_s: the page's time scale
    (None: unknown), which tightens the rows' agreement on slow pages (ROW_AGREEMENT_S)."""
    starts, ends = [], []
    ppm = page_px_per_mm(page)
    for tr, ps, pe, row in zip(page.traces, page.start_pulses, page.end_pulses, page.rows):
        finite = line_samples(tr, ppm)
        x0 = float(tr.x_px[finite[0]]) if finite.size else float(tr.x_px[0])
        x1 = float(tr.x_px[finite[-1]]) if finite.size else float(tr.x_px[-1])
        if ps is not None:
            past_pulse = float(ps.x1_px) + tr.line_width_px
            after = tr.x_px[finite][tr.x_px[finite] > past_pulse]
            x0 = max(past_pulse if after.size == 0 else float(after[0]), past_pulse)
            col = after_break(page.mask, row, x0, 4.0 * ppm, +1, ppm, ps.x1_px)
            if col is not None:
                x0 = line_cap(tr, col, +1)
            x0 = _faint_start(page, tr, row, finite, x0, past_pulse)
        if pe is not None:
            x1 = min(x1, float(pe.x0_px) - tr.line_width_px)
            col = after_break(page.mask, row, x1, 4.0 * ppm, -1, ppm, pe.x0_px)
            if col is not None:
                x1 = line_cap(tr, col, -1)
        starts.append(x0)
        ends.append(x1)
    if page.rows:
        top, bottom = min(r.top_px for r in page.rows), max(r.bottom_px for r in page.rows)
        frame = find_frame(page.mask, top, bottom, ppm)
        if frame.left_px is None:
            frame = Frame(tick_frame(page.mask, top, bottom, ppm, starts).left_px, frame.right_px)
        starts, ends = hold_inside(starts, ends, frame, ppm)
    # Rows of one page start and end together; an outlier (a label or an unrecognised
    # pulse read as trace, a line that begins with a break) takes the value most rows
    # agree on. When a pulse was found on some rows only (faint strokes, a pulse touching
    # a label), those rows know where the signal starts: the others take their value
    # (their own reading begins on the missed pulse's tail: 0.7 mm early on 12x1 renders).
    # (Moving every row onto the agreed value scored worse on renders: rows within
    # tolerance are read better alone.)
    # With no majority (every row ends elsewhere: faded or broken last stretches on a
    # photo), the widest reading wins, as for starts: a line loses its ends far more often
    # than it gains ink past them (the earliest end cut 2 s off every row of a page).
    tol = 1.5 * ppm
    if px_per_s is not None:
        tol = min(tol, ROW_AGREEMENT_S * px_per_s)
    for values, pulses, sign in ((starts, page.start_pulses, 1.0),
                                 (ends, page.end_pulses, -1.0)):
        known = [v for v, p in zip(values, pulses) if p is not None]
        agreed = sign * consensus([sign * v for v in (known if known else values)], tol)
        for i, (v, p) in enumerate(zip(values, pulses, strict=True)):
            if abs(v - agreed) > tol or (known and p is None):
                values[i] = agreed
    return starts, ends


#: Least distance, mm, of a row's ends from the picture's edge for it to be drawn whole: a
#: row a crop cuts runs to the edge (bench scans cropped into their rows: 9.67 and 9.76 s).
WHOLE_ROW_EDGE_MM = 2.0


def whole_row_lengths(page: ReadPage, starts: Sequence[float], ends: Sequence[float],
                      work_shape: tuple[int, int]) -> list[float]:
    """Lengths, px, of the rows (extents `starts`, `ends`, px on the rectified page) whose
    both ends lie WHOLE_ROW_EDGE_MM or more inside the working picture (`work_shape`
    (H, W), the picture `page.rect` maps onto the page): those no crop cut."""
    ppm = page_px_per_mm(page)
    h, w = work_shape
    margin = WHOLE_ROW_EDGE_MM * ppm
    ends_px = np.array([[(x0, r.y_px), (x1, r.y_px)]
                        for x0, x1, r in zip(starts, ends, page.rows, strict=True)],
                       np.float64).reshape(-1, 1, 2)
    if ends_px.size == 0:
        return []
    back = cv2.perspectiveTransform(ends_px, np.linalg.inv(page.rect.matrix)).reshape(-1, 2, 2)
    inside: np.ndarray = ((back[..., 0] >= margin) & (back[..., 0] <= w - 1 - margin)
                          & (back[..., 1] >= margin) & (back[..., 1] <= h - 1 - margin))
    whole = np.asarray(inside.all(axis=1), dtype=bool)
    return [float(ends[i] - starts[i]) for i in range(len(starts)) if whole[i]]


def after_break(mask: np.ndarray, row: TraceRow, x: float, reach_px: float,
                direction: int, px_per_mm: float, pulse_edge_px: int) -> int | None:
    """The column where the signal begins (direction +1; ends: -1) next to a calibration
    pulse, None when the reading at x stands.

    A pulse is drawn with a flat run after (before) it, then often a break, then the
    signal. The pulse's own ink (8-connected, within the row's band, to its stroke at
    column `pulse_edge_px`) is set aside when it ends within reach: x on it moves to the
    first inked column past it with ink in half of the next 2 mm (a thin line loses a few
    columns where a grid line crosses it) (its sub-pixel start: `line_cap`), unless that
    ink goes on at the height where the pulse's ended, past a break of under MIN_BREAK_PX
    columns (a dotted line running on from the pulse). The break between tail and signal
    may be a pen's lift with no ink-free column, seen only as the height changing. Ink at
    x that is not the pulse's is the signal itself, whatever gaps follow (a grid line
    crossing a thin line breaks it: taken for the tail's break, that read a row 1 mm
    late). Where the pulse's ink runs on into the signal, a break is a stretch of
    MIN_BREAK_PX ink-free columns within reach_px of x: one-column dropouts (a thin
    antialiased line) are not breaks; a printed gap is one at any resolution (a gap
    counted as 0.3 mm, 4 px at 300 dpi, missed 0.3-0.5 mm gaps there and read the pulse's
    flat tail as signal).
    mask: (H, W) bool; x, reach_px: px; pulse_edge_px: the pulse's stroke next to the
    signal (its flat top's last column for a start pulse, first for an end pulse).
    """
    w = mask.shape[1]
    a = int(np.clip(round(x), 0, w - 1))
    b = int(np.clip(round(x + direction * (reach_px + 2.0 * px_per_mm)), 0, w - 1))
    edge = int(np.clip(pulse_edge_px, 0, w - 1))
    lo, hi = min(a, b, edge), max(a, b, edge)
    top, bottom = row.own_band
    band = np.ascontiguousarray(mask[top:bottom, lo:hi + 1])
    if direction < 0:
        band = band[:, ::-1]
    origin = hi if direction < 0 else lo  # the band's column 0, read away from the pulse
    start, far = abs(a - origin), abs(b - origin)
    min_run = max(2, round(px_per_mm))
    own = _pulse_ink(band, abs(edge - origin), far - min_run, px_per_mm)
    if own is not None:
        other = band & ~own
        inked: np.ndarray = np.asarray(other.any(axis=0), dtype=bool)[start:]
        if inked[0]:
            return None
        for g1 in np.flatnonzero(np.diff(inked.astype(np.int8)) == 1) + 1:
            if g1 > reach_px + 1:
                break
            if g1 + 2 * min_run <= inked.size and inked[g1:g1 + 2 * min_run].mean() >= 0.5:
                if _same_line(own, other, start + int(g1)):
                    return None
                return a + direction * int(g1)
        return None
    inked = np.asarray(band.any(axis=0), dtype=bool)[start:]
    edges = np.diff(np.r_[1, inked.astype(np.int8), 1])
    gaps = zip(np.flatnonzero(edges == -1), np.flatnonzero(edges == 1), strict=True)
    for g0, g1 in gaps:  # ink-free columns [g0, g1)
        if g0 > reach_px:
            break
        if (g1 - g0 >= MIN_BREAK_PX and g1 + min_run <= inked.size
                and inked[g1:g1 + min_run].all()):
            return a + direction * int(g1)
    return None


def _same_line(own: np.ndarray, other: np.ndarray, col: int) -> bool:
    """Whether the ink of `other` ((h, n) bool) beginning at column `col` goes on the line
    that `own` ((h, n) bool, the pulse's ink, read away from the pulse) ends on: fewer
    than MIN_BREAK_PX ink-free columns between them and within 2 px of its height."""
    own_cols = np.flatnonzero(own.any(axis=0))
    last = int(own_cols[-1])
    if col - last - 1 >= MIN_BREAK_PX:
        return False
    return _rows_meet(np.flatnonzero(own[:, last]), np.flatnonzero(other[:, col]))


def _rows_meet(ends: np.ndarray, begins: np.ndarray, tolerance_px: float = 2.0) -> bool:
    """Whether ink rows `begins` ((m,) int) continue ink rows `ends` ((n,) int): some pair
    within tolerance_px of each other."""
    return bool(np.abs(ends[:, None] - begins[None, :]).min() <= tolerance_px)


def _pulse_ink(band: np.ndarray, edge: int, limit: int, px_per_mm: float
               ) -> np.ndarray | None:
    """A calibration pulse's own ink in a row's band, (h, n) bool, the band read away from
    the pulse (column 0 nearest it): the 8-connected pieces holding ink within a column of
    its stroke at column `edge`, and the pieces of its flat tail past breaks (a scan's
    noise breaks a thin tail: flat pieces, at most 4 px high, starting within 1 mm of where
    the pulse's ink ends and within 2 px of its height there). None when none of it is
    there, or when it reaches column `limit` (it runs into the signal and cannot be told
    apart).
    """
    _, labels, stats, _ = cv2.connectedComponentsWithStats(band.astype(np.uint8),
                                                           connectivity=8)
    ids = np.unique(labels[:, max(0, edge - 1):edge + 2])
    ids = ids[ids > 0]
    if ids.size == 0:
        return None
    own = np.isin(labels, ids)
    left = stats[:, cv2.CC_STAT_LEFT]
    flat = stats[:, cv2.CC_STAT_HEIGHT] <= 4
    reach = max(3, round(px_per_mm))
    for _ in range(8):
        last = int(np.flatnonzero(own.any(axis=0))[-1])
        ends = np.flatnonzero(own[:, last])
        near = np.flatnonzero(flat & (left > last) & (left <= last + reach))
        tail = [k for k in near if k not in ids
                and _rows_meet(ends, np.flatnonzero(labels[:, left[k]] == k))]
        if not tail:
            break
        k = min(tail, key=lambda k: left[k])
        ids = np.r_[ids, k]
        own |= labels == k
    if own[:, max(0, limit):].any():
        return None
    return own


def line_cap(tr: RowTrace, col: int, direction: int) -> float:
    """Where a line whose first inked mask column (direction +1; last: -1) is `col` begins,
    px: a column is in the mask once the pen's cap inks about half of it, so the ink begins
    in (col - 1, col] (col - 0.5 on average), and the cap reaches half the pen width
    beyond the line's first sample (mirrored for an end). Counting the whole column as the
    line's start read lines 0.4-0.9 px (up to 1.6 samples at 300 dpi) early. tr: the
    row's line (its pen width, px)."""
    return float(col) + direction * (0.5 * tr.line_width_px - 0.5)


def _faint_start(page: ReadPage, tr: RowTrace, row: TraceRow, finite: np.ndarray, x0: float,
                 pulse_end_px: float) -> float:
    """Where a row's signal starts (px), its line followed back in the faint ink
    (`ReadPage.faint`) from the reading's start x0 towards the calibration pulse ending at
    pulse_end_px: a low flat first stretch of a faint line can fall below the mask's
    threshold, and its reading then began 3.4-4.6 mm late (a scan's black-grid page: every
    lead 136-184 ms late). Moves x0 back only by FAINT_START_MM or more over a line inked
    in FAINT_COVER of its columns (not along a dotted grid line: a real picture's row began
    1.1 mm early so), and only where the faint ink stops short of the pulse (ink running
    on into the pulse is its tail). tr: the row's line; finite: the indices of its samples
    read (`line_samples`)."""
    if page.faint is None or finite.size == 0:
        return x0
    first = int(np.searchsorted(tr.x_px[finite], x0))
    if first >= finite.size:
        return x0
    found = _faint_line_back(page.faint, row.own_band, x0, float(tr.y_px[finite[first]]),
                             pulse_end_px)
    if found is None:
        return x0
    reached, inked = found
    span = x0 - reached
    if span < FAINT_START_MM * page_px_per_mm(page) or inked < FAINT_COVER * span:
        return x0
    return line_cap(tr, reached, +1)


def _faint_line_back(faint: np.ndarray, band: tuple[int, int], x: float, y: float,
                     limit: float) -> tuple[int, int] | None:
    """The leftmost column (px) of a line followed left from (x, y) px through `faint`
    ((H, W) bool) within band (top, bottom) px, and how many columns on the way held its
    ink: each column's ink within 2 px of the last height found, at most FAINT_RUN_PX
    tall, up to FAINT_GAP_PX columns without. None when no column holds it, or when it
    reaches column `limit` (px) without such a gap."""
    top, bottom = band
    c, yy = round(x) - 1, round(y)
    stop = int(np.ceil(limit))
    last, misses, inked = None, 0, 0
    while c >= stop:
        lo, hi = max(top, yy - 2), min(bottom, yy + 3)
        hits = lo + np.flatnonzero(faint[lo:hi, c])
        near = int(hits[np.argmin(np.abs(hits - yy))]) if hits.size else -1
        if hits.size and _vertical_run(faint[top:bottom, c], near - top) <= FAINT_RUN_PX:
            yy = near
            last, misses, inked = c, 0, inked + 1
        else:
            misses += 1
            if misses > FAINT_GAP_PX:
                return None if last is None else (last, inked)
        c -= 1
    return None


def _vertical_run(column: np.ndarray, y: int) -> int:
    """Length (px) of the run of True in `column` ((H,) bool) holding index y."""
    a = y
    while a > 0 and column[a - 1]:
        a -= 1
    b = y
    while b + 1 < column.size and column[b + 1]:
        b += 1
    return b - a + 1


def close_panel_gaps(page: ReadPage, starts: list[float], ends: list[float], px_per_mm: float
                     ) -> tuple[list[RowTrace], PanelGaps | None]:
    """The rows' traces with the gaps between panels taken out (`pipeline.panels`), and
    the gaps (None, and the traces as read, when the page shows none). Updates `starts`
    and `ends` in place (`PanelGaps.row_edges`): a row with gaps ends earlier by their
    width; with two gaps or more it starts and ends an inner panel's width before the
    first gap and after the last where its own reading lies over 0.5 mm from there
    (`PanelGaps.first_start`, `closed_end`: ecg_plot's 3x4 of whole records, whose lines'
    flat first or last 0.1 s were taken for grid lines, read its columns up to 110 ms off
    their time); with one gap the narrower of its two panels is widened to the other
    (`PanelGaps.outer_edges`: ecg_plot's 6x2 of whole records read its faint flat first
    stretch as paper, 20 ms late). Any other row ends where its own line does (the rows'
    agreed end was the panels' longer one). Rows ending in a calibration pulse keep their
    gaps (the pulse's place would need closing too)."""
    gaps = find_panel_gaps(page.mask, page.rows, starts, ends, px_per_mm)
    if gaps is None or any(page.end_pulses[i] is not None for i in gaps.rows) or any(
            starts[i] >= gaps.gaps[0][0] for i in gaps.rows):
        return page.traces, None
    traces = list(page.traces)
    for i, tr in enumerate(page.traces):
        if i in gaps.rows:
            traces[i] = close_trace(tr, gaps)
            starts[i], ends[i] = gaps.row_edges(starts[i], ends[i], px_per_mm)
        elif page.end_pulses[i] is None:
            own = line_samples(tr, px_per_mm)
            if own.size:
                ends[i] = min(ends[i], float(tr.x_px[own[-1]]))
    return traces, gaps


def line_samples(tr: RowTrace, px_per_mm: float) -> np.ndarray:
    """Indices of tr's finite samples, without stray pieces at either end: a stretch under
    1 mm long, apart from the rest by a break over 1 mm (a speck or a grid-line crossing
    read before the line starts or after it ends)."""
    finite = np.flatnonzero(np.isfinite(tr.y_px))
    if finite.size < 2:
        return finite
    x = tr.x_px[finite]
    breaks = np.flatnonzero(np.diff(x) > px_per_mm) + 1
    pieces = np.split(np.arange(finite.size), breaks)
    long_enough = [p for p in pieces if x[p[-1]] - x[p[0]] >= px_per_mm]
    if not long_enough:
        return finite
    return finite[long_enough[0][0]:long_enough[-1][-1] + 1]
