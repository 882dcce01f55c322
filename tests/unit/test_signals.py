"""pipeline.signals: isoelectric baseline and placing samples on the time axis."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.signals import band_limited, isoelectric_level, window_to_samples


def test_baseline_is_the_mode_not_the_mean() -> None:
    y = np.full(1000, 100.0)
    y[::50] = 20.0  # tall QRS spikes pull the mean up the page
    y[1::50] = 30.0
    assert isoelectric_level(y) == pytest.approx(100.0, abs=0.5)
    assert abs(float(np.mean(y)) - 100.0) > 2.0


def test_window_to_samples_scales_and_places() -> None:
    px_per_s, px_per_mv = 200.0, 40.0
    x = np.arange(0, 401)  # 2 s of columns
    y = 300.0 - 40.0 * np.sin(2 * np.pi * (x / px_per_s))  # 1 mV sine at 1 Hz
    out = window_to_samples(x, y, baseline_px=300.0, px_per_mv=px_per_mv, x_start_px=0.0,
                            px_per_s=px_per_s, t0_s=2.5, t1_s=4.5, fs_hz=500.0,
                            n_samples=5000)
    t = np.arange(5000) / 500.0
    inside = (t >= 2.5) & (t < 4.5)
    assert np.isnan(out[~inside]).all()
    expected = 1000.0 * np.sin(2 * np.pi * (t[inside] - 2.5))
    np.testing.assert_allclose(out[inside][:-3], expected[:-3], atol=2.0)


def test_inverted_lead_and_gaps() -> None:
    x = np.arange(100)
    y = np.full(100, 50.0)
    y[40:60] = np.nan
    out = window_to_samples(x, y - 10.0, baseline_px=50.0, px_per_mv=10.0, x_start_px=0.0,
                            px_per_s=100.0, t0_s=0.0, t1_s=1.0, fs_hz=100.0, n_samples=100,
                            polarity=-1)
    assert out[10] == pytest.approx(-1000.0)
    assert np.isnan(out[50])


def test_bad_scale() -> None:
    with pytest.raises(ValueError, match="positive"):
        window_to_samples(np.arange(3), np.zeros(3), baseline_px=0, px_per_mv=0, x_start_px=0,
                          px_per_s=1, t0_s=0, t1_s=1, fs_hz=1, n_samples=1)


def test_window_with_one_read_column_is_unread() -> None:
    # Samples that all fall in one column give no line to interpolate (it raised).
    x = np.array([10.0, 10.0, 10.0, 11.0])
    y = np.array([50.0, 51.0, 52.0, np.nan])
    out = window_to_samples(x, y, baseline_px=50.0, px_per_mv=10.0, x_start_px=0.0,
                            px_per_s=100.0, t0_s=0.0, t1_s=1.0, fs_hz=500.0, n_samples=500)
    assert np.isnan(out).all()


def test_band_limit_keeps_the_ecg_band_and_damps_what_the_page_cannot_hold() -> None:
    # A page of 100 columns per second holds nothing above 50 Hz: a 10 Hz wave passes, a
    # 48 Hz one (column-to-column jitter) is more than halved, one at 90 Hz (what
    # interpolating between columns adds) is all but gone; NaN gaps stay NaN.
    fs = 500.0
    t = np.arange(2500) / fs
    waves = {f: 200.0 * np.sin(2 * np.pi * f * t) for f in (10.0, 48.0, 90.0)}
    values = sum(waves.values()).astype(np.float32)
    values[1000:1100] = np.nan
    out = band_limited(values, 0.9 * 50.0, fs)
    keep = np.isfinite(values)
    assert np.isnan(out[~keep]).all()
    inner = keep.copy()
    inner[:100] = inner[-100:] = inner[900:1200] = False  # away from the stretch ends
    spectrum = np.abs(np.fft.rfft(np.where(inner, out - waves[10.0], 0.0)))
    freqs = np.fft.rfftfreq(t.size, 1.0 / fs)
    ref = np.abs(np.fft.rfft(np.where(inner, waves[48.0], 0.0))).max()
    assert spectrum[np.argmin(np.abs(freqs - 10.0))] < 0.02 * ref
    assert spectrum[np.argmin(np.abs(freqs - 48.0))] < 0.5 * ref
    assert spectrum[np.argmin(np.abs(freqs - 90.0))] < 0.1 * ref
    # A cut-off at the output's own Nyquist rate leaves the samples as they are.
    assert np.array_equal(band_limited(values, 250.0, fs), values, equal_nan=True)


def test_a_window_is_band_limited_at_the_share_it_is_given() -> None:
    # 200 columns a second: a 60 Hz wave is 0.6 of the column Nyquist rate (100 Hz). The
    # page's usual share (0.9) keeps most of it; a photo's (0.65) damps it.
    from pipeline.signals import BAND_LIMIT, PHOTO_BAND_LIMIT

    x = np.arange(0.0, 500.0)
    y = 100.0 - 10.0 * np.sin(2 * np.pi * 60.0 * x / 200.0)

    def read(**band: float) -> np.ndarray:
        return window_to_samples(x, y, baseline_px=100.0, px_per_mv=10.0, x_start_px=0.0,
                                 px_per_s=200.0, t0_s=0.0, t1_s=2.5, fs_hz=500.0,
                                 n_samples=1250, **band)

    usual = read()
    photo = read(band_limit=PHOTO_BAND_LIMIT)
    assert np.array_equal(usual, read(band_limit=BAND_LIMIT), equal_nan=True)
    inner = slice(200, 1000)
    assert np.nanstd(usual[inner]) > 450.0  # 1000 uV peak: std 707 unfiltered
    assert np.nanstd(photo[inner]) < 0.75 * np.nanstd(usual[inner])


def test_slow_columns_keep_a_band_of_at_least_min_cutoff_hz() -> None:
    # 100 columns a second (100 dpi at 25 mm/s): 0.9 of the column Nyquist rate is 45 Hz,
    # raised to MIN_CUTOFF_HZ (50 Hz, the whole Nyquist rate here); at 200 columns a
    # second the share's 90 Hz stands.
    from pipeline.signals import MIN_CUTOFF_HZ

    assert MIN_CUTOFF_HZ == 50.0
    jitter = np.random.default_rng(0).normal(0.0, 3.0, 500)  # a jittery reading, px

    def read(px_per_s: float, **band: float) -> np.ndarray:
        x = np.arange(0.0, 2.5 * px_per_s)
        return window_to_samples(x, 100.0 + jitter[:x.size], baseline_px=100.0,
                                 px_per_mv=10.0, x_start_px=0.0, px_per_s=px_per_s,
                                 t0_s=0.0, t1_s=2.5, fs_hz=500.0, n_samples=1250, **band)

    floored = read(100.0)
    assert np.allclose(floored, read(100.0, band_limit=1.0, min_cutoff_hz=0.0),
                       equal_nan=True)
    assert not np.allclose(floored, read(100.0, min_cutoff_hz=0.0), equal_nan=True)
    assert np.array_equal(read(200.0), read(200.0, min_cutoff_hz=0.0), equal_nan=True)


def _line_with_hole(hole_s: float) -> tuple[np.ndarray, np.ndarray]:
    """A reader's line (samples every 0.5 px, one NaN sample marking where an unread
    stretch of hole_s begins) over 2 s at 100 px/s: a 1 Hz sine of 0.5 mV on baseline 100."""
    x = np.arange(0.0, 200.0, 0.5)
    y = 100.0 - 5.0 * np.sin(2 * np.pi * x / 100.0)
    a = 80.0
    keep = (x < a) | (x >= a + hole_s * 100.0)
    x, y = x[keep], y[keep]
    at = int(np.searchsorted(x, a))
    return np.insert(x, at, a - 0.25), np.insert(y, at, np.nan)


def test_a_short_unread_stretch_is_bridged_and_a_long_one_is_not() -> None:
    t = np.arange(1000) / 500.0
    for hole_s, bridged in ((0.1, True), (0.3, False)):
        x, y = _line_with_hole(hole_s)
        out = window_to_samples(x, y, baseline_px=100.0, px_per_mv=10.0, x_start_px=0.0,
                                px_per_s=100.0, t0_s=0.0, t1_s=2.0, fs_hz=500.0,
                                n_samples=1000, band_limit=1.0)
        inside = (t > 0.82) & (t < 0.78 + hole_s)
        assert inside.sum() > 5
        if bridged:  # the sine, within the interpolation's error over 0.1 s
            assert np.isfinite(out[inside]).all()
            np.testing.assert_allclose(out[inside], 500.0 * np.sin(2 * np.pi * t[inside]),
                                       atol=30.0)
        else:
            assert np.isnan(out[inside]).all()
        assert np.isfinite(out[(t > 0.1) & (t < 0.7)]).all()
