"""A plot's frame: the vertical border lines that plotting programs draw round the traces
(matplotlib's axes spines), with tick labels and tick marks outside them.

A tick label printed on a row's baseline (bemplt marks every 0.5 mV, and its rows sit on
multiples of 3 mV) touches the row's line through its tick mark, so the row reads as
starting on the label, 2-6 mm before the frame. No signal is drawn outside the frame: a
row's start and end are held inside it (`hold_inside`).

Where the frame's side line is not trace ink (a black spine beside a coloured trace is
taken for grid or text), its tick marks still are: a column of short dashes of one length,
evenly spaced, ending on the line (`tick_frame`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

#: Least share of the rows' height (first row's top to last row's bottom) a column's trace
#: ink must cover to be a frame line. Traces never run that far up a page: a QRS spike
#: spans a row or three (bemplt's frame at 100 dpi: 0.88-0.94; its other columns at most
#: 0.23, the tick marks beside the frame).
MIN_FRAME_COVER = 0.8
#: How far inside a row's reading a frame line may stand to be its border, mm (a tick
#: label and its tick: 6 mm at most).
MAX_FRAME_INSET_MM = 10.0
#: A frame line has no like line this near, mm: black grid lines read as trace ink repeat
#: every 5 mm, and a frame is no grid line.
FRAME_ISOLATION_MM = 20.0


@dataclass(frozen=True)
class Frame:
    """x (px) of the frame's left and right lines; None where a side has none."""

    left_px: float | None
    right_px: float | None


def find_frame(trace_mask: np.ndarray, top_px: float, bottom_px: float,
               px_per_mm: float) -> Frame:
    """The frame lines of a (H, W) trace mask (nonzero: trace ink) over the rows' height
    [top_px, bottom_px): the leftmost and rightmost column whose ink covers
    MIN_FRAME_COVER of it, each when no other such column stands within
    FRAME_ISOLATION_MM of it (a line 2 px wide counts once)."""
    top, bottom = max(0, int(top_px)), min(trace_mask.shape[0], int(np.ceil(bottom_px)))
    if bottom - top < 2:
        return Frame(None, None)
    cover = (trace_mask[top:bottom] > 0).mean(axis=0)
    lines = _line_centres(np.flatnonzero(cover >= MIN_FRAME_COVER))
    if not lines:
        return Frame(None, None)
    reach = FRAME_ISOLATION_MM * px_per_mm

    def isolated(x: float) -> bool:
        return all(abs(other - x) > reach for other in lines if other != x)

    left, right = lines[0], lines[-1]
    return Frame(left if isolated(left) else None,
                 right if right != left and isolated(right) else None)


#: A tick mark's length, mm: matplotlib's major ticks are 3.5 pt (1.2 mm), minor 2 pt.
TICK_LENGTH_MM = (0.4, 3.0)
#: Greatest height of a tick mark, mm (its line width), and at least 3 px.
MAX_TICK_HEIGHT_MM = 0.6
#: Fewest tick marks that make a frame's side.
MIN_TICKS = 4
#: How far (px) the tick marks' ends may differ, and their spacing from a multiple of the
#: commonest (a share of it).
TICK_END_TOLERANCE_PX = 1
TICK_SPACING_TOLERANCE = 0.15


def tick_frame(trace_mask: np.ndarray, top_px: float, bottom_px: float, px_per_mm: float,
               starts: Sequence[float]) -> Frame:
    """The frame's left line from its tick marks in a (H, W) trace mask over the rows'
    height [top_px, bottom_px): where the rows' ink resumes (px) past the right end of the
    rightmost column of at least MIN_TICKS short horizontal dashes (TICK_LENGTH_MM long,
    at most MAX_TICK_HEIGHT_MM tall) whose ends agree within TICK_END_TOLERANCE_PX, which
    stand evenly spaced, and which no row's reading (`starts`, px) begins before: a row
    runs on from a tick it touches, never out past it (a photo's rows began at the image's
    edge, left of a column of grid dots and shadow specks). A tick touching a row's line
    is part of the line's component and is not counted; the others say where the frame
    is. Frame(None, None) when there is no such column (the right side is left unread:
    programs tick the left one)."""
    top, bottom = max(0, int(top_px)), min(trace_mask.shape[0], int(np.ceil(bottom_px)))
    if bottom - top < 2 or not starts:
        return Frame(None, None)
    # Only a side line within MAX_FRAME_INSET_MM of a row's start can hold it
    # (`hold_inside`): the columns past that are not searched.
    reach = min(trace_mask.shape[1], int(max(starts) + MAX_FRAME_INSET_MM * px_per_mm) + 2)
    band = np.ascontiguousarray(trace_mask[top:bottom, :reach] > 0, dtype=np.uint8)
    _, _, stats, centroids = cv2.connectedComponentsWithStats(band, connectivity=8)
    lo, hi = (v * px_per_mm for v in TICK_LENGTH_MM)
    w, h = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
    dash = np.flatnonzero((w >= lo) & (w <= hi) &
                          (h <= max(3.0, MAX_TICK_HEIGHT_MM * px_per_mm))) + 1
    if dash.size < MIN_TICKS:
        return Frame(None, None)
    x0 = stats[dash, cv2.CC_STAT_LEFT]
    x1 = x0 + stats[dash, cv2.CC_STAT_WIDTH] - 1
    y = centroids[dash, 1]
    for end in sorted(set(x1.tolist()), reverse=True):  # the rightmost column first
        at_end = np.abs(x1 - end) <= TICK_END_TOLERANCE_PX
        for start in sorted(set(x0[at_end].tolist())):
            member = at_end & (np.abs(x0 - start) <= TICK_END_TOLERANCE_PX)
            if member.sum() >= MIN_TICKS and _evenly_spaced(np.sort(y[member])):
                if min(starts) < np.min(x0[member]) - TICK_END_TOLERANCE_PX:
                    return Frame(None, None)
                return Frame(_past_side_line(band, int(np.median(x1[member])), px_per_mm),
                             None)
    return Frame(None, None)


