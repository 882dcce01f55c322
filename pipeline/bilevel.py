"""Whether a page is a two-level picture: black ink on white and almost nothing between.

Scanners and fax machines in black-and-white mode, and archives that keep their pages as
1-bit TIFF, threshold the page: grid lines, dots and traces come out equally black, so the
colour rule (`pipeline.classic_segment.colour_rule`), which tells traces from grid by colour
and darkness, sees every piece of ink as trace. On such a page only the ink's shape tells
them apart, and the digitizer takes that from the segmentation network.
"""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.classic_segment import darkest_channel

#: Darkest channel below this (0-255) is ink.
INK_BELOW = 128
#: Mid-tones: darkest channel strictly between these (0-255). A JPEG's ringing about a
#: two-level picture's edges stays near black and white, outside the band; antialiasing
#: spreads an edge's pixels over it.
MID_TONES = (80, 176)
#: A page is two-level when it holds fewer mid-tone pixels than these shares of its ink
#: pixels and of all its pixels. Per ink pixel: thresholded scans of the bench, JPEG
#: compressed (q 40-95), held none; gridless clean renders (100-600 dpi, traces 0.1-0.5
#: mm), whose only ink is antialiased traces and text, 0.069-0.3; scans and clean pages
#: with grids more.
MAX_MID_TONE_PER_INK = 0.02
#: ... and of all pixels (a photo's dark background is ink to this test).
MAX_MID_TONE_SHARE = 0.005
#: Pixels looked at: every n-th row and column (about 230,000 of a 200-dpi page).
STEP = 4


def is_bilevel(image: np.ndarray) -> bool:
    """Whether an (H, W, 3) uint8 RGB page is two-level (see the module's doc); False for
    a page with no ink."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8; found {image.shape} {image.dtype}")
    darkest = darkest_channel(image[::STEP, ::STEP])
    counts = cv2.calcHist([darkest], [0], None, [256], [0, 256]).ravel()
    ink = float(counts[:INK_BELOW].sum())
    if ink == 0:
        return False
    lo, hi = MID_TONES
    mid = float(counts[lo + 1:hi].sum())
    return mid < MAX_MID_TONE_PER_INK * ink and mid < MAX_MID_TONE_SHARE * darkest.size
