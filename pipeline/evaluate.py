"""The one scoring harness: digitized signals against rendered truth.

Metric (../shared/DESIGN.md), per (record, lead) over the samples the truth has (the lead was
drawn there): shift the estimate by the whole-sample offset within +-0.5 s and add the
constant within +-1 mV that give the best score; then
    SNR = 10 log10(sum ref_c^2 / sum (ref - est)^2)      over samples valid in both,
    score = SNR * (valid in both / valid in ref),
where ref_c is the reference minus its mean over those samples (so the score does not depend
on the truth's own DC offset: an all-zero estimate scores 0 dB). A lead the estimate does not
give (all NaN where the truth is valid) scores exactly 0 dB. SNR is capped at `MAX_SNR_DB`
(a perfect estimate would otherwise be infinite). Pearson r is taken at the same shift;
missing leads count r = 0. Reported: mean and median score over all (record, lead) pairs
and mean r.

Shapes: (L=12, T) float arrays in microvolts, NaN where not drawn / not estimated.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.types import LEADS

MAX_SHIFT_S = 0.5
MAX_OFFSET_UV = 1000.0
MAX_SNR_DB = 100.0


def _xcorr(a: np.ndarray, b: np.ndarray, max_lag: int) -> np.ndarray:
    """c[k] = sum_n a[n] * b[n - lag_k] for lags -max_lag..max_lag (via FFT). (2*max_lag+1,)"""
    n = a.size + b.size
    size = 1 << int(np.ceil(np.log2(n)))
    spec = np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size))
    full = np.fft.irfft(spec, size)
    lags = np.arange(-max_lag, max_lag + 1)
    return full[lags % size]


def _shifted(est: np.ndarray, lag: int) -> np.ndarray:
    """est moved later by `lag` samples (out[n] = est[n - lag]), NaN where undefined."""
    out = np.full_like(est, np.nan)
    if lag >= 0:
        out[lag:] = est[: est.size - lag]
    else:
        out[:lag] = est[-lag:]
    return out


def snr_db(power: float, err: float) -> float:
    """SNR (dB) of a signal of `power` (sum of squares about its mean) against an error of
    `err` (sum of squares): 0 when the signal has no power, capped at MAX_SNR_DB."""
    if power <= 0:
        return 0.0
    if err <= power * 10 ** (-MAX_SNR_DB / 10):
        return MAX_SNR_DB
    return float(10 * np.log10(power / err))


def _exact(ref: np.ndarray, est: np.ndarray, lag: int, n_ref: int) -> dict[str, float]:
    """Score, SNR, r, offset and coverage of `est` shifted by `lag` against `ref`."""
    moved = _shifted(est, lag)
    both = np.isfinite(ref) & np.isfinite(moved)
    n_both = int(both.sum())
    if n_both == 0:
        return {"score_db": 0.0, "snr_db": 0.0, "r": 0.0, "coverage": 0.0, "shift_samples": lag,
                "offset_uv": 0.0}
    r_v, e_v = ref[both].astype(np.float64), moved[both].astype(np.float64)
    offset = float(np.clip(np.mean(r_v - e_v), -MAX_OFFSET_UV, MAX_OFFSET_UV))
    err = np.sum((r_v - e_v - offset) ** 2)
    power = np.sum((r_v - r_v.mean()) ** 2)
    snr = snr_db(float(power), float(err))
    coverage = n_both / n_ref
    r_std, e_std = np.std(r_v), np.std(e_v)
    r = float(np.corrcoef(r_v, e_v)[0, 1]) if r_std > 0 and e_std > 0 else 0.0
    return {"score_db": snr * coverage, "snr_db": snr, "r": r, "coverage": coverage,
            "shift_samples": lag, "offset_uv": offset}


def score_lead(ref: np.ndarray, est: np.ndarray, fs: float) -> dict[str, float] | None:
    """Score one lead. ref, est: (T,) uV (est is cut or NaN-padded to T). None when the
    truth has no valid sample (the lead was not drawn: it is not scored)."""
    valid_ref = np.isfinite(ref)
    n_ref = int(valid_ref.sum())
    if n_ref == 0:
        return None
    t = ref.size
    est = np.asarray(est, dtype=np.float64)[:t]
    if est.size < t:
        est = np.concatenate([est, np.full(t - est.size, np.nan)])
    valid_est = np.isfinite(est)
    if not valid_est.any():
        return {"score_db": 0.0, "snr_db": 0.0, "r": 0.0, "coverage": 0.0, "shift_samples": 0,
                "offset_uv": 0.0, "missing": True}
    max_lag = round(MAX_SHIFT_S * fs)
    # Sums over samples valid in both, for every lag, by FFT cross-correlation.
    vr, ve = valid_ref.astype(np.float64), valid_est.astype(np.float64)
    r0, e0 = np.where(valid_ref, ref, 0.0), np.where(valid_est, est, 0.0)
    n = np.rint(_xcorr(vr, ve, max_lag))
    s_r, s_e = _xcorr(r0, ve, max_lag), _xcorr(vr, e0, max_lag)
    s_rr, s_ee = _xcorr(r0 * r0, ve, max_lag), _xcorr(vr, e0 * e0, max_lag)
    s_re = _xcorr(r0, e0, max_lag)
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.clip((s_r - s_e) / n, -MAX_OFFSET_UV, MAX_OFFSET_UV)
        err = s_rr + s_ee + n * offset ** 2 - 2 * s_re - 2 * offset * s_r + 2 * offset * s_e
        power = s_rr - s_r ** 2 / n
        snr = 10 * np.log10(power / np.maximum(err, power * 10 ** (-MAX_SNR_DB / 10)))
        approx = np.where(n > 0, snr * n / n_ref, -np.inf)
    lags = np.arange(-max_lag, max_lag + 1)
    # Exact scores for the best few lags (the FFT sums lose precision near perfect fits).
    order = np.lexsort((np.abs(lags), -np.nan_to_num(approx, nan=-np.inf)))
    best: dict[str, float] | None = None
    for k in order[:5]:
        cand = _exact(ref, est, int(lags[k]), n_ref)
        if best is None or cand["score_db"] > best["score_db"] + 1e-9 or (
            abs(cand["score_db"] - best["score_db"]) <= 1e-9
            and abs(cand["shift_samples"]) < abs(best["shift_samples"])
        ):
            best = cand
    assert best is not None
    best["missing"] = False
    return best


def score_record(truth_uv: np.ndarray, est_uv: np.ndarray | None, fs: float
                 ) -> dict[str, dict[str, float]]:
    """Score a digitized record against truth: {lead: scores} for each lead the truth has.

    truth_uv: (L=12, T) uV, NaN where not drawn. est_uv: (L=12, T') uV at the same rate
    (None = nothing produced: every lead 0 dB). fs: Hz. A lead's scores: score_db (SNR x
    coverage, the metric), snr_db, r, coverage, shift_samples (est moved later by this
    many samples matches best), offset_uv, missing.
    """
    truth = np.asarray(truth_uv, dtype=np.float64)
    if truth.ndim != 2 or truth.shape[0] != len(LEADS):
        raise ValueError(f"truth_uv must have shape (12, T); found {truth.shape}")
    if est_uv is not None:
        est = np.asarray(est_uv, dtype=np.float64)
        if est.ndim != 2 or est.shape[0] != len(LEADS):
            raise ValueError(f"est_uv must have shape (12, T); found {est.shape}")
    if fs <= 0:
        raise ValueError(f"fs must be > 0; found {fs}")
    out: dict[str, dict[str, float]] = {}
    for i, lead in enumerate(LEADS):
        row = np.full(truth.shape[1], np.nan) if est_uv is None else est[i]
        scores = score_lead(truth[i], row, fs)
        if scores is not None:
            out[lead] = scores
    return out


def summarize(scores: list[float], rs: list[float]) -> dict[str, float]:
    """Mean and median score (dB), mean Pearson r, count."""
    if not scores:
        nan = float("nan")
        return {"n": 0, "mean_db": nan, "median_db": nan, "mean_r": nan}
    return {"n": len(scores), "mean_db": float(np.mean(scores)),
            "median_db": float(np.median(scores)), "mean_r": float(np.mean(rs))}


# ----------------------------------------------------------------------------- CLI

def _read_prediction(path: Path, fs_truth: float, n_truth: int) -> np.ndarray | None:
    """A predicted WFDB record as (12, n_truth) uV on the truth's time axis, or None."""
    from pipeline.signal_io import read_record_mv

    if not path.with_suffix(".hea").exists():
        return None
    signals_mv, fs = read_record_mv(path)
    signals = signals_mv * 1000.0
    if abs(fs - fs_truth) > 1e-6:
        t_truth = np.arange(n_truth) / fs_truth
        t_pred = np.arange(signals.shape[1]) / fs
        nearest = np.clip(np.rint(t_truth * fs).astype(int), 0, signals.shape[1] - 1)
        out = np.full((len(LEADS), n_truth), np.nan)
        for i in range(len(LEADS)):
            row = signals[i]
            ok = np.isfinite(row)
            if ok.sum() >= 2:
                out[i] = np.interp(t_truth, t_pred[ok], row[ok])
                out[i][~ok[nearest]] = np.nan
                out[i][t_truth > t_pred[-1]] = np.nan
        return out
    return signals


