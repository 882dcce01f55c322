"""Training data for the segmenter: rendered pages brought to the working size, and crops.

A dataset folder is what `python -m pipeline.synth make` writes: `DIR/<split>/<stem>.png`
(page, RGB), `<stem>_mask.png` (class mask, values = indices of SEGMENTATION_CLASSES) and
`<stem>.json` (render metadata naming the source record). Pages are resized with the same
functions inference uses (`pipeline.segment.preprocess`), and the working-size copies are
cached under `DIR/<split>/.work<long side>/` so a resumed run starts quickly.
"""
from __future__ import annotations

import json
import logging
import multiprocessing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from pipeline.segment.augment import augment
from pipeline.segment.preprocess import TRACE, labels_at_shape, resize_image, working_shape
from pipeline.synth.splits import split_of
from pipeline.types import SEGMENTATION_CLASSES

log = logging.getLogger(__name__)

#: Trace-pixel positions kept per page for trace-centred crops.
_TRACE_POINTS_PER_PAGE = 4096


@dataclass(frozen=True)
class Page:
    """One page at working resolution: image (h, w, 3) uint8 RGB, labels (h, w) uint8,
    trace_points (N, 2) int32 (row, col) of some trace pixels, name (file stem)."""

    name: str
    image: np.ndarray
    labels: np.ndarray
    trace_points: np.ndarray


def record_of(meta: dict[str, Any]) -> str:
    """The source record's name in a page's JSON metadata; ValueError when absent."""
    for key in ("record", "record_name", "source_record"):
        value = meta.get(key)
        if isinstance(value, str) and value:
            return value
    for nested in ("conditions", "source", "truth"):
        inner = meta.get(nested)
        if isinstance(inner, dict):
            try:
                return record_of(inner)
            except ValueError:
                continue
    raise ValueError(f"page metadata names no source record; keys found: {sorted(meta)}")


def page_files(folder: Path, split: str) -> list[Path]:
    """Page images `folder/<split>/<stem>.png` that have a `<stem>.json`, sorted by name."""
    d = Path(folder) / split
    if not d.is_dir():
        raise FileNotFoundError(f"dataset split folder missing: expected {d}")
    return sorted(p for p in d.glob("*.png") if p.with_suffix(".json").is_file())


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def load_page(png: Path, split: str, long_side_px: int) -> Page:
    """Load one rendered page at working resolution, checking its record is in `split`.

    Uses (and fills) the cache folder `.work<long_side_px>` next to the page.
    """
    meta_path = png.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    record = record_of(meta)
    if split_of(record) != split:
        raise ValueError(f"{png}: record {record} belongs to split {split_of(record)!r}, not {split!r}")
    cache = png.parent / f".work{long_side_px}"
    cimg, clab = cache / f"{png.stem}.png", cache / f"{png.stem}_labels.png"
    if cimg.is_file() and clab.is_file():
        image = _read_rgb(cimg)
        labels = cv2.imread(str(clab), cv2.IMREAD_UNCHANGED)
        if labels is None or labels.shape != image.shape[:2]:
            found = None if labels is None else labels.shape
            raise ValueError(f"cached labels {clab}: expected shape {image.shape[:2]}, found {found}")
    else:
        full = _read_rgb(png)
        mask = cv2.imread(str(png.with_name(f"{png.stem}_mask.png")), cv2.IMREAD_UNCHANGED)
        if mask is None or mask.shape != full.shape[:2]:
            found = None if mask is None else mask.shape
            raise ValueError(f"{png}: mask expected shape {full.shape[:2]}, found {found}")
        if int(mask.max()) >= len(SEGMENTATION_CLASSES):
            raise ValueError(f"{png}: mask values expected < {len(SEGMENTATION_CLASSES)}, found {mask.max()}")
        shape = working_shape(full.shape[0], full.shape[1], long_side_px)
        image = resize_image(full, shape)
        labels = labels_at_shape(mask, shape)
        cache.mkdir(exist_ok=True)
        cv2.imwrite(str(cimg), image[:, :, ::-1])
        cv2.imwrite(str(clab), labels)
    points = np.argwhere(labels == TRACE).astype(np.int32)
    if len(points) > _TRACE_POINTS_PER_PAGE:
        keep = np.linspace(0, len(points) - 1, _TRACE_POINTS_PER_PAGE).astype(np.int64)
        points = points[keep]
    return Page(name=png.stem, image=image, labels=labels, trace_points=points)


def load_pages(folders: Path | Sequence[Path], split: str, long_side_px: int,
               limit: int | None = None, workers: int = 1) -> list[Page]:
    """All (or the first `limit`) pages of a split, over one or more dataset folders, at
    working resolution; `workers` > 1 loads in that many processes."""
    folders = [folders] if isinstance(folders, (str, Path)) else list(folders)
    files = [f for folder in folders for f in page_files(Path(folder), split)][:limit]
    if not files:
        raise FileNotFoundError(f"no pages of split {split!r} in {[str(f) for f in folders]}")
    if workers > 1:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers) as pool:
            return pool.starmap(load_page, [(f, split, long_side_px) for f in files], chunksize=4)
    pages = []
    for i, png in enumerate(files):
        pages.append(load_page(png, split, long_side_px))
        if (i + 1) % 100 == 0:
            log.info("loaded %d/%d %s pages", i + 1, len(files), split)
    return pages


