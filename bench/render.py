"""Benchmark of the page renderer (prints figures; not a test).

Prints the median wall and CPU seconds to render a 200-dpi 3x4 page (clean and scan) on
one core (torch/OpenCV/numpy threads set to 1), and the time of the dataset command for
N pages with W workers, extrapolated to 1,000 pages.

    python bench/render.py [--pages 40] [--workers 2] [--repeats 15]
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.synth import RenderSpec, load_record, render_page, sample_spec  # noqa: E402
from pipeline.synth.dataset import DEFAULT_RECORDS, MakeJob, make_dataset  # noqa: E402


def _one_core() -> None:
    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # torch is a dependency, but the renderer does not need it
        pass


def bench_page(signals: np.ndarray, fs: float, spec: RenderSpec, repeats: int) -> tuple[float, float]:
    """Median (wall s, CPU s) of `repeats` renders of `spec`."""
    render_page(signals, fs, spec, np.random.default_rng(0))  # warm-up (imports, fonts)
    walls, cpus = [], []
    for i in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        render_page(signals, fs, spec, np.random.default_rng(i))
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--preset", default="mixed")
    parser.add_argument("--records", type=Path, default=DEFAULT_RECORDS)
    args = parser.parse_args()
    _one_core()
    signals, fs = load_record(args.records / "00009_hr")
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for name, spec in (
        ("clean 3x4 200 dpi", RenderSpec(layout="3x4", dpi=200.0)),
        ("clean 3x4+1 200 dpi", RenderSpec(layout="3x4+1", dpi=200.0)),
        ("scan 3x4 200 dpi", sample_spec(np.random.default_rng(3), "scan", layout="3x4",
                                         dpi=200.0, rotation_deg=1.5, jpeg_quality=70,
                                         noise_sigma=4.0, blur_sigma_px=0.6)),
        ("photo 3x4 200 dpi", sample_spec(np.random.default_rng(4), "photo", layout="3x4",
                                          dpi=200.0)),
    ):
        wall, cpu = bench_page(signals, fs, spec, args.repeats)
        print(f"{name:24s} median wall {wall:.3f} s, median CPU {cpu:.3f} s")
    with tempfile.TemporaryDirectory() as tmp:
        job = MakeJob(out=Path(tmp), n=args.pages, preset=args.preset, seed=0,
                      records=args.records)
        start = time.perf_counter()
        make_dataset(job, workers=args.workers)
        elapsed = time.perf_counter() - start
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*")) / args.pages / 1e6
    print(f"dataset {args.preset} {args.pages} pages, {args.workers} workers: {elapsed:.1f} s "
          f"({elapsed / args.pages:.3f} s/page, {size:.2f} MB/page) -> 1000 pages "
          f"~{elapsed / args.pages * 1000 / 60:.1f} min")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
