"""The colour rule of `pipeline.classic_segment` in torch, for a digitizer whose network
runs on a GPU.

There the page-reading processes are CPU-bound, and the colour rule, dense per-pixel work, is
a fifth of a page's CPU time; each process runs it on the GPU instead (the page goes up once
and its maps come back: no more bytes between processes than before).

The steps and constants are `classic_segment.colour_rule`'s, op for op (OpenCV's area resize
as a weight matrix, its morphology as running sums), so the maps agree with it to float
rounding (~1e-6 on renders). `tests/unit/test_colour_torch.py` holds the two together.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from pipeline.classic_segment import ColourMaps


def colour_rule_on(image: np.ndarray, device: torch.device) -> ColourMaps:
    """`classic_segment.colour_rule` of one page (H, W, 3) uint8 RGB, computed on `device`;
    the maps come back as (H, W) float32 numpy arrays."""
    with torch.inference_mode():
        rgb = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).to(device)
        return ColourMaps(*(m.cpu().numpy() for m in colour_rule_tensor(rgb)))


def colour_rule_tensor(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(H, W, 3) uint8 tensor -> (dark_v, trace, grid), each (H, W) float32 on its device."""
    dark_v, dark_m = paper_normalised_tensor(rgb)
    sample = dark_v[::4, ::4].reshape(-1)
    level = _percentile(sample, 99.7) if sample.numel() else 1.0
    thr = float(np.clip(0.5 * level, 0.2, 0.42))
    trace = torch.sigmoid(((dark_v - thr) / (thr / 6.0)).clamp(-30, 30))
    grid = torch.sigmoid(((dark_m - 0.10) / 0.03).clamp(-30, 30)) * (1.0 - trace)
    long_lines = _long_straight_lines(trace > 0.15)
    if bool(long_lines.any()):
        line_dark = _percentile(dark_v[long_lines], 90)
        if line_dark < 0.8 * level:
            long_lines &= dark_v < 0.5 * (line_dark + level)
        moved = trace * long_lines
        trace = trace - moved
        grid = torch.maximum(grid, moved)
    return dark_v, trace, grid


