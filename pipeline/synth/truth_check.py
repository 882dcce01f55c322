"""How exactly a clean page's soft ink gives back its truth (figures for docs/renderer.md).

    python -m pipeline.synth.truth_check [--dpi 300] [--trace-width-mm 0.1] \
        [--layout 3x4+1] [--free] RECORD_PATH...

Per record: the mean score of `digitize_from_coverage` with the shared metric, its worst
lead, the share of squared error (uV^2) within 2 samples of a local extremum of the truth,
and the largest column edge misfit (px) of the fitted samples. With --free it also measures
how far single truth samples can move without changing ANY column's ink edges (so no reader
can recover them) and scores a different signal with the same ink against the truth.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.evaluate import score_record
from pipeline.synth import RenderedPage, RenderSpec, load_record, render_page
from pipeline.synth.oracle import coverage_edges, digitize_from_coverage, fit_samples
from pipeline.synth.raster import window_ranges
from pipeline.types import LEADS

#: Trial moves of one sample, px, for the free-range search (smallest first).
FREE_STEPS_PX = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0)
#: Edge agreement that counts as "the same ink", px.
SAME_INK_PX = 1e-9


@dataclass(frozen=True)
class PanelCurve:
    """One panel's polyline in page px: xs, ys (N,) and the columns its ink reaches (C,)."""

    lead_row: int
    samples: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    columns: np.ndarray


def panel_curves(page: RenderedPage) -> list[PanelCurve]:
    """The truth polyline of every panel of an unwarped page, as the renderer drew it."""
    h = 0.5 * float(page.conditions["trace_width_px"])
    px_per_s = page.mm_per_s * page.px_per_mm
    px_per_uv = page.mm_per_mv * page.px_per_mm / 1000.0
    t_axis = np.arange(page.truth_uv.shape[1]) / page.fs_hz
    curves = []
    for panel in page.panels:
        row = LEADS.index(panel.lead)
        samples = np.nonzero((t_axis >= panel.t0_s)
                             & (t_axis < panel.t1_s - 0.5 / page.fs_hz))[0]
        xs = panel.x0_px + (t_axis[samples] - panel.t0_s) * px_per_s
        ys = panel.baseline_y_px - panel.polarity * page.truth_uv[row, samples].astype(
            np.float64) * px_per_uv
        columns = np.arange(np.floor(xs[0] - h + 0.5), np.floor(xs[-1] + h + 0.5) + 1.0)
        curves.append(PanelCurve(row, samples, xs, ys, columns))
    return curves


def free_moves(curve: PanelCurve, half_pen: float) -> np.ndarray:
    """(N, 2) largest trial move (px, from FREE_STEPS_PX; 0 if none) down and up of each
    sample alone that leaves every column's window min and max unchanged."""
    a, b = curve.columns - 0.5 - half_pen, curve.columns + 0.5 + half_pen
    lo0, hi0 = window_ranges(curve.xs, curve.ys, a, b)
    free = np.zeros((curve.xs.size, 2))
    for i, x in enumerate(curve.xs):
        near = np.abs(curve.columns - x) < 1.5 + half_pen
        for side, sign in enumerate((1.0, -1.0)):
            for step in FREE_STEPS_PX:
                moved = curve.ys.copy()
                moved[i] += sign * step
                lo, hi = window_ranges(curve.xs, moved, a[near], b[near])
                if (np.max(np.abs(lo - lo0[near])) > SAME_INK_PX
                        or np.max(np.abs(hi - hi0[near])) > SAME_INK_PX):
                    break
                free[i, side] = step
    return free


def same_ink_alternative(curve: PanelCurve, free: np.ndarray, spacing: int = 5) -> np.ndarray:
    """(N,) px: the truth with every free sample at least `spacing` samples from the last
    moved one pushed by its largest free move (moves that far apart do not interact)."""
    ys = curve.ys.copy()
    last = -spacing
    for i in range(ys.size):
        step = float(free[i].max())
        if step > 0 and i - last >= spacing:
            ys[i] += step if free[i, 0] >= free[i, 1] else -step
            last = i
    return ys


