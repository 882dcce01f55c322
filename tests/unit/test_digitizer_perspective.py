"""pipeline.digitizer on photographed pages: perspective undone from the grid (real peers:
pipeline.synth renders the photo, pipeline.evaluate scores it)."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.digitizer import Digitizer
from pipeline.evaluate import score_record
from pipeline.synth import load_record, render_page, sample_spec
from tests.paths import ptbxl_record

RECORD = ptbxl_record("00009_hr")
needs_data = pytest.mark.skipif(not RECORD.with_suffix(".hea").exists(),
                                reason="PTB-XL sample records not available")


def render(seed: int, **overrides: object):
    """A clean 3x4+1 page photographed at an angle over a background; only the geometry
    is degraded, so what is measured is the rectification."""
    rng = np.random.default_rng(seed)
    signals, fs = load_record(str(RECORD))
    spec = sample_spec(rng, "clean", **{"layout": "3x4+1", "dpi": 200.0, "grid": "red",
                                        "grid_style": "lines", "calibration": "start",
                                        "mm_per_mv": 10.0, "orientation": "landscape",
                                        "trace_width_mm": 0.25, "header_mm": 0.0,
                                        **overrides})
    return render_page(signals, fs, spec, rng)


def mean_score(truth: np.ndarray, est: np.ndarray) -> float:
    scores = score_record(truth, est, 500.0)
    return float(np.mean([s["score_db"] for s in scores.values()]))


@pytest.fixture(scope="module")
def digitizer() -> Digitizer:
    return Digitizer(segmenter="classic")


@needs_data
@pytest.mark.parametrize("background", ["texture", "solid"])
def test_tilted_photo_is_read(digitizer: Digitizer, background: str) -> None:
    page = render(3, perspective_deg=25.0, rotation_deg=6.0, background=background)
    res = digitizer.digitize(page.image)
    assert res.layout == "3x4+1"
    score = mean_score(page.truth_uv, res.signals_uv)
    # A wrong time scale (cells not square, a keystone left) costs most of this.
    assert score > 8.0, f"mean SNR {score:.1f} dB on a {background} photo"


@needs_data
def test_photo_without_the_sheets_corners(digitizer: Digitizer) -> None:
    # The picture cut to its middle: no sheet outline to unwarp, only the grid tells the
    # perspective (the rotation-only reading scored about -1 dB here).
    page = render(3, perspective_deg=25.0, rotation_deg=6.0, background="solid")
    h, w = page.image.shape[:2]
    cut = np.ascontiguousarray(page.image[int(0.12 * h):int(0.88 * h),
                                          int(0.12 * w):int(0.88 * w)])
    res = digitizer.digitize(cut)
    assert res.layout == "3x4+1"
    score = mean_score(page.truth_uv, res.signals_uv)
    assert score > 8.0, f"mean SNR {score:.1f} dB without the sheet's corners"


def test_ink_at_a_sheets_edge_is_kept_and_the_background_blanked() -> None:
    from pipeline.digitizer import _blank_outside

    image = np.full((400, 600, 3), 90, np.uint8)  # a dark table ...
    image[100:300, 150:450] = 240  # ... under a sheet cut close to its pulses
    image[150:250, 152:154] = 0  # a pulse's upstroke 2 px inside the sheet's edge
    corners = np.array([[150.0, 100.0], [449.0, 100.0], [449.0, 299.0], [150.0, 299.0]])
    out = _blank_outside(image, corners)
    assert (out[150:250, 152:154] == 0).all()
    assert (out[:95] == 255).all() and (out[:, :145] == 255).all()
    assert (out[100:300, 155:445] == 240).all()
