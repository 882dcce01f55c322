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
