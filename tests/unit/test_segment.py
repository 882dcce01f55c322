"""Segmenter: model shapes, preprocessing, weights checking, batched inference, devices."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.errors import ModelWeightsError
from pipeline.segment import SegmentationMaps, Segmenter, resolve_device
from pipeline.segment.model import UNet, UNetConfig, fuse_for_inference
from pipeline.segment.preprocess import (
    GRID,
    TRACE,
    labels_at_shape,
    pad_to_multiple,
    to_tensor,
    working_shape,
)
from pipeline.segment.weights import load_weights, save_weights, sha256_of, sidecar_path

TINY = UNetConfig(widths=(4, 8, 16))


def _page(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = np.full((h, w, 3), 250, np.uint8)
    img[:: max(2, h // 20)] = (230, 80, 80)
    img += rng.integers(0, 5, img.shape, dtype=np.uint8)
    return img


@pytest.fixture()
def tiny_weights(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = UNet(TINY)
    # non-trivial batch-norm statistics, so fusing and eval mode are exercised
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "seg.pt"
    save_weights(model, path, "tiny-test", working_long_side_px=96)
    return path


def test_unet_output_shape_and_bad_input() -> None:
    model = UNet(TINY).eval()
    out = model(torch.zeros(2, 3, 32, 48))
    assert out.shape == (2, 4, 32, 48)
    with pytest.raises(ValueError, match="multiples of 4"):
        model(torch.zeros(1, 3, 30, 48))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.zeros(1, 1, 32, 48))


def test_fused_model_matches_eval_model(tiny_weights: Path) -> None:
    model = load_weights(tiny_weights).model
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ref = model(x)
        fused = fuse_for_inference(load_weights(tiny_weights).model)(x)
    torch.testing.assert_close(fused, ref, atol=1e-4, rtol=1e-4)


def test_working_shape_and_thin_trace_survives_downscale() -> None:
    assert working_shape(1704, 2200) == (793, 1024)
    assert working_shape(100, 50, long_side_px=200) == (200, 100)
    mask = np.zeros((400, 400), np.uint8)
    mask[::20] = GRID
    mask[200, :] = TRACE  # 1 px line, a quarter of a working pixel after 4x shrink
    labels = labels_at_shape(mask, (100, 100))
    assert (labels == TRACE).any(axis=1).sum() == 1
    assert (labels[50] == TRACE).all()


def test_pad_and_to_tensor() -> None:
    a = np.zeros((5, 7, 3), np.uint8)
    assert pad_to_multiple(a, 4).shape == (8, 8, 3)
    x = to_tensor(np.full((1, 4, 4, 3), 255, np.uint8))
    assert x.shape == (1, 3, 4, 4) and float(x.max()) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="uint8"):
        to_tensor(np.zeros((1, 4, 4, 3), np.float32))


def test_weights_roundtrip_and_sha256(tiny_weights: Path) -> None:
    loaded = load_weights(tiny_weights)
    assert loaded.version == "tiny-test" and loaded.working_long_side_px == 96
    assert loaded.sha256 == sha256_of(tiny_weights)
    assert sidecar_path(tiny_weights).read_text().split()[0] == loaded.sha256


def test_sha256_mismatch_raises(tiny_weights: Path) -> None:
    sidecar_path(tiny_weights).write_text("0" * 64 + "  seg.pt\n")
    with pytest.raises(ModelWeightsError, match="sha256 expected 0000") as err:
        Segmenter(tiny_weights, device="cpu")
    assert err.value.reason == "model_weights_invalid"


def test_tampered_weights_raise(tiny_weights: Path) -> None:
    data = bytearray(tiny_weights.read_bytes())
    data[-100] ^= 0xFF
    tiny_weights.write_bytes(bytes(data))
    with pytest.raises(ModelWeightsError, match="sha256"):
        load_weights(tiny_weights)


def test_missing_weights_or_sidecar_raise(tiny_weights: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelWeightsError, match="missing"):
        Segmenter(tmp_path / "absent.pt", device="cpu")
    sidecar_path(tiny_weights).unlink()
    with pytest.raises(ModelWeightsError, match="sidecar missing"):
        Segmenter(tiny_weights, device="cpu")


def test_segment_shapes_scale_and_probabilities(tiny_weights: Path) -> None:
    rng = np.random.default_rng(0)
    seg = Segmenter(tiny_weights, device="cpu")
    assert seg.version == "tiny-test" and seg.weights_sha256 == sha256_of(tiny_weights)
    maps = seg.segment([_page(rng, 150, 200)])
    assert len(maps) == 1 and isinstance(maps[0], SegmentationMaps)
    m = maps[0]
    assert m.probs.shape == (4, 72, 96) and m.probs.dtype == np.float32
    assert m.scale == pytest.approx(96 / 200) and m.input_shape == (150, 200)
    np.testing.assert_allclose(m.probs.sum(axis=0), 1.0, atol=1e-5)
    up = m.upsample_class("trace")
    assert up.shape == (150, 200) and up.dtype == np.float32
    assert m.upsample_class(1, (30, 40)).shape == (30, 40)
    assert m.labels().shape == (72, 96)
    with pytest.raises(ValueError, match="class must be one of"):
        m.upsample_class("ink")


def test_batch_equals_one_by_one(tiny_weights: Path) -> None:
    rng = np.random.default_rng(1)
    pages = [_page(rng, 150, 200), _page(rng, 300, 200), _page(rng, 150, 200), _page(rng, 90, 90)]
    batched = Segmenter(tiny_weights, device="cpu", batch_size=3).segment(pages)
    single = Segmenter(tiny_weights, device="cpu", batch_size=1)
    for page, b in zip(pages, batched):
        (s,) = single.segment([page])
        assert b.probs.shape == s.probs.shape and b.input_shape == page.shape[:2]
        np.testing.assert_allclose(b.probs, s.probs, atol=1e-5)


def test_one_class_equals_its_channel_of_all(tiny_weights: Path) -> None:
    rng = np.random.default_rng(2)
    pages = [_page(rng, 150, 200), _page(rng, 90, 90)]
    seg = Segmenter(tiny_weights, device="cpu", batch_size=2)
    full = seg.segment(pages)
    for c in ("grid", "trace"):
        for maps, one in zip(full, seg.segment_class(pages, c)):
            np.testing.assert_array_equal(one, maps.probs[maps.class_index(c)])
    with pytest.raises(ValueError, match="class must be one of"):
        seg.segment_class(pages, "ink")
    for maps, two in zip(full, seg.segment_classes(pages, ("trace", "text")), strict=True):
        assert two.shape == (2, *maps.probs.shape[1:])
        np.testing.assert_array_equal(two[0], maps.probs[maps.class_index("trace")])
        np.testing.assert_array_equal(two[1], maps.probs[maps.class_index("text")])


def test_segment_rejects_bad_images(tiny_weights: Path) -> None:
    seg = Segmenter(tiny_weights, device="cpu")
    with pytest.raises(ValueError, match=r"images\[0\] must be \(H, W, 3\) uint8"):
        seg.segment([np.zeros((10, 10), np.uint8)])
    with pytest.raises(ValueError, match="batch_size"):
        Segmenter(tiny_weights, device="cpu", batch_size=0)


def test_device_selection() -> None:
    assert resolve_device("auto", cuda_available=False).type == "cpu"
    assert resolve_device("auto", cuda_available=True).type == "cuda"
    assert resolve_device("cpu", cuda_available=True).type == "cpu"
    assert resolve_device("cuda:1", cuda_available=True) == torch.device("cuda:1")
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda", cuda_available=False)
    with pytest.raises(ValueError, match="'auto', 'cpu' or 'cuda"):
        resolve_device("tpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
