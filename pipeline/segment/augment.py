"""Training-time image augmentations for segmentation crops, all seeded by a numpy Generator.

Every function takes and returns (H, W, 3) uint8 RGB; geometric ones also move the label map
(H, W) uint8. They widen what the network sees beyond the synthetic renderer: other paper and
ink colours, scanners, printers, cameras and compressions.
"""
from __future__ import annotations

import cv2
import numpy as np


def colour_jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random channel mix (hue/saturation change), brightness, contrast and gamma."""
    x = image.astype(np.float32) / 255.0
    if rng.random() < 0.5:
        mix = np.eye(3, dtype=np.float32) + rng.normal(0.0, 0.12, (3, 3)).astype(np.float32)
        mix /= mix.sum(axis=1, keepdims=True)
        x = x @ mix.T
    contrast = rng.uniform(0.6, 1.3)
    brightness = rng.uniform(-0.15, 0.12)
    x = (x - 0.5) * contrast + 0.5 + brightness
    x *= rng.uniform(0.9, 1.1, 3).astype(np.float32)  # white balance
    x = np.clip(x, 0.0, 1.0) ** rng.uniform(0.7, 1.4)
    return (x * 255.0 + 0.5).astype(np.uint8)


def to_grayscale(image: np.ndarray) -> np.ndarray:
    """Grey page in three equal channels (black-and-white printers and scanners)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return np.repeat(grey[:, :, None], 3, axis=2)


def binarize(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Hard black-and-white at a random threshold (fax-like pages)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    bw = np.where(grey < rng.uniform(90, 200), 0, 255).astype(np.uint8)
    return np.repeat(bw[:, :, None], 3, axis=2)


def blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur, sigma 0.3-1.2 px."""
    return cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.3, 1.2)))


def noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian noise, sigma 2-14 grey levels, per pixel (optionally per channel)."""
    sigma = rng.uniform(2.0, 14.0)
    shape = image.shape if rng.random() < 0.5 else image.shape[:2] + (1,)
    n = rng.normal(0.0, sigma, shape).astype(np.float32)
    return np.clip(image.astype(np.float32) + n, 0, 255).astype(np.uint8)


def shading(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A linear brightness gradient across the crop (uneven light, shadows)."""
    h, w = image.shape[:2]
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    gain = 1.0 - rng.uniform(0.1, 0.5) * ramp
    return np.clip(image.astype(np.float32) * gain[:, :, None], 0, 255).astype(np.uint8)


def jpeg(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """JPEG round trip at quality 15-90."""
    quality = int(rng.integers(15, 91))
    ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError(f"cv2.imencode failed for a {image.shape} crop at quality {quality}")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError(f"cv2.imdecode failed on a quality-{quality} JPEG of a {image.shape} crop")
    return np.ascontiguousarray(decoded[:, :, ::-1])


def flips(image: np.ndarray, labels: np.ndarray,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random horizontal and vertical flips of image (H, W, 3) and labels (H, W) together.

    A vertical flip inverts the ECG's polarity, which does not matter for pixel classes.
    """
    if rng.random() < 0.5:
        image, labels = image[:, ::-1], labels[:, ::-1]
    if rng.random() < 0.3:
        image, labels = image[::-1], labels[::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(labels)


def augment(image: np.ndarray, labels: np.ndarray,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The full training augmentation: (H, W, 3) uint8, (H, W) uint8 -> same shapes."""
    image, labels = flips(image, labels, rng)
    if rng.random() < 0.8:
        image = colour_jitter(image, rng)
    r = rng.random()
    if r < 0.15:
        image = to_grayscale(image)
    elif r < 0.2:
        image = binarize(image, rng)
    if rng.random() < 0.3:
        image = shading(image, rng)
    if rng.random() < 0.25:
        image = blur(image, rng)
    if rng.random() < 0.35:
        image = noise(image, rng)
    if rng.random() < 0.35:
        image = jpeg(image, rng)
    return image, labels
