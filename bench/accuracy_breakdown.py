"""Where the digitizer loses accuracy: one condition of bench/accuracy.py, per lead
(x0 is ours in rectified working-image px, the truth's in page px: equal up to 3400 px wide).

For each page (the same seeded pages as bench/accuracy.py) and lead, prints our score (dB,
pipeline.evaluate.score_lead), the whole-sample shift the metric chose, the amplitude
slope (least squares, estimate on truth, at that shift), our window origin x0 (px) and
time window (s) against the truth's (`page.panels`), the share of the squared error held
by the worst 5% of samples and by the 25 samples at each window edge, and the score of the
oracle that reads the renderer's own trace mask (pipeline.synth.oracle, "envelope"), and
what the lead's timing costs: "drift", the spread (samples) of the best shift of each
TIMING_WINDOW_S of the lead within +-TIMING_REACH samples of the lead's own, and "local dB",
the score with each window at its best shift (the lead's offset kept). A line read with a
time axis that stretches or bends (a perspective left in the rectification, a wrong column
length) drifts; a few samples of drift cost a sharp QRS complex several dB.

    python bench/accuracy_breakdown.py [--condition "clean 3x4+1 200dpi"] [--pages 3] [--start 0]
        [--segmenter auto|classic]

The default segmenter is the shipped network ("auto"); "classic" is the colour rule alone.
"""
from __future__ import annotations

import argparse
import sys
from itertools import pairwise

import numpy as np
from accuracy import CONDITIONS, condition_page, test_records  # bench/ is on sys.path when run

from pipeline.digitizer import Digitizer
from pipeline.errors import DigitizerError
from pipeline.evaluate import _shifted, score_lead, snr_db
from pipeline.synth.oracle import digitize_from_masks
from pipeline.types import LEADS, DigitizeOptions

EDGE_SAMPLES = 25
#: Window of the timing diagnostic (s) and how far (samples) each window's shift is searched.
TIMING_WINDOW_S = 1.25
TIMING_REACH = 8


def local_timing(ref: np.ndarray, est: np.ndarray, lag: int, offset_uv: float,
                 fs: float = 500.0) -> tuple[float, int]:
    """Score (dB, as `score_lead`) of est ((T,) uV) when each TIMING_WINDOW_S of ref ((T,)
    uV, NaN where not drawn) may take its own shift within lag +- TIMING_REACH samples, the
    offset held at offset_uv; and the spread (max - min, samples) of those windows' shifts.
    """
    valid = np.flatnonzero(np.isfinite(ref))
    if valid.size == 0:
        return 0.0, 0
    est64 = est.astype(np.float64)
    moved = {k: _shifted(est64, k) for k in range(lag - TIMING_REACH, lag + TIMING_REACH + 1)}
    window = max(1, round(TIMING_WINDOW_S * fs))
    err, n_both, shifts = 0.0, 0, []
    for w0 in range(int(valid[0]), int(valid[-1]) + 1, window):
        r = ref[w0:min(w0 + window, int(valid[-1]) + 1)].astype(np.float64)
        best: tuple[float, int, int] | None = None  # (mean square error, samples, shift)
        for k, m in moved.items():
            part = m[w0:w0 + r.size]
            ok = np.isfinite(r) & np.isfinite(part)
            if ok.sum() < 10:
                continue
            e = float(np.sum((r[ok] - part[ok] - offset_uv) ** 2))
            if best is None or e / ok.sum() < best[0] / best[1]:
                best = (e, int(ok.sum()), k)
        if best is not None:
            err, n_both = err + best[0], n_both + best[1]
            shifts.append(best[2])
    rv = ref[valid].astype(np.float64)
    power = float(np.sum((rv - rv.mean()) ** 2))
    if not shifts or power <= 0:
        return 0.0, 0
    snr = snr_db(power, err)
    return float(snr * n_both / valid.size), int(max(shifts) - min(shifts))


