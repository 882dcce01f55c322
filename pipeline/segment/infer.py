"""Run the segmentation network on pages: `Segmenter(...).segment(images)`.

Each page is resized to the working size (long side `working_long_side_px`, see
`pipeline.segment.preprocess`), padded at the bottom/right to the network's stride, and pages of
the same padded shape run together in batches. Results are class probabilities at the working
resolution; `SegmentationMaps.upsample_class` brings one class back to any pixel grid.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import torch

from pipeline.segment.area_resize import area_shrink
from pipeline.segment.model import UNet, fuse_for_inference
from pipeline.segment.preprocess import (
    check_image,
    normalised,
    resize_image,
    to_tensor,
    working_shape,
)
from pipeline.segment.weights import DEFAULT_WEIGHTS_PATH, load_weights
from pipeline.types import SEGMENTATION_CLASSES

log = logging.getLogger(__name__)

#: Pages per forward pass when the caller does not say, per device type.
DEFAULT_BATCH = {"cpu": 4, "cuda": 16}


@dataclass(frozen=True)
class SegmentationMaps:
    """Segmentation of one page.

    probs: (K=4, h, w) float32 class probabilities at the working resolution, channels in
        `SEGMENTATION_CLASSES` order (background, grid, text, trace); they sum to 1 per pixel.
    scale: working px per input px (h ~= round(H * scale), w ~= round(W * scale)).
    input_shape: (H, W) of the page that was segmented, px.
    """

    probs: np.ndarray
    scale: float
    input_shape: tuple[int, int]

    def class_index(self, c: int | str) -> int:
        """Channel index of class `c` (an index or a name from SEGMENTATION_CLASSES)."""
        return class_channel(c)

    def upsample_class(self, c: int | str, shape: tuple[int, int] | None = None) -> np.ndarray:
        """Probability of class `c` resized (bilinear) to `shape` = (H, W) px, default the
        input page's shape: (H, W) float32 in [0, 1]."""
        h, w = shape if shape is not None else self.input_shape
        p = self.probs[self.class_index(c)]
        if p.shape == (h, w):
            return p.copy()
        return cv2.resize(p, (int(w), int(h)), interpolation=cv2.INTER_LINEAR)

    def labels(self) -> np.ndarray:
        """Most probable class per working pixel: (h, w) uint8."""
        return self.probs.argmax(axis=0).astype(np.uint8)


#: A host array or a device tensor: `_fill_padded` slices both alike.
_Pixels = TypeVar("_Pixels", np.ndarray, torch.Tensor)


def _fill_padded(slot: _Pixels, page: _Pixels) -> None:
    """Write `page` (h, w, 3) into the top left of `slot` (H, W, 3) and fill the rest by
    repeating its last row and column, as `pad_to_multiple` does (a host array or a device
    tensor, the same slicing for both)."""
    h, w = page.shape[:2]
    slot[:h, :w] = page
    slot[h:, :w] = slot[h - 1:h, :w]
    slot[:, w:] = slot[:, w - 1:w]


def class_channel(c: int | str) -> int:
    """Channel index of class `c` (an index or a name from SEGMENTATION_CLASSES) in the
    network's output; ValueError for any other."""
    if isinstance(c, str):
        if c not in SEGMENTATION_CLASSES:
            raise ValueError(f"class must be one of {SEGMENTATION_CLASSES}; found {c!r}")
        return SEGMENTATION_CLASSES.index(c)
    if not 0 <= c < len(SEGMENTATION_CLASSES):
        raise ValueError(f"class index must be in [0, {len(SEGMENTATION_CLASSES)}); found {c}")
    return int(c)


def resolve_device(device: str, cuda_available: bool | None = None) -> torch.device:
    """"auto" -> cuda when available else cpu; "cpu"; "cuda" (ValueError when unavailable)."""
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if device == "auto":
        return torch.device("cuda" if cuda_available else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or device.startswith("cuda:"):
        if not cuda_available:
            raise ValueError(f"device {device!r} requested but no CUDA device is available")
        return torch.device(device)
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]'; found {device!r}")


