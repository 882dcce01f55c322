"""Pages with no grid and no calibration pulse: px/mm from the picture's paper size."""
from __future__ import annotations

import numpy as np
import pytest

import pipeline.digitizer as digitizer_module
from pipeline.classic_segment import colour_rule
from pipeline.digitizer import MIN_GRID_INK_SHARE, Digitizer, _grid_ink_share
from pipeline.synth import RenderedPage, load_record, render_page, sample_spec
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


def _page(grid: str) -> RenderedPage:
    """A clean 3x4+1 page at 200 dpi of record 00009_hr with the given grid colour."""
    rng = np.random.default_rng(5)
    signals, fs = load_record(ptbxl_record("00009_hr"))
    spec = sample_spec(rng, "clean", layout="3x4+1", dpi=200.0, grid=grid)
    return render_page(signals, fs, spec, rng)


@pytest.mark.parametrize("grid, has_grid", [("none", False), ("pink", True), ("grey", True)])
def test_grid_ink_away_from_the_traces_tells_a_grid(grid: str, has_grid: bool) -> None:
    maps = colour_rule(_page(grid).image)
    share = _grid_ink_share(maps.grid, maps.trace)
    assert (share >= MIN_GRID_INK_SHARE) == has_grid, f"{grid}: {share:.4f}"


@pytest.mark.slow
def test_a_gridless_page_is_not_searched_for_a_grids_perspective(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A gridless page is never seen square-on (no lines in its quarters); the search for
    # its grid's vanishing points then cost about 0.4 s and found nothing.
    page = _page("none")
    turns: list[tuple[float, bool]] = []
    real_turn = digitizer_module.page_turn

    def recorded_turn(grid_map: np.ndarray) -> tuple[float, bool]:
        turns.append(real_turn(grid_map))
        return turns[-1]

    def no_search(*args: object, **kwargs: object) -> None:
        raise AssertionError("a gridless page was searched for its grid's perspective")

    monkeypatch.setattr(digitizer_module, "page_turn", recorded_turn)
    monkeypatch.setattr(digitizer_module, "grid_rectification", no_search)
    result = Digitizer(DigitizeOptions(device="cpu")).digitize(page.image)
    assert turns and not turns[0][1]
    assert result.px_per_mm == pytest.approx(page.px_per_mm, rel=0.005)
