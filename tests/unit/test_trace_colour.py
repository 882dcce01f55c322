"""The trace's colour channels, learned from where the network sees traces."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.classic_segment import ALL_CHANNELS, colour_rule
from pipeline.digitizer import Digitizer
from pipeline.evaluate import score_record
from pipeline.synth import load_record, render_page, sample_spec
from pipeline.trace_colour import trace_channels
from pipeline.types import DigitizeOptions
from tests.paths import ptbxl_record

RED_GRID = (230, 60, 60)


def gridded_page(trace_rgb: tuple[int, int, int], grid_rgb: tuple[int, int, int] = RED_GRID
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(600, 900, 3) uint8 white page with 1 mm (8 px) grid lines over it all, three rows
    of a 2 px wavy trace in trace_rgb, header text in black; and the (600, 900) uint8 gate
    a network would give: the traces' bands."""
    image = np.full((600, 900, 3), 255, np.uint8)
    image[::8, :] = grid_rgb
    image[:, ::8] = grid_rgb
    gate = np.zeros((600, 900), np.uint8)
    x = np.arange(60, 880)
    for row, y0 in enumerate((200, 330, 460)):
        y = y0 + 25 * np.sin(x / (9.0 + row)) * (np.sin(x / 40.0) > 0.6)
        points = np.stack([x, y], axis=1).astype(np.int32)
        cv2.polylines(image, [points], False, trace_rgb, 2, cv2.LINE_AA)
        cv2.polylines(gate, [points], False, 1, 31)
    cv2.putText(image, "PATIENT 12 LEAD 25 mm/s 10 mm/mV", (40, 60),
                cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 3)
    return image, gate


@pytest.mark.parametrize(("trace_rgb", "expected"), [
    ((0, 0, 0), ALL_CHANNELS),
    ((20, 20, 90), ALL_CHANNELS),  # dark navy: dark in every channel
    ((0, 0, 179), (0, 1)),  # saturated blue: light in blue
    ((31, 119, 180), (0,)),  # matplotlib's default blue: dark in red alone
    ((0, 128, 0), (0, 2)),  # green
])
def test_the_channels_are_those_that_set_the_trace_apart_from_the_grid(
        trace_rgb: tuple[int, int, int], expected: tuple[int, ...]) -> None:
    image, gate = gridded_page(trace_rgb)
    assert trace_channels(image, gate) == expected


def test_a_blue_trace_on_a_grey_grid_is_told_by_its_red_channel() -> None:
    image, gate = gridded_page((31, 119, 180), grid_rgb=(150, 150, 150))
    assert trace_channels(image, gate) == (0,)


def test_the_colour_rule_reads_a_blue_trace_in_its_channels() -> None:
    image, gate = gridded_page((31, 119, 180))
    row = np.zeros(gate.shape, bool)
    row[150:250, 60:880] = True
    trace_ink = row & (gate > 0) & (image[..., 0] < 100)  # the trace's own pixels
    default = colour_rule(image).trace
    coloured = colour_rule(image, trace_channels(image, gate)).trace
    assert float(np.median(default[trace_ink])) < 0.5
    assert float(np.median(coloured[trace_ink])) > 0.9
    grid_only = (image == RED_GRID).all(axis=2) & ~(gate > 0)
    assert float(coloured[grid_only].max()) < 0.1


def test_a_gate_over_the_whole_page_keeps_all_channels() -> None:
    image, _ = gridded_page((31, 119, 180))
    assert trace_channels(image, np.ones(image.shape[:2], np.uint8)) == ALL_CHANNELS


def test_a_gate_of_another_shape_is_refused() -> None:
    image, gate = gridded_page((0, 0, 0))
    with pytest.raises(ValueError, match="gate"):
        trace_channels(image, gate[:-1])


def test_colour_rule_refuses_unknown_channels() -> None:
    image, _ = gridded_page((0, 0, 0))
    with pytest.raises(ValueError, match="channels"):
        colour_rule(image, (3,))


@pytest.mark.slow
def test_a_page_drawn_in_matplotlib_blue_is_read() -> None:
    # Blue ink is light in its brightest channel (darkness 0.29): with black header text
    # setting the page's ink level, the colour rule took it for grid, and a page like
    # this one was refused ("no ink line is longer than 12 mm").
    signals, fs = load_record(ptbxl_record("00009_hr"))
    rng = np.random.default_rng(11)
    spec = sample_spec(rng, "clean", layout="3x4+1", dpi=200.0, grid="red", mm_per_mv=10.0,
                       header_mm=30.0, trace_rgb=(31, 119, 180))
    page = render_page(signals, fs, spec, rng)
    result = Digitizer(DigitizeOptions(device="cpu")).digitize(page.image)
    scores = score_record(page.truth_uv, result.signals_uv, 500.0)
    assert np.mean([s["score_db"] for s in scores.values()]) > 15.0
