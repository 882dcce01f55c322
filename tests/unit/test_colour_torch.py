"""pipeline.colour_torch: the colour rule in torch agrees with classic_segment's (OpenCV)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from pipeline.classic_segment import _long_straight_lines, colour_rule
from pipeline.colour_torch import _long_straight_lines as long_lines_torch
from pipeline.colour_torch import area_weights, colour_rule_on, colour_rule_tensor

CPU = torch.device("cpu")


@pytest.mark.parametrize("shape", [(1700, 2200, 283, 366), (101, 90, 17, 15), (64, 64, 16, 16)])
def test_area_weights_shrink_as_opencv_area_resize(shape: tuple[int, int, int, int]) -> None:
    h, w, hs, ws = shape
    x = np.random.default_rng(0).random((h, w)).astype(np.float32)
    expected = cv2.resize(x, (ws, hs), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(area_weights(h, hs) @ x @ area_weights(w, ws).T, expected,
                               atol=1e-5)


def test_long_straight_lines_equal_opencvs() -> None:
    # Lines of even and odd lengths, touching the edges, crossed by strokes.
    rng = np.random.default_rng(1)
    for _ in range(20):
        h, w = (int(n) for n in rng.integers(20, 120, 2))
        ink = rng.random((h, w)) < 0.02
        for y in rng.integers(0, h, 3):
            x0 = int(rng.integers(0, w // 2))
            ink[y, x0:x0 + int(rng.integers(w // 6, w))] = True
        for x in rng.integers(0, w, 2):
            ink[int(rng.integers(0, h // 3)):, x] = True
        expected = _long_straight_lines(ink) > 0
        got = long_lines_torch(torch.from_numpy(ink)).numpy()
        np.testing.assert_array_equal(got, expected)


def page_with(grid_colour: tuple[int, int, int]) -> np.ndarray:
    img = np.full((410, 630, 3), 250, np.uint8)
    img[:, ::8] = grid_colour
    img[::8, :] = grid_colour
    xs = np.arange(630)
    pts = np.stack([xs, 200 + 60 * np.sin(xs / 17)], 1).astype(np.int32)
    cv2.polylines(img, [pts], False, (10, 10, 10), 2)
    img[:, :, 1] = np.clip(img[:, :, 1].astype(int) - np.arange(630) // 20, 0, 255)  # tint
    return img


@pytest.mark.parametrize("grid_colour", [(240, 150, 150), (90, 90, 90)])
def test_colour_rule_matches_opencvs(grid_colour: tuple[int, int, int]) -> None:
    img = page_with(grid_colour)
    expected = colour_rule(img)
    got = colour_rule_tensor(torch.from_numpy(img))
    for name, tensor in zip(("dark_v", "trace", "grid"), got):
        np.testing.assert_allclose(tensor.numpy(), getattr(expected, name), atol=1e-4,
                                   err_msg=name)


def test_maps_come_back_as_float32_arrays() -> None:
    page = page_with((240, 150, 150))[:300]
    maps = colour_rule_on(page, CPU)
    assert all(m.dtype == np.float32 and m.shape == (300, 630)
               for m in (maps.dark_v, maps.trace, maps.grid))
    np.testing.assert_allclose(maps.grid, colour_rule(page).grid, atol=1e-4)
