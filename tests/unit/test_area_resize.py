"""Area shrink on the network's device: OpenCV's INTER_AREA within one grey level."""
from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
import torch

from pipeline.segment import Segmenter
from pipeline.segment.area_resize import area_shrink, area_weights


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize(("big", "small"), [((850, 1100), (396, 512)),  # 2.148x, a letter page
                                            ((547, 766), (365, 511)),  # a ratio of ~1.5
                                            ((800, 600), (400, 300)),  # exactly 2x
                                            ((1024, 768), (256, 192))])  # exactly 4x
def test_shrink_matches_opencv_inter_area(big: tuple[int, int], small: tuple[int, int]) -> None:
    image = _noise(*big)
    expected = cv2.resize(image, small[::-1], interpolation=cv2.INTER_AREA).astype(int)
    got = area_shrink(torch.from_numpy(image), small).numpy().astype(int)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1
    # Only sums within float32 rounding of a half may round the other way.
    assert np.mean(got != expected) < 2e-3


def test_weights_average_and_refuse_to_enlarge() -> None:
    w = area_weights(2200, 1024)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    assert (w >= 0).all()
    with pytest.raises(ValueError, match="shrink"):
        area_weights(100, 101)


def test_batch_built_on_the_device_matches_the_cpu_batch() -> None:
    """The GPU path's staging (full pages sent, shrunk there) against the CPU path's, on
    the CPU: shrunk, unchanged and enlarged pages in one padded group."""
    seg = Segmenter(device="cpu")
    images = [_noise(1700, 2200, 1), _noise(791, 1024, 2), _noise(400, 518, 3)]
    images[0].setflags(write=False)  # as decoders may hand them over
    shapes = [(791, 1024)] * 3
    host = seg._staged(images, shapes, (800, 1024))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns on tensors over read-only arrays
        device = seg._staged_on_device(images, shapes, (800, 1024)).numpy()
    assert host.shape == device.shape == (3, 800, 1024, 3)
    assert np.abs(host.astype(int) - device).max() <= 1
    np.testing.assert_array_equal(host[1:], device[1:])  # no shrink: exactly equal
    np.testing.assert_array_equal(device[:, 791:], np.repeat(device[:, 790:791], 9, axis=1))
