"""Speed and memory of the digitizer on 200-dpi pages.

Prints: median seconds per page (3x4+1, letter landscape, 200 dpi = 2200 x 1700 px) on this
CPU, per stage; peak resident memory of the process; and, when CUDA is available, batched
pages per second on the GPU, whole pipeline (network on the GPU, the later stages in
`--workers` page-reading processes; the readers' busy cores and CPU seconds per page beside
it), for each worker count given, plus the network alone ("no GPU here" otherwise). Each
timed run reads `--gpu-pages-per-worker` pages per reader (16: on shorter runs, filling
and draining the readers weighs more).

    python bench/digitize.py [--pages 5] [--segmenter auto|classic] [--threads 2]
    python bench/digitize.py --save-pages DIR --pages 16     # write the pages as PNG, stop
    python bench/digitize.py --images DIR --gpu-only --gpu-workers 1,8,16 [--gpu-out F.npz]

`--images` reads PNG pages instead of rendering them (for machines without the PTB-XL records
or wfdb); `--gpu-out` saves the GPU run's signals (one (12, T) array per page, in file order)
so they can be compared with a CPU run of the same pages.
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
from PIL import Image

from pipeline.digitizer import Digitizer
from pipeline.io import load_image
from pipeline.types import DigitizationResult, DigitizeOptions


def rendered_pages(n: int) -> list[np.ndarray]:
    """The first `n` PTB-XL records drawn as clean 3x4+1 letter pages at 200 dpi (seed = index)."""
    from pipeline.synth import load_record, render_page, sample_spec
    from pipeline.synth.dataset import DEFAULT_RECORDS

    records = sorted(DEFAULT_RECORDS.glob("*.hea"))[:n]
    if not records:
        raise SystemExit(f"no PTB-XL records (*.hea) in {DEFAULT_RECORDS}: set "
                         "ECGBRIDGE_PTBXL_DIR, or run from a checkout beside ../shared")
    out = []
    for i, hea in enumerate(records):
        rng = np.random.default_rng(i)
        signals, fs = load_record(str(hea.with_suffix("")))
        spec = sample_spec(rng, "clean", layout="3x4+1", dpi=200.0, paper="letter",
                           orientation="landscape")
        out.append(render_page(signals, fs, spec, rng).image)
    return out


def png_pages(folder: Path, n: int) -> list[np.ndarray]:
    """Up to `n` PNG pages of `folder`, sorted by name, as (H, W, 3) uint8 RGB."""
    files = sorted(folder.glob("*.png"))[:n]
    if not files:
        raise SystemExit(f"no PNG pages in {folder}")
    return [load_image(f) for f in files]


def cpu_run(images: list[np.ndarray], segmenter: str | None, threads: int) -> None:
    """Median s/page on this CPU, stage medians, peak RSS."""
    dz = Digitizer(DigitizeOptions(device="cpu", batch_size=1), segmenter=segmenter)
    print(f"digitizer {dz.version}")
    dz.digitize(images[0])  # warm-up
    times: list[float] = []
    stages: dict[str, list[float]] = {}
    for im in images:
        t = time.perf_counter()
        res = dz.digitize(im)
        times.append(time.perf_counter() - t)
        for k, v in res.timings_s.items():
            stages.setdefault(k, []).append(v)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"CPU ({threads} threads): median {statistics.median(times):.2f} s per page "
          f"(target <= 2.0 s); min {min(times):.2f} s, max {max(times):.2f} s")
    print("  stages (median s): " + ", ".join(
        f"{k} {statistics.median(v):.3f}" for k, v in stages.items()))
    print(f"peak resident memory {peak_mb:.0f} MB (whole process, rendering included; "
          f"target <= 2500 MB)")


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _processes_cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) that the running processes `pids` have used so far, read
    from /proc (Linux); 0 for a process that has gone."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14, 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def gpu_run(images: list[np.ndarray], segmenter: str | None, worker_counts: list[int],
            batch: int, out: Path | None, device: str = "cuda", pages_per_worker: int = 16
            ) -> None:
    """Pages/s of the whole pipeline on the GPU for each worker count, and of the network.

    device "cpu" runs the same batched path on the CPU (a dry run of this function)."""
    name = torch.cuda.get_device_name(0) if device == "cuda" else "none (dry run on the CPU)"
    print(f"GPU {name}; {os.cpu_count()} CPU cores; batch {batch}")
    for workers in worker_counts:
        n = max(2 * batch, pages_per_worker * workers)
        work = (images * (n // len(images) + 1))[:n]
        with Digitizer(DigitizeOptions(device=device, batch_size=batch, workers=workers),
                       segmenter=segmenter) as gz:
            gz.digitize_batch(work[:max(2, workers)])  # CUDA context, worker start-up
            _sync(device)
            # The readers' pids: ProcessPoolExecutor lists its processes only privately.
            readers = list(getattr(gz._pool, "_processes", None) or {})
            readers_cpu, load = _processes_cpu_s(readers), os.getloadavg()[0]
            t, cpu = time.perf_counter(), time.process_time()
            results = gz.digitize_batch(work)
            dt, parent_cpu = time.perf_counter() - t, time.process_time() - cpu
            readers_cpu = _processes_cpu_s(readers) - readers_cpu
        failed = sum(not isinstance(r, DigitizationResult) for r in results)
        print(f"  whole pipeline, {workers:2d} page-reading processes: {n / dt:6.1f} pages/s "
              f"({n} pages in {dt:.1f} s; {failed} failed; target >= 20); the parent process "
              f"(network, hand-over) busy {parent_cpu / dt:.2f} cores, {parent_cpu / n * 1e3:.0f}"
              " ms per page", flush=True)
        if readers:
            print(f"    page readers busy {readers_cpu / dt:.1f} cores, {readers_cpu / n:.2f} s of a"
                  f" core per page; load average before {load:.1f}", flush=True)
        done = [r for r in results if isinstance(r, DigitizationResult)]
        if done:
            print("    stages per page (median s): " + ", ".join(
                f"{k} {statistics.median(r.timings_s.get(k, 0.0) for r in done):.3f}"
                for k in done[0].timings_s), flush=True)
        if out is not None and workers == worker_counts[-1]:
            signals = [r.signals_uv if isinstance(r, DigitizationResult) else
                       np.full((12, 1), np.nan, np.float32) for r in results[:len(images)]]
            np.savez_compressed(out, *signals)
    from pipeline.segment.infer import Segmenter

    seg = Segmenter(device=device, batch_size=batch)
    n = 8 * batch
    work = (images * (n // len(images) + 1))[:n]
    seg.segment(work[:batch])
    _sync(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for start in range(0, n, batch):
        seg.segment(work[start:start + batch])
    _sync(device)
    dt = time.perf_counter() - t
    memory = (f"; peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
              if device == "cuda" else "")
    print(f"  network alone (resize, forward, softmax, copy back): {n / dt:.1f} pages/s{memory}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=5)
    ap.add_argument("--segmenter", choices=("auto", "classic"), default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=Path, help="read PNG pages from here instead of rendering")
    ap.add_argument("--save-pages", type=Path, help="write the rendered pages here and stop")
    ap.add_argument("--gpu-only", action="store_true", help="skip the CPU measurement")
    ap.add_argument("--gpu-workers", default=str(os.cpu_count() or 1),
                    help="comma-separated page-reading process counts for the GPU run")
    ap.add_argument("--gpu-batch", type=int, default=16)
    ap.add_argument("--gpu-out", type=Path, help="save the GPU run's signals (.npz)")
    ap.add_argument("--gpu-pages-per-worker", type=int, default=16,
                    help="pages in each timed batched run, per page-reading process")
    ap.add_argument("--dry-run-batched", action="store_true",
                    help="run the batched measurement on the CPU (checks this script)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    images = png_pages(args.images, args.pages) if args.images else rendered_pages(args.pages)
    if args.save_pages is not None:
        args.save_pages.mkdir(parents=True, exist_ok=True)
        for i, im in enumerate(images):
            Image.fromarray(im).save(args.save_pages / f"page{i:03d}.png")
        print(f"wrote {len(images)} pages to {args.save_pages}")
        return 0
    print(f"{len(images)} pages of {images[0].shape[1]} x {images[0].shape[0]} px")
    segmenter = "classic" if args.segmenter == "classic" else None
    if not args.gpu_only:
        cpu_run(images, segmenter, args.threads)
    workers = [int(w) for w in args.gpu_workers.split(",")]
    if args.dry_run_batched:
        gpu_run(images, segmenter, workers, args.gpu_batch, args.gpu_out, device="cpu",
                pages_per_worker=args.gpu_pages_per_worker)
    elif torch.cuda.is_available():
        gpu_run(images, segmenter, workers, args.gpu_batch, args.gpu_out,
                pages_per_worker=args.gpu_pages_per_worker)
    else:
        print("GPU: no GPU here (torch.cuda.is_available() is False); not measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