class Segmenter:
    """Holds the segmentation network and runs it on batches of pages.

    weights_path: the .pt file (default: the shipped `weights/segmenter.pt`); its sha256 is
        checked against the sidecar `.sha256` (or `sha256` when given); ModelWeightsError on
        absence or mismatch.
    device: "auto" (cuda when `torch.cuda.is_available()`), "cpu" or "cuda".
    batch_size: pages per forward pass (default 4 on CPU, 16 on CUDA).
    num_threads: when given, `torch.set_num_threads(num_threads)` (process-wide) for CPU runs.
    Not for use from several threads at once: it keeps its host buffers between batches.
    """

    def __init__(self, weights_path: str | Path | None = None, device: str = "auto",
                 batch_size: int | None = None, num_threads: int | None = None,
                 sha256: str | None = None) -> None:
        self.device = resolve_device(device)
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; found {batch_size}")
        self.batch_size = batch_size or DEFAULT_BATCH[self.device.type]
        if num_threads is not None:
            if num_threads < 1:
                raise ValueError(f"num_threads must be >= 1; found {num_threads}")
            torch.set_num_threads(num_threads)
        loaded = load_weights(Path(weights_path) if weights_path is not None else None, sha256)
        self.weights_path = Path(weights_path) if weights_path is not None else DEFAULT_WEIGHTS_PATH
        self.weights_sha256: str = loaded.sha256
        self.version: str = loaded.version
        self.working_long_side_px: int = loaded.working_long_side_px
        self.meta = loaded.meta
        model: UNet = fuse_for_inference(loaded.model)
        self._stride = model.config.stride
        if self.device.type == "cuda":
            model = model.to(self.device)
        self._model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        # Host buffers kept between batches (see `_staged`, `_upload`, `_forward`).
        self._input_buffer: np.ndarray | None = None
        self._output_buffer: np.ndarray | None = None
        self._upload_buffer: np.ndarray | None = None

    def segment(self, images: Sequence[np.ndarray]) -> list[SegmentationMaps]:
        """Segment pages: images[i] (H_i, W_i, 3) uint8 RGB -> one SegmentationMaps each, in order."""
        probs = self._probabilities(images, list(range(len(SEGMENTATION_CLASSES))))
        return [
            SegmentationMaps(probs=p, input_shape=image.shape[:2],
                             scale=self.working_long_side_px / max(image.shape[:2]))
            for p, image in zip(probs, images)
        ]

    def segment_class(self, images: Sequence[np.ndarray], c: str) -> list[np.ndarray]:
        """Probability of one class per page: images[i] (H_i, W_i, 3) uint8 RGB -> (h_i, w_i)
        float32 at the working resolution, the values `segment` gives for it. Only that
        channel leaves the device (a quarter of the bytes)."""
        return [p[0] for p in self.segment_classes(images, (c,))]

    def segment_classes(self, images: Sequence[np.ndarray], classes: Sequence[str]
                        ) -> list[np.ndarray]:
        """Probabilities of the named classes per page: images[i] (H_i, W_i, 3) uint8 RGB ->
        (len(classes), h_i, w_i) float32 at the working resolution, in the order named, the
        values `segment` gives for them. Only those channels leave the device."""
        return self._probabilities(images, [class_channel(c) for c in classes])

    def _probabilities(self, images: Sequence[np.ndarray], channels: list[int]
                       ) -> list[np.ndarray]:
        """(len(channels), h_i, w_i) float32 probabilities of the given classes per page."""
        for i, image in enumerate(images):
            check_image(image, f"images[{i}]")
        shapes = [working_shape(im.shape[0], im.shape[1], self.working_long_side_px)
                  for im in images]
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, (h, w) in enumerate(shapes):
            groups[(h + -h % self._stride, w + -w % self._stride)].append(i)
        probs: list[np.ndarray | None] = [None] * len(images)
        for padded, indices in groups.items():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start:start + self.batch_size]
                batch = self._staged([images[i] for i in chunk], [shapes[i] for i in chunk],
                                     padded)
                out = self._forward(batch, channels)
                for j, i in enumerate(chunk):
                    h, w = shapes[i]
                    probs[i] = np.array(out[j, :, :h, :w])  # out is reused: copy
        return probs  # type: ignore[return-value]

    def _staged(self, images: list[np.ndarray], shapes: list[tuple[int, int]],
                padded: tuple[int, int]) -> np.ndarray | torch.Tensor:
        """The network's input batch (B, H, W, 3) uint8: each image resized to its working
        shape (h, w) and padded to (H, W) = `padded` by repeating its last row and column,
        as `pad_to_multiple` does.

        On the CPU it is written into a host array kept between calls (a fresh one cost a
        page fault per 4 KiB, ~10 ms a page). On a GPU the pages go over at full size and
        are shrunk there (`area_shrink`): the resize was most of the CPU time of the
        process that feeds the GPU."""
        if self.device.type == "cuda":
            return self._staged_on_device(images, shapes, padded)
        n, (big_h, big_w) = len(images), padded
        buffer = self._input_buffer
        if buffer is None or buffer.shape[0] < n or buffer.shape[1:3] != padded:
            buffer = self._input_buffer = self._host_array(
                (max(n, self.batch_size), big_h, big_w, 3), torch.uint8)
        for j, (image, shape) in enumerate(zip(images, shapes, strict=True)):
            _fill_padded(buffer[j], resize_image(image, shape))
        return buffer[:n]

    def _staged_on_device(self, images: list[np.ndarray], shapes: list[tuple[int, int]],
                          padded: tuple[int, int]) -> torch.Tensor:
        """`_staged`'s batch, built on the network's device: (B, H, W, 3) uint8."""
        batch = torch.empty((len(images), *padded, 3), dtype=torch.uint8, device=self.device)
        with torch.inference_mode():
            for j, (image, (h, w)) in enumerate(zip(images, shapes, strict=True)):
                self._stage_on_device(batch[j], image, (h, w))
        return batch

    def _stage_on_device(self, slot: torch.Tensor, image: np.ndarray, shape: tuple[int, int]
                         ) -> None:
        """Write `image` (H, W, 3) uint8, resized to `shape` = (h, w) and edge-padded, into
        `slot` (H', W', 3) uint8 on the device."""
        h, w = shape
        if h <= image.shape[0] and w <= image.shape[1]:
            page = self._upload(image)
            if (h, w) != image.shape[:2]:
                page = area_shrink(page, (h, w))
        else:  # enlarged (bilinear) on the CPU, as `resize_image` does: small pages only
            page = torch.from_numpy(resize_image(image, (h, w))).to(self.device)
        _fill_padded(slot, page)

    def _upload(self, image: np.ndarray) -> torch.Tensor:
        """`image` (H, W, 3) uint8 on the network's device, copied there through a kept
        host buffer (the copy a pageable source needs anyway; it also takes read-only and
        strided arrays, which `torch.from_numpy` does not)."""
        staging = self._upload_buffer
        if staging is None or staging.size < image.size:
            staging = self._upload_buffer = self._host_array((image.size,), torch.uint8)
        host = staging[:image.size].reshape(image.shape)
        np.copyto(host, image)
        return torch.from_numpy(host).to(self.device)

    def _host_array(self, shape: tuple[int, ...], dtype: torch.dtype) -> np.ndarray:
        """A host array of `shape`, in page-locked memory when the network is on a GPU
        (copies to and from the device then run at full speed)."""
        pinned = self.device.type == "cuda"
        return torch.empty(shape, dtype=dtype, pin_memory=pinned).numpy()

    def _forward(self, batch: np.ndarray | torch.Tensor, channels: list[int]) -> np.ndarray:
        """(B, h, w, 3) uint8 -> (B, len(channels), h, w) float32 probabilities of the
        given classes (softmax over all four, on the device). On a GPU the result is a
        host buffer that the next call overwrites."""
        x = (to_tensor(batch, self.device) if isinstance(batch, np.ndarray)
             else normalised(batch)).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            if self.device.type == "cuda":
                with torch.autocast("cuda", dtype=torch.float16):
                    logits = self._model(x)
            else:
                logits = self._model(x)
            probs = torch.softmax(logits.float(), dim=1)
            if len(channels) < probs.shape[1]:
                probs = probs[:, channels]
            if self.device.type != "cuda":
                return probs.numpy()
            # Copied into a kept host buffer: the caller copies each page out of it.
            out = self._output_buffer
            if out is None or out.shape[0] < probs.shape[0] or out.shape[1:] != probs.shape[1:]:
                out = self._output_buffer = self._host_array(
                    (max(probs.shape[0], self.batch_size), *probs.shape[1:]), torch.float32)
            torch.from_numpy(out[:probs.shape[0]]).copy_(probs)
            return out[:probs.shape[0]]
