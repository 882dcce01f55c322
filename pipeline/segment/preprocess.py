"""How a page is brought to the network's working size, for inference and training alike.

"Segment coarse, extract fine": every page is resized so that its long side is
`WORKING_LONG_SIDE_PX` px (down or up), which keeps the network's cost per page fixed
(about 0.8 Mpx for a letter or A4 page) whatever the scan resolution. Training crops are cut
from pages resized by exactly these functions, so the network sees traces at the same scale
in training and in use.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from pipeline.types import SEGMENTATION_CLASSES

#: Long side of a page at the network's working resolution (px).
WORKING_LONG_SIDE_PX = 1024

#: Class indices, in `SEGMENTATION_CLASSES` order.
BACKGROUND, GRID, TEXT, TRACE = (SEGMENTATION_CLASSES.index(c) for c in
                                 ("background", "grid", "text", "trace"))

#: Minimum fraction of a working pixel a class must cover to claim it, checked in this
#: priority order: a thin trace that covers a third of a coarse pixel still labels it trace.
LABEL_MIN_FRACTION: tuple[tuple[int, float], ...] = ((TRACE, 0.2), (TEXT, 0.3), (GRID, 0.3))

#: Per-channel input normalisation: x = (rgb / 255 - MEAN) / STD.
INPUT_MEAN = 0.5
INPUT_STD = 0.25


def check_image(image: np.ndarray, name: str = "image") -> None:
    """Raise ValueError unless `image` is (H, W, 3) uint8 with H, W >= 1."""
    if not isinstance(image, np.ndarray):
        raise ValueError(  # noqa: TRY004 - one error type for every malformed image
            f"{name} must be a numpy array (H, W, 3) uint8; found {type(image).__name__}"
        )
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
        raise ValueError(
            f"{name} must be (H, W, 3) uint8; found shape {image.shape} dtype {image.dtype}"
        )


def working_scale(height_px: int, width_px: int, long_side_px: int = WORKING_LONG_SIDE_PX) -> float:
    """Working px per input px for a page of (height_px, width_px)."""
    return long_side_px / max(height_px, width_px)


def working_shape(height_px: int, width_px: int,
                  long_side_px: int = WORKING_LONG_SIDE_PX) -> tuple[int, int]:
    """(h, w) in px of a (height_px, width_px) page at working resolution."""
    s = working_scale(height_px, width_px, long_side_px)
    return max(1, round(height_px * s)), max(1, round(width_px * s))


def resize_image(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize (H, W, C) or (H, W) to `shape` = (h, w): area averaging when shrinking (keeps
    thin lines as faint lines instead of dropping them), bilinear when enlarging."""
    h, w = shape
    if (h, w) == image.shape[:2]:
        return image
    shrink = h * w < image.shape[0] * image.shape[1]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def labels_at_shape(class_mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Class mask (H, W) uint8 -> labels (h, w) uint8 at `shape`, by covered fraction.

    Each output pixel takes the first class in `LABEL_MIN_FRACTION` that covers at least
    its fraction of the pixel's area, else background. Used to make training targets at the
    working resolution, so thin traces survive the downscale.
    """
    if class_mask.ndim != 2:
        raise ValueError(f"class_mask must be (H, W); found shape {class_mask.shape}")
    if class_mask.shape == tuple(shape):
        return class_mask.astype(np.uint8, copy=False)
    h, w = shape
    labels = np.full((h, w), BACKGROUND, np.uint8)
    claimed = np.zeros((h, w), bool)
    for cls, min_fraction in LABEL_MIN_FRACTION:
        onehot = (class_mask == cls).astype(np.float32)
        frac = resize_image(onehot, (h, w))
        take = (frac >= min_fraction) & ~claimed
        labels[take] = cls
        claimed |= take
    return labels


def pad_to_multiple(array: np.ndarray, multiple: int) -> np.ndarray:
    """Pad (H, W, ...) at the bottom and right, repeating the edge, to multiples of `multiple`."""
    h, w = array.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return array
    pad = [(0, ph), (0, pw)] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, pad, mode="edge")


def to_tensor(images: np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
    """(B, H, W, 3) uint8 RGB -> (B, 3, H, W) float32 on `device` (default CPU), normalised
    as the network expects. The bytes move as uint8 (a quarter of float32's) and are
    converted where they land: on a GPU the same float32 operations, the same values."""
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be (B, H, W, 3) uint8; found {images.shape} {images.dtype}")
    x = torch.from_numpy(np.ascontiguousarray(images))
    if device is not None:
        x = x.to(device)
    return normalised(x)


def normalised(images: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 RGB tensor -> (B, 3, H, W) float32 on its device, normalised as the
    network expects."""
    x = images.permute(0, 3, 1, 2).float()
    return (x / 255.0 - INPUT_MEAN) / INPUT_STD