def paper_normalised_tensor(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`classic_segment.paper_normalised` of an (H, W, 3) uint8 tensor: (dark_v, dark_m)."""
    v = rgb.amax(dim=2).float() * (1.0 / 255.0)
    m = rgb.amin(dim=2).float() * (1.0 / 255.0)
    return 1.0 - v / _paper_level(v), 1.0 - m / _paper_level(m)


def _paper_level(channel: torch.Tensor) -> torch.Tensor:
    """`classic_segment._paper_level`: (H, W) float32 -> (H, W) float32, >= 0.05."""
    h, w = channel.shape
    f = max(1, round(max(h, w) / 400))
    size = (max(1, h // f), max(1, w // f))
    rows = torch.from_numpy(area_weights(h, size[0])).to(channel.device)
    cols = torch.from_numpy(area_weights(w, size[1])).to(channel.device)
    small = (rows @ channel @ cols.T)[None, None]
    k = 2 * max(3, round(min(size) / 40)) + 1
    level = F.max_pool2d(small, k, stride=1, padding=k // 2)
    sigma = k / 2
    taps = torch.from_numpy(
        cv2.getGaussianKernel(round(sigma * 4 * 2 + 1) | 1, sigma).astype(np.float32).ravel()
    ).to(channel.device)
    r = taps.numel() // 2
    with torch.backends.cudnn.flags(enabled=False):  # cuDNN may round to TF32 on a GPU
        level = F.conv2d(F.pad(level, (0, 0, r, r), mode="reflect"), taps.view(1, 1, -1, 1))
        level = F.conv2d(F.pad(level, (r, r, 0, 0), mode="reflect"), taps.view(1, 1, 1, -1))
    level = F.interpolate(level, size=(h, w), mode="bilinear", align_corners=False)
    return level[0, 0].clamp_min(0.05)


def area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float32 weights of OpenCV's INTER_AREA shrink along one axis: output
    pixel i averages input [i * s, (i + 1) * s), s = n_in / n_out, partial pixels weighted
    by the part inside (OpenCV's `computeResizeAreaTab`)."""
    scale = n_in / n_out
    a = np.arange(n_out) * scale
    b = a + scale
    width = np.minimum(scale, n_in - a)
    hi = np.minimum(np.floor(b).astype(int), n_in - 1)
    lo = np.minimum(np.ceil(a).astype(int), hi)
    cols = np.arange(n_in)
    out = ((cols >= lo[:, None]) & (cols < hi[:, None])) / width[:, None]
    rows = np.arange(n_out)
    head = lo - a > 1e-3
    out[rows[head], lo[head] - 1] = ((lo - a) / width)[head]
    tail = b - hi > 1e-3
    out[rows[tail], hi[tail]] = (np.minimum(np.minimum(b - hi, 1.0), width) / width)[tail]
    return out.astype(np.float32)


def _percentile(values: torch.Tensor, q: float) -> float:
    """numpy's default (linear) percentile q (0-100) of a 1-D tensor."""
    ordered = values.reshape(-1).float().sort().values
    pos = q / 100.0 * (ordered.numel() - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, ordered.numel() - 1)
    a, b = float(ordered[lo]), float(ordered[hi])
    return a + (b - a) * (pos - lo)


def _window_any(mask: torch.Tensor, before: int, after: int, dim: int) -> torch.Tensor:
    """Whether any of mask[x - before .. x + after] along `dim` is set (outside: unset)."""
    return _window_count(mask, before, after, dim, 0) > 0


def _window_all(mask: torch.Tensor, before: int, after: int, dim: int) -> torch.Tensor:
    """Whether all of mask[x - before .. x + after] along `dim` are set (outside: set, as
    OpenCV's erosion treats the image's edge)."""
    return _window_count(mask, before, after, dim, 1) == before + after + 1


def _window_count(mask: torch.Tensor, before: int, after: int, dim: int, edge: int
                  ) -> torch.Tensor:
    """Set pixels of mask[x - before .. x + after] along `dim` of an (H, W) bool mask, the
    pixels beyond the edge counting as `edge` (0 or 1); a running sum, so long windows cost
    no more than short ones. Returns (H, W) int32."""
    x = mask.to(torch.int32)
    if dim == 1:
        x = x.T
    padded = F.pad(x[None], (0, 0, before + 1, after), value=edge)[0]
    padded[0] = 0  # the running sum's zero
    csum = padded.cumsum(dim=0)
    n = before + after + 1
    count = csum[n:] - csum[:-n]
    return count.T if dim == 1 else count


def _long_straight_lines(ink: torch.Tensor) -> torch.Tensor:
    """`classic_segment._long_straight_lines` of an (H, W) bool tensor: (H, W) bool."""
    h, w = ink.shape
    # OpenCV's opening with a line of n px: erosion and dilation both over x - n // 2 ..
    # x + n - 1 - n // 2 (the anchor is the kernel's centre for both).
    horiz = _opening(ink, max(3, w // 5), dim=1)
    vert = _opening(ink, max(3, h // 2), dim=0)
    if not (bool(horiz.any()) or bool(vert.any())):
        return torch.zeros_like(ink)
    horiz_d = _window_any(horiz, 1, 1, dim=0)
    vert_d = _window_any(vert, 1, 1, dim=1)
    rest = ink & ~(horiz_d | vert_d)
    touch_v = _window_any(rest, 3, 3, dim=0)
    touch_h = _window_any(rest, 3, 3, dim=1)
    return (horiz_d & ~touch_v) | (vert_d & ~touch_h)


def _opening(ink: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    """OpenCV's morphological opening of (H, W) bool with an n-px line along `dim`."""
    a = n // 2
    eroded = _window_all(ink, a, n - 1 - a, dim)
    return _window_any(eroded, a, n - 1 - a, dim)
