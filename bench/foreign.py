"""Accuracy on pages drawn by another program: ecg_plot (PyPI, MIT), not our renderer.

    pip install -e '.[bench]'
    python bench/foreign.py [--pages 4]

The digitizer is built for ECG pictures from any program; this bench draws held-out PTB-XL
records with ecg_plot 0.3 (each lead in its own gridded panel, gaps between panels, the
calibration pulse on 0 mV beside the trace, faint pink or grey grids) in several styles and
resolutions, digitizes them and scores each lead over the window the page draws (the
truth is blank elsewhere), as `bench/accuracy.py` does. Prints one line per style: mean
dB, pages refused, the layout read, and the 95th percentile of how far the read leads sit
from their time (the metric forgives up to 0.5 s).
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
from pathlib import Path

import numpy as np

from pipeline.digitizer import Digitizer
from pipeline.errors import DigitizerError
from pipeline.evaluate import score_record
from pipeline.synth import load_record
from pipeline.synth.dataset import DEFAULT_RECORDS
from pipeline.synth.splits import split_of
from pipeline.types import DigitizeOptions

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
#: name -> (ecg_plot layout, style, dpi).
STYLES = {
    "3x4+II 200 dpi": ("12lead", None, 200),
    "3x4+II 100 dpi": ("12lead", None, 100),
    "3x4+II 300 dpi": ("12lead", None, 300),
    "3x4+II bw 150 dpi": ("12lead", "bw", 150),
    "6x2 200 dpi": ("columns", None, 200),
}


def draw(signals_mv: np.ndarray, fs: float, layout: str, style: str | None,
         dpi: int) -> np.ndarray:
    """(H, W, 3) uint8 page of (12, T) mV signals drawn by ecg_plot, 25 mm/s, 10 mm/mV."""
    import ecg_plot
    from PIL import Image

    layout_args = ({"layout": "12lead", "time_mode": "sequential", "rhythm_lead": "II"}
                   if layout == "12lead" else
                   {"layout": "columns", "columns": 2, "time_mode": "sequential"})
    chart = ecg_plot.plot(signals_mv, sample_rate=fs, lead_names=list(LEADS), style=style,
                          **layout_args)
    figure = chart.to_matplotlib()[0]
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=dpi, format="png")
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def drawn_truth(signals_mv: np.ndarray, layout: str) -> np.ndarray:
    """(12, T) uV truth, NaN outside the window each lead is drawn for."""
    uv = signals_mv * 1000.0
    out = np.full_like(uv, np.nan)
    n = uv.shape[1]
    if layout == "12lead":  # columns of 2.5 s: I-III, aVR-aVF, V1-V3, V4-V6; II whole
        for i in range(12):
            c = i // 3
            out[i, c * n // 4:(c + 1) * n // 4] = uv[i, c * n // 4:(c + 1) * n // 4]
        out[1] = uv[1]
    else:  # two columns of 5 s: the limb leads, then the chest leads
        for i in range(12):
            c = i // 6
            out[i, c * n // 2:(c + 1) * n // 2] = uv[i, c * n // 2:(c + 1) * n // 2]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=4, help="records per style")
    ap.add_argument("--styles", default=",".join(STYLES), help="comma-separated names")
    args = ap.parse_args(argv)
    try:
        import ecg_plot  # noqa: F401
    except ImportError:
        print("ecg_plot is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    records = [p.with_suffix("") for p in sorted(Path(DEFAULT_RECORDS).glob("*.hea"))
               if split_of(p.stem) == "test"]
    if not records:
        print(f"no test records under {DEFAULT_RECORDS}", file=sys.stderr)
        return 2
    digitizer = Digitizer(DigitizeOptions(device="cpu"))
    for name in args.styles.split(","):
        layout, style, dpi = STYLES[name]
        scores, refused, layouts, shifts_ms = [], 0, [], []
        for i in range(args.pages):
            signals, fs = load_record(str(records[(5 * i + 3) % len(records)]))
            signals = signals[:, :round(10 * fs)]
            image = draw(signals, fs, layout, style, dpi)
            try:
                result = digitizer.digitize(image)
            except DigitizerError as exc:
                refused += 1
                layouts.append(f"refused ({exc.__class__.__name__})")
                scores.append(0.0)
                continue
            per_lead = score_record(drawn_truth(signals, layout), result.signals_uv, fs)
            scores.append(float(np.mean([v["score_db"] for v in per_lead.values()])))
            shifts_ms += [abs(v["shift_samples"]) / fs * 1000.0 for v in per_lead.values()
                          if np.isfinite(v["r"])]
            layouts.append(result.layout)
        print(f"{name:20s} mean {statistics.mean(scores):5.1f} dB over {args.pages} pages "
              f"(per page {', '.join(f'{s:.1f}' for s in scores)}); refused {refused}; "
              f"layouts {', '.join(sorted(set(layouts)))}; lead shift p95 "
              f"{np.percentile(shifts_ms, 95) if shifts_ms else float('nan'):.0f} ms",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
