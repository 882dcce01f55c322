"""Light-on-dark pages (a monitor's screen) are read as their negatives."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.digitizer import Digitizer
from pipeline.polarity import dark_on_light, is_light_on_dark
from pipeline.synth import load_record, render_page, sample_spec
from pipeline.types import DigitizeOptions
from tests.paths import ptbxl_record


def monitor_screen(width: int = 1600, height: int = 1000) -> np.ndarray:
    """(height, width, 3) uint8: a black screen with a dim green 5 mm grid (every 40 px)
    and three rows of a bright green 2 px trace."""
    image = np.zeros((height, width, 3), np.uint8)
    image[::40, :] = (0, 70, 0)
    image[:, ::40] = (0, 70, 0)
    x = np.arange(40, width - 40)
    for row in range(3):
        y = 200 + 300 * row + 60 * np.sin(x / 12.0) * (np.sin(x / 50.0) > 0.7)
        points = np.stack([x, y], axis=1).astype(np.int32)
        cv2.polylines(image, [points], False, (40, 255, 40), 2, cv2.LINE_AA)
    return image


def test_a_monitor_screen_is_light_on_dark_and_its_negative_is_not() -> None:
    screen = monitor_screen()
    assert is_light_on_dark(screen)
    negative = dark_on_light(screen)
    assert np.array_equal(negative, 255 - screen)
    assert not is_light_on_dark(negative)


def test_a_sheet_photographed_on_a_dark_desk_is_not_turned() -> None:
    # The light area is one wide region (the sheet), under half of the picture.
    picture = np.full((1000, 1600, 3), 30, np.uint8)
    picture[300:900, 500:1300] = (235, 235, 230)
    picture[400:800:20, 520:1280] = (20, 20, 20)
    assert not is_light_on_dark(picture)
    assert dark_on_light(picture) is picture


def test_a_dim_paper_page_is_not_turned() -> None:
    # Underexposed paper: its ground is dark, but the ink is darker still.
    page = np.full((800, 1200, 3), 80, np.uint8)
    page[100:700:25, 50:1150] = (15, 15, 15)
    assert not is_light_on_dark(page)


def test_polarity_refuses_what_is_not_an_rgb_page() -> None:
    with pytest.raises(ValueError, match="uint8"):
        is_light_on_dark(np.zeros((100, 100), np.uint8))


@pytest.mark.slow
def test_the_negative_of_a_page_reads_as_the_page() -> None:
    signals, fs = load_record(ptbxl_record("00009_hr"))
    rng = np.random.default_rng(12)
    spec = sample_spec(rng, "clean", layout="3x4+1", dpi=150.0, grid="grey",
                       trace_rgb=(255, 0, 255))
    page = render_page(signals, fs, spec, rng).image
    digitizer = Digitizer(DigitizeOptions(device="cpu"))
    read = digitizer.digitize(page)
    negative = digitizer.digitize(255 - page)  # green traces on black, a dark grey grid
    assert negative.layout == read.layout
    np.testing.assert_array_equal(negative.signals_uv, read.signals_uv)