def _past_side_line(band: np.ndarray, tick_end: int, px_per_mm: float) -> float:
    """The first column (px) after tick marks ending at `tick_end` that holds ink in the
    rows' (h, W) band, within 1 mm: the side line the ticks end on is not in the mask (that
    is why it was looked for by its ticks), and the rows' lines begin on its far side."""
    reach = band[:, tick_end + 1:tick_end + 2 + round(px_per_mm)].any(axis=0)
    return float(tick_end + 1 + (int(np.argmax(reach)) if reach.any() else 0))


def _evenly_spaced(y: np.ndarray) -> bool:
    """Whether sorted positions (px) stand at multiples of their commonest spacing (a tick
    may be missing where a row's line took it)."""
    steps = np.diff(y)
    step = float(np.median(steps))
    if step <= 0:
        return False
    ratio = steps / step
    return bool(np.all(np.abs(ratio - np.round(ratio)) <= TICK_SPACING_TOLERANCE)
                and np.all(np.round(ratio) >= 1))


def hold_inside(starts: Sequence[float], ends: Sequence[float], frame: Frame,
                px_per_mm: float) -> tuple[list[float], list[float]]:
    """Rows' starts and ends (px) moved onto the frame where they were read outside it by
    at most MAX_FRAME_INSET_MM (a label read as trace); others unchanged."""
    inset = MAX_FRAME_INSET_MM * px_per_mm
    new_starts = [frame.left_px if frame.left_px is not None
                  and s < frame.left_px <= s + inset else s for s in starts]
    new_ends = [frame.right_px if frame.right_px is not None
                and e - inset <= frame.right_px < e else e for e in ends]
    return [float(v) for v in new_starts], [float(v) for v in new_ends]


def _line_centres(columns: np.ndarray) -> list[float]:
    """Centres (px) of runs of adjacent columns."""
    if columns.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(columns) > 1)
    runs = np.split(columns, breaks + 1)
    return [float(run.mean()) for run in runs]


#: Least share of the columns between a frame's side lines that a row of trace ink at the
#: side lines' common end must cover to be the frame's top or bottom line (bemplt's at
#: 100 dpi, broken where its black grid's lines cross it: 0.32 on one page, 0.12 on
#: another, whose top row read its first 0.7 s on it).
MIN_SPINE_COVER = 0.1
#: How far the two side lines' ends may disagree, mm, for the lines to close one box (a
#: tick mark below a corner runs on from its side line: matplotlib's are 1.2 mm).
SPINE_END_TOLERANCE_MM = 2.0


def without_spines(trace_mask: np.ndarray, frame: Frame, px_per_mm: float) -> np.ndarray:
    """The (H, W) bool trace mask with the frame's top and bottom lines (`spine_rows`)
    taken out between its side lines. A row's band reaches them where the rows sit close
    to the frame, and they are as dark as the traces on a black-and-white page: the top
    row's path followed its dashes instead of its own line. Returns the mask itself when
    there is no such line."""
    rows = spine_rows(trace_mask, frame, px_per_mm)
    if not rows:
        return trace_mask
    assert frame.left_px is not None and frame.right_px is not None  # spine_rows needs both
    out = trace_mask.copy()
    out[np.concatenate(rows), round(frame.left_px):round(frame.right_px) + 1] = False
    return out


