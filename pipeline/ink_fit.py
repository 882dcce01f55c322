"""Fitting a line to its ink: the samples of a curve whose pen stroke draws given edges.

A function-like curve y(x) drawn with a pen of width w (px) inks, in pixel column c, the
interval [m_c - w/2, M_c + w/2], where m_c and M_c are the min and max of the curve over the
pen's window [c - r, c + r] (r = 0.5 + w/2). Given each column's top and bottom ink edges
(sub-pixel, from the ink coverage of the edge pixels), `fit_samples` finds the polyline
samples y_i at evenly spaced x_i whose window minima and maxima reproduce them: from the
tightest bounds the windows give (the "envelope"), a damped Gauss-Newton fit on a soft
max/min (log-sum-exp at temperatures falling from 0.1 to 1e-4 px) with a second-difference
penalty that falls from 1e-2 to 1e-5. The penalty only chooses among curves that draw the
same ink: samples between a window's extremes touch no edge and are only bounded.

Unlike reading one value per column (a centroid, or the mean of an opening and a closing),
the fit keeps the apexes of waves narrower than the pen's reach and places samples between
column centres, which is where a 200-dpi page loses most of its accuracy. Written here
because no library fits a curve to min/max-window observations.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg.lapack import dpbsv
from scipy.sparse.linalg import spsolve

#: Fit schedule: (soft-extreme temperature px, weight of the
#: second-difference penalty) per stage, and Gauss-Newton steps per stage.
FIT_SCHEDULE = ((0.1, 1e-2), (0.01, 1e-3), (1e-3, 1e-4), (1e-4, 1e-5))
STEPS_PER_STAGE = 10


def _window_terms(xs: np.ndarray, columns: np.ndarray, reach: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidates for each column window's extremes: the interpolated window ends and the
    vertices inside. Candidate k of column j is y[J] (1 - W) + y[J + 1] W; (C, K) arrays
    J (int), W (float) and valid (bool). xs: (N,) evenly spaced vertex x, px."""
    n = xs.size
    dx = (xs[-1] - xs[0]) / (n - 1)
    ta = (np.maximum(columns - reach, xs[0]) - xs[0]) / dx
    tb = (np.minimum(columns + reach, xs[-1]) - xs[0]) / dx
    ja = np.clip(np.floor(ta).astype(np.int64), 0, n - 2)
    jb = np.clip(np.floor(tb).astype(np.int64), 0, n - 2)
    i0 = np.ceil(ta - 1e-9).astype(np.int64)
    i1 = np.floor(tb + 1e-9).astype(np.int64)
    width = max(int((i1 - i0).max()) + 1, 1)
    inside = i0[:, None] + np.arange(width)[None, :]
    in_ok = inside <= i1[:, None]
    j_in = np.where(in_ok, np.minimum(inside, n - 2), 0)
    w_in = np.where(in_ok & (inside > n - 2), 1.0, 0.0)
    J = np.concatenate([ja[:, None], jb[:, None], j_in], axis=1)
    W = np.concatenate([(ta - ja)[:, None], (tb - jb)[:, None], w_in], axis=1)
    valid = np.concatenate([np.ones((columns.size, 2), dtype=bool), in_ok], axis=1)
    return J, W, valid


def _soft_residuals(y: np.ndarray, J: np.ndarray, W: np.ndarray, valid: np.ndarray,
                    low: np.ndarray, high: np.ndarray, temperature: float
                    ) -> tuple[np.ndarray, list[np.ndarray]]:
    """(2C,) soft window min - low and soft max - high (px), and the (C, K) softmax weights
    of each (the residuals' derivatives with respect to the candidates)."""
    values = y[J] * (1.0 - W) + y[J + 1] * W
    residuals, weights = [], []
    for sign, target in ((-1.0, low), (1.0, high)):
        z = np.where(valid, sign * values / temperature, -np.inf)
        top = z.max(axis=1, keepdims=True)
        e = np.exp(z - top)
        total = e.sum(axis=1, keepdims=True)
        residuals.append(sign * temperature * (np.log(total[:, 0]) + top[:, 0]) - target)
        weights.append(e / total)
    return np.concatenate(residuals), weights


