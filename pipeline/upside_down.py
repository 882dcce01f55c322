"""Whether a page read as it lies is upside down: the votes of its pulses, rhythm strips,
lead labels, time direction and complexes.

A page is read as it lies first; `flip_votes` says whether to read it again turned 180
degrees. Shapes: the rows' traces (`pipeline.extract.RowTrace`), positions in px.
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from pipeline.calibration import Pulse
from pipeline.extract import RowTrace
from pipeline.layout import TraceRow

#: Skew of a page's complexes above which pulses that all point down do not turn it.
UNANIMOUS_SKEW_VETO = 1.5
#: Geometry cost per row (`layout.turned_fit_gain`) by which rows must fit a template
#: better one way up than the other for the rhythm strips' place to turn a page without
#: pulses. Measured on 16 pages each without pulses: turned clean and scanned pages gained
#: 0.49-1.39 (two scans 0.08 and 0.18, one 0.39), upright pages -0.3 to -1.13, and upright
#: photos up to 0.375 (a faint line's breaks).
TURNED_FIT_MARGIN = 0.45
#: Share by which the ink off the lines at the rows' starts must outweigh that at their ends
#: (or the reverse) for the lead labels to decide (`label_side`). 144 bench pages (18
#: conditions, 8 pages each: clean, scans, photos, 6x2, 12x1, black grids, binarized,
#: light on dark; upright and upside down, with and without pulses): every upright page
#: +1.00, every turned one -1.00. Without the glyph filter upright pages read +0.14 to
#: +1.00 (black-grid page 6 -0.58).
LABEL_SIDE_MARGIN = 0.5
#: A `label_side` this one-sided decides before the rhythm strips' place does: real
#: picture ecg00054 (upright 3x4+1, its pulses not found, labels +1.00) fits a template
#: 0.49 better turned once its labels leave the trace map (`digitizer._first_look_labels`).
LABEL_SIDE_UNANIMOUS = 0.9
#: Least ink off the lines in both windows together, mm^2, for `label_side` to say anything
#: (a lead label of 3 mm letters holds several mm^2).
MIN_LABEL_INK_MM2 = 2.0
#: A glyph's box, mm: (least, most) height and width. Pieces of a grid as dark as the
#: traces are thin strokes (under the least width) or a lattice (over the most).
GLYPH_HEIGHT_MM, GLYPH_WIDTH_MM = (1.0, 8.0), (0.5, 20.0)
#: The windows at a row's ends, mm: from this far outside the row's first (last) inked
#: column to this far inside it; labels stand just before a row's line or over its start.
LABEL_OUTSIDE_MM, LABEL_INSIDE_MM = 12.0, 8.0
#: Weight of the complexes' skew beside the rows' time asymmetry
#: (`beat_order.time_asymmetry`) in telling which way time runs on a page...
TIME_SKEW_WEIGHT = 0.1
#: ... and how far below 0 (backwards) their sum turns a page that nothing else decides.
#: 104 upright bench pages (clean, 12x1, 6x2, 50 mm/s, scans, photos): -0.005 to 0.8;
#: their turned copies that pulses and strips left upright: -0.80 to -0.02 (12 of 17
#: under -0.1).
BACKWARD_TIME = 0.1


def flip_votes(found: list[Pulse], skew: float, n_rows: int, turned_gain: float = 0.0,
               asymmetry: Callable[[], float] = lambda: 0.0,
               labels: Callable[[], float] = lambda: 0.0) -> int:
    """+1 when a page read as it lies is upside down, else -1. found: the calibration
    pulses found on its rows; skew: `polarity_skew` of its lines; n_rows: rows read;
    turned_gain: `layout.turned_fit_gain` of its rows; labels: the rows' `label_side`
    and asymmetry: their `beat_order.time_asymmetry`, each worked out only when the rules
    before it leave the page undecided.

    Pulses point up on upright pages; when most of those found point down, the page is
    turned unless the complexes contradict (most QRS complexes point up on upright
    pages): skew over 0.3, or, when every pulse found points down, over
    UNANIMOUS_SKEW_VETO (a record whose complexes mostly point down, such as deep S
    waves, has a moderately positive skew read upside down). Without pulses, lead labels
    all at one end of the rows (LABEL_SIDE_UNANIMOUS) tell: they stand at the rows' starts.
    Then rhythm strips: they lie below the grid of leads, so rows that fit a template
    clearly better turned (by TURNED_FIT_MARGIN) turn the page, and clearly worse keep it.
    Then the labels again: ink off the lines clearly more at the rows'
    ends (by LABEL_SIDE_MARGIN) turns the page, clearly more at their starts keeps it (a
    12x1 page has no strips, and its time asymmetry read scan 12x1 page 100 upright at
    -0.09). Otherwise the direction of time does (T waves follow QRS complexes): a
    negative asymmetry whose sum with TIME_SKEW_WEIGHT times the skew is under
    -BACKWARD_TIME turns the page, and so does any sum under 0 when at least 3 pulses
    were found and all point down (fewer than half the rows: a 12x1 page's). Last, an
    extreme majority of downward complexes turns the page (deep S waves in V1-V4 and aVR
    make moderate negative skew common), and not when the rows fit better as they lie:
    photo bench page 35 (no grid, no pulses, skew -2.08, the rows 0.31 better as read)
    was turned.
    """
    n_inverted = sum(p.inverted for p in found)
    if len(found) >= max(2, n_rows // 2) and 2 * n_inverted != len(found):
        veto = UNANIMOUS_SKEW_VETO if n_inverted == len(found) else 0.3
        return 1 if 2 * n_inverted > len(found) and skew <= veto else -1
    side = labels()
    if abs(side) >= LABEL_SIDE_UNANIMOUS:
        return 1 if side < 0 else -1
    if abs(turned_gain) >= TURNED_FIT_MARGIN:
        return 1 if turned_gain > 0 else -1
    if abs(side) >= LABEL_SIDE_MARGIN:
        return 1 if side < 0 else -1
    time_runs = asymmetry()
    backward = time_runs + TIME_SKEW_WEIGHT * skew
    if time_runs < 0.0 and (backward < -BACKWARD_TIME or (
            backward < 0.0 and len(found) >= 3 and n_inverted == len(found))):
        return 1
    return 1 if skew < -2.0 and turned_gain >= 0.0 else -1


def polarity_skew(traces: list[RowTrace], baselines: list[float]) -> float:
    """Mean over rows of the skewness of the upward deflection (> 0 on upright pages: most
    leads' QRS complexes point up)."""
    skews = []
    for tr, b in zip(traces, baselines):
        v = b - tr.y_px[np.isfinite(tr.y_px)]
        if v.size < 20 or v.std() == 0:
            continue
        skews.append(float(np.mean(((v - v.mean()) / v.std()) ** 3)))
    return float(np.mean(skews)) if skews else 0.0


def label_side(ink: np.ndarray, lines: np.ndarray, rows: list[TraceRow], px_per_mm: float
               ) -> float:
    """Where the ink off the rows' lines stands: (S - E) / (S + E) in [-1, 1], S the ink
    pixels at the rows' starts and E at their ends (0 when together under
    MIN_LABEL_INK_MM2). Lead labels stand at a row's start (before its line, or over its
    first mm); read upside down, at its end.

    ink: (H, W) float, ink of the traces' colour (> 0.5: ink), labels included; lines:
    (H, W) bool, the rows' line mask (its ink is not counted, nor its fringe within 2 px);
    only pieces of ink of a glyph's size count (`_glyph_ink`: a black grid's pieces not);
    rows: the rows (each row's own band is looked at); px_per_mm: the page's scale. The
    windows reach from LABEL_OUTSIDE_MM outside a row's first (last) inked column to
    LABEL_INSIDE_MM inside it.
    """
    h, w = ink.shape
    outside, inside = LABEL_OUTSIDE_MM * px_per_mm, LABEL_INSIDE_MM * px_per_mm
    near_line = np.ones((5, 5), np.uint8)
    counts = [0, 0]
    for r in rows:
        top, bottom = max(0, r.own_band[0]), min(h, r.own_band[1])
        for k, (a, b) in enumerate(((r.x0_px - outside, r.x0_px + inside),
                                    (r.x1_px - inside, r.x1_px + outside))):
            x0, x1 = max(0, int(a)), min(w, int(b))
            if x1 <= x0 or bottom <= top:
                continue
            on_line = cv2.dilate(lines[top:bottom, x0:x1].astype(np.uint8), near_line) > 0
            off_line = ((ink[top:bottom, x0:x1] > 0.5) & ~on_line).astype(np.uint8)
            counts[k] += _glyph_ink(off_line, px_per_mm)
    total = counts[0] + counts[1]
    if total < MIN_LABEL_INK_MM2 * px_per_mm ** 2:
        return 0.0
    return (counts[0] - counts[1]) / total


def _glyph_ink(ink: np.ndarray, px_per_mm: float) -> int:
    """Ink pixels of `ink` ((h, w) uint8 0/1) in 8-connected pieces whose box is of a
    glyph's size (GLYPH_HEIGHT_MM, GLYPH_WIDTH_MM). A letter as thin as a stroke (I)
    counts not, like a grid line's piece; the page's other labels carry the vote."""
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    width_mm = stats[1:, cv2.CC_STAT_WIDTH] / px_per_mm
    height_mm = stats[1:, cv2.CC_STAT_HEIGHT] / px_per_mm
    glyph = ((height_mm >= GLYPH_HEIGHT_MM[0]) & (height_mm <= GLYPH_HEIGHT_MM[1])
             & (width_mm >= GLYPH_WIDTH_MM[0]) & (width_mm <= GLYPH_WIDTH_MM[1]))
    return int(stats[1:, cv2.CC_STAT_AREA][glyph].sum())
