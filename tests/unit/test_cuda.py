"""On a CUDA device: the GPU's page shrink, network maps and digitized signals against the CPU's.

Skipped where torch sees no CUDA device (CI has none): run `python -m pytest
tests/unit/test_cuda.py` on a GPU host. The pages are rendered from synthetic beats here, so
the test needs no PTB-XL records. The network runs in float16 on a GPU (float32 on the CPU),
so maps agree closely, not exactly; the signals read from them agreed to 0.24 uV on 8 bench
pages (session 11, H100).
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from pipeline.digitizer import Digitizer
from pipeline.segment import Segmenter
from pipeline.segment.area_resize import area_shrink
from pipeline.synth import render_page, sample_spec
from pipeline.types import DigitizationResult, DigitizeOptions

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

FS = 500


def _signals(seed: int) -> np.ndarray:
    """(12, 5000) mV at 500 Hz: beats (QRS spike, T wave) in I and II; the other limb leads
    from them (Einthoven, Goldberger), so layout identification has its relations; chest
    leads with their own amplitudes."""
    rng = np.random.default_rng(seed)
    t = np.arange(10 * FS) / FS
    beats = np.arange(0.3, 10.0, rng.uniform(0.7, 1.0))

    def train(qrs_mv: float, t_mv: float) -> np.ndarray:
        out = np.zeros(t.size)
        for b in beats:
            out += qrs_mv * np.exp(-0.5 * ((t - b) / 0.012) ** 2)
            out += t_mv * np.exp(-0.5 * ((t - b - 0.25) / 0.05) ** 2)
        return out

    lead_i, lead_ii = train(0.8, 0.2), train(1.2, 0.3)
    limb = [lead_i, lead_ii, lead_ii - lead_i, -(lead_i + lead_ii) / 2,
            lead_i - lead_ii / 2, lead_ii - lead_i / 2]
    chest = [train(a, 0.15) for a in (-1.0, -0.6, 0.5, 1.1, 1.3, 1.0)]
    return np.array(limb + chest)


def _page(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    spec = sample_spec(rng, "clean", layout="3x4+1", dpi=200.0, paper="letter",
                       orientation="landscape", calibration="start")
    return render_page(_signals(seed), FS, spec, rng).image


@pytest.fixture(scope="module")
def pages() -> list[np.ndarray]:
    return [_page(seed) for seed in (1, 2)]


def test_gpu_shrink_matches_opencv_inter_area(pages: list[np.ndarray]) -> None:
    image = pages[0]
    small = (image.shape[0] * 1024 // image.shape[1], 1024)
    expected = cv2.resize(image, small[::-1], interpolation=cv2.INTER_AREA).astype(int)
    got = area_shrink(torch.from_numpy(image).cuda(), small).cpu().numpy().astype(int)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1
    assert np.mean(got != expected) < 2e-3


def test_network_maps_on_gpu_match_cpu(pages: list[np.ndarray]) -> None:
    gpu = Segmenter(device="cuda", batch_size=2).segment_class(pages, "trace")
    cpu = Segmenter(device="cpu", batch_size=1).segment_class(pages, "trace")
    for g, c in zip(gpu, cpu, strict=True):
        assert g.shape == c.shape
        assert float(np.abs(g - c).mean()) < 2e-3
        assert float(np.mean((g > 0.5) != (c > 0.5))) < 1e-3


def test_batched_gpu_digitizer_gives_the_cpu_signals(pages: list[np.ndarray]) -> None:
    with Digitizer(DigitizeOptions(device="cuda", batch_size=2, workers=2)) as gpu:
        on_gpu = gpu.digitize_batch(pages)
    cpu = Digitizer(DigitizeOptions(device="cpu", batch_size=1))
    for page, result in zip(pages, on_gpu, strict=True):
        assert isinstance(result, DigitizationResult), result
        reference = cpu.digitize(page)
        assert result.layout == reference.layout == "3x4+1"
        drawn = np.isfinite(reference.signals_uv)
        np.testing.assert_array_equal(np.isfinite(result.signals_uv), drawn)
        assert float(np.abs(result.signals_uv - reference.signals_uv)[drawn].max()) <= 5.0
