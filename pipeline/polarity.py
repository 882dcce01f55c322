"""Pages drawn light on dark (a monitor's or an ECG viewer's screen) turned dark on light.

Every later stage measures ink as darker than the paper. A screenshot or photo of a
monitor draws bright traces and a dim grid on black: it is read as its negative, whose
traces are dark on a light ground (coloured ones are then told by their channels,
`pipeline.trace_colour`). A sheet of paper photographed on a dark desk is not such a page:
its light area is one wide region, not thin lines.
"""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.classic_segment import brightest_channel

#: The page is looked at reduced to this many pixels along its longer side.
SAMPLE_PX = 512
#: A light-on-dark page's ground: its median brightness (0-255) at most this.
DARK_GROUND = 90
#: ... its light pixels (Otsu's split of the brightness) at most this share of the page,
LIGHT_SHARE = 0.35
#: ... and thin: at most this share of them survive an opening of OPEN_PX a side.
THICK_SHARE = 0.25
OPEN_PX = 5


def is_light_on_dark(image: np.ndarray) -> bool:
    """Whether an (H, W, 3) uint8 RGB page draws light lines on a dark ground."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8; found {image.shape} {image.dtype}")
    # The ground first, from every n-th pixel (n about the longer side / SAMPLE_PX): most
    # pages are light, and end here.
    h, w = image.shape[:2]
    step = max(1, round(max(h, w) / SAMPLE_PX))
    if float(np.median(brightest_channel(image[::step, ::step]))) > DARK_GROUND:
        return False
    # Area-averaged, so thin lines stay in the picture.
    f = min(1.0, SAMPLE_PX / max(h, w))
    small = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))),
                       interpolation=cv2.INTER_AREA) if f < 1.0 else image
    value = brightest_channel(small)
    _, light = cv2.threshold(value, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    n_light = int(np.count_nonzero(light))
    if n_light == 0 or n_light > LIGHT_SHARE * light.size:
        return False
    thick = cv2.morphologyEx(light, cv2.MORPH_OPEN, np.ones((OPEN_PX, OPEN_PX), np.uint8))
    return int(np.count_nonzero(thick)) <= THICK_SHARE * n_light


def dark_on_light(image: np.ndarray) -> np.ndarray:
    """The page (H, W, 3) uint8 RGB as dark ink on a light ground: its negative when it is
    drawn light on dark (`is_light_on_dark`), else the page itself."""
    return cv2.bitwise_not(image) if is_light_on_dark(image) else image
