"""Where the digitizer loses accuracy: one condition of bench/accuracy.py, per lead
(x0 is ours in rectified working-image px, the truth's in page px: equal up to 3400 px wide).

For each page (the same seeded pages as bench/accuracy.py) and lead, prints our score (dB,
pipeline.evaluate.score_lead), the whole-sample shift the metric chose, the amplitude
slope (least squares, estimate on truth, at that shift), our window origin x0 (px) and
time window (s) against the truth's (`page.panels`), the share of the squared error held
by the worst 5% of samples and by the 25 samples at each window edge, and the score of the
oracle that reads the renderer's own trace mask (pipeline.synth.oracle, "envelope").

    python bench/accuracy_breakdown.py [--condition "clean 3x4+1 200dpi"] [--pages 3]
        [--segmenter auto|classic]
"""
from __future__ import annotations

import argparse
import sys
from itertools import pairwise

import numpy as np
from accuracy import CONDITIONS, condition_page, test_records  # bench/ is on sys.path when run

from pipeline.digitizer import Digitizer
from pipeline.errors import DigitizerError
from pipeline.evaluate import _shifted, score_lead
from pipeline.synth.oracle import digitize_from_masks
from pipeline.types import LEADS, DigitizeOptions

EDGE_SAMPLES = 25


def lead_row(ref: np.ndarray, est: np.ndarray) -> dict[str, float]:
    """Score, shift, slope and where the error sits for one lead; ref, est: (T,) uV."""
    s = score_lead(ref, est, 500.0)
    assert s is not None  # only drawn leads are passed
    moved = _shifted(est.astype(np.float64), int(s["shift_samples"]))
    ok = np.isfinite(ref) & np.isfinite(moved)
    out = {"score": s["score_db"], "shift": s["shift_samples"], "slope": np.nan,
           "top5": np.nan, "edges": np.nan}
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
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--condition", default="clean 3x4+1 200dpi", choices=list(CONDITIONS))
    ap.add_argument("--pages", type=int, default=3)
    ap.add_argument("--segmenter", choices=("auto", "classic"), default="classic")
    args = ap.parse_args(argv)
    flip = CONDITIONS[args.condition][2]
    dz = Digitizer(DigitizeOptions(device="cpu"),
                   segmenter="classic" if args.segmenter == "classic" else None)
    records = test_records()
    name = args.condition
    for i in range(args.pages):
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
                  if np.allclose(page.homography, np.eye(3)) and not flip else None)
        placed = {p.lead: p for p in res.geometry.panels} if res.geometry else {}
        truth_panel = {}
        for p in page.panels:
            truth_panel.setdefault(p.lead, p)
        print("  lead  dB    shift slope  top5%  edges%  x0 (truth)        window s (truth)"
              "              oracle dB")
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
                  f"{row['top5']:5.0%} {row['edges']:6.0%}   {where}  {o:5.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
