"""Write a dataset of rendered pages with their truth files.

Per page, in OUT/<split>/: `<stem>.png` image (RGB), `<stem>_mask.png` class mask (uint8
0..3), `<stem>_inst.png` instance mask (uint16), `<stem>.json` metadata (record, panels,
scales, layout, conditions, homography), `<stem>_truth.npz` (truth_uv (12, T) float32 uV,
fs). Page i's randomness comes from SeedSequence((seed, i)), so a dataset is reproducible
page by page whatever the number of workers. The JSON is written last and atomically: a page
is complete when its `<stem>.json` exists. `manifest.json` records the command's arguments.
"""
from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.signal_io import load_record, record_name
from pipeline.synth.render import RenderedPage, render_page
from pipeline.synth.spec import sample_spec
from pipeline.synth.splits import records_in_split

log = logging.getLogger(__name__)

def _default_records() -> Path:
    """PTB-XL records: $ECGBRIDGE_PTBXL_DIR, else ../shared/data/ptbxl beside the checkout."""
    override = os.environ.get("ECGBRIDGE_PTBXL_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "ptbxl"


DEFAULT_RECORDS = _default_records()


@dataclass(frozen=True)
class MakeJob:
    """What one dataset command renders."""

    out: Path
    n: int
    preset: str = "mixed"
    seed: int = 0
    split: str = "train"
    records: Path = DEFAULT_RECORDS
    overrides: tuple[tuple[str, Any], ...] = ()


def page_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of page `index` of a dataset made with `seed`."""
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def write_page(page: RenderedPage, folder: Path, stem: str, extra: dict[str, Any]) -> None:
    """Write the five files of one page into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(folder / f"{stem}.png"), page.image[:, :, ::-1]):
        raise OSError(f"could not write {folder / stem}.png")
    cv2.imwrite(str(folder / f"{stem}_mask.png"), page.class_mask)
    cv2.imwrite(str(folder / f"{stem}_inst.png"), page.instance_mask)
    np.savez_compressed(folder / f"{stem}_truth.npz", truth_uv=page.truth_uv,
                        fs=np.float64(page.fs_hz))
    meta = page.metadata()
    meta.update(extra)
    tmp = folder / f".{stem}.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, folder / f"{stem}.json")


def _render_one(args: tuple[MakeJob, list[str], int]) -> tuple[int, str, float]:
    job, records, index = args
    start = time.perf_counter()
    rng = page_rng(job.seed, index)
    path = records[int(rng.integers(len(records)))]
    name = record_name(path)
    signals, fs = load_record(path)
    spec = sample_spec(rng, job.preset, **dict(job.overrides))
    page = render_page(signals, fs, spec, rng)
    stem = f"{index:06d}_{name}"
    write_page(page, job.out / job.split, stem, {
        "record": name, "split": job.split, "index": index, "seed": job.seed,
        "preset_requested": job.preset, "stem": stem,
    })
    return index, stem, time.perf_counter() - start


def _init_worker() -> None:
    cv2.setNumThreads(1)


def make_dataset(job: MakeJob, workers: int = 1) -> list[str]:
    """Render `job.n` pages; returns the stems written, in index order."""
    records = [str(p) for p in records_in_split(job.records, job.split)]
    if not records:
        raise ValueError(f"no records of split {job.split!r} in {job.records}")
    tasks = [(job, records, i) for i in range(job.n)]
    stems: dict[int, str] = {}
    started = time.perf_counter()
    if workers <= 1:
        _init_worker()
        results = map(_render_one, tasks)
        for index, stem, _ in results:
            stems[index] = stem
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers, initializer=_init_worker) as pool:
            for index, stem, _ in pool.imap_unordered(_render_one, tasks, chunksize=2):
                stems[index] = stem
                if len(stems) % 50 == 0:
                    log.info("rendered %d/%d pages", len(stems), job.n)
    manifest = {
        "n": job.n, "preset": job.preset, "seed": job.seed, "split": job.split,
        "records": str(job.records), "overrides": dict(job.overrides),
        "seconds": time.perf_counter() - started, "workers": workers,
    }
    (job.out / job.split).mkdir(parents=True, exist_ok=True)
    (job.out / job.split / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return [stems[i] for i in range(job.n)]
