"""pipeline.ink_fit and the fitted line reader of pipeline.extract."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.extract import extract_row, fit_line
from pipeline.ink_fit import _solve_banded_spd, _window_terms, _WindowJacobian, fit_samples
from pipeline.synth.raster import stroke_patch, window_ranges


def edges(x: np.ndarray, y: np.ndarray, width: float, cols: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """Exact top and bottom ink edges (px) per column of a polyline drawn with a square pen."""
    half = 0.5 * width
    lo, hi = window_ranges(x, y, cols - 0.5 - half, cols + 0.5 + half)
    return lo - half, hi + half


def test_fit_recovers_a_wave_narrower_than_the_pen_window() -> None:
    x = np.arange(0.0, 80.0, 0.4)
    y = 50.0 - 20.0 * np.exp(-(((x - 40.0) / 1.5) ** 2))  # a QRS spike 3 px wide
    cols = np.arange(1, 79).astype(np.float64)
    top, bottom = edges(x, y, 2.0, cols)
    fitted = fit_samples(x, cols, top, bottom, 1.0)
    assert np.min(fitted) == pytest.approx(30.0, abs=0.3)  # the apex, not the pen-blurred ink
    mid = 0.5 * (top + bottom)  # what a centre-of-ink reader sees
    assert 50.0 - np.min(mid) < 18.0


def test_untrusted_edges_are_left_out() -> None:
    x = np.arange(0.0, 60.0, 0.4)
    y = np.full(x.size, 40.0)
    cols = np.arange(1, 59).astype(np.float64)
    top, bottom = edges(x, y, 2.0, cols)
    top[25:32] -= 12.0  # a letter touching the line from above
    top_ok = np.ones(cols.size, bool)
    trusting = fit_samples(x, cols, top, bottom, 1.0)
    top_ok[25:32] = False
    fitted = fit_samples(x, cols, top, bottom, 1.0, top_ok=top_ok)
    assert np.max(np.abs(fitted - 40.0)) < 0.2
    assert np.max(np.abs(trusting - 40.0)) > 2.0


def test_line_start_and_end_to_a_fraction_of_a_pixel() -> None:
    w = 40
    top = np.full(w, 9.0)
    bottom = np.full(w, 11.0)
    ink = np.full(w, 2.0)
    usable = np.zeros(w, bool)
    usable[5:30] = True
    ink[5] = 0.5  # the cap covers half of the first column
    ink[29] = 1.5
    x, y, conf = fit_line(top, bottom, usable, 1.0, 3, ink)
    assert x[0] == pytest.approx(5 + 0.5 - 0.25 + 1.0)
    assert x[-1] == pytest.approx(29 - 0.5 + 0.75 - 1.0, abs=0.4)
    assert np.allclose(y, 10.0, atol=0.05) and conf.all()


def test_reader_measures_the_pen_not_the_line_wiggle() -> None:
    xs = np.arange(0.0, 400.0, 0.25)
    rng = np.random.default_rng(3)
    y = 60.0 + np.interp(xs, np.arange(0, 401, 2.0), rng.normal(0, 0.2, 201))  # jittery
    patch = stroke_patch(xs, y, 2.0)
    cov = np.zeros((120, 400), np.float32)
    img_sl, patch_sl = patch.slices(cov.shape)
    cov[img_sl] = patch.coverage[patch_sl]
    tr = extract_row(cov >= 0.5, cov, top_px=0, bottom_px=120, x0_px=0, x1_px=399,
                     baseline_px=60.0)
    assert tr.line_width_px == pytest.approx(2.0, abs=0.2)
    err = tr.at(xs[40:-40]) - y[40:-40]
    assert np.sqrt(np.nanmean(err ** 2)) < 0.15


def test_window_jacobian_is_the_dense_jacobian() -> None:
    """Rows, normal equations and A^T v in band form equal those of the dense (2C, N)
    Jacobian: entry p (1 - W) at J and p W at J + 1 of each candidate, rows weighted."""
    rng = np.random.default_rng(3)
    xs = np.linspace(0.0, 30.0, 61)
    cols = np.r_[np.arange(1.0, 12.0), np.arange(15.0, 29.0)]  # a gap: rows skip samples
    J, W, valid = _window_terms(xs, cols, 0.5 + 1.3)
    n, (c, k) = xs.size, J.shape
    weights = []
    for _ in range(2):
        p = np.where(valid, rng.random((c, k)), 0.0)
        weights.append(p / p.sum(axis=1, keepdims=True))
    row_weight = (rng.random(2 * c) > 0.2).astype(np.float64)
    dense = np.zeros((2 * c, n))
    for g, p in enumerate(weights):
        for i in range(c):
            for m in range(k):
                dense[g * c + i, J[i, m]] += p[i, m] * (1.0 - W[i, m])
                dense[g * c + i, J[i, m] + 1] += p[i, m] * W[i, m]
    dense *= row_weight[:, None]
    jac = _WindowJacobian(J, W, valid, n)
    rows = jac.rows(weights, row_weight)
    normal = dense.T @ dense
    band = jac.normal_band(rows)
    for d in range(band.shape[0]):
        assert np.allclose(band[d, :n - d], np.diagonal(normal, -d), atol=1e-12)
    assert np.allclose(np.tril(normal, -band.shape[0]), 0.0)  # nothing outside the band
    v = rng.normal(size=2 * c)
    assert np.allclose(jac.transpose_times(rows, v), dense.T @ v, atol=1e-12)


def test_banded_solve_falls_back_when_not_positive_definite() -> None:
    band = np.array([[2.0, -1.0, 3.0], [1.0, 1.0, 0.0]])  # symmetric, indefinite
    full = np.diag(band[0]) + np.diag(band[1, :2], -1) + np.diag(band[1, :2], 1)
    rhs = np.array([1.0, 2.0, 3.0])
    assert np.allclose(full @ _solve_banded_spd(band, rhs), rhs)
