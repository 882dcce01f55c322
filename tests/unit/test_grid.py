"""pipeline.grid: px per mm from grid periodicity."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import NoGridFoundError
from pipeline.grid import (
    MIN_STRENGTH,
    _agreed_px_per_mm,
    _autocorrelations,
    _measure,
    autocorrelation,
    measure_grid,
    panel_autocorrelation,
)


def grid_map(h: int, w: int, ppm: float, minor: float = 0.4, major: float = 1.0) -> np.ndarray:
    """(h, w) grid probability: 1-px lines every ppm px (minor) and every 5 ppm (major)."""
    out = np.zeros((h, w), np.float32)
    for axis, n in ((1, w), (0, h)):
        k = 0
        while k * ppm < n:
            i = round(k * ppm)
            if i < n:
                val = major if k % 5 == 0 else minor
                if axis == 1:
                    out[:, i] = np.maximum(out[:, i], val)
                else:
                    out[i, :] = np.maximum(out[i, :], val)
            k += 1
    return out


@pytest.mark.parametrize("ppm", [2.83, 3.94, 7.874, 11.81])
def test_px_per_mm_within_half_percent(ppm: float) -> None:
    g = measure_grid(grid_map(int(180 * ppm), int(250 * ppm), ppm))
    assert g.px_per_mm == pytest.approx(ppm, rel=0.005)


@pytest.mark.parametrize("ppm", [3.47, 7.874])
def test_a_grid_has_lines_at_every_multiple_of_its_period_and_not_of_half_of_it(
        ppm: float) -> None:
    from pipeline.grid import _odd_deficit

    g = measure_grid(grid_map(int(180 * ppm), int(250 * ppm), ppm))
    assert abs(g.odd_deficit) < 0.1
    acs = _autocorrelations([grid_map(int(180 * ppm), int(250 * ppm), ppm).sum(axis=0)], 1.0)
    assert _odd_deficit(acs, ppm / 2) > 0.3  # half a mm: odd multiples between lines


def test_major_lines_only() -> None:
    ppm = 4.0
    g = measure_grid(grid_map(int(180 * ppm), int(250 * ppm), ppm, minor=0.0))
    assert g.px_per_mm == pytest.approx(ppm, rel=0.01)
    assert not g.minor_visible


@pytest.mark.parametrize("ppm", [5.91, 7.874, 11.81])
def test_major_lines_only_at_150_to_300_dpi(ppm: float) -> None:
    """A grid of 5 mm lines alone (dicom-ecg-plot's default) on a 250 x 170 mm page: its
    period is 30-59 px, and its fifth lines weigh no more than the others, so it is the
    5 mm one (it was read as 1 mm: 39 px/mm at 200 dpi)."""
    g = measure_grid(grid_map(int(170 * ppm), int(250 * ppm), ppm, minor=0.0))
    assert g.px_per_mm == pytest.approx(ppm, rel=0.005)
    assert not g.minor_visible


def test_a_page_taller_than_paper_sizes_its_grid() -> None:
    # 900 x 200 mm: one panel per lead, each as tall as its largest wave (ecg_plot's 6x2).
    ppm = 4.0
    g = measure_grid(grid_map(int(900 * ppm), int(200 * ppm), ppm))
    assert g.px_per_mm == pytest.approx(ppm, rel=0.005)


def test_a_page_wider_than_400_mm_with_barely_heavier_fifth_lines() -> None:
    """bemplt's two columns of 10 s side by side: a 518 mm wide page at 300 dpi whose every
    fifth line weighs little more than the others (0.02); it was refused (read as a 5 mm
    grid, 2591 mm, over the whole page's lags)."""
    ppm = 11.81
    grid = grid_map(int(150 * ppm), int(520 * ppm), ppm, minor=0.9, major=1.0)
    g = _measure(grid, MIN_STRENGTH, 1.0)
    assert g.px_per_mm == pytest.approx(ppm, rel=0.005)
    assert g.minor_visible


def test_no_grid_raises() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(NoGridFoundError, match="no ECG grid found"):
        measure_grid((rng.random((400, 600)) < 0.002).astype(np.float32))


def test_bad_shape() -> None:
    with pytest.raises(ValueError, match="found shape"):
        measure_grid(np.zeros((3, 4, 5)))


def test_faint_dotted_minor_grid_at_100_dpi() -> None:
    """Faint 1 mm dots between 5 mm lines (green, 100 dpi): the coarse comb peaks 2% off the
    1 mm period, which the fine search must still reach (it once returned the 3 mm one)."""
    from pipeline.classic_segment import classic_segment
    from pipeline.synth.render import render_page
    from pipeline.synth.spec import GRID_PALETTES, RenderSpec

    grid_rgb, paper_rgb = GRID_PALETTES["green"]
    spec = RenderSpec(dpi=100.0, grid="green", grid_rgb=grid_rgb, paper_rgb=paper_rgb,
                      grid_style="dots", grid_minor_alpha=0.25, grid_major_alpha=0.98,
                      grid_minor_width_mm=0.12, grid_major_width_mm=0.12, footer=False)
    page = render_page(np.zeros((12, 5000)), 500.0, spec, np.random.default_rng(0))
    g = measure_grid(classic_segment(page.image).probs[1])
    assert g.px_per_mm == pytest.approx(page.px_per_mm, rel=0.005)


def test_rows_of_traces_without_a_grid_are_no_grid() -> None:
    """Twelve wavy rows 99 px apart on blank paper repeat along y only: not a grid (they
    were once read as a 5 mm grid, making every later scale wrong)."""
    h, w = 1654, 2339
    img = np.zeros((h, w), np.float32)
    x = np.arange(100, 2100)
    rng = np.random.default_rng(0)
    for r in range(12):
        y = 300 + 99 * r + np.round(6 * np.sin(x / (20 + 3 * r)) + rng.normal(0, 1, x.size))
        for dy in range(-2, 3):
            img[y.astype(int) + dy, x] = 1.0 - 0.2 * abs(dy)
    with pytest.raises(NoGridFoundError, match="one axis only"):
        measure_grid(img)


def test_a_weak_pattern_without_finer_lines_on_a_gridless_page_is_no_grid() -> None:
    """A gridless page (no pulse at the start of its rows) whose trace fringes and text
    repeat weakly at 5/4 of a 5 mm period (comb contrast 0.13): once read as a grid of
    9.95 px/mm against the page's 7.87, which set every later scale."""
    from pipeline.classic_segment import colour_rule
    from pipeline.synth import load_record, render_page, sample_spec
    from tests.paths import ptbxl_record

    signals, fs = load_record(ptbxl_record("00009_hr"))
    rng = np.random.default_rng(5)
    spec = sample_spec(rng, "clean", layout="3x4+1", dpi=200.0, grid="none")
    page = render_page(signals, fs, spec, rng)
    with pytest.raises(NoGridFoundError, match="without finer lines"):
        measure_grid(colour_rule(page.image).grid)


def _panels(ppm: float) -> np.ndarray:
    """A page of 4 x 4 gridded panels (62.5 x 40 mm) with gaps of 6 mm across and 11 mm
    down, no multiple of the grid period: each panel's grid starts at its own corner."""
    page = np.zeros((int(210 * ppm), int(290 * ppm)), np.float32)
    ph, pw = int(40 * ppm), int(62.5 * ppm)
    for r in range(4):
        for c in range(4):
            y, x = int((8 + r * 51) * ppm), int((12 + c * 68.5) * ppm)
            page[y:y + ph, x:x + pw] = grid_map(ph, pw, ppm)
    return page


def test_panels_with_gaps_lose_the_period_over_the_whole_page() -> None:
    with pytest.raises(NoGridFoundError):
        _measure(_panels(7.874), MIN_STRENGTH, 1.0)


@pytest.mark.parametrize("ppm", [2.83, 3.94, 7.874, 11.81])
def test_panels_with_gaps_measured_on_short_lags(ppm: float) -> None:
    # The panels' grids are out of phase with each other: the whole page's autocorrelation
    # loses its period at long lags, its short lags (within a panel) keep it.
    assert measure_grid(_panels(ppm)).px_per_mm == pytest.approx(ppm, rel=0.005)


def test_short_lags_do_not_find_a_grid_in_rows_of_lines() -> None:
    # Horizontal lines only (rows of flat traces, no grid): a pattern along one axis only.
    page = np.zeros((1600, 2200), np.float32)
    page[::137, :] = 1.0
    with pytest.raises(NoGridFoundError):
        measure_grid(page)


def test_no_period_when_no_refined_peak_scores_above_zero(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    # A gridless page's map can give coarse comb peaks (few multiples) whose fine combs
    # (all multiples) all score below zero; that is no period, not a crash (it raised
    # StopIteration on a clean gridless bench page).
    import pipeline.grid as grid_module

    real = grid_module.comb_scores

    def fine_negative(acs: list[np.ndarray], periods: np.ndarray,
                      max_k: int = 10_000) -> np.ndarray:
        scores = real(acs, periods, max_k)
        return scores if max_k < 10_000 else -np.abs(scores) - 0.01

    monkeypatch.setattr(grid_module, "comb_scores", fine_negative)
    profiles = [grid_map(400, 600, 8.0).sum(axis=0), grid_map(400, 600, 8.0).sum(axis=1)]
    period, strength = grid_module.best_period(profiles, 4.0, 100.0)
    assert np.isnan(period) and strength == 0.0
    monkeypatch.setattr(grid_module, "comb_scores", real)
    period, strength = grid_module.best_period(profiles, 4.0, 100.0)
    assert period == pytest.approx(8.0, rel=0.01) and strength > 0


def _profile_ac(period: float, n: int, noise: float, seed: int) -> np.ndarray:
    """Autocorrelation of a (n,) profile of 1-px lines every `period` px plus noise."""
    rng = np.random.default_rng(seed)
    profile = grid_map(1, n, period).ravel() + noise * rng.random(n)
    return autocorrelation(profile)


def test_axes_that_disagree_take_the_clearer_ones_period() -> None:
    # Columns read 0.7% short through a blurred, noisy profile (panels out of phase), rows
    # right and clear: the rows' period is the page's, not the mean of the two.
    acs = [_profile_ac(3.909, 1100, 3.0, 0), _profile_ac(3.937, 1400, 0.2, 1)]
    assert _agreed_px_per_mm(acs, 3.909, 3.937, 3.92) == 3.937
    acs = [_profile_ac(3.937, 1100, 0.2, 0), _profile_ac(3.909, 1400, 3.0, 1)]
    assert _agreed_px_per_mm(acs, 3.937, 3.909, 3.92) == 3.937


def test_axes_that_agree_are_averaged() -> None:
    acs = [_profile_ac(3.937, 1100, 3.0, 0), _profile_ac(3.937, 1400, 0.2, 1)]
    assert _agreed_px_per_mm(acs, 3.935, 3.939, 3.92) == pytest.approx(3.937)
    assert _agreed_px_per_mm(acs, float("nan"), 3.939, 3.92) == 3.939
    assert _agreed_px_per_mm(acs, float("nan"), float("nan"), 3.92) == 3.92


def test_axes_far_apart_keep_their_mean() -> None:
    # 3% apart: the page's own aspect (a photo's perspective), no bias of one axis.
    acs = [_profile_ac(3.82, 1100, 3.0, 0), _profile_ac(3.937, 1400, 0.2, 1)]
    assert _agreed_px_per_mm(acs, 3.82, 3.937, 3.9) == pytest.approx(0.5 * (3.82 + 3.937))


@pytest.mark.parametrize("ppm", [3.94, 7.874])
def test_panels_refine_a_grid_measured_on_short_lags(ppm: float) -> None:
    # Short lags alone hold few periods and some span two panels: 3.94 px/mm read 0.14%
    # short, which puts a 10 s strip's end 14 ms late; each panel compared with itself
    # holds the period to 0.05%.
    assert measure_grid(_panels(ppm)).px_per_mm == pytest.approx(ppm, rel=0.0005)


def test_one_grid_has_no_panels() -> None:
    page = grid_map(int(180 * 3.94), int(250 * 3.94), 3.94)
    assert panel_autocorrelation(page, 1, 3.94, True) is None
    assert panel_autocorrelation(_panels(3.94), 1, 3.94, True) is not None
