"""Sideways pages: told from the trace map, turned a quarter before reading."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.digitizer import Digitizer
from pipeline.orientation import (
    is_better_turned,
    may_be_sideways,
    row_elongation,
    trace_share,
)
from pipeline.rectify import rotate_90
from pipeline.synth import load_record, render_page, sample_spec
from pipeline.types import DigitizeOptions
from tests.paths import ptbxl_record


def trace_map(rows: int = 4, height: int = 600, width: int = 900) -> np.ndarray:
    """(height, width) float32 trace probability of `rows` wavy lines across the map."""
    out = np.zeros((height, width), np.float32)
    x = np.arange(30, width - 30)
    for r in range(rows):
        y = (r + 1) * height / (rows + 1) + 20 * np.sin(x / 15.0) * (np.sin(x / 60.0) > 0.8)
        cv2.polylines(out, [np.stack([x, y], axis=1).astype(np.int32)], False, 1.0, 3)
    return out


def test_rows_across_are_elongated_and_rows_down_are_not() -> None:
    across = trace_map()
    down = np.ascontiguousarray(np.rot90(across))
    assert row_elongation(across) > 5.0
    assert row_elongation(down) < 0.2
    assert not may_be_sideways(across)
    assert may_be_sideways(down)


def test_a_map_without_pieces_gives_no_evidence() -> None:
    empty = np.zeros((300, 400), np.float32)
    assert row_elongation(empty) == 1.0
    assert trace_share(empty) == 0.0


def test_a_turn_must_show_rows_across_and_more_trace() -> None:
    # The network sees less of a sideways page's traces: here one row in four.
    down = np.ascontiguousarray(np.rot90(trace_map(rows=3)))
    across = trace_map(rows=4)
    assert is_better_turned(down, across)
    assert not is_better_turned(across, down)
    # Rows across once turned, but with a third of the trace: long grid or text lines
    # taken for trace on a turned photo.
    fewer = trace_map(rows=1)
    dense_down = np.ascontiguousarray(np.rot90(trace_map(rows=6)))
    assert not is_better_turned(dense_down, fewer)


def test_a_quarter_turn_maps_pixels_as_rot90_does() -> None:
    image = np.arange(12, dtype=np.float64).reshape(3, 4)
    turned = np.rot90(image)
    rect = rotate_90(image.shape)
    assert rect.shape == turned.shape
    for y in range(3):
        for x in range(4):
            u, v, _ = rect.matrix @ np.array([x, y, 1.0])
            assert turned[round(v), round(u)] == image[y, x]


@pytest.mark.slow
def test_a_page_turned_clockwise_reads_as_the_page() -> None:
    # A landscape page scanned on a portrait sheet: a quarter turn counter-clockwise
    # brings it upright, and it reads exactly as the upright page.
    signals, fs = load_record(ptbxl_record("00009_hr"))
    rng = np.random.default_rng(3)
    spec = sample_spec(rng, "clean", layout="3x4+1", dpi=150.0)
    page = render_page(signals, fs, spec, rng).image
    sideways = np.ascontiguousarray(np.rot90(page, 3))
    digitizer = Digitizer(DigitizeOptions(device="cpu"))
    upright = digitizer.digitize(page)
    read = digitizer.digitize(sideways)
    assert read.layout == upright.layout
    np.testing.assert_array_equal(read.signals_uv, upright.signals_uv)
    assert read.rotation_deg == pytest.approx(upright.rotation_deg + 90.0)
    # The geometry maps the sideways picture's pixels onto the upright page's.
    assert read.geometry is not None and upright.geometry is not None
    np.testing.assert_allclose(read.geometry.matrix,
                               upright.geometry.matrix @ rotate_90(sideways.shape[:2]).matrix)


@pytest.mark.slow
def test_a_batch_read_by_worker_processes_turns_its_sideways_page() -> None:
    # The parent segments the batch and its sideways page again, turned; the quarter turn
    # travels with the page to the reading process.
    signals, fs = load_record(ptbxl_record("00009_hr"))
    rng = np.random.default_rng(3)
    page = render_page(signals, fs, sample_spec(rng, "clean", layout="3x4+1", dpi=150.0),
                       rng).image
    sideways = np.ascontiguousarray(np.rot90(page, 3))
    with Digitizer(DigitizeOptions(device="cpu", workers=2, batch_size=2)) as digitizer:
        upright, read = digitizer.digitize_batch([page, sideways])
    assert not isinstance(upright, Exception) and not isinstance(read, Exception)
    np.testing.assert_array_equal(read.signals_uv, upright.signals_uv)
    assert read.rotation_deg == pytest.approx(upright.rotation_deg + 90.0)
