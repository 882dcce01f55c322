"""pipeline.rectify: rotation from line families."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.rectify import (
    _climb,
    _refine,
    _sharpness,
    _spectral_sharpness,
    estimate_angle,
    rectify_from_map,
    rotate_180,
    warp,
)
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


def _turned_grid(angle: float) -> np.ndarray:
    """(300, 420) blurred grid map turned by `angle` deg, filling the canvas edge to edge."""
    g = cv2.GaussianBlur(grid_map(600, 840, 9.0), (0, 0), 1.0)
    m = cv2.getRotationMatrix2D((420, 300), -angle, 1.0)
    return np.ascontiguousarray(cv2.warpAffine(g, m, (840, 600))[150:450, 210:630])


ANGLES = np.arange(-20.0, 20.0 + 1e-9, 0.25)


@pytest.mark.parametrize("angle", [-13.0, -2.5, 0.0, 6.25, 17.5])
def test_spectral_sharpness_peaks_where_turning_does(angle: float) -> None:
    # The coarse search scores angles from one power spectrum; its best angle must be the
    # one a warp per angle finds (a sign slip would mirror it).
    rotated = _turned_grid(angle)
    spectral = ANGLES[int(np.argmax(_spectral_sharpness(rotated, ANGLES)))]
    warped = ANGLES[int(np.argmax([_sharpness(rotated, a) for a in ANGLES]))]
    assert spectral == warped == pytest.approx(angle, abs=0.25)


@pytest.mark.parametrize("angle", [-13.0, 6.25, 17.5])
def test_spectral_sharpness_ignores_the_maps_edges(angle: float) -> None:
    # A faint grid over a level of 0.5 (paper texture in a probability map): the map's own
    # box has a strong spectrum along the axes, which must not pull the peak to 0 degrees.
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.random((300, 420)).astype(np.float32), (0, 0), 1.5)
    faint = 0.2 * _turned_grid(angle) + 0.5 + 0.3 * texture
    spectral = ANGLES[int(np.argmax(_spectral_sharpness(faint, ANGLES)))]
    assert spectral == pytest.approx(angle, abs=0.25)


def test_refining_near_a_known_angle_agrees_with_the_full_search() -> None:
    g = grid_map(800, 1100, 8.0)
    m = cv2.getRotationMatrix2D((550, 400), 3.3, 1.0)
    rotated = cv2.warpAffine(g, m, (1100, 800))
    full = estimate_angle(rotated)
    assert estimate_angle(rotated, near=full + 0.15) == pytest.approx(full, abs=1e-9)


@pytest.mark.parametrize(("angle", "offset"), [(0.0, 0.04), (0.37, -0.1), (-1.13, 0.07),
                                               (2.21, 0.1), (-4.02, -0.03)])
def test_climbing_stops_where_the_full_refinement_does(angle: float, offset: float) -> None:
    # A page seen square-on: started within 0.1 degree, the climb and the search of every
    # step of the range find the same angle (at 900 px, as estimate_angle measures).
    g = grid_map(700, 900, 7.9)
    m = cv2.getRotationMatrix2D((450, 350), angle, 1.0)
    rotated = cv2.warpAffine(g, m, (900, 700))
    start = -angle + offset
    full = _refine(rotated, start, ((0.05, 2), (0.01, 5)))
    assert _climb(rotated, start, 2) == pytest.approx(full, abs=1e-9)
    assert _climb(rotated, start, 2) == pytest.approx(-angle, abs=0.02)


def test_sharpness_unturned_is_the_warped_maps() -> None:
    # At 0 degrees the map is measured as it is: the same as warping it by the identity.
    rng = np.random.default_rng(5)
    small = rng.random((91, 130)).astype(np.float32)
    m = cv2.getRotationMatrix2D((65.0, 45.5), 0.0, 1.0)
    rot = cv2.warpAffine(small, m, (130, 91), flags=cv2.INTER_LINEAR)
    rows, cols = rot.sum(axis=1), rot.sum(axis=0)
    assert _sharpness(small, 0.0) == float(np.square(np.diff(rows)).sum()
                                           + np.square(np.diff(cols)).sum())



def test_the_coarse_searchs_peaks_are_checked_on_the_search_map() -> None:
    """Moire on the half-size map may score a wrong angle highest (kit brown grid turned 3
    degrees: 1.5 scored 1.0, 3 scored 0.69); of the highest peaks, the one sharpest on
    the search map is taken."""
    from pipeline.rectify import _search_map, _sharpest_peak

    g = grid_map(800, 1100, 8.0)
    small = _search_map(cv2.warpAffine(g, cv2.getRotationMatrix2D((550, 400), 3.0, 1.0),
                                       (1100, 800)))
    angles = np.arange(-5.0, 5.01, 0.25)
    moire = np.exp(-(((angles + 1.5) / 0.3) ** 2))
    turn = np.exp(-(((angles + 3.0) / 0.3) ** 2))
    assert _sharpest_peak(small, angles, moire + 0.69 * turn) == -3.0
    # A peak under half the best is not looked at.
    assert _sharpest_peak(small, angles, moire + 0.4 * turn) == -1.5