def class_frequencies(pages: list[Page]) -> np.ndarray:
    """(K,) float64 fraction of working pixels per class over `pages`."""
    counts = np.zeros(len(SEGMENTATION_CLASSES), np.float64)
    for p in pages:
        counts += np.bincount(p.labels.ravel(), minlength=len(counts))[: len(counts)]
    return counts / max(counts.sum(), 1.0)


class CropSampler:
    """Draws augmented training crops from pages.

    crop: side of a square crop in px (working resolution); scale_range: random zoom, so the
    network tolerates pages whose px/mm differs from the renders'; trace_focus: fraction of
    crops centred on a trace pixel (traces are rare).
    """

    def __init__(self, pages: list[Page], crop: int, trace_focus: float = 0.6,
                 scale_range: tuple[float, float] = (0.8, 1.25)) -> None:
        if not pages:
            raise ValueError("CropSampler needs at least one page; found none")
        self.pages = pages
        self.crop = crop
        self.trace_focus = trace_focus
        self.scale_range = scale_range

    def crop_one(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One crop: image (crop, crop, 3) uint8, labels (crop, crop) uint8."""
        page = self.pages[int(rng.integers(len(self.pages)))]
        lo, hi = np.log(self.scale_range[0]), np.log(self.scale_range[1])
        scale = float(np.exp(rng.uniform(lo, hi)))
        win = max(8, round(self.crop / scale))
        h, w = page.labels.shape
        if len(page.trace_points) and rng.random() < self.trace_focus:
            cy, cx = page.trace_points[int(rng.integers(len(page.trace_points)))]
            y0 = int(cy) - win // 2 + int(rng.integers(-win // 4, win // 4 + 1))
            x0 = int(cx) - win // 2 + int(rng.integers(-win // 4, win // 4 + 1))
        else:
            y0 = int(rng.integers(-win // 8, max(h - win + win // 8, -win // 8 + 1)))
            x0 = int(rng.integers(-win // 8, max(w - win + win // 8, -win // 8 + 1)))
        image = _window(page.image, y0, x0, win)
        labels = _window(page.labels, y0, x0, win)
        if win != self.crop:
            image = resize_image(image, (self.crop, self.crop))
            labels = labels_at_shape(labels, (self.crop, self.crop))
        return augment(image, labels, rng)

    def batch(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n crops: images (n, crop, crop, 3) uint8, labels (n, crop, crop) uint8."""
        crops = [self.crop_one(rng) for _ in range(n)]
        return np.stack([c[0] for c in crops]), np.stack([c[1] for c in crops])


def batch_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of training batch `index` of a run seeded `seed` (parallel sampling)."""
    return np.random.default_rng(np.random.SeedSequence([seed, 1, index]))


class ParallelBatches(torch.utils.data.IterableDataset):
    """Batches [start, stop) of crops drawn in `workers` processes of a DataLoader.

    Batch g is drawn from `batch_rng(seed, g)` alone, so the sequence does not depend on the
    number of workers and a run resumed at step g draws what an uninterrupted one would. The
    DataLoader takes workers' batches in turn, which is the order g = start, start + 1, ...
    Yields (images (n, crop, crop, 3) uint8, labels (n, crop, crop) uint8) as tensors.
    """

    def __init__(self, sampler: CropSampler, batch: int, seed: int, start: int, stop: int) -> None:
        super().__init__()
        self.sampler, self.batch, self.seed, self.start, self.stop = sampler, batch, seed, start, stop

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        for index in range(self.start + worker, self.stop, workers):
            images, labels = self.sampler.batch(self.batch, batch_rng(self.seed, index))
            yield torch.from_numpy(images), torch.from_numpy(labels)


def _quiet_worker(_: int) -> None:
    """One torch thread per crop worker: the workers are the parallelism."""
    torch.set_num_threads(1)


def parallel_batches(sampler: CropSampler, batch: int, seed: int, start: int, stop: int,
                     workers: int) -> torch.utils.data.DataLoader:
    """A DataLoader over `ParallelBatches` with `workers` forked processes (the pages are
    shared with them, not copied or pickled); workers = 0 draws in this process.

    With workers, OpenCV is set to one thread in this process too: a worker forked from a
    process whose OpenCV thread pool has run hangs in its first cv2 call."""
    if workers:
        cv2.setNumThreads(1)
    return torch.utils.data.DataLoader(
        ParallelBatches(sampler, batch, seed, start, stop), batch_size=None, num_workers=workers,
        worker_init_fn=_quiet_worker if workers else None, prefetch_factor=4 if workers else None,
        multiprocessing_context="fork" if workers else None, persistent_workers=False)


def _window(array: np.ndarray, y0: int, x0: int, size: int) -> np.ndarray:
    """array[y0:y0+size, x0:x0+size] with reflection where the window leaves the page."""
    h, w = array.shape[:2]
    top, left = max(0, -y0), max(0, -x0)
    bottom, right = max(0, y0 + size - h), max(0, x0 + size - w)
    part = array[max(0, y0):min(h, y0 + size), max(0, x0):min(w, x0 + size)]
    if top or left or bottom or right:
        part = cv2.copyMakeBorder(np.ascontiguousarray(part), top, bottom, left, right,
                                  cv2.BORDER_REFLECT)
    return part
