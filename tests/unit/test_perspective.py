"""pipeline.perspective: the homography that straightens a photographed grid."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.perspective import (
    _normaliser,
    grid_rectification,
    local_directions,
    page_turn,
    rectifying_homography,
    vanishing_point,
)
from tests.unit.test_grid import grid_map

PPM = 6.0
H_MM, W_MM = 170, 250


def _page() -> np.ndarray:
    return grid_map(int(H_MM * PPM), int(W_MM * PPM), PPM, minor=0.5)


def _photo(corners: list[list[float]], pad: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """The page warped so its corners land on `corners` (tl, tr, br, bl); returns (image,
    page -> image homography)."""
    g = _page()
    h, w = g.shape
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    hom = cv2.getPerspectiveTransform(src, np.float32(corners)).astype(np.float64)
    image = cv2.warpPerspective(g, hom, (w + pad, h + pad), flags=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(image, (0, 0), 0.7), hom  # a camera's blur


def _similarity_residual(hom: np.ndarray) -> tuple[float, float]:
    """(largest distance, px, of page points under `hom` from the best similarity fit,
    relative difference of the x and y scales): zero for a perfect rectification."""
    h, w = int(H_MM * PPM), int(W_MM * PPM)
    gx, gy = np.meshgrid(np.linspace(0, w, 9), np.linspace(0, h, 7))
    pts = np.stack([gx.ravel(), gy.ravel()], 1)
    out = cv2.perspectiveTransform(pts[None], hom)[0]
    fit, _ = cv2.estimateAffinePartial2D(pts.astype(np.float32), out.astype(np.float32))
    dev = float(np.abs(pts @ fit[:, :2].T + fit[:, 2] - out).max())
    full, _ = cv2.estimateAffine2D(pts.astype(np.float32), out.astype(np.float32))
    sx, sy = np.linalg.norm(full[:, 0]), np.linalg.norm(full[:, 1])
    return dev, abs(sx / sy - 1.0)


# Keystones of a sheet photographed 15-30 degrees off axis, turned, from either side.
CAMERAS = {
    "top-tilt": [[200, 150], [1600, 60], [1550, 1270], [120, 1140]],
    "side-tilt": [[150, 100], [1500, 220], [1480, 1080], [170, 1250]],
    "turned": [[300, 80], [1750, 260], [1620, 1300], [160, 1100]],
}


@pytest.mark.parametrize("camera", sorted(CAMERAS))
def test_recovers_known_homography(camera: str) -> None:
    image, truth = _photo(CAMERAS[camera])
    rect = grid_rectification(image)
    assert rect is not None
    dev, aspect = _similarity_residual(rect.matrix @ truth)
    # Within about 1 mm (6 px) anywhere on a 250 mm sheet; cells square within 1%.
    assert dev < 6.0, f"largest deviation from a similarity {dev:.1f} px"
    assert aspect < 0.01, f"x/y scale ratio off by {aspect:.2%}"
    # The output is the sheet (within 0.5% of its size), no less and not much more.
    corners = cv2.perspectiveTransform(
        np.float64([[[0, 0], [W_MM * PPM, 0], [W_MM * PPM, H_MM * PPM], [0, H_MM * PPM]]]),
        rect.matrix @ truth)[0]
    hh, ww = rect.shape
    tol = 0.005 * max(hh, ww)
    np.testing.assert_allclose(corners.min(axis=0), [0, 0], atol=tol)
    np.testing.assert_allclose(corners.max(axis=0), [ww - 1, hh - 1], atol=tol)


def test_square_on_page_is_left_alone() -> None:
    g = _page()
    m = cv2.getRotationMatrix2D((g.shape[1] / 2, g.shape[0] / 2), 3.0, 1.0)
    turned = cv2.warpAffine(g, m, (g.shape[1], g.shape[0]))
    assert grid_rectification(turned) is None  # a rotation is not a perspective


def test_page_turn_of_a_turned_page_and_of_a_photo() -> None:
    # The turn and square-on check the digitizer makes once (rectify then refines the
    # turn, and grid_rectification takes it instead of measuring again).
    g = _page()
    m = cv2.getRotationMatrix2D((g.shape[1] / 2, g.shape[0] / 2), 3.0, 1.0)
    turn, square_on = page_turn(cv2.warpAffine(g, m, (g.shape[1], g.shape[0])))
    assert square_on and turn == pytest.approx(-3.0, abs=0.05)  # the turn that undoes it
    image, _ = _photo(CAMERAS["side-tilt"])
    turn, square_on = page_turn(image)
    assert not square_on
    assert grid_rectification(image, turn=turn) is not None


def test_no_lines_gives_none() -> None:
    rng = np.random.default_rng(0)
    noise = (rng.random((600, 800)) > 0.97).astype(np.float32)
    assert grid_rectification(noise) is None
    assert grid_rectification(np.zeros((600, 800), np.float32)) is None


def test_one_line_family_is_no_grid() -> None:
    # Trace-like horizontal lines under a keystone, no vertical family: no grid to trust.
    page = np.zeros((1000, 1500), np.float32)
    page[100:900:40, 100:1400] = 1.0
    src = np.float32([[0, 0], [1500, 0], [1500, 1000], [0, 1000]])
    dst = np.float32([[200, 150], [1600, 60], [1550, 1270], [120, 1140]])
    hom = cv2.getPerspectiveTransform(src, dst)
    photo = cv2.GaussianBlur(cv2.warpPerspective(page, hom, (1900, 1400)), (0, 0), 0.7)
    assert grid_rectification(photo) is None


def test_local_directions_follow_a_rotation() -> None:
    g = grid_map(900, 1200, 6.0)
    m = cv2.getRotationMatrix2D((600, 450), -4.0, 1.0)  # lines turn +4 deg (y down)
    turned = cv2.warpAffine(g, m, (1200, 900))
    horiz, vert = local_directions(turned, tiles=3)
    assert len(horiz) >= 6 and len(vert) >= 6
    assert np.median([d.angle_deg for d in horiz]) == pytest.approx(4.0, abs=0.2)
    assert np.median([d.angle_deg for d in vert]) == pytest.approx(-4.0, abs=0.2)


@pytest.mark.parametrize("angle", [0.15, -0.3])
def test_local_directions_measure_small_turns(angle: float) -> None:
    # What the second pass measures on a nearly straightened photo: a turn of a few
    # tenths of a degree (a keystone's remainder), not rounded to zero.
    g = grid_map(900, 1200, 6.0)
    m = cv2.getRotationMatrix2D((600, 450), -angle, 1.0)
    turned = cv2.GaussianBlur(cv2.warpAffine(g, m, (1200, 900)), (0, 0), 0.7)
    horiz, vert = local_directions(turned, tiles=3, max_tilt=4.0)
    assert np.median([d.angle_deg for d in horiz]) == pytest.approx(angle, abs=0.04)
    assert np.median([d.angle_deg for d in vert]) == pytest.approx(-angle, abs=0.04)


def test_vanishing_point_of_converging_lines() -> None:
    # Lines through (2000, 300) px seen from points on a page of 800 x 600 px.
    from pipeline.perspective import LocalDirection

    vp = np.array([2000.0, 300.0])
    dirs = []
    for x, y in [(100, 100), (400, 150), (700, 120), (100, 500), (400, 450), (700, 520)]:
        d = vp - [x, y]
        dirs.append(LocalDirection(x, y, float(np.degrees(np.arctan2(d[1], d[0]))), 1.0))
    norm = _normaliser((600, 800))
    got = vanishing_point(dirs, False, norm)
    assert got is not None
    px = np.linalg.inv(norm) @ got
    np.testing.assert_allclose(px[:2] / px[2], vp, rtol=1e-3)


def test_rectifying_homography_sends_points_to_infinity() -> None:
    v_h, v_v = np.array([3.0, 0.2, 1.0]), np.array([0.1, -4.0, 1.0])
    hom = rectifying_homography(v_h, v_v)
    assert hom is not None
    for v, axis in ((v_h, 0), (v_v, 1)):
        out = hom @ v
        assert abs(out[2]) < 1e-9 * np.abs(out).max()
        assert abs(out[1 - axis]) < 1e-9 * np.abs(out).max()
    # Two coincident families are no grid.
    assert rectifying_homography(v_h, v_h * 2.0) is None


def test_bad_shape_raises() -> None:
    with pytest.raises(ValueError, match="must be"):
        grid_rectification(np.zeros((4, 5, 3), np.float32))
