"""Renderer: shapes, classes, truth placement, and that masks match the drawn signal."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.synth import RenderSpec, load_record, render_page, sample_spec
from pipeline.synth.splits import split_of
from pipeline.types import LEADS
from tests.paths import ptbxl_record

RECORD = ptbxl_record("00009_hr")


@pytest.fixture(scope="module")
def record() -> tuple[np.ndarray, float]:
    return load_record(RECORD)


@pytest.fixture(scope="module")
def clean_page(record: tuple[np.ndarray, float]):
    signals, fs = record
    return render_page(signals, fs, RenderSpec(layout="3x4+1", dpi=200), np.random.default_rng(0))


def test_load_record_shape_and_units(record: tuple[np.ndarray, float]) -> None:
    signals, fs = record
    assert signals.shape == (12, 5000) and signals.dtype == np.float64 and fs == 500.0
    assert 0.05 < np.nanstd(signals) < 2.0  # mV, not uV


def test_page_arrays(clean_page) -> None:
    page = clean_page
    h, w = page.image.shape[:2]
    assert page.image.dtype == np.uint8 and page.image.shape == (h, w, 3)
    assert (w, h) == (2339, 1654)  # A4 landscape at 200 dpi
    assert page.class_mask.dtype == np.uint8 and set(np.unique(page.class_mask)) == {0, 1, 2, 3}
    assert page.instance_mask.dtype == np.uint16
    assert set(np.unique(page.instance_mask)) == set(range(14))
    assert len(page.panels) == 13 and page.layout == "3x4+1"
    assert page.px_per_mm == pytest.approx(200 / 25.4)
    assert np.array_equal(page.homography, np.eye(3))
    assert len(page.calibration_boxes_px) == 4
    # Every instance pixel is a trace pixel.
    assert np.all(page.class_mask[page.instance_mask > 0] == 3)


def test_truth_windows(clean_page, record) -> None:
    truth = clean_page.truth_uv
    assert truth.shape == (12, 5000) and truth.dtype == np.float32
    lead_i, lead_ii, v4 = LEADS.index("I"), LEADS.index("II"), LEADS.index("V4")
    assert np.all(np.isfinite(truth[lead_ii]))  # column 0 and rhythm strip
    assert np.all(np.isfinite(truth[lead_i, :1250])) and np.all(np.isnan(truth[lead_i, 1250:]))
    assert np.all(np.isnan(truth[v4, :3750])) and np.all(np.isfinite(truth[v4, 3750:]))
    np.testing.assert_allclose(truth[lead_i, :1250], record[0][lead_i, :1250] * 1000, atol=1e-2)


def test_instance_mask_follows_signal(clean_page) -> None:
    """Per column, the centre of a panel's mask pixels sits on the drawn signal (< 1 px)."""
    page = clean_page
    ppm = page.px_per_mm
    for k in (1, 6, 13):
        panel = page.panels[k - 1]
        rows, cols = np.nonzero(page.instance_mask == k)
        sums = np.bincount(cols, weights=rows)
        counts = np.bincount(cols)
        have = np.nonzero(counts)[0]
        centre = sums[have] / counts[have]
        t = panel.t0_s + (have - panel.x0_px) / (page.mm_per_s * ppm)
        inside = (t >= panel.t0_s) & (t <= panel.t1_s - 0.002)
        lead = LEADS.index(panel.lead)
        axis = np.arange(5000) / 500.0
        uv = np.interp(t[inside], axis, np.nan_to_num(page.truth_uv[lead]))
        expected = panel.baseline_y_px - uv / 1000.0 * page.mm_per_mv * ppm
        err = centre[inside] - expected
        assert np.median(np.abs(err)) < 0.5, (panel.lead, np.median(np.abs(err)))


def test_render_is_deterministic(record) -> None:
    signals, fs = record
    spec = sample_spec(np.random.default_rng(5), "clean", dpi=72.0)
    a = render_page(signals, fs, spec, np.random.default_rng(1))
    b = render_page(signals, fs, spec, np.random.default_rng(1))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.class_mask, b.class_mask)


def test_sample_spec_rejects_unknown_override() -> None:
    with pytest.raises(ValueError, match="unknown RenderSpec fields"):
        sample_spec(np.random.default_rng(0), "clean", colour="red")
    with pytest.raises(ValueError, match="preset"):
        sample_spec(np.random.default_rng(0), "fancy")


def test_split_of_is_stable_and_partitions() -> None:
    names = [f"{i:05d}_hr" for i in range(2000)]
    splits = [split_of(n) for n in names]
    assert set(splits) == {"train", "val", "test"}
    share = splits.count("train") / len(splits)
    assert 0.75 < share < 0.85
    assert split_of("00009_hr") == split_of("/some/folder/00009_hr")


def test_spec_round_trips_through_its_dict() -> None:
    from pipeline.synth.spec import spec_from_dict

    for preset in ("clean", "scan", "photo"):
        spec = sample_spec(np.random.default_rng(3), preset)
        assert spec_from_dict(spec.as_dict()) == spec
    with pytest.raises(ValueError, match="unknown RenderSpec fields"):
        spec_from_dict({"layout": "3x4", "colour": "red"})


def test_bad_signals_raise() -> None:
    spec = RenderSpec(dpi=72.0)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"\(12, T\)"):
        render_page(np.zeros((11, 5000)), 500.0, spec, rng)
    with pytest.raises(ValueError, match="10"):
        render_page(np.zeros((12, 2000)), 500.0, spec, rng)
    with pytest.raises(ValueError, match="finite"):
        render_page(np.full((12, 5000), np.nan), 500.0, spec, rng)


def test_other_sampling_rates_are_resampled_to_500_hz(record) -> None:
    signals, _ = record
    page = render_page(signals[:, ::2], 250.0, RenderSpec(dpi=72.0), np.random.default_rng(0))
    assert page.truth_uv.shape == (12, 5000) and page.fs_hz == 500.0
