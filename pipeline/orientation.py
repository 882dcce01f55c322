"""Whether a page lies sideways: its traces' rows running down the picture, not across.

A landscape ECG scanned or exported on a portrait page is often turned a quarter. The
traces' pieces in the segmentation network's trace map are then taller than wide. Upright
bench pages give a width/height ratio (summed over the pieces) of 1.9-19, most of their
quarter turns 0.1-1.0; on a few (12x1 and 6x2 pages whose QRS strokes, then across, are
what the network sees best) 1.6-8, and those are not turned. The network, trained on upright pages, also sees less of a turned page's
traces (a half to two thirds): a page is turned only where its turned picture shows both
(`is_better_turned`). Turned photos of real pictures can show long horizontal pieces
(grid lines, text lines taken for trace), but then with a third of the trace.
"""
from __future__ import annotations

import cv2
import numpy as np

#: Trace: the network's probability over this.
TRACE_P = 0.5
#: Pieces smaller than this share of the map are left out (specks, letters).
MIN_PIECE = 0.0005
#: A page whose pieces are less than this much wider than tall may be sideways.
SIDEWAYS_BELOW = 1.5
#: A page turned a quarter reads across when its pieces are then wider than tall by
#: SIDEWAYS_BELOW and more than as it lies, and the network sees more of its trace (this
#: many times as much).
TRACE_GAIN = 1.0


def row_elongation(trace_p: np.ndarray) -> float:
    """Summed width over summed height of the trace map's pieces.

    trace_p: (h, w) float trace probability. Returns 1.0 where no piece is large enough
    (no evidence either way).
    """
    mask = (trace_p > TRACE_P).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    big = stats[1:, cv2.CC_STAT_AREA] >= MIN_PIECE * mask.size
    width = float(stats[1:, cv2.CC_STAT_WIDTH][big].sum())
    height = float(stats[1:, cv2.CC_STAT_HEIGHT][big].sum())
    return width / height if height > 0 else 1.0


def may_be_sideways(trace_p: np.ndarray) -> bool:
    """Whether a page's trace map ((h, w) float) leaves it in doubt which way its rows
    run: worth a second look turned a quarter."""
    return row_elongation(trace_p) < SIDEWAYS_BELOW


def trace_share(trace_p: np.ndarray) -> float:
    """Share of the (h, w) trace map the network calls trace."""
    return float(np.count_nonzero(trace_p > TRACE_P)) / trace_p.size


def is_better_turned(trace_p: np.ndarray, turned_p: np.ndarray) -> bool:
    """Whether a page reads across once turned a quarter: its turned trace map
    (`turned_p`, (w', h') float) shows pieces at least SIDEWAYS_BELOW times wider than
    tall and more elongated across than the page's own (`trace_p`, (h, w) float), and
    more than TRACE_GAIN times its trace. The trace share is the firmer sign: a sideways
    page whose network saw no long piece (1.0) turned to 1.97, its share 0.011 -> 0.024."""
    elongation = row_elongation(turned_p)
    return (elongation >= SIDEWAYS_BELOW and elongation > row_elongation(trace_p)
            and trace_share(turned_p) > TRACE_GAIN * trace_share(trace_p))