def _condition_keys(meta: dict[str, Any]) -> dict[str, str]:
    c = meta.get("conditions", {})
    width = float(c.get("trace_width_mm", 0))
    jpeg = int(c.get("jpeg_quality", 0))
    return {
        "preset": str(c.get("preset", "?")), "layout": str(meta.get("layout", "?")),
        "dpi": f"{meta.get('dpi', 0):g}", "grid": str(c.get("grid", "?")),
        "mm_per_s": f"{meta.get('mm_per_s', 0):g}", "mm_per_mv": f"{meta.get('mm_per_mv', 0):g}",
        "trace_width_mm": "<0.2" if width < 0.2 else ("0.2-0.35" if width < 0.35 else ">=0.35"),
        "jpeg": "none" if jpeg == 0 else ("<40" if jpeg < 40 else ">=40"),
        "rotated": "yes" if abs(float(c.get("rotation_deg", 0))) > 0.5 else "no",
        "perspective": "yes" if float(c.get("perspective_deg", 0)) > 0 else "no",
    }


def evaluate_dirs(truth_dir: Path, pred_dir: Path) -> dict[str, Any]:
    """Score every page in `truth_dir` against `pred_dir/<stem>.hea`; returns the report."""
    metas = sorted(p for p in truth_dir.glob("*.json") if p.name != "manifest.json")
    if not metas:
        raise FileNotFoundError(f"no page metadata (*.json) in {truth_dir}")
    per_lead: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    per_cond: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    all_s: list[float] = []
    all_r: list[float] = []
    records: dict[str, Any] = {}
    missing_records = 0
    for meta_path in metas:
        stem = meta_path.stem
        meta = json.loads(meta_path.read_text())
        truth_file = np.load(truth_dir / f"{stem}_truth.npz")
        truth, fs = truth_file["truth_uv"], float(truth_file["fs"])
        est = _read_prediction(pred_dir / stem, fs, truth.shape[1])
        missing_records += est is None
        scores = score_record(truth, est, fs)
        keys = _condition_keys(meta)
        for lead, s in scores.items():
            all_s.append(s["score_db"])
            all_r.append(s["r"])
            per_lead[lead][0].append(s["score_db"])
            per_lead[lead][1].append(s["r"])
            for name, value in keys.items():
                per_cond[f"{name}={value}"][0].append(s["score_db"])
                per_cond[f"{name}={value}"][1].append(s["r"])
        records[stem] = {"record": meta.get("record"), "conditions": keys,
                         "predicted": est is not None, "leads": scores}
    return {
        "truth": str(truth_dir), "pred": str(pred_dir), "pages": len(metas),
        "pages_without_prediction": missing_records,
        "overall": summarize(all_s, all_r),
        "per_lead": {lead: summarize(*per_lead[lead]) for lead in LEADS if lead in per_lead},
        "per_condition": {k: summarize(*v) for k, v in sorted(per_cond.items())},
        "records": records,
    }


def format_report(report: dict[str, Any]) -> str:
    """Plain-text tables: overall, per lead, per condition."""
    def row(name: str, s: dict[str, float]) -> str:
        return (f"{name:28s} {s['n']:6d} {s['mean_db']:9.2f} {s['median_db']:9.2f} "
                f"{s['mean_r']:7.3f}")

    head = f"{'':28s} {'n':>6s} {'mean dB':>9s} {'median':>9s} {'r':>7s}"
    lines = [f"pages {report['pages']} (without prediction: {report['pages_without_prediction']})",
             head, row("overall", report["overall"]), "", "per lead", head]
    lines += [row(k, v) for k, v in report["per_lead"].items()]
    lines += ["", "per condition", head]
    lines += [row(k, v) for k, v in report["per_condition"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.evaluate",
                                     description="score digitized WFDB records against truth")
    parser.add_argument("--truth", type=Path, required=True, help="DATASET_DIR/<split>")
    parser.add_argument("--pred", type=Path, required=True, help="folder of <stem>.hea/.dat")
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    args = parser.parse_args(argv)
    report = evaluate_dirs(args.truth, args.pred)
    print(format_report(report))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