def _mean_and_worst(scores: dict[str, dict[str, float]]) -> tuple[float, str, float]:
    worst = min(scores, key=lambda lead: scores[lead]["score_db"])
    return (float(np.mean([s["score_db"] for s in scores.values()])), worst,
            float(scores[worst]["score_db"]))


def check_record(path: Path, spec: RenderSpec, with_free: bool) -> str:
    """One line of figures for the record at `path` (see the module doc)."""
    signals, fs = load_record(path)
    page = render_page(signals, fs, spec, np.random.default_rng(0), with_coverage=True)
    if page.trace_coverage is None:
        raise RuntimeError("render_page(..., with_coverage=True) returned no trace_coverage")
    est = digitize_from_coverage(page)
    mean, worst, worst_db = _mean_and_worst(score_record(page.truth_uv, est, page.fs_hz))
    h = 0.5 * float(page.conditions["trace_width_px"])
    px_per_uv = page.mm_per_mv * page.px_per_mm / 1000.0
    near_sq = all_sq = misfit = 0.0
    alternative = np.full_like(est, np.nan)
    free_px: list[np.ndarray] = []
    for panel, curve, (rows, cols, cov) in zip(page.panels, panel_curves(page),
                                               page.trace_coverage):
        columns, top, bottom = coverage_edges(rows, cols, cov)
        fitted = fit_samples(curve.xs, columns, top, bottom, h)
        lo, hi = window_ranges(curve.xs, fitted, columns - 0.5 - h, columns + 0.5 + h)
        misfit = max(misfit, float(np.max(np.abs(lo - h - top))),
                     float(np.max(np.abs(hi + h - bottom))))
        err_uv = (fitted - curve.ys) / px_per_uv
        step = np.diff(curve.ys)
        extremum = np.zeros(curve.ys.size, dtype=bool)
        extremum[1:-1] = (step[:-1] * step[1:] <= 0) & ((step[:-1] != 0) | (step[1:] != 0))
        near = np.convolve(extremum.astype(np.float64), np.ones(5), "same") > 0
        near_sq += float(np.sum(err_uv[near] ** 2))
        all_sq += float(np.sum(err_uv ** 2))
        if with_free:
            free = free_moves(curve, h)
            free_px.append(free.max(axis=1))
            moved = same_ink_alternative(curve, free)
            alternative[curve.lead_row, curve.samples] = (
                panel.polarity * (panel.baseline_y_px - moved) / px_per_uv)
    line = (f"{path.name}: {mean:.1f} dB mean, worst {worst} {worst_db:.1f} dB; "
            f"{100 * near_sq / max(all_sq, 1e-300):.0f} % of squared error within 2 samples "
            f"of an extremum; max edge misfit {misfit:.3f} px")
    if with_free:
        f = np.concatenate(free_px)
        a_mean, a_worst, a_db = _mean_and_worst(score_record(page.truth_uv, alternative,
                                                             page.fs_hz))
        line += (f"; samples free by >= 0.1 / 0.5 / 1 px: {100 * np.mean(f >= 0.1):.1f} / "
                 f"{100 * np.mean(f >= 0.5):.1f} / {100 * np.mean(f >= 1.0):.1f} %; same-ink "
                 f"signal scores {a_mean:.1f} dB mean (worst {a_worst} {a_db:.1f} dB)")
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.synth.truth_check")
    parser.add_argument("records", type=Path, nargs="+", help="WFDB record paths (no suffix)")
    parser.add_argument("--dpi", type=float, default=300.0)
    parser.add_argument("--trace-width-mm", type=float, default=0.1)
    parser.add_argument("--layout", default="3x4+1")
    parser.add_argument("--free", action="store_true", help="also measure same-ink freedom")
    args = parser.parse_args(argv)
    spec = RenderSpec(layout=args.layout, dpi=args.dpi, trace_width_mm=args.trace_width_mm)
    for path in args.records:
        print(check_record(path, spec, args.free), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
