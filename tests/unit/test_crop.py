"""pipeline.crop: the sheet in a photo (outline, and sides once straightened)."""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.crop import paper_outline, upright_sheet_box


def _desk(h: int = 900, w: int = 1300) -> np.ndarray:
    """A grey-blue desk with mild noise, (h, w, 3) uint8 (seeded)."""
    rng = np.random.default_rng(5)
    desk = np.empty((h, w, 3), np.float32)
    desk[:] = (70, 85, 110)
    desk += rng.normal(0, 4, desk.shape)
    return np.clip(desk, 0, 255).astype(np.uint8)


def _sheet_on_desk(box: tuple[int, int, int, int], shadow: float) -> np.ndarray:
    """An upright white sheet with grid lines at `box` (x0, y0, x1, y1) on a desk; its
    top-left quarter darkened by `shadow` (0..1), the desk too."""
    img = _desk().astype(np.float32)
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1] = (250, 245, 240)
    img[y0:y1:12, x0:x1] = (240, 160, 170)
    img[y0:y1, x0:x1:12] = (240, 160, 170)
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    dim = 1.0 - shadow * np.clip(1.0 - (xx / (0.6 * w) + yy / (0.6 * h)), 0, 1)
    return np.clip(img * dim[..., None], 0, 255).astype(np.uint8)


def test_upright_sheet_found_under_a_shadow() -> None:
    box = (210, 130, 1120, 780)
    got = upright_sheet_box(_sheet_on_desk(box, shadow=0.55))
    assert got is not None
    np.testing.assert_allclose(got, box, atol=4)


def test_sheet_filling_the_picture_has_no_box() -> None:
    page = np.full((700, 1000, 3), 250, np.uint8)
    page[::10] = (240, 150, 150)
    assert upright_sheet_box(page) is None


def test_outline_of_a_tilted_sheet() -> None:
    img = _desk()
    quad = np.array([[260, 150], [1100, 90], [1180, 760], [200, 820]], np.float64)
    cv2.fillConvexPoly(img, quad.astype(np.int32), (250, 248, 245))
    got = paper_outline(img)
    assert got is not None
    np.testing.assert_allclose(got, quad, atol=6)


def test_outline_of_a_sheet_filling_nine_tenths_of_a_large_picture() -> None:
    # Under max_cover (0.92) but near it, on a picture large enough for the strided
    # first look: that look must leave such a sheet to the full one.
    img = _desk(1800, 2400)
    quad = np.array([[70, 60], [2340, 40], [2350, 1750], [50, 1735]], np.float64)
    cv2.fillConvexPoly(img, quad.astype(np.int32), (250, 248, 245))
    assert 0.88 < cv2.contourArea(quad.astype(np.float32)) / (1800 * 2400) < 0.92
    got = paper_outline(img)
    assert got is not None
    np.testing.assert_allclose(got, quad, atol=10)


def _tilted_sheet_with_traces(quad: np.ndarray) -> np.ndarray:
    """A pink sheet at `quad` (4, 2) px on the desk, gridded, with four dark rows of
    traces across it."""
    img = _desk()
    sheet = np.zeros(img.shape[:2], np.uint8)
    cv2.fillConvexPoly(sheet, quad.astype(np.int32), 1)
    paper = np.full(img.shape, (248, 236, 236), np.uint8)
    paper[::12] = paper[:, ::12] = (235, 180, 185)
    img[sheet > 0] = paper[sheet > 0]
    x = np.arange(330, 1050)
    for row in range(4):
        y = 280 + 130 * row + 3 * np.sin(x / 9.0) - 0.05 * (x - 330)
        pts = np.stack([x, y], axis=1).round().astype(np.int32)
        cv2.polylines(img, [pts], False, (30, 30, 30), 2)
    return img


def test_outline_of_a_sheet_joined_by_pale_patches_of_the_desk() -> None:
    quad = np.array([[260, 150], [1100, 90], [1180, 760], [200, 820]], np.float64)
    img = _tilted_sheet_with_traces(quad)
    # Bright patches of an unevenly lit desk touching the sheet's edges: the bright
    # region is no longer four-cornered.
    for cx, cy, r in ((1180, 420, 110), (640, 850, 90), (120, 500, 100)):
        cv2.circle(img, (cx, cy), r, (212, 212, 208), -1)
    img[sheet_mask(img.shape, quad)] = _tilted_sheet_with_traces(quad)[
        sheet_mask(img.shape, quad)]
    got = paper_outline(img)
    assert got is not None
    np.testing.assert_allclose(got, quad, atol=8)


def sheet_mask(shape: tuple[int, ...], quad: np.ndarray) -> np.ndarray:
    """(H, W) bool inside quad (4, 2) px."""
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, quad.astype(np.int32), 1)
    return mask > 0


def test_rows_of_traces_on_a_page_filling_the_picture_make_no_outline() -> None:
    img = np.full((900, 1300, 3), 250, np.uint8)
    x = np.arange(100, 1200)
    for row in range(4):
        y = 200 + 160 * row + 20 * np.sin(x / 9.0)
        cv2.polylines(img, [np.stack([x, y], 1).round().astype(np.int32)], False,
                      (20, 20, 20), 3)
    assert paper_outline(img) is None


def test_signal_box_keeps_faint_thin_lines() -> None:
    from pipeline.crop import signal_box

    # One row: a solid line to x=600, then a faint thin one (probability 0.4, broken every
    # 30 px) to x=1000, as a 0.1 mm grey pen at 100 dpi comes out of the colour rule.
    prob = np.zeros((400, 1200), np.float32)
    prob[200:202, 100:600] = 0.9
    for x in range(600, 1000, 32):
        prob[200, x:x + 30] = 0.4
    x0, _y0, x1, _y1 = signal_box(prob, px_per_mm=4.0)
    assert x0 <= 100 and x1 >= 1000


def test_in_signal_region_is_the_map_times_the_region() -> None:
    from pipeline.crop import in_signal_region, signal_box

    rng = np.random.default_rng(3)
    prob = (rng.random((400, 1200)) * 0.2).astype(np.float32)  # speckle, no long trace
    prob[200:202, 100:900] = 0.9
    prob[20:24, 1150:1190] = 0.9  # a label, outside the box
    got = in_signal_region(prob, px_per_mm=4.0)
    assert got.dtype == prob.dtype and got.shape == prob.shape
    x0, y0, x1, y1 = signal_box(prob, px_per_mm=4.0)
    region = np.zeros_like(prob)
    region[y0:y1, x0:x1] = 1.0
    np.testing.assert_array_equal(got, prob * region)
    assert got[:y0].sum() == 0 and got[y1:].sum() == 0 and got[22, 1160] == 0
