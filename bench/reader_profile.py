"""Where the page readers' CPU goes, alone and with many readers running at once.

On the GPU machines the page readers (every stage after the network, one process each)
bound the whole pipeline's throughput, and stages that move much memory took up to 3.5x
their one-reader time there when 16 readers ran together (README, session 14). This runs
each count of readers in `--readers` at once, every reader reading the same pages (the
network's maps computed once, beforehand, on the GPU when there is one) under cProfile,
and prints per count: CPU seconds per page, each stage's median wall time per page and
its ratio to the first count's, and the functions that cost the most of their own time
per page. Run it on a GPU machine to see which stages its many readers slow down.

    python bench/reader_profile.py --images DIR [--pages 16] [--readers 1,16] [--top 25]

DIR holds PNG pages (`python bench/digitize.py --save-pages DIR --pages 16`).
"""
from __future__ import annotations

import argparse
import cProfile
import multiprocessing as mp
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _read_pages(job: tuple[str, str, Any]) -> tuple[float, dict[str, list[float]]]:
    """One reader: read every page of the maps file job[0] under cProfile (written to
    job[1]), starting when all readers are ready (job[2], a barrier). Returns its CPU
    seconds per page and each stage's wall times (s) per page."""
    maps_file, profile_file, barrier = job
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    from pipeline.digitizer import Digitizer, _NetMaps
    from pipeline.types import DigitizationResult, DigitizeOptions

    data = np.load(maps_file, allow_pickle=False)
    n = int(data["n"])
    reader = Digitizer(DigitizeOptions(device="cpu"))
    pages = [(data[f"image{i}"], _NetMaps(data[f"trace{i}"], None, data[f"text{i}"]))
             for i in range(n)]
    image, maps = pages[0]
    reader._read_guarded(image, image.shape[:2], maps, 0.0, 0)  # warm-up: imports, caches
    barrier.wait()
    stages: dict[str, list[float]] = {}
    profile = cProfile.Profile()
    cpu = time.process_time()
    profile.enable()
    for i, (image, maps) in enumerate(pages):
        result = reader._read_guarded(image, image.shape[:2], maps, 0.0, i)
        if isinstance(result, DigitizationResult):
            for name, seconds in result.timings_s.items():
                stages.setdefault(name, []).append(seconds)
    profile.disable()
    cpu = (time.process_time() - cpu) / n
    profile.dump_stats(profile_file)
    return cpu, stages


def _network_maps(folder: Path, n: int, out: Path) -> int:
    """The first n PNG pages of `folder` as working images and their network trace maps,
    saved to `out` (.npz); returns how many pages."""
    import torch

    from pipeline.digitizer import Digitizer, _working_image
    from pipeline.io import load_image
    from pipeline.types import DigitizeOptions

    files = sorted(folder.glob("*.png"))[:n]
    if not files:
        raise SystemExit(f"no PNG pages in {folder}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    net = Digitizer(DigitizeOptions(device=device, batch_size=8))
    arrays: dict[str, Any] = {"n": np.array(len(files))}
    for i, f in enumerate(files):
        image = _working_image(load_image(f))
        maps = net._segment([image])[0]
        if maps.grid is not None or maps.text is None:
            raise SystemExit("the classic segmenter is not profiled here")
        arrays[f"image{i}"], arrays[f"trace{i}"] = image, maps.trace
        arrays[f"text{i}"] = maps.text
    np.savez(out, **arrays)
    return len(files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, required=True, help="folder of PNG pages")
    ap.add_argument("--pages", type=int, default=16)
    ap.add_argument("--readers", default="1,16", help="comma-separated reader counts")
    ap.add_argument("--top", type=int, default=25, help="functions listed per count")
    args = ap.parse_args(argv)
    counts = [int(c) for c in args.readers.split(",")]
    print(f"{os.cpu_count()} CPU cores; reader counts {counts}", flush=True)
    context = mp.get_context("spawn")
    # One manager process serves every count's barrier.
    with tempfile.TemporaryDirectory() as tmp, context.Manager() as manager:
        maps_file = Path(tmp) / "maps.npz"
        n = _network_maps(args.images, args.pages, maps_file)
        first: dict[str, float] = {}
        for count in counts:
            barrier = manager.Barrier(count)
            profiles = [str(Path(tmp) / f"r{count}_{k}.prof") for k in range(count)]
            with context.Pool(count) as pool:
                out = pool.map(_read_pages, [(str(maps_file), p, barrier) for p in profiles])
            stages = {name: statistics.median(v for _, st in out for v in st.get(name, []))
                      for name in out[0][1]}
            first = first or stages
            cpu = statistics.mean(c for c, _ in out)
            print(f"\n{count} readers at once, {n} pages each: {cpu:.3f} s of CPU per page")
            print("  stage medians per page (s), x the first count's: " + ", ".join(
                f"{k} {v:.3f} (x{v / first[k]:.2f})" if first.get(k) else f"{k} {v:.3f}"
                for k, v in stages.items()))
            stats = pstats.Stats(*profiles, stream=sys.stdout)
            rows = sorted(stats.stats.items(),  # type: ignore[attr-defined]
                          key=lambda kv: kv[1][2], reverse=True)[:args.top]
            print(f"  own time per page (ms), top {args.top}:")
            for (file, line, func), (_cc, calls, own, _cum, _callers) in rows:
                where = f"{Path(file).name}:{line}({func})" if line else func
                print(f"    {1e3 * own / (n * count):7.2f}  {calls / (n * count):7.1f} calls"
                      f"  {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
