"""Cropping to the signal region: where the trace ink is, without margins, header or
background clutter.

The region is the box holding the 1st to 99th percentile of long-trace ink in each axis,
widened by a margin; everything outside is ignored by the row finder.
"""
from __future__ import annotations

import numpy as np

from pipeline.classic_segment import brightest_channel
from pipeline.errors import NoTraceFoundError
from pipeline.layout import long_trace_mask
from pipeline.sheet_edges import line_crossing, sheet_corners_from_edges

#: Long side (px) of the reduced picture the sheet's outline is looked for on.
OUTLINE_SIDE_PX = 600
#: Share of a strided sample of the picture that a bright region must enclose for the
#: paper to fill the picture beyond doubt (`paper_outline`'s max_cover, 0.92, is well
#: under it: a sample and the area average differ by well under 1% in that share).
SURELY_FILLED = 0.97


def signal_box(trace_prob: np.ndarray, px_per_mm: float, margin_mm: float = 6.0
               ) -> tuple[int, int, int, int]:
    """Box (x0, y0, x1, y1), px, inclusive-exclusive, around the page's long traces.

    trace_prob: (H, W) float in [0, 1]; px_per_mm: page scale (an estimate is enough).
    Raises NoTraceFoundError when there is no long trace.
    """
    h, w = trace_prob.shape
    # At 0.3, not 0.5: thin faint lines (grey antialiased 0.1 mm pens at 100 dpi) break into
    # short pieces at 0.5 and whole columns of a page's traces went missing from the box;
    # their fainter ink still joins into long traces. (Every long trace at 0.5 is part of
    # one at 0.3, so the lower threshold alone finds both.)
    ink = long_trace_mask(trace_prob, min_width_px=max(8.0, 12.0 * px_per_mm), threshold=0.3)
    # As np.nonzero(ink), from flat indices: 15x faster on a page.
    ys, xs = np.divmod(np.flatnonzero(ink), w)
    if ys.size == 0:
        raise NoTraceFoundError(
            "no ECG trace found: no ink line is longer than 12 mm "
            f"({12.0 * px_per_mm:.0f} px at {px_per_mm:.2f} px/mm)")
    m = int(margin_mm * px_per_mm)
    x0, x1 = np.percentile(xs, [0.5, 99.5])
    y0, y1 = np.percentile(ys, [0.5, 99.5])
    return (max(0, int(x0) - m), max(0, int(y0) - m), min(w, int(x1) + m + 1),
            min(h, int(y1) + m + 1))


def in_signal_region(trace_prob: np.ndarray, px_per_mm: float) -> np.ndarray:
    """trace_prob (H, W) float inside `signal_box`, 0 outside: a new array."""
    x0, y0, x1, y1 = signal_box(trace_prob, px_per_mm)
    out = np.empty_like(trace_prob)  # each pixel written once: the box, then its margins
    out[y0:y1, x0:x1] = trace_prob[y0:y1, x0:x1]
    out[:y0] = 0
    out[y1:] = 0
    out[y0:y1, :x0] = 0
    out[y0:y1, x1:] = 0
    return out


