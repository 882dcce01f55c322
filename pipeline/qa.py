"""QA picture: the digitized signals drawn back over the (straightened) source image.

A reviewer sees at a glance whether each lead was read where it is drawn: the red/blue
lines should lie on the printed traces. A banner states the layout, the scales, and which
values were assumed; each lead window is tagged with its name and quality.
"""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.rectify import Rectification, warp
from pipeline.result import PageResult
from pipeline.types import LEADS, DigitizationResult

#: Longest side of the QA picture, px.
MAX_SIDE_PX = 2000
_COLOURS = ((220, 30, 30), (30, 60, 220))


def render_qa(image: np.ndarray, result: DigitizationResult) -> np.ndarray:
    """Draw `result`'s signals over `image`.

    image: (H, W, 3) uint8 RGB, the page that was digitized. result: its digitization; a
    `PageResult` carries where each lead was read, and its signals are drawn in place on
    the straightened page; any other result gets its 12 signals plotted under the image.
    Returns (H', W', 3) uint8 RGB, longer side at most MAX_SIDE_PX.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8; found {image.shape} {image.dtype}")
    geometry = result.geometry if isinstance(result, PageResult) else None
    if geometry is None:
        canvas = _plot_below(image, result)
    else:
        h, w = image.shape[:2]
        work = image
        if abs(geometry.work_scale - 1.0) > 1e-6:
            work = cv2.resize(image, (round(w * geometry.work_scale),
                                      round(h * geometry.work_scale)),
                              interpolation=cv2.INTER_AREA)
        rect = Rectification(result.rotation_deg, geometry.matrix, geometry.shape)
        canvas = np.ascontiguousarray(warp(work, rect, fill=(255, 255, 255)))
        # Fade the page so the overlay stands out.
        canvas = (0.55 * canvas + 0.45 * 255).astype(np.uint8)
        thick = max(1, round(max(canvas.shape[:2]) / 1200))
        for k, p in enumerate(geometry.panels):
            i = LEADS.index(p.lead)
            t = np.arange(result.signals_uv.shape[1]) / result.fs_hz
            sel = (t >= p.t0_s) & (t < p.t1_s) & np.isfinite(result.signals_uv[i])
            if sel.sum() < 2:
                continue
            x = p.x_start_px + (t[sel] - p.t0_s) * p.px_per_s
            y = p.baseline_px - p.polarity * result.signals_uv[i, sel] / 1000.0 * p.px_per_mv
            pts = np.round(np.stack([x, y], axis=1) * 4).astype(np.int32)
            colour = _COLOURS[k % 2]
            # One polyline per stretch of read samples: what was not read shows as a break.
            runs = np.split(pts, np.flatnonzero(np.diff(np.flatnonzero(sel)) > 1) + 1)
            cv2.polylines(canvas, [r for r in runs if len(r) >= 2], False, colour, thick,
                          cv2.LINE_AA, shift=2)
            label = f"{'-' if p.polarity < 0 else ''}{p.lead} q={result.quality[i]:.2f}"
            cv2.putText(canvas, label, (int(x[0]), int(p.baseline_px - 0.45 * p.px_per_mv)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick + 0.2, colour, thick, cv2.LINE_AA)
    canvas = _shrink(canvas)
    return _banner(canvas, result)


def _plot_below(image: np.ndarray, result: DigitizationResult) -> np.ndarray:
    """The image with a 12-row plot of the signals under it (no page geometry known)."""
    img = _shrink(image)
    w = img.shape[1]
    row_h = 60
    plot = np.full((row_h * len(LEADS), w, 3), 255, dtype=np.uint8)
    n = result.signals_uv.shape[1]
    x = np.arange(n) * (w - 1) / max(1, n - 1)
    for i, lead in enumerate(LEADS):
        s = result.signals_uv[i]
        base = row_h * i + row_h / 2
        cv2.putText(plot, lead, (2, int(base)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        ok = np.isfinite(s)
        if ok.sum() < 2:
            continue
        y = base - s / 1000.0 * 20.0
        pts = np.stack([x[ok], y[ok]], axis=1)
        cv2.polylines(plot, [np.round(pts * 4).astype(np.int32)], False, _COLOURS[0], 1,
                      cv2.LINE_AA, shift=2)
    return np.concatenate([img, plot], axis=0)


def _shrink(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    f = MAX_SIDE_PX / max(h, w)
    if f >= 1.0:
        return image
    return cv2.resize(image, (int(w * f), int(h * f)), interpolation=cv2.INTER_AREA)


def _banner(canvas: np.ndarray, result: DigitizationResult) -> np.ndarray:
    """Prepend a text line with layout, scales, rotation and assumptions."""
    text = (f"layout {result.layout}  {result.px_per_mm:.2f} px/mm  {result.mm_per_mv:g} mm/mV  "
            f"{result.mm_per_s:g} mm/s  rot {result.rotation_deg:.1f} deg  "
            f"assumed: {', '.join(result.assumed) or 'nothing'}")
    bar = np.full((24, canvas.shape[1], 3), 255, dtype=np.uint8)
    cv2.putText(bar, text, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, canvas], axis=0)
