"""Marks on the paper itself: tint, texture, folds, stamps and handwriting strokes.

All functions work in place on the page before any geometric change: image (3, H, W)
float32 RGB planes in [0, 255], classes (H, W) uint8. Stamps and handwriting are class 2 (text)
except where a trace (class 3) lies underneath, which keeps its class.
"""
from __future__ import annotations

import cv2
import numpy as np

TEXT, TRACE = 2, 3
_STAMP_WORDS = ("RECEIVED", "COPY", "REVIEWED", "CONFIDENTIAL", "SCANNED", "FILED", "URGENT")
_INKS = ((20, 40, 160), (30, 30, 30), (170, 30, 40), (40, 90, 170), (20, 100, 40))


def tint_and_texture(image: np.ndarray, tint: float, texture: float,
                     rng: np.random.Generator) -> dict[str, object]:
    """Paper tint (towards a warm/grey colour, strength `tint` in [0, 1]) and texture
    (smoothed noise, `texture` = std in intensity units); returns what was drawn."""
    h, w = image.shape[1:]
    tint_rgb = np.array([255, int(rng.integers(225, 250)), int(rng.integers(180, 235))],
                        dtype=np.float32)
    field = None
    if texture > 0:
        small = rng.standard_normal((max(h // 4, 2), max(w // 4, 2)), dtype=np.float32)
        blotch = cv2.resize(rng.standard_normal((6, 8), dtype=np.float32),
                            (small.shape[1], small.shape[0]), interpolation=cv2.INTER_CUBIC)
        field = cv2.resize(texture * (small + 0.8 * blotch), (w, h),
                           interpolation=cv2.INTER_LINEAR)
    for channel in range(3):
        if tint > 0:
            image[channel] *= np.float32(1.0 - tint * (1.0 - tint_rgb[channel] / 255.0))
        if field is not None:
            image[channel] += field
    return {"tint_rgb": tint_rgb.astype(int).tolist()}


def folds(image: np.ndarray, count: int, rng: np.random.Generator) -> list[dict[str, float]]:
    """Fold creases along the sheet's axes: a dark thin line with a soft shading step."""
    h, w = image.shape[1:]
    drawn: list[dict[str, float]] = []
    for _ in range(count):
        vertical = bool(rng.random() < 0.5)
        n = w if vertical else h
        pos = float(rng.uniform(0.25, 0.75)) * n
        dist = np.arange(n, dtype=np.float32) - pos
        width = float(rng.uniform(0.6, 2.5))
        depth = float(rng.uniform(10, 45))
        side = float(rng.uniform(-12, 12))
        spread = float(rng.uniform(5, 40))
        shade = -depth * np.exp(-0.5 * (dist / width) ** 2) + side * np.tanh(dist / spread)
        image += shade[None, None, :] if vertical else shade[None, :, None]
        drawn.append({"vertical": float(vertical), "pos_px": pos, "depth": depth})
    return drawn


def _paint(image: np.ndarray, classes: np.ndarray, coverage: np.ndarray, y0: int, x0: int,
           rgb: tuple[int, int, int], opacity: float) -> None:
    """Composite a local coverage (h, w) float32 at (y0, x0), clipped to the image."""
    h, w = classes.shape
    ch, cw = coverage.shape
    ys, xs = max(y0, 0), max(x0, 0)
    ye, xe = min(y0 + ch, h), min(x0 + cw, w)
    if ye <= ys or xe <= xs:
        return
    cov = coverage[ys - y0:ye - y0, xs - x0:xe - x0]
    alpha = cov * np.float32(opacity)
    for channel in range(3):
        region = image[channel, ys:ye, xs:xe]
        region += (np.float32(rgb[channel]) - region) * alpha
    cls = classes[ys:ye, xs:xe]
    cls[(cov >= 0.5) & (cls != TRACE)] = TEXT


def stamps(image: np.ndarray, classes: np.ndarray, count: int, px_per_mm: float,
           rng: np.random.Generator) -> list[dict[str, object]]:
    """Rubber stamps: a rotated box or ellipse with a word, semi-transparent ink."""
    h, w = classes.shape
    drawn: list[dict[str, object]] = []
    for _ in range(count):
        word = _STAMP_WORDS[int(rng.integers(len(_STAMP_WORDS)))]
        size = int(rng.uniform(12, 22) * px_per_mm)
        canvas = np.zeros((size, 2 * size), np.uint8)
        thick = max(1, int(0.5 * px_per_mm))
        if rng.random() < 0.5:
            cv2.rectangle(canvas, (thick, thick), (2 * size - thick, size - thick), 255, thick,
                          cv2.LINE_AA)
        else:
            cv2.ellipse(canvas, (size, size // 2), (size - thick, size // 2 - thick), 0, 0, 360,
                        255, thick, cv2.LINE_AA)
        scale = 1.6 * size / 22.0 / max(len(word), 4) * 2.2
        (tw, th), _ = cv2.getTextSize(word, cv2.FONT_HERSHEY_DUPLEX, scale, thick)
        cv2.putText(canvas, word, ((2 * size - tw) // 2, (size + th) // 2),
                    cv2.FONT_HERSHEY_DUPLEX, scale, 255, thick, cv2.LINE_AA)
        angle = float(rng.uniform(-30, 30))
        rot = cv2.getRotationMatrix2D((size, size / 2), angle, 1.0)
        turned = cv2.warpAffine(canvas, rot, (2 * size, size))
        y0, x0 = int(rng.integers(0, max(h - size, 1))), int(rng.integers(0, max(w - 2 * size, 1)))
        rgb = _INKS[int(rng.integers(len(_INKS)))]
        opacity = float(rng.uniform(0.5, 0.9))
        _paint(image, classes, turned.astype(np.float32) / 255.0, y0, x0, rgb, opacity)
        drawn.append({"word": word, "box_px": [x0, y0, x0 + 2 * size, y0 + size],
                      "angle_deg": angle})
    return drawn


def handwriting(image: np.ndarray, classes: np.ndarray, count: int, px_per_mm: float,
                rng: np.random.Generator) -> list[dict[str, object]]:
    """Pen strokes: cursive-like loops (notes, signatures) and circles around parts."""
    h, w = classes.shape
    drawn: list[dict[str, object]] = []
    for _ in range(count):
        length = float(rng.uniform(15, 60)) * px_per_mm
        height = float(rng.uniform(2, 6)) * px_per_mm
        t = np.linspace(0, 1, 400)
        n_loops = float(rng.uniform(4, 14))
        xs = t * length + 0.35 * height * np.sin(2 * np.pi * n_loops * t + rng.uniform(0, 6))
        ys = (0.5 * height * np.sin(2 * np.pi * n_loops * t * rng.uniform(0.9, 1.1))
              * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
              + rng.uniform(-0.1, 0.1) * length * t)
        if rng.random() < 0.3:  # a circle or ellipse around something
            ang = np.linspace(0, 2 * np.pi * rng.uniform(1.0, 1.15), 400)
            xs = 0.5 * length * (1 + np.cos(ang))
            ys = 0.5 * height * 3 * np.sin(ang)
        pad = int(height * 2 + 4)
        ox, oy = float(-xs.min() + pad), float(-ys.min() + pad)
        cw, ch = int(xs.max() - xs.min() + 2 * pad), int(ys.max() - ys.min() + 2 * pad)
        canvas = np.zeros((ch, cw), np.uint8)
        pts = np.stack([(xs + ox) * 16, (ys + oy) * 16], axis=1).astype(np.int32)
        thick = max(1, round(rng.uniform(0.2, 0.6) * px_per_mm))
        cv2.polylines(canvas, [pts], False, 255, thick, cv2.LINE_AA, shift=4)
        y0, x0 = int(rng.integers(0, max(h - ch, 1))), int(rng.integers(0, max(w - cw, 1)))
        rgb = _INKS[int(rng.integers(len(_INKS)))]
        _paint(image, classes, canvas.astype(np.float32) / 255.0, y0, x0, rgb,
               float(rng.uniform(0.7, 1.0)))
        drawn.append({"box_px": [x0, y0, x0 + cw, y0 + ch]})
    return drawn
