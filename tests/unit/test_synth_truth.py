"""Acceptance: the renderer's truth is exact.

1. Geometry: for every pixel column of every panel, the instance mask's rows span exactly
   the ink the truth predicts (the curve's range over the pen's window, widened by the pen),
   to less than one row; a 3 % gain error in the truth fails the same check.
2. Reading clean 300-dpi, 0.1 mm renders back from their own instance masks and scoring
   with the shared metric gives the SNR that one-value-per-column readings can reach
   (see docs/renderer.md for why 30 dB is out of reach at 300 dpi).
3. px/mm measured from the rendered grid (FFT of the grid mask's projection) is within
   0.5 % of the truth.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.evaluate import score_record
from pipeline.synth import RenderedPage, RenderSpec, load_record, render_page
from pipeline.synth.oracle import digitize_from_masks
from pipeline.types import LEADS

_SHARED = Path("/work/shared/data/ptbxl")
_FIXTURE = Path(__file__).parents[1] / "fixtures" / "ptbxl"
RECORD = _SHARED / "00009_hr" if (_SHARED / "00009_hr.hea").exists() else _FIXTURE / "00009_hr"


@pytest.fixture(scope="module")
def page_300dpi() -> RenderedPage:
    signals, fs = load_record(RECORD)
    spec = RenderSpec(layout="3x4+1", dpi=300.0, trace_width_mm=0.1)
    return render_page(signals, fs, spec, np.random.default_rng(0))


def bracket_errors(page: RenderedPage, truth_uv: np.ndarray) -> np.ndarray:
    """Per (panel, column): max |mask edge - predicted ink edge| in px, predicted from
    `truth_uv` and the panel geometry, column by column (a plain loop, independent of the
    rasteriser's vectorised code)."""
    h = 0.5 * page.conditions["trace_width_px"]
    px_per_s = page.mm_per_s * page.px_per_mm
    px_per_uv = page.mm_per_mv * page.px_per_mm / 1000.0
    errors = []
    for k, panel in enumerate(page.panels, start=1):
        n0 = round(panel.t0_s * page.fs_hz)
        n1 = round(panel.t1_s * page.fs_hz)
        values = truth_uv[LEADS.index(panel.lead), n0:n1].astype(np.float64)
        x = panel.x0_px + np.arange(n1 - n0) / page.fs_hz * px_per_s
        y = panel.baseline_y_px - panel.polarity * values * px_per_uv
        rows, cols = np.nonzero(page.instance_mask == k)
        for c in np.unique(cols):
            a, b = c - 0.5 - h, c + 0.5 + h
            ends = [e for e in (a, b) if x[0] <= e <= x[-1]]
            values_in = list(y[(x >= a) & (x <= b)]) + list(np.interp(ends, x, y))
            if not values_in:
                errors.append(np.inf)
                continue
            mine = rows[cols == c]
            top_err = abs(mine.min() - (min(values_in) - h))
            bottom_err = abs(mine.max() - (max(values_in) + h))
            errors.append(max(top_err, bottom_err))
    return np.asarray(errors)


def test_instance_mask_matches_truth_within_a_pixel(page_300dpi: RenderedPage) -> None:
    errors = bracket_errors(page_300dpi, page_300dpi.truth_uv)
    # Mask edges are whole rows: the exact ink edge is always less than one row away.
    assert np.max(errors) < 1.0 + 1e-9, np.percentile(errors, [50, 99, 100])


def test_bracket_check_catches_a_small_gain_error(page_300dpi: RenderedPage) -> None:
    errors = bracket_errors(page_300dpi, page_300dpi.truth_uv * 1.03)
    assert np.mean(errors <= 1.0) < 0.98


@pytest.mark.parametrize(("reader", "floor_db"), [("mean", 20.0), ("envelope", 21.5)])
def test_mask_reading_snr(page_300dpi: RenderedPage, reader: str, floor_db: float) -> None:
    est = digitize_from_masks(page_300dpi, reader)
    scores = score_record(page_300dpi.truth_uv, est, page_300dpi.fs_hz)
    assert len(scores) == 12 and all(s["coverage"] > 0.99 for s in scores.values())
    assert all(abs(s["shift_samples"]) <= 1 for s in scores.values())
    assert np.mean([s["score_db"] for s in scores.values()]) >= floor_db


def grid_period_px(grid_mask: np.ndarray, axis: int, lo_px: float = 2.0,
                   hi_px: float = 40.0) -> float:
    """Strongest period (px) of the grid mask's projection along `axis` in [lo, hi] px,
    from a zero-padded FFT with parabolic peak refinement."""
    profile = grid_mask.sum(axis=axis).astype(np.float64)
    profile -= profile.mean()
    size = 1 << 20
    power = np.abs(np.fft.rfft(profile * np.hanning(profile.size), size))
    freqs = np.fft.rfftfreq(size)
    band = np.nonzero((freqs >= 1 / hi_px) & (freqs <= 1 / lo_px))[0]
    k = band[np.argmax(power[band])]
    a, b, c = np.log(power[k - 1: k + 2])
    delta = 0.5 * (a - c) / (a - 2 * b + c)
    return 1.0 / ((k + delta) / size)


@pytest.mark.parametrize(("dpi", "style"), [(72.0, "lines"), (96.0, "lines"), (150.0, "dots"),
                                            (300.0, "lines")])
def test_px_per_mm_from_rendered_grid(dpi: float, style: str) -> None:
    signals, fs = load_record(RECORD)
    spec = RenderSpec(dpi=dpi, grid_style=style, grid="pink")
    page = render_page(signals, fs, spec, np.random.default_rng(0))
    grid = page.class_mask == 1
    for axis in (0, 1):
        measured = grid_period_px(grid, axis)
        assert measured == pytest.approx(page.px_per_mm, rel=0.005), (axis, measured)
