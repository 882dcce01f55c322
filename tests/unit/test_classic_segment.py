"""pipeline.classic_segment: class maps from colour and darkness."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.classic_segment import classic_segment


def test_red_grid_black_trace() -> None:
    img = np.full((300, 400, 3), 255, np.uint8)
    for x in range(0, 400, 8):
        img[:, x] = (240, 150, 150)
    for y in range(0, 300, 8):
        img[y, :] = (240, 150, 150)
    pts = np.stack([np.arange(10, 390), 150 + 30 * np.sin(np.arange(10, 390) / 15)], 1)
    cv2.polylines(img, [pts.astype(np.int32)], False, (0, 0, 0), 2)
    m = classic_segment(img)
    assert m.probs.shape == (4, 300, 400) and m.scale == 1.0
    assert m.probs[3, int(150 + 30 * np.sin(200 / 15)), 200] > 0.9  # trace
    assert m.probs[1, 40, 8] > 0.9 and m.probs[3, 40, 8] < 0.1  # grid
    assert m.probs[0, 44, 44] > 0.9  # paper
    np.testing.assert_allclose(m.probs.sum(axis=0), 1.0, atol=1e-5)


def test_black_grid_lines_are_not_trace() -> None:
    img = np.full((300, 400, 3), 255, np.uint8)
    for x in range(0, 400, 40):
        img[:, x] = 0
    pts = np.stack([np.arange(400), 150 + 40 * np.sin(np.arange(400) / 20)], 1)
    cv2.polylines(img, [pts.astype(np.int32)], False, (0, 0, 0), 2)
    m = classic_segment(img)
    assert m.probs[3, 10, 40] < 0.5  # grid line far from the trace
    assert m.probs[1, 10, 40] > 0.5


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="uint8"):
        classic_segment(np.zeros((10, 10), np.float32))


def test_black_spike_along_a_grey_grid_line_stays_trace() -> None:
    img = np.full((300, 400, 3), 255, np.uint8)
    for x in range(0, 400, 40):
        img[:, x:x + 2] = 120  # grey major lines, as dark as a trace threshold
    pts = np.stack([np.arange(400), 150 + 10 * np.sin(np.arange(400) / 12)], 1)
    cv2.polylines(img, [pts.astype(np.int32)], False, (0, 0, 0), 2)  # a black trace ...
    img[90:150, 200:202] = 0  # ... with a spike running exactly along the line at x=200
    m = classic_segment(img)
    assert m.probs[3, 100, 200] > 0.5  # the spike is trace
    assert m.probs[3, 10, 200] < 0.5 and m.probs[1, 10, 200] > 0.5  # the line above it is grid


def test_strokes_stacked_across_rows_stay_trace() -> None:
    # 12x1 pages: the QRS strokes of neighbouring rows fall in the same columns and join
    # into one straight vertical run of a third of the page; grid lines span the page.
    img = np.full((600, 800, 3), 255, np.uint8)
    cv2.line(img, (400, 200), (400, 400), (0, 0, 0), 2)
    cv2.line(img, (100, 0), (100, 599), (0, 0, 0), 1)  # a black grid line
    maps = classic_segment(img)
    assert maps.probs[3][220:380, 400].min() > 0.5
    assert maps.probs[3][:, 100].max() < 0.5
