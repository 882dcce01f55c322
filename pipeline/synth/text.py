"""Text ink (lead labels, header, footer) drawn into a coverage layer.

Uses a TrueType/OpenType font through Pillow when `font` names a file that exists here,
else OpenCV's Hershey simplex font. Heights are cap heights in px.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Cap height as a fraction of the font size (em), typical of sans and serif faces.
_CAP_PER_EM = 0.72


class TextLayer:
    """A (H, W) uint8 coverage layer that text is drawn into.

    Fonts are cached per instance (no module state). `bbox` values are
    (x0, y0, x1, y1) px of the drawn ink, in image coordinates.
    """

    def __init__(self, shape: tuple[int, int], font: str) -> None:
        self.shape = shape
        self._image = Image.new("L", (shape[1], shape[0]), 0)
        self._draw = ImageDraw.Draw(self._image)
        self._font_path = font if font and Path(font).is_file() else ""
        self._fonts: dict[int, ImageFont.FreeTypeFont] = {}
        self._hershey = np.zeros(shape, dtype=np.uint8) if not self._font_path else None

    @property
    def font_used(self) -> str:
        """Font file actually used ("" for Hershey)."""
        return self._font_path

    def _font(self, size: int) -> ImageFont.FreeTypeFont:
        if size not in self._fonts:
            self._fonts[size] = ImageFont.truetype(self._font_path, size)
        return self._fonts[size]

    def text(self, text: str, x: float, y_bottom: float, cap_px: float,
             anchor: str = "left") -> tuple[float, float, float, float]:
        """Draw `text` with its baseline at `y_bottom`, starting (or ending, anchor="right")
        at x. Returns the ink box (x0, y0, x1, y1) px."""
        cap_px = max(cap_px, 4.0)
        if self._hershey is None:
            font = self._font(max(round(cap_px / _CAP_PER_EM), 4))
            pil_anchor = "ls" if anchor == "left" else "rs"
            box = self._draw.textbbox((x, y_bottom), text, font=font, anchor=pil_anchor)
            self._draw.text((x, y_bottom), text, fill=255, font=font, anchor=pil_anchor)
            return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
        scale = cap_px / 22.0
        thickness = max(1, round(cap_px / 12.0))
        (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        x0 = x if anchor == "left" else x - width
        cv2.putText(self._hershey, text, (round(x0), round(y_bottom)),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thickness, cv2.LINE_AA)
        return (float(x0), float(y_bottom - height), float(x0 + width), float(y_bottom))

    def coverage_u8(self) -> np.ndarray:
        """(H, W) uint8 coverage, 255 = full ink."""
        return self._hershey if self._hershey is not None else np.asarray(self._image)