def lead_row(ref: np.ndarray, est: np.ndarray) -> dict[str, float]:
    """Score, shift, slope and where the error sits for one lead; ref, est: (T,) uV."""
    s = score_lead(ref, est, 500.0)
    assert s is not None  # only drawn leads are passed
    moved = _shifted(est.astype(np.float64), int(s["shift_samples"]))
    ok = np.isfinite(ref) & np.isfinite(moved)
    out = {"score": s["score_db"], "shift": s["shift_samples"], "slope": np.nan,
           "top5": np.nan, "edges": np.nan, "local": np.nan, "drift": np.nan}
    if ok.sum() < 20:
        return out
    r, e = ref[ok].astype(np.float64), moved[ok]
    out["slope"] = float(np.polyfit(r, e, 1)[0])
    res = r - e - np.mean(r - e)
    total = float(np.sum(res ** 2)) or 1.0
    out["top5"] = float(np.sum(np.sort(res ** 2)[::-1][: max(1, res.size // 20)]) / total)
    idx = np.flatnonzero(ok)
    breaks = np.r_[0, np.flatnonzero(np.diff(idx) > 1) + 1, idx.size]
    edge = np.zeros(idx.size, dtype=bool)
    for a, b in pairwise(breaks):
        edge[a:a + EDGE_SAMPLES] = True
        edge[max(a, b - EDGE_SAMPLES):b] = True
    out["edges"] = float(np.sum(res[edge] ** 2) / total)
    out["local"], out["drift"] = local_timing(ref, est, int(s["shift_samples"]),
                                              float(s["offset_uv"]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--condition", default="clean 3x4+1 200dpi", choices=list(CONDITIONS))
    ap.add_argument("--pages", type=int, default=3)
    ap.add_argument("--start", type=int, default=0, help="first page index")
    ap.add_argument("--segmenter", choices=("auto", "classic"), default="auto")
    args = ap.parse_args(argv)
    changed = bool(CONDITIONS[args.condition][2])  # turned or negative
    dz = Digitizer(DigitizeOptions(device="cpu"),
                   segmenter="classic" if args.segmenter == "classic" else None)
    records = test_records()
    name = args.condition
    for i in range(args.start, args.start + args.pages):
        rec, page, image = condition_page(name, i, records)
        try:
            res = dz.digitize(image)
        except DigitizerError as exc:
            print(f"page {i} ({rec.name}): refused: {exc}")
            continue
        print(f"page {i} ({rec.name}) px/mm {res.px_per_mm:.4f} (truth {page.px_per_mm:.4f}) "
              f"pen {page.conditions.get('trace_width_px', float('nan')):.2f} px, layout "
              f"{res.layout} (truth {page.layout})")
        oracle = (digitize_from_masks(page, "envelope")
                  if np.allclose(page.homography, np.eye(3)) and not changed else None)
        placed = {p.lead: p for p in res.geometry.panels} if res.geometry else {}
        truth_panel = {}
        for p in page.panels:
            truth_panel.setdefault(p.lead, p)
        print("  lead  dB    shift slope  top5%  edges%  drift local  x0 (truth)        "
              "window s (truth)              oracle dB")
        for k, lead in enumerate(LEADS):
            if not np.isfinite(page.truth_uv[k]).any():
                continue
            row = lead_row(page.truth_uv[k], res.signals_uv[k])
            o = (score_lead(page.truth_uv[k], oracle[k], 500.0)["score_db"]  # type: ignore[index]
                 if oracle is not None else float("nan"))
            ours, true = placed.get(lead), truth_panel[lead]
            where = (f"{ours.x_start_px:7.1f} ({true.x0_px:7.1f})  {ours.t0_s:.3f}-{ours.t1_s:.3f}"
                     f" ({true.t0_s:.3f}-{true.t1_s:.3f})") if ours else "not placed"
            print(f"  {lead:4s} {row['score']:5.1f} {row['shift']:+4d}  {row['slope']:.3f} "
                  f"{row['top5']:5.0%} {row['edges']:6.0%}  {row['drift']:5.0f} {row['local']:5.1f}"
                  f"   {where}  {o:5.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
