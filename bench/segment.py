"""Benchmark of the segmentation stage: seconds per 200-dpi page on CPU, peak memory, GPU pages/s.

    python bench/segment.py [--weights weights/segmenter.pt] [--repeats 7] [--threads 2]

Prints: the median (and min/max) seconds of `Segmenter.segment` on one 1700x2200 px page
(a clean 200-dpi US-letter render, as the digitizer sees it: resize + network + softmax), the peak
resident memory of the process, and, when CUDA is available, batched throughput in pages/s;
otherwise says "no GPU here".
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from pipeline.segment import Segmenter
from pipeline.synth import RenderSpec, load_record, render_page
from pipeline.synth.dataset import DEFAULT_RECORDS

_RECORD_CANDIDATES = (DEFAULT_RECORDS / "00009_hr",
                      Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ptbxl" / "00009_hr")


def _page() -> np.ndarray:
    record = next(p for p in _RECORD_CANDIDATES if p.with_suffix(".hea").is_file())
    signals, fs = load_record(record)
    spec = RenderSpec(dpi=200.0, paper="letter")
    return render_page(signals, fs, spec, np.random.default_rng(0)).image


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--gpu-batch", type=int, default=32)
    args = p.parse_args(argv)

    page = _page()
    rss_before = _peak_rss_mb()
    seg = Segmenter(args.weights, device="cpu", num_threads=args.threads)
    seg.segment([page])  # warm-up
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        seg.segment([page])
        times.append(time.perf_counter() - t)
    print(f"weights {seg.version} sha256 {seg.weights_sha256[:12]}")
    print(f"cpu: page {page.shape[1]}x{page.shape[0]} px, torch threads {torch.get_num_threads()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (others' work slows this)")
    print(f"cpu: median {statistics.median(times):.3f} s/page (min {min(times):.3f}, "
          f"max {max(times):.3f}, n={len(times)})")
    print(f"cpu: peak RSS {_peak_rss_mb():.0f} MB (process; {rss_before:.0f} MB before the segmenter)")

    if not torch.cuda.is_available():
        print("gpu: no GPU here (torch.cuda.is_available() is False)")
        return 0
    gseg = Segmenter(args.weights, device="cuda", batch_size=args.gpu_batch)
    pages = [page] * args.gpu_batch * 4
    gseg.segment(pages[: args.gpu_batch])
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    gseg.segment(pages)
    torch.cuda.synchronize()
    dt = time.perf_counter() - t
    print(f"gpu: {torch.cuda.get_device_name()} batch {args.gpu_batch}: {len(pages) / dt:.1f} pages/s "
          f"(incl. CPU resize), peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
