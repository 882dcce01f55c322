"""pipeline.digitizer's turn of a page the perspective stage found no grid on."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.digitizer import _turn_of_unsure_grid
from pipeline.rectify import rectify_from_map

H, W = 800, 1200


def _rows_of_traces() -> np.ndarray:
    """(H, W) trace map: four level wavy lines, 2 px thick."""
    out = np.zeros((H, W), np.float32)
    x = np.arange(100, 1100)
    for y0 in (250, 400, 550, 700):
        y = (y0 + 8 * np.sin(x / 15.0)).astype(int)
        for dy in (0, 1):
            out[y + dy, x] = 1.0
    return out


def _slanted_strokes() -> np.ndarray:
    """(H, W) grid map of a gridless page: three thick lines 0.8 degree off level at
    irregular heights (a stamp's frame, a fold: what a grid map takes in), no grid."""
    out = np.zeros((H, W), np.uint8)
    rise = round(W * np.tan(np.radians(0.8)))
    for y in (60, 97, 190):
        cv2.line(out, (0, y + rise), (W - 1, y), 1, 8)
    return out.astype(np.float32)


def test_a_gridless_page_is_turned_by_its_traces_not_its_other_ink() -> None:
    trace_p, grid_p = _rows_of_traces(), _slanted_strokes()
    assert float(grid_p.mean()) > 0.02  # taken for a grid map by its mass
    assert abs(rectify_from_map(grid_p).angle_deg) > 0.5  # the strokes alone turn the page
    assert abs(_turn_of_unsure_grid(trace_p, grid_p).angle_deg) < 0.1


def test_a_turned_grid_turns_the_page() -> None:
    grid = np.zeros((H, W), np.float32)
    grid[::8, :] = 1.0
    grid[:, ::8] = 1.0
    grid[::40, :] = grid[:, ::40] = 1.0
    turn = cv2.getRotationMatrix2D((W / 2, H / 2), 1.5, 1.0)
    grid = cv2.warpAffine(grid, turn, (W, H), flags=cv2.INTER_LINEAR)
    rect = _turn_of_unsure_grid(_rows_of_traces(), grid)
    assert rect.angle_deg == pytest.approx(-1.5, abs=0.1)
