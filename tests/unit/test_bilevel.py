"""pipeline.bilevel and the digitizer's reading of two-level (thresholded) pages."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.bilevel import is_bilevel
from pipeline.classic_segment import colour_rule
from pipeline.digitizer import Digitizer
from pipeline.line_maps import network_pieces
from pipeline.synth import RenderedPage, load_record, render_page, sample_spec
from pipeline.types import DigitizeOptions
from tests.paths import ptbxl_record


def _page(grid: str = "red", trace_width_mm: float = 0.2) -> RenderedPage:
    """A clean 3x4+1 page at 200 dpi of record 00009_hr."""
    rng = np.random.default_rng(6)
    signals, fs = load_record(ptbxl_record("00009_hr"))
    spec = sample_spec(rng, "clean", layout="3x4+1", dpi=200.0, grid=grid,
                       trace_width_mm=trace_width_mm)
    return render_page(signals, fs, spec, rng)


def _thresholded(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: black where the grey level is under Otsu's threshold, else white."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    _, binary = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return np.repeat(binary[..., None], 3, axis=2)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def test_thresholded_pages_are_two_level_and_others_not() -> None:
    page = _page()
    binary = _thresholded(page.image)
    assert not is_bilevel(page.image)  # antialiased lines on a red grid
    assert is_bilevel(binary)
    assert is_bilevel(_jpeg(binary, 60))  # the ringing about the edges is not grey ink
    assert not is_bilevel(_jpeg(page.image, 60))
    assert not is_bilevel(np.full((300, 400, 3), 255, np.uint8))  # no ink at all
    # Gridless, its only ink thick antialiased traces and text: few mid-tones, but some.
    assert not is_bilevel(_page(grid="none", trace_width_mm=0.5).image)
    with pytest.raises(ValueError, match="uint8"):
        is_bilevel(np.zeros((30, 40), np.uint8))


def test_a_two_level_pages_trace_map_keeps_the_pieces_the_network_sees() -> None:
    # Black grid dots and a black trace: the colour rule calls both trace. Given the
    # network's map (trace near the sine only), the dots leave the trace map, even those
    # the network's coarse map reaches (their pieces hold no trace), and the trace stays
    # whole, where the network's map misses stretches of it too.
    img = np.full((300, 400, 3), 255, np.uint8)
    img[4::8, 4::8] = 0  # a dot every 8 px
    x = np.arange(20, 380)
    pts = np.stack([x, 150 + 40 * np.sin(x / 20)], 1).round().astype(np.int32)
    cv2.polylines(img, [pts], False, (0, 0, 0), 2)
    net = np.zeros((300, 400), np.float32)
    cv2.polylines(net, [pts[:150]], False, 1.0, 7)  # blind to the rest of the trace
    maps = colour_rule(img)
    gate = np.ones((300, 400), np.uint8)
    trace = network_pieces(maps.trace, gate, net)
    dots = np.zeros((300, 400), bool)
    dots[4::8, 4::8] = True
    apart = dots & (cv2.dilate((trace > 0.5).view(np.uint8), np.ones((5, 5), np.uint8)) == 0)
    assert np.count_nonzero(apart) > 1000
    assert maps.trace[apart].min() > 0.5  # the colour rule's trace
    assert trace[apart].max() < 0.5
    assert min(trace[y - 1:y + 2, xx].max() for xx, y in pts[5:-5]) > 0.5
    nothing = network_pieces(maps.trace, gate, np.zeros_like(net))
    assert not nothing.any()


@pytest.mark.slow
def test_a_thresholded_jpeg_scan_is_turned_by_its_ink() -> None:
    # The colour rule's grid map of such a page holds the JPEG's ringing about the edges,
    # which runs along its 8 px blocks: this page, turned by -0.32 degree, was read as
    # straight, its rows drifting 12 px across it (and a page like it upside down).
    signals, fs = load_record(ptbxl_record("00009_hr"))
    spec = sample_spec(
        np.random.default_rng(0), "scan", layout="3x4+1", dpi=200.0, paper="a4", grid="red",
        grid_style="dots", grid_minor_alpha=0.69, grid_major_alpha=0.57,
        grid_minor_width_mm=0.127, grid_major_width_mm=0.318, trace_width_mm=0.167,
        calibration="none", rotation_deg=-0.32, blur_sigma_px=0.63, noise_sigma=1.7,
        binarize=True, jpeg_quality=82, perspective_deg=0.0, shadow=0.0, glare=0.0,
        motion_blur_px=0.0, background="none")
    page = render_page(signals, fs, spec, np.random.default_rng(2))
    assert is_bilevel(page.image)
    result = Digitizer(DigitizeOptions(device="cpu")).digitize(page.image)
    assert result.rotation_deg == pytest.approx(-0.32, abs=0.05)
