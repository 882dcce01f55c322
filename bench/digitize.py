"""Speed and memory of the digitizer on 200-dpi pages.

Prints: median seconds per page (3x4+1, letter landscape, 200 dpi = 2200 x 1700 px) on this
CPU, per stage; peak resident memory of the process; and, when CUDA is available, batched
pages per second on the GPU ("no GPU here" otherwise).

    python bench/digitize.py [--pages 5] [--segmenter auto|classic] [--threads 2]
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time

import numpy as np
import torch

from pipeline.digitizer import Digitizer
from pipeline.synth import load_record, render_page, sample_spec
from pipeline.synth.dataset import DEFAULT_RECORDS
from pipeline.types import DigitizeOptions

PTBXL = DEFAULT_RECORDS


def pages(n: int) -> list[np.ndarray]:
    records = sorted(PTBXL.glob("*.hea"))[:n]
    out = []
    for i, hea in enumerate(records):
        rng = np.random.default_rng(i)
        signals, fs = load_record(str(hea.with_suffix("")))
        spec = sample_spec(rng, "clean", layout="3x4+1", dpi=200.0, paper="letter",
                           orientation="landscape")
        out.append(render_page(signals, fs, spec, rng).image)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pages", type=int, default=5)
    ap.add_argument("--segmenter", choices=("auto", "classic"), default="auto")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    images = pages(args.pages)
    print(f"{len(images)} pages of {images[0].shape[1]} x {images[0].shape[0]} px")
    dz = Digitizer(DigitizeOptions(device="cpu", batch_size=1),
                   segmenter="classic" if args.segmenter == "classic" else None)
    print(f"digitizer {dz.version}")
    dz.digitize(images[0])  # warm-up
    times, stages = [], {}
    for im in images:
        t = time.perf_counter()
        res = dz.digitize(im)
        times.append(time.perf_counter() - t)
        for k, v in res.timings_s.items():
            stages.setdefault(k, []).append(v)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"CPU ({args.threads} threads): median {statistics.median(times):.2f} s per page "
          f"(target <= 2.0 s); min {min(times):.2f} s, max {max(times):.2f} s")
    print("  stages (median s): " + ", ".join(
        f"{k} {statistics.median(v):.3f}" for k, v in stages.items()))
    print(f"peak resident memory {peak_mb:.0f} MB (whole process, rendering included; "
          f"target <= 2500 MB)")
    if torch.cuda.is_available():
        gz = Digitizer(DigitizeOptions(device="cuda", batch_size=16),
                       segmenter="classic" if args.segmenter == "classic" else None)
        batch = (images * (32 // len(images) + 1))[:32]
        gz.digitize_batch(batch[:4])
        t = time.perf_counter()
        gz.digitize_batch(batch)
        dt = time.perf_counter() - t
        print(f"GPU {torch.cuda.get_device_name(0)}: {len(batch) / dt:.1f} pages/s "
              f"(batch 16, whole pipeline; target >= 20)")
    else:
        print("GPU: no GPU here (torch.cuda.is_available() is False); not measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