def without_side_lines(trace_mask: np.ndarray, frame: Frame) -> np.ndarray:
    """The (H, W) bool trace mask without the frame's side lines (`find_frame`): each
    column within a pixel of a side line that holds ink over half the line's length or
    more. A row whose line ends (or starts) short of the frame went on up the side line
    (bemplt's last row, at 100 dpi: its end read 12 mV high). Returns the mask itself when
    there is no side line."""
    out = trace_mask
    for x in (frame.left_px, frame.right_px):
        if x is None:
            continue
        ends = _line_ends(trace_mask, round(x))
        if ends is None:
            continue
        lo, hi = max(0, round(x) - 1), min(trace_mask.shape[1], round(x) + 2)
        cover = trace_mask[ends[0]:ends[1] + 1, lo:hi].mean(axis=0)
        cols = np.flatnonzero(cover >= 0.5) + lo
        if cols.size:
            out = out.copy() if out is trace_mask else out
            out[ends[0]:ends[1] + 1, cols] = False
    return out


def spine_rows(trace_mask: np.ndarray, frame: Frame, px_per_mm: float) -> list[np.ndarray]:
    """The rows (px) of a plot frame's top and bottom lines in a (H, W) bool trace mask:
    the box closes where its side lines (`frame`, both needed) end, and a row of ink there
    that covers MIN_SPINE_COVER of the box is its top or bottom line (a matplotlib spine).
    The two side lines' ends must agree within SPINE_END_TOLERANCE_MM (px_per_mm: the
    page's scale). Returns one (n,) int array of rows per line found, top first."""
    if frame.left_px is None or frame.right_px is None:
        return []
    x0, x1 = round(frame.left_px), round(frame.right_px)
    left, right = _line_ends(trace_mask, x0), _line_ends(trace_mask, x1)
    if left is None or right is None or x1 - x0 < 4:
        return []
    tol = max(2, round(SPINE_END_TOLERANCE_MM * px_per_mm))
    found = []
    for a, b in zip(left, right, strict=True):  # the top ends, then the bottom ends
        if abs(a - b) > tol:
            continue
        lo = max(0, min(a, b) - 2)
        hi = min(trace_mask.shape[0], max(a, b) + 3)
        cover = trace_mask[lo:hi, x0 + 2:x1 - 1].mean(axis=1)
        if cover.max() >= MIN_SPINE_COVER:
            found.append(lo + np.flatnonzero(cover >= 0.5 * MIN_SPINE_COVER))
    return found


def _line_ends(trace_mask: np.ndarray, x: int) -> tuple[int, int] | None:
    """First and last row (px) holding ink in columns x-1..x+1 of a (H, W) mask (a frame's
    side line, broken where a tick label or a row's line meets it); None when none."""
    rows = np.flatnonzero(trace_mask[:, max(0, x - 1):x + 2].any(axis=1))
    return (int(rows[0]), int(rows[-1])) if rows.size else None


#: Within this distance (mm) of the picture's edge no wave has room: a line along the edge
#: there is a sheet's grid or frame line, no row's (`layout`) and no trace
#: (`without_edge_lines`), ...
EDGE_LINE_MM = 1.0
#: ... when it runs this long or longer (mm; `without_edge_lines`).
EDGE_RUN_MM = 10.0


def without_edge_lines(trace_mask: np.ndarray, px_per_mm: float) -> np.ndarray:
    """The (H, W) bool trace mask without lines along the picture's edges: ink within
    EDGE_LINE_MM of the top or bottom edge in horizontal runs of EDGE_RUN_MM or more, and
    the same for the left and right edges in vertical runs. A sheet whose grid fills it
    edge to edge (ECG-Image-Kit's) may have a line on the picture's last row; as dark as
    the traces (its random grid colours), it joined the bottom row's band, and the
    rhythm strip's reading ran from its end down onto it and along to the picture's edge
    (read to x 2198 against 2087), so no row's seams split it evenly. No wave has room
    there: a trace that reaches the edge loses at most its last mm. Returns the mask
    itself when there is no such line."""
    band = max(1, round(EDGE_LINE_MM * px_per_mm))
    run = max(3, round(EDGE_RUN_MM * px_per_mm)) | 1  # odd: an even kernel opens a px off
    h, w = trace_mask.shape
    out = trace_mask
    strips = ((slice(0, band), slice(None), (1, run)), (slice(h - band, h), slice(None), (1, run)),
              (slice(None), slice(0, band), (run, 1)), (slice(None), slice(w - band, w), (run, 1)))
    for rows, cols, kernel in strips:
        part = trace_mask[rows, cols].view(np.uint8)
        if part.size == 0 or not part.any():
            continue
        long = cv2.morphologyEx(part, cv2.MORPH_OPEN, np.ones(kernel, np.uint8)) > 0
        if long.any():
            out = out.copy() if out is trace_mask else out
            out[rows, cols] &= ~long
    return out
