"""Whether a page read as it lies is upside down: the votes of its pulses, rhythm strips,
time direction and complexes.

A page is read as it lies first; `flip_votes` says whether to read it again turned 180
degrees. Shapes: the rows' traces (`pipeline.extract.RowTrace`), positions in px.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pipeline.calibration import Pulse
from pipeline.extract import RowTrace

#: Skew of a page's complexes above which pulses that all point down do not turn it.
UNANIMOUS_SKEW_VETO = 1.5
#: Geometry cost per row (`layout.turned_fit_gain`) by which rows must fit a template
#: better one way up than the other for the rhythm strips' place to turn a page without
#: pulses. Measured on 16 pages each without pulses: turned clean and scanned pages gained
#: 0.49-1.39 (two scans 0.08 and 0.18, one 0.39), upright pages -0.3 to -1.13, and upright
#: photos up to 0.375 (a faint line's breaks).
TURNED_FIT_MARGIN = 0.45
#: Weight of the complexes' skew beside the rows' time asymmetry
#: (`beat_order.time_asymmetry`) in telling which way time runs on a page...
TIME_SKEW_WEIGHT = 0.1
#: ... and how far below 0 (backwards) their sum turns a page that nothing else decides.
#: 104 upright bench pages (clean, 12x1, 6x2, 50 mm/s, scans, photos): -0.005 to 0.8;
#: their turned copies that pulses and strips left upright: -0.80 to -0.02 (12 of 17
#: under -0.1).
BACKWARD_TIME = 0.1


def flip_votes(found: list[Pulse], skew: float, n_rows: int, turned_gain: float = 0.0,
               asymmetry: Callable[[], float] = lambda: 0.0) -> int:
    """+1 when a page read as it lies is upside down, else -1. found: the calibration
    pulses found on its rows; skew: `polarity_skew` of its lines; n_rows: rows read;
    turned_gain: `layout.turned_fit_gain` of its rows; asymmetry: the rows'
    `beat_order.time_asymmetry`, worked out only when the rules before it leave the page
    undecided.

    Pulses point up on upright pages; when most of those found point down, the page is
    turned unless the complexes contradict (most QRS complexes point up on upright
    pages): skew over 0.3, or, when every pulse found points down, over
    UNANIMOUS_SKEW_VETO (a record whose complexes mostly point down, such as deep S
    waves, has a moderately positive skew read upside down). Without pulses, rhythm strips
    tell: they lie below the grid of leads, so rows that fit a template clearly better
    turned (by TURNED_FIT_MARGIN) turn the page, and clearly worse keep it. Otherwise the
    direction of time does (T waves follow QRS complexes): a negative asymmetry whose sum
    with TIME_SKEW_WEIGHT times the skew is under -BACKWARD_TIME turns the page, and so
    does any sum under 0 when at least 3 pulses were found and all point down (fewer than
    half the rows: a 12x1 page's). Last, an extreme majority of downward complexes turns the
    page (deep S waves in V1-V4 and aVR make moderate negative skew common), and not when
    the rows fit better as they lie: photo bench page 35 (no grid, no pulses, skew -2.08,
    the rows 0.31 better as read) was turned.
    """
    n_inverted = sum(p.inverted for p in found)
    if len(found) >= max(2, n_rows // 2) and 2 * n_inverted != len(found):
        veto = UNANIMOUS_SKEW_VETO if n_inverted == len(found) else 0.3
        return 1 if 2 * n_inverted > len(found) and skew <= veto else -1
    if abs(turned_gain) >= TURNED_FIT_MARGIN:
        return 1 if turned_gain > 0 else -1
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