def paper_outline(image: np.ndarray, max_cover: float = 0.92) -> np.ndarray | None:
    """Corners of the sheet of paper in a photo: (4, 2) float64 px (top-left, top-right,
    bottom-right, bottom-left), or None when the paper fills the image (scans, digital
    pages: more than max_cover of it) or no four-cornered bright region is found.

    image: (H, W, 3) uint8 RGB. The paper is the largest bright region (Otsu threshold on
    brightness at reduced resolution), reduced to a quadrilateral; where that region has
    no four corners (background patches joined it, a shadow split it), the sheet's
    straight edges bound it (`pipeline.sheet_edges`).
    """
    import cv2

    h, w = image.shape[:2]
    step = int(max(h, w) // OUTLINE_SIDE_PX)
    if step >= 2 and max_cover < SURELY_FILLED:
        # Most pages are scans or digital pages that the paper fills: a strided sample
        # (under 2 ms) settles those before the area-averaged look (about 13 ms).
        _, area = _largest_bright_region(brightest_channel(image[::step, ::step]))
        if area > SURELY_FILLED:
            return None
    f = min(1.0, OUTLINE_SIDE_PX / max(h, w))
    small = cv2.resize(image, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA)
    c, area = _largest_bright_region(brightest_channel(small))
    sh, sw = small.shape[:2]
    quad = None
    if c is not None:
        if area > max_cover:
            return None
        if area >= 0.2:
            quad = _four_cornered(c)
    if quad is None:
        # Background patches joined the bright region, or a shadow split it: the sheet's
        # straight edges may still show.
        quad = sheet_corners_from_edges(small)
        if quad is None or cv2.contourArea(quad.astype(np.float32)) < 0.2 * sh * sw:
            return None
    edge = 0.01 * max(sh, sw)
    if (quad[:, 0].min() < edge or quad[:, 1].min() < edge or quad[:, 0].max() > sw - 1 - edge
            or quad[:, 1].max() > sh - 1 - edge):
        return None  # the sheet runs out of the picture: its corners are not all seen
    pts = quad / f
    s, d = pts.sum(axis=1), pts[:, 0] - pts[:, 1]
    ordered = np.array([pts[np.argmin(s)], pts[np.argmax(d)], pts[np.argmax(s)], pts[np.argmin(d)]])
    if len({tuple(p) for p in ordered.round(3)}) != 4:
        return None
    return ordered


def _largest_bright_region(value: np.ndarray) -> tuple[np.ndarray | None, float]:
    """The largest bright region of a brightness map (h, w) uint8: its outer contour (an
    OpenCV contour, px of `value`; None when there is none) and the share of the map it
    encloses. Bright is above Otsu's threshold, closed by a square of 3% of the long side
    (ink and grid lines on the paper join it)."""
    import cv2

    _, bright = cv2.threshold(value, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    k = max(3, round(0.03 * max(value.shape)))
    bright = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    contours, _ = cv2.findContours(bright, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None, 0.0
    c = max(contours, key=cv2.contourArea)
    return c, cv2.contourArea(c) / value.size


def _four_cornered(contour: np.ndarray) -> np.ndarray | None:
    """Corners (4, 2) float64 px of an OpenCV contour's convex hull when a polygon
    approximation of it has four (refined by `_refine_quad`), else None."""
    import cv2

    hull = cv2.convexHull(contour)
    for eps in (0.01, 0.02, 0.03, 0.05):
        approx = cv2.approxPolyDP(hull, eps * cv2.arcLength(hull, True), True)
        if len(approx) == 4:
            return _refine_quad(approx.reshape(4, 2).astype(np.float64),
                                contour.reshape(-1, 2).astype(np.float64))
    return None


def _refine_quad(quad: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """Corners (4, 2) refined as intersections of lines fitted to the outline points near
    each edge (the polygon approximation's corners are only roughly placed)."""
    import cv2

    lines = []
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        ab = b - a
        length = float(np.linalg.norm(ab)) or 1.0
        t = ((outline - a) @ ab) / length**2
        rel = outline - a
        dist = np.abs(ab[0] * rel[:, 1] - ab[1] * rel[:, 0]) / length  # 2-D cross product
        near = outline[(t > 0.1) & (t < 0.9) & (dist < 0.03 * length)]
        if len(near) < 5:
            return quad
        vx, vy, x0, y0 = cv2.fitLine(near.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        lines.append((np.array([x0, y0]), np.array([vx, vy])))
    out = np.zeros_like(quad)
    for i in range(4):
        corner = line_crossing(*lines[i - 1], *lines[i])
        if corner is None:
            return quad
        out[i] = corner
    return out


def upright_sheet_box(image: np.ndarray, min_step: float = 0.012, min_ratio: float = 8.0
                      ) -> tuple[int, int, int, int] | None:
    """Box (x0, y0, x1, y1) px, inclusive-exclusive, of a bright sheet lying upright in a
    straightened picture (H, W, 3) uint8, or None when no side of a sheet shows.

    Each side is the column (row) where the brightness steps up into the sheet along most
    of that side: a shadow over a corner dims, but does not remove, that step. A side
    with no such step is the picture's own. min_step: least mean blurred brightness step
    per px along a side (brightness in [0, 1]; sheet edges on desks measured 0.02-0.09,
    pale grid lines under 0.01); min_ratio: least ratio of that step to the median column
    (row).
    """
    import cv2

    h, w = image.shape[:2]
    f = min(1.0, 800.0 / max(h, w))
    small = cv2.resize(image, (max(8, round(w * f)), max(8, round(h * f))),
                       interpolation=cv2.INTER_AREA)
    v = cv2.GaussianBlur(brightest_channel(small).astype(np.float32) / 255.0, (0, 0), 2.0)
    gx = cv2.Sobel(v, cv2.CV_32F, 1, 0, ksize=3) / 4.0
    gy = cv2.Sobel(v, cv2.CV_32F, 0, 1, ksize=3) / 4.0
    sides = []
    for grad, mean_axis, full in ((gx, 0, w), (gy, 1, h)):
        rising = np.clip(grad, 0, None).mean(axis=mean_axis)
        falling = np.clip(-grad, 0, None).mean(axis=mean_axis)
        half = rising.size // 2
        lo = int(np.argmax(rising[:half]))
        hi = half + int(np.argmax(falling[half:]))
        floor = min_ratio * float(np.median(rising + falling)) / 2.0
        sides.append(lo / f if rising[lo] >= max(min_step, floor) else 0.0)
        sides.append((hi + 1) / f if falling[hi] >= max(min_step, floor) else float(full))
    x0, x1, y0, y1 = sides
    if (x0, x1, y0, y1) == (0.0, float(w), 0.0, float(h)):
        return None
    return int(x0), int(y0), min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
