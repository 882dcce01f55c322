"""Layouts of full columns (`LayoutTemplate.full_columns`): every column shows the same
window, each lead's whole record, as plotting programs draw "2 columns" of 10 s side by
side. Placing their windows (pipeline.leads), drawing them (pipeline.synth) and reading a
drawn page (pipeline.digitizer)."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.calibration import Scales
from pipeline.digitizer import Digitizer
from pipeline.evaluate import score_record
from pipeline.extract import RowTrace
from pipeline.layouts import LAYOUTS
from pipeline.leads import assemble_signals
from pipeline.synth import load_record, render_page, sample_spec
from pipeline.synth.page import plan_page
from pipeline.types import LEADS, DigitizeOptions
from tests.paths import ptbxl_record

PPM = 4.0  # px/mm
SCALES = Scales(px_per_mv=10 * PPM, px_per_s=25 * PPM, px_per_mm=PPM, mm_per_mv=10.0,
                mm_per_s=25.0, assumed=())
FS = 500.0
RECORD = ptbxl_record("00040_hr")
needs_data = pytest.mark.skipif(not RECORD.with_suffix(".hea").exists(),
                                reason="PTB-XL sample records not available")


def _lead_uv(lead: str, t: np.ndarray) -> np.ndarray:
    """A distinct signal per lead, uV, at times t (s): 800 uV bumps (20 ms sigma) on a
    flat line, every 0.6-1.15 s from a lead's own phase."""
    k = LEADS.index(lead)
    period = 0.6 + 0.05 * k
    phase = (t - 0.03 * k) % period
    return 800.0 * np.exp(-0.5 * ((phase - 0.3) / 0.02) ** 2)


def test_both_columns_of_a_full_6x2_are_placed_at_the_records_start() -> None:
    template = LAYOUTS["6x2-full"]
    col_s, x0 = 10.0, 50.0
    col_px = col_s * SCALES.px_per_s
    x = np.arange(x0, x0 + 2 * col_px, 0.5)
    t = np.where(x < x0 + col_px, x - x0, x - x0 - col_px) / SCALES.px_per_s
    traces, baselines = [], []
    for r, (left, right) in enumerate(template.cells):
        uv = np.where(x < x0 + col_px, _lead_uv(left, t), _lead_uv(right, t))
        base = 100.0 * (r + 1)
        traces.append(RowTrace(x, base - uv / 1000.0 * SCALES.px_per_mv, 2.0,
                               np.ones(x.size, bool)))
        baselines.append(base)
    n = len(traces)
    signals, placements, _ = assemble_signals(template, traces, baselines, [x0] * n,
                                              [x0 + 2 * col_px] * n, SCALES, FS, 5000)
    assert {(p.t0_s, p.t1_s) for p in placements} == {(0.0, col_s)}
    times = np.arange(5000) / FS
    for i, lead in enumerate(LEADS):
        drawn = np.isfinite(signals[i])
        assert drawn.mean() > 0.99  # the whole 10 s, V1-V6 too
        err = signals[i][drawn] - _lead_uv(lead, times[drawn])
        assert np.sqrt(np.mean(err ** 2)) < 20.0  # uV, of 800 uV bumps


def test_the_renderer_draws_full_columns_over_one_window() -> None:
    rng = np.random.default_rng(0)
    spec = sample_spec(rng, "clean", layout="6x2-full", mm_per_s=12.5)
    plan = plan_page(spec)
    assert {(p.t0_s, p.t1_s) for p in plan.panels} == {(0.0, plan.col_seconds)}
    assert plan.col_seconds > 5.0  # more than the half of 10 s a 6x2 column shows
    assert len({p.x0_mm for p in plan.panels}) == 2


@needs_data
def test_a_page_of_two_full_columns_is_read_as_one() -> None:
    signals, fs = load_record(str(RECORD))
    rng = np.random.default_rng(2)
    # 12.5 mm/s: two columns of nearly 10 s fit an A4 page side by side.
    spec = sample_spec(rng, "clean", layout="6x2-full", dpi=200.0, mm_per_s=12.5,
                       calibration="start")
    page = render_page(signals, fs, spec, rng)
    assert min(p.t1_s for p in page.panels) > 9.0
    result = Digitizer(DigitizeOptions(device="cpu")).digitize(page.image)
    assert result.layout == "6x2-full"
    scores = score_record(page.truth_uv, result.signals_uv, result.fs_hz)
    assert all(scores[lead]["coverage"] > 0.9 for lead in LEADS)
    # 15.0 dB when written; read one after another, V1-V6 would be 10 s late: 0 dB
    assert float(np.mean([s["score_db"] for s in scores.values()])) > 12.0
