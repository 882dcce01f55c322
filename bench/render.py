"""Benchmark of the page renderer (prints figures; not a test).

Prints the median wall and CPU seconds to render a 200-dpi 3x4 page (clean and scan) on
one core (torch/OpenCV/numpy threads set to 1), and the time of the dataset command for
N pages with W workers, extrapolated to 1,000 pages.

    python bench/render.py [--pages 40] [--workers 2] [--repeats 15]
    python bench/render.py --contact-sheet docs/contact-sheet.png   # renders next to real pages
    python bench/render.py --oracle    # SNR of reading clean pages back from their own masks
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from pipeline.synth import RenderSpec, load_record, render_page, sample_spec
from pipeline.synth.dataset import DEFAULT_RECORDS, MakeJob, make_dataset


def _one_core() -> None:
    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # torch is a dependency, but the renderer does not need it
        pass


def bench_page(signals: np.ndarray, fs: float, spec: RenderSpec,
               repeats: int) -> tuple[float, float]:
    """Median (wall s, CPU s) of `repeats` renders of `spec`."""
    render_page(signals, fs, spec, np.random.default_rng(0))  # warm-up (imports, fonts)
    walls, cpus = [], []
    for i in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        render_page(signals, fs, spec, np.random.default_rng(i))
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


REAL_IMAGES = DEFAULT_RECORDS.parent / "real-images"


def _tile(image_rgb: np.ndarray, size: tuple[int, int], caption: str) -> np.ndarray:
    """Fit an RGB image into a (W, H) white tile with a caption bar. Returns RGB uint8."""
    w, h = size
    bar = 22
    scale = min(w / image_rgb.shape[1], (h - bar) / image_rgb.shape[0])
    small = cv2.resize(image_rgb, (max(1, int(image_rgb.shape[1] * scale)),
                                   max(1, int(image_rgb.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)
    tile = np.full((h, w, 3), 255, np.uint8)
    tile[bar:bar + small.shape[0], :small.shape[1]] = small
    cv2.putText(tile, caption, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                cv2.LINE_AA)
    return tile


def contact_sheet(out: Path, records: Path, n_each: int = 6, tile: tuple[int, int] = (480, 360),
                  cols: int = 4) -> None:
    """Write a sheet of `n_each` renders (seeded, mixed presets) and `n_each` real pages."""
    from PIL import Image

    signals_by_name = {}
    tiles = []
    presets = ["clean", "scan", "photo", "scan", "photo", "clean", "mixed", "mixed"]
    for i in range(n_each):
        rng = np.random.default_rng(1000 + i)
        names = sorted(p.stem for p in records.glob("*.hea"))
        name = names[int(rng.integers(len(names)))]
        if name not in signals_by_name:
            signals_by_name[name] = load_record(records / name)
        spec = sample_spec(rng, presets[i % len(presets)], dpi=150.0)
        page = render_page(*signals_by_name[name], spec, rng)
        tiles.append(_tile(page.image, tile, f"synthetic {spec.preset} {spec.layout} "
                                             f"{spec.grid} {spec.trace_width_mm:.2f}mm"))
    reals = sorted(p for p in REAL_IMAGES.glob("ecg*"))
    picks = np.linspace(0, len(reals) - 1, n_each).round().astype(int) if reals else []
    for k in picks:
        bgr = cv2.imread(str(reals[k]), cv2.IMREAD_COLOR)
        if bgr is not None:
            tiles.append(_tile(bgr[:, :, ::-1], tile, f"real {reals[k].name}"))
    while len(tiles) % cols:
        tiles.append(np.full((tile[1], tile[0], 3), 255, np.uint8))
    rows = [np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)]
    sheet = Image.fromarray(np.vstack(rows)).quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {len(tiles)} tiles)")


def oracle_table(records: Path, names: tuple[str, ...] = ("00009_hr", "00038_hr", "00040_hr"),
                 ) -> None:
    """Print the mean score of the mask readers (an upper bound for any digitizer that
    reads one value per pixel column) on clean 3x4+1 pages per dpi and trace width."""
    from pipeline.evaluate import score_record
    from pipeline.synth.oracle import digitize_from_masks

    loaded = [load_record(records / n) for n in names if (records / f"{n}.hea").exists()]
    print(f"clean 3x4+1, {len(loaded)} records: mean score dB (mean reader / envelope reader)")
    for dpi in (100.0, 200.0, 300.0, 600.0):
        cells = []
        for width in (0.1, 0.25, 0.5):
            means, envs = [], []
            for signals, fs in loaded:
                page = render_page(signals, fs, RenderSpec(dpi=dpi, trace_width_mm=width),
                                   np.random.default_rng(0))
                for reader, out in (("mean", means), ("envelope", envs)):
                    scores = score_record(page.truth_uv, digitize_from_masks(page, reader), 500.0)
                    out.append(np.mean([s["score_db"] for s in scores.values()]))
            cells.append(f"{width:.2f} mm {np.mean(means):5.1f} / {np.mean(envs):5.1f}")
        print(f"{dpi:5.0f} dpi  " + "   ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--preset", default="mixed")
    parser.add_argument("--records", type=Path, default=DEFAULT_RECORDS)
    parser.add_argument("--contact-sheet", type=Path, help="write a contact sheet and exit")
    parser.add_argument("--oracle", action="store_true", help="print the mask-reader table")
    args = parser.parse_args()
    _one_core()
    if args.oracle:
        oracle_table(args.records)
        return
    if args.contact_sheet is not None:
        contact_sheet(args.contact_sheet, args.records)
        return
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
