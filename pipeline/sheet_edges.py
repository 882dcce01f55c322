"""A photographed sheet's corners from its four straight edges.

`pipeline.crop.paper_outline` finds the sheet as the largest bright region; that region
loses its four corners when light patches of the background join it (a pale desk under
uneven light) or a shadow darkens part of the sheet. The sheet's edges stay straight
steps in colour there: on the picture blurred by a few px (so that grid lines and traces,
1-2 px wide at this scale, leave only faint ridges), straight edge segments are found
(OpenCV's probabilistic Hough transform on Canny edges), those that are no colour step
(a trace row's outline: both sides paper) are dropped, and the outermost of each family,
roughly horizontal and roughly vertical, bound the sheet.
"""
from __future__ import annotations

import cv2
import numpy as np

#: Blur (sigma, px of the reduced picture) before edges are looked for.
BLUR_PX = 3.0
#: Least length of an edge segment, as a share of the picture's shorter side.
MIN_SEGMENT = 0.25
#: Least median colour step (0-255, the channel that steps most) across a segment, between
#: points STEP_OFFSET_PX to either side. Sheet edges on the bench's photos stepped 50-135,
#: the outlines of trace rows 6-19.
MIN_STEP = 30.0
STEP_OFFSET_PX = 5.0
#: Widest angle (deg) from the axis for a segment to belong to that axis's family.
MAX_FAMILY_TILT_DEG = 35.0


def sheet_corners_from_edges(small: np.ndarray) -> np.ndarray | None:
    """Corners (4, 2) float64 px of `small` (h, w, 3) uint8 RGB (top-left, top-right,
    bottom-right, bottom-left): the intersections of the outermost colour-step segments of
    each family. None when a family has fewer than two such segments or its outermost two
    are under 0.3 of the picture apart."""
    h, w = small.shape[:2]
    blur = cv2.GaussianBlur(small, (0, 0), BLUR_PX)
    edges = np.zeros((h, w), np.uint8)
    for c in range(3):
        cv2.bitwise_or(edges, cv2.Canny(np.ascontiguousarray(blur[..., c]), 10, 30), dst=edges)
    shorter = min(h, w)
    found = cv2.HoughLinesP(edges, 1, np.pi / 720, threshold=int(0.15 * shorter),
                            minLineLength=MIN_SEGMENT * shorter, maxLineGap=10)
    if found is None:
        return None
    segments = found[:, 0, :].astype(np.float64)
    segments = segments[[colour_step(blur, s) >= MIN_STEP for s in segments]]
    angle = np.degrees(np.arctan2(segments[:, 3] - segments[:, 1],
                                  segments[:, 2] - segments[:, 0]))
    angle = (angle + 90.0) % 180.0 - 90.0
    bounds = []
    for family, axis, extent in ((np.abs(angle) < MAX_FAMILY_TILT_DEG, 1, h),
                                 (np.abs(angle) > 90.0 - MAX_FAMILY_TILT_DEG, 0, w)):
        chosen = segments[family]
        if len(chosen) < 2:
            return None
        middle = 0.5 * (chosen[:, axis] + chosen[:, axis + 2])
        if float(middle.max() - middle.min()) < 0.3 * extent:
            return None
        bounds.append((chosen[int(np.argmin(middle))], chosen[int(np.argmax(middle))]))
    (top, bottom), (left, right) = bounds
    corners = [_crossing(top, left), _crossing(top, right), _crossing(bottom, right),
               _crossing(bottom, left)]
    if any(c is None for c in corners):
        return None
    return np.array(corners)


def colour_step(blur: np.ndarray, segment: np.ndarray) -> float:
    """Median over a segment (x0, y0, x1, y1) px of the largest channel difference
    (0-255) between the points STEP_OFFSET_PX to either side of it, in `blur` (h, w, 3)."""
    p = segment[:2]
    d = segment[2:] - p
    length = float(np.hypot(*d))
    d = d / length
    normal = np.array([-d[1], d[0]]) * STEP_OFFSET_PX
    points = p[None] + np.arange(0.0, length, 2.0)[:, None] * d[None]
    h, w = blur.shape[:2]
    a, b = (np.round(points + normal).astype(np.intp), np.round(points - normal).astype(np.intp))
    inside = ((a[:, 0] >= 0) & (a[:, 0] < w) & (a[:, 1] >= 0) & (a[:, 1] < h)
              & (b[:, 0] >= 0) & (b[:, 0] < w) & (b[:, 1] >= 0) & (b[:, 1] < h))
    if inside.sum() < 5:
        return 0.0
    a, b = a[inside], b[inside]
    step = np.abs(blur[a[:, 1], a[:, 0]].astype(np.int16) - blur[b[:, 1], b[:, 0]])
    return float(np.median(step.max(axis=1)))


def _crossing(first: np.ndarray, second: np.ndarray) -> np.ndarray | None:
    """Where the lines through two segments (x0, y0, x1, y1) cross, (2,) px; None when
    they are parallel."""
    return line_crossing(first[:2], first[2:] - first[:2], second[:2], second[2:] - second[:2])


def line_crossing(p1: np.ndarray, d1: np.ndarray, p2: np.ndarray, d2: np.ndarray
                  ) -> np.ndarray | None:
    """Where the line through p1 (2,) px along d1 (2,) crosses the one through p2 along d2,
    (2,) px; None when they are parallel (|det [d1, -d2]| < 1e-6)."""
    m = np.array([d1, -d2]).T
    if abs(float(np.linalg.det(m))) < 1e-6:
        return None
    s, _ = np.linalg.solve(m, p2 - p1)
    return p1 + s * d1