class _WindowJacobian:
    """The Jacobian of the soft residuals ((2C, N): the low then the high residual of each
    column) kept as its nonzero part: row r touches only the L samples first .. first + L - 1
    of its column's window. Builds the normal equations A^T A (in band form) and A^T v.

    J, W, valid: (C, K) from `_window_terms`; n: samples; min_width: L at least this.
    """

    def __init__(self, J: np.ndarray, W: np.ndarray, valid: np.ndarray, n: int,
                 min_width: int = 3) -> None:
        n_cols = J.shape[0]
        first = np.where(valid, J, np.iinfo(J.dtype).max).min(axis=1)
        local = np.where(valid, J - first[:, None], 0)  # invalid candidates weigh 0
        width = max(int(local.max()) + 2, min_width)
        self.n, self.n_cols, self.width, self.W = n, n_cols, width, W
        span = n + width  # room for the rows of the last columns
        self._span = span
        # Where each candidate's two entries go in the (C, L) rows.
        at = np.arange(n_cols)[:, None] * width + local
        self._entries = np.r_[at.ravel(), (at + 1).ravel()]
        # (A^T A)[first + b + d, first + b] gets row entries b + d times b: band row d.
        self._band_at = np.concatenate([
            (d * span + first[:, None] + np.arange(width - d)[None, :]).ravel()
            for d in range(width)])
        self._sample_at = (first[:, None] + np.arange(width)[None, :]).ravel()

    def rows(self, weights: list[np.ndarray], row_weight: np.ndarray) -> np.ndarray:
        """(2, C, L) the rows of the low and the high residuals, times row_weight ((2C,))."""
        size = self.n_cols * self.width
        out = np.empty((2, self.n_cols, self.width))
        for g, p in enumerate(weights):
            values = np.r_[(p * (1.0 - self.W)).ravel(), (p * self.W).ravel()]
            out[g] = np.bincount(self._entries, values, minlength=size).reshape(
                self.n_cols, self.width)
        return out * row_weight.reshape(2, self.n_cols, 1)

    def normal_band(self, rows: np.ndarray) -> np.ndarray:
        """(L, N) lower band of A^T A (band[d, j] = (A^T A)[j + d, j]); rows: from `rows`."""
        lo, hi = rows
        width = self.width
        products = np.concatenate([
            (lo[:, d:] * lo[:, :width - d] + hi[:, d:] * hi[:, :width - d]).ravel()
            for d in range(width)])
        band = np.bincount(self._band_at, products, minlength=width * self._span)
        return band.reshape(width, self._span)[:, :self.n]

    def transpose_times(self, rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """(N,) A^T @ vector for vector (2C,); rows: from `rows`."""
        lo, hi = rows
        c = self.n_cols
        values = (lo * vector[:c, None] + hi * vector[c:, None]).ravel()
        return np.bincount(self._sample_at, values, minlength=self._span)[:self.n]


def _lower_band(matrix: sp.spmatrix, width: int) -> np.ndarray:
    """(width, N) lower band (band[d, j] = matrix[j + d, j]) of a symmetric banded (N, N)
    sparse matrix whose nonzeros lie within `width` diagonals of its main one."""
    coo = matrix.tocoo()
    lower = coo.row >= coo.col
    rows, cols, vals = coo.row[lower], coo.col[lower], coo.data[lower]
    band = np.zeros((width, matrix.shape[0]))
    np.add.at(band, (rows - cols, cols), vals)
    return band


def _envelope_start(xs: np.ndarray, columns: np.ndarray, low: np.ndarray, high: np.ndarray,
                    reach: float) -> np.ndarray:
    """(N,) start rows (px): the mean of the tightest bounds the windows holding each x give
    (the largest window minimum and the smallest window maximum); column midranges where
    no window holds x."""
    lower = np.full(xs.size, -np.inf)
    upper = np.full(xs.size, np.inf)
    pos = np.searchsorted(columns, xs)
    k = int(np.ceil(reach)) + 1
    for off in range(-k, k + 1):
        idx = np.clip(pos + off, 0, columns.size - 1)
        ok = np.abs(xs - columns[idx]) <= reach
        lower = np.where(ok, np.maximum(lower, low[idx]), lower)
        upper = np.where(ok, np.minimum(upper, high[idx]), upper)
    start = np.interp(xs, columns, 0.5 * (low + high))
    held = np.isfinite(lower) & np.isfinite(upper)
    start[held] = 0.5 * (lower[held] + upper[held])
    return start


def _solve_banded_spd(band: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve M @ x = rhs for a symmetric positive definite banded (N, N) matrix M given by
    its lower band ((L, N), band[d, j] = M[j + d, j]; each window ties only nearby
    samples) by banded Cholesky; sparse LU if that fails."""
    if not (np.isfinite(band).all() and np.isfinite(rhs).all()):
        raise ValueError("array must not contain infs or NaNs")
    # LAPACK's banded Cholesky solver, as scipy's solveh_banded calls it (without its
    # checks, which cost more than the solve at this size).
    _, x, info = dpbsv(band, rhs, lower=1)
    if info < 0:
        raise ValueError(f"illegal value in argument {-info} of LAPACK dpbsv")
    if info > 0:  # not positive definite
        n = band.shape[1]
        lower = sp.diags([band[d, :n - d] for d in range(band.shape[0])],
                         list(range(0, -band.shape[0], -1)), shape=(n, n))
        matrix = lower + sp.triu(lower.T, 1)
        return np.asarray(spsolve(matrix.tocsc(), rhs))
    return np.asarray(x)


def _cost(residuals: np.ndarray, curvature: np.ndarray, smoothness: float) -> float:
    """Squared edge misfit (px^2) plus the weighted squared second differences."""
    return float(residuals @ residuals + smoothness * (curvature @ curvature))


def fit_samples(xs: np.ndarray, columns: np.ndarray, top: np.ndarray, bottom: np.ndarray,
                half_pen: float, schedule: tuple[tuple[float, float], ...] = FIT_SCHEDULE,
                steps: int = STEPS_PER_STAGE, top_ok: np.ndarray | None = None,
                bottom_ok: np.ndarray | None = None) -> np.ndarray:
    """(N,) rows (px) of the polyline at xs ((N,) evenly spaced, px) whose window minima and
    maxima reproduce the ink edges top/bottom ((C,) px) of `columns` (see module doc).

    top_ok, bottom_ok: (C,) bool, which edges belong to the line (default all); an edge
    moved by other ink (a letter touching the line) is left out of the fit.
    """
    n = xs.size
    if n < 3 or columns.size < 2:
        raise ValueError(f"need >= 3 samples and >= 2 columns; found {n} and {columns.size}")
    top_ok = np.ones(columns.size, bool) if top_ok is None else np.asarray(top_ok, bool)
    bottom_ok = np.ones(columns.size, bool) if bottom_ok is None else np.asarray(bottom_ok, bool)
    low, high = top + half_pen, bottom - half_pen
    J, W, valid = _window_terms(xs, columns, 0.5 + half_pen)
    # Where one edge is not the line's, start from the other one.
    y = _envelope_start(xs, columns, np.where(top_ok, low, high), np.where(bottom_ok, high, low),
                        0.5 + half_pen)
    weight = np.r_[top_ok, bottom_ok].astype(np.float64)
    d2 = sp.diags([np.ones(n - 2), -2.0 * np.ones(n - 2), np.ones(n - 2)], [0, 1, 2],
                  shape=(n - 2, n)).tocsr()
    curvature = (d2.T @ d2).tocsc()
    # The normal equations are built in band form: the Jacobian's rows touch L samples.
    jacobian = _WindowJacobian(J, W, valid, n)  # L >= 3: the curvature ties 3 samples
    curvature_band = _lower_band(curvature, jacobian.width)
    for temperature, smoothness in schedule:
        penalty = curvature * smoothness
        damping = 1e-3
        res, weights = _soft_residuals(y, J, W, valid, low, high, temperature)
        res = res * weight
        current = _cost(res, d2 @ y, smoothness)
        # The normal equations at y (band without damping, right-hand side): a refused
        # step leaves y as it was, and only the damping changes for the next try.
        normal: tuple[np.ndarray, np.ndarray] | None = None
        for _ in range(steps):
            if normal is None:
                a = jacobian.rows(weights, weight)
                normal = (jacobian.normal_band(a) + smoothness * curvature_band,
                          -jacobian.transpose_times(a, res) - penalty @ y)
            band = normal[0].copy()
            band[0] += damping
            step = _solve_banded_spd(band, normal[1])
            res_new, weights_new = _soft_residuals(y + step, J, W, valid, low, high,
                                                   temperature)
            res_new = res_new * weight
            trial = _cost(res_new, d2 @ (y + step), smoothness)
            if trial < current:
                y, res, weights, current = y + step, res_new, weights_new, trial
                damping = max(damping / 3.0, 1e-12)
                normal = None
            else:
                damping *= 4.0
    return y
