"""The scoring harness on cases with known answers, and its command line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import wfdb

from pipeline.evaluate import MAX_SNR_DB, main, score_lead, score_record
from pipeline.signal_io import load_record
from pipeline.synth import RenderSpec, render_page
from pipeline.synth.dataset import write_page
from pipeline.types import LEADS
from tests.paths import ptbxl_record

RECORD = ptbxl_record("00009_hr")
FS = 500.0


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    signals, _ = load_record(RECORD)
    return signals * 1000.0  # uV


def test_identical_signals_score_the_cap(truth: np.ndarray) -> None:
    scores = score_record(truth, truth.copy(), FS)
    assert set(scores) == set(LEADS)
    for s in scores.values():
        assert s["score_db"] == pytest.approx(MAX_SNR_DB) and s["r"] == pytest.approx(1.0)
        assert s["shift_samples"] == 0


def test_all_zero_estimate_scores_zero_or_below(truth: np.ndarray) -> None:
    for s in score_record(truth, np.zeros_like(truth), FS).values():
        assert s["score_db"] <= 1e-9 and not s["missing"]


def test_ten_ms_shift_is_recovered(truth: np.ndarray) -> None:
    shifted = np.full_like(truth, np.nan)
    shifted[:, :-5] = truth[:, 5:]  # estimate 10 ms (5 samples) early
    for s in score_record(truth, shifted, FS).values():
        assert s["shift_samples"] == 5
        assert s["snr_db"] == pytest.approx(MAX_SNR_DB)
        assert s["coverage"] == pytest.approx(4995 / 5000)


def test_offset_within_one_millivolt_is_free_beyond_is_not(truth: np.ndarray) -> None:
    near = score_lead(truth[1], truth[1] + 800.0, FS)
    far = score_lead(truth[1], truth[1] + 3000.0, FS)
    assert near is not None and far is not None
    assert near["snr_db"] == pytest.approx(MAX_SNR_DB) and near["offset_uv"] == pytest.approx(-800)
    assert far["offset_uv"] == pytest.approx(-1000.0) and far["snr_db"] < 5.0


def test_missing_lead_scores_exactly_zero(truth: np.ndarray) -> None:
    est = truth.copy()
    est[LEADS.index("V3")] = np.nan
    scores = score_record(truth, est, FS)
    assert scores["V3"]["score_db"] == 0.0 and scores["V3"]["missing"]
    assert scores["V2"]["score_db"] == pytest.approx(MAX_SNR_DB)
    assert all(s["score_db"] == 0.0 for s in score_record(truth, None, FS).values())


def test_half_coverage_halves_the_score(truth: np.ndarray) -> None:
    noisy = truth + np.random.default_rng(0).normal(0, 30.0, truth.shape)
    half = noisy.copy()
    half[:, 2500:] = np.nan
    full_s = score_record(truth, noisy, FS)
    half_s = score_record(truth, half, FS)
    for lead in LEADS:
        assert half_s[lead]["coverage"] == pytest.approx(0.5)
        assert half_s[lead]["score_db"] == pytest.approx(0.5 * full_s[lead]["score_db"], rel=0.15)


def test_leads_not_drawn_are_not_scored(truth: np.ndarray) -> None:
    partial = truth.copy()
    partial[LEADS.index("aVL")] = np.nan
    assert "aVL" not in score_record(partial, truth, FS)


def test_bad_shapes_raise(truth: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"\(12, T\)"):
        score_record(truth[:11], truth, FS)


def test_cli_scores_wfdb_predictions(tmp_path: Path, truth: np.ndarray) -> None:
    signals, fs = load_record(RECORD)
    page = render_page(signals, fs, RenderSpec(dpi=72.0), np.random.default_rng(0))
    split = tmp_path / "data" / "test"
    write_page(page, split, "p0", {"record": "00009_hr"})
    write_page(page, split, "p1", {"record": "00009_hr"})
    pred = tmp_path / "pred"
    pred.mkdir()
    est = np.nan_to_num(page.truth_uv.astype(np.float64), nan=0.0)
    # p0 in mV with the page's truth, p1 absent.
    wfdb.wrsamp("p0", fs=500, units=["mV"] * 12, sig_name=list(LEADS),
                p_signal=(est / 1000.0).T, fmt=["16"] * 12, adc_gain=[1000.0] * 12,
                baseline=[0] * 12, write_dir=str(pred))
    out = tmp_path / "report.json"
    assert main(["--truth", str(split), "--pred", str(pred), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["pages"] == 2 and report["pages_without_prediction"] == 1
    p0 = report["records"]["p0"]["leads"]
    assert min(s["snr_db"] for s in p0.values()) > 40.0
    assert all(s["score_db"] == 0.0 for s in report["records"]["p1"]["leads"].values())
    assert "layout=3x4+1" in report["per_condition"]


def test_cli_reads_the_service_wfdb_format_at_another_rate(tmp_path: Path) -> None:
    """A record written by ecgbridge's own writer (uV, NaN as invalid samples) at 250 Hz is
    put back on the truth's 500 Hz axis and scored."""
    from ecgbridge.output.wfdb_record import write_wfdb_record
    from pipeline.types import DigitizationResult

    signals, fs = load_record(RECORD)
    page = render_page(signals, fs, RenderSpec(dpi=72.0), np.random.default_rng(0))
    split = tmp_path / "data" / "val"
    write_page(page, split, "q0", {"record": "00009_hr"})
    est_250 = page.truth_uv[:, ::2].astype(np.float32)  # NaN where not drawn, 250 Hz
    result = DigitizationResult(signals_uv=est_250, fs_hz=250.0, layout="3x4+1", px_per_mm=2.8,
                                mm_per_mv=10.0, mm_per_s=25.0, quality=np.ones(12))
    pred = tmp_path / "pred"
    pred.mkdir()
    write_wfdb_record(result, pred, "q0")
    out = tmp_path / "r.json"
    assert main(["--truth", str(split), "--pred", str(pred), "--out", str(out)]) == 0
    leads = json.loads(out.read_text())["records"]["q0"]["leads"]
    assert len(leads) == 12
    assert all(s["coverage"] > 0.99 for s in leads.values())
    assert np.mean([s["snr_db"] for s in leads.values()]) > 15.0
