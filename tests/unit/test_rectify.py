"""pipeline.rectify: rotation from line families."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.rectify import estimate_angle, rectify_from_map, rotate_180, warp
from tests.unit.test_grid import grid_map


@pytest.mark.parametrize("angle", [-4.0, 0.0, 2.5, 9.0])
def test_rotation_found(angle: float) -> None:
    g = grid_map(800, 1100, 8.0)
    m = cv2.getRotationMatrix2D((550, 400), -angle, 1.0)
    rotated = cv2.warpAffine(g, m, (1100, 800))
    assert estimate_angle(rotated) == pytest.approx(angle, abs=0.15)


def test_identity_when_straight() -> None:
    g = grid_map(300, 400, 6.0)
    r = rectify_from_map(g)
    assert r.angle_deg == 0.0 and r.shape == (300, 400)
    assert warp(g, r) is g


def test_rotate_180_round_trip() -> None:
    img = np.arange(12 * 7, dtype=np.float32).reshape(12, 7)
    r = rotate_180(img.shape)
    once = warp(img, r, nearest=True)
    np.testing.assert_array_equal(once, img[::-1, ::-1])


@pytest.mark.parametrize("angle", [-3.47, -1.27, 2.0, 4.5])
def test_rotation_of_a_dense_black_grid(angle: float) -> None:
    # An A4 page at 200 dpi whose minor lines are as strong as the major ones (a black grid
    # on a scan): the coarse search runs at ~1.5 px per mm, where 1 mm lines alias into
    # moire unless blurred first (this read 6.69, 2.47, -3.88, -8.62 degrees).
    page = np.zeros((1654, 2339), np.float32)
    page[150:1500, 120:2220] = grid_map(1350, 2100, 7.874, minor=1.0)
    m = cv2.getRotationMatrix2D((1169, 827), -angle, 1.0)
    rotated = cv2.warpAffine(page, m, (2339, 1654))
    assert estimate_angle(rotated) == pytest.approx(angle, abs=0.15)
