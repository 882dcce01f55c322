"""Pages with no grid and no calibration pulse: px/mm from the picture's paper size."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.digitizer import Digitizer
from pipeline.synth import load_record, render_page, sample_spec
from pipeline.types import DigitizeOptions
from tests.paths import ptbxl_record


@pytest.mark.slow
def test_a_gridless_portrait_page_without_pulses_is_scaled_by_its_paper() -> None:
    # A4 portrait at 150 dpi: the rows show 3x4's columns shorter than 2.5 s, so rows
    # read as 10 s would say about 60 % of the true px/mm.
    signals, fs = load_record(ptbxl_record("00009_hr"))
    rng = np.random.default_rng(5)
    spec = sample_spec(rng, "clean", layout="3x4+1", dpi=150.0, paper="a4",
                       orientation="portrait", grid="none", calibration="none")
    page = render_page(signals, fs, spec, rng)
    assert page.image.shape[:2] == (round(297 / 25.4 * 150), round(210 / 25.4 * 150))
    result = Digitizer(DigitizeOptions(device="cpu"), segmenter="classic").digitize(
        page.image)
    assert result.px_per_mm == pytest.approx(page.px_per_mm, rel=0.005)
    assert "paper_size" in result.assumed


@pytest.mark.slow
def test_a_gridless_page_whose_ink_repeats_weakly_is_scaled_by_its_pulses() -> None:
    # Its trace fringes and text once passed for a grid of 9.95 px/mm (the page's is 7.87).
    signals, fs = load_record(ptbxl_record("00009_hr"))
    rng = np.random.default_rng(5)
    spec = sample_spec(rng, "clean", layout="3x4+1", dpi=200.0, grid="none")
    page = render_page(signals, fs, spec, rng)
    result = Digitizer(DigitizeOptions(device="cpu")).digitize(page.image)
    assert result.px_per_mm == pytest.approx(page.px_per_mm, rel=0.005)
    assert (result.mm_per_mv, result.mm_per_s) == (10.0, 25.0)
    assert "px_per_mm" in result.assumed
