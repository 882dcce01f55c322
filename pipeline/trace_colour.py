"""Which colour channels a page's traces are dark in, learned from the network's gate.

The colour rule (`pipeline.classic_segment.colour_rule`) tells traces from grid by the
darkness of a pixel's brightest channel: black ink is dark in every channel, a red, pink or
green grid is light in at least one. A coloured trace breaks that: matplotlib's default
blue (31, 119, 180) is light in blue, so its ink reads as grid, and the page is refused or
misread. Here the trace's colour is measured from the ink the segmentation network calls
trace (and that is rare elsewhere on the page), the grid's from the ink outside the gate,
and the channels are chosen that set the trace furthest from the grid: the brightest of
those channels is the trace's darkness then. A neutral trace keeps all three channels.
"""
from __future__ import annotations

from itertools import combinations

import cv2
import numpy as np

from pipeline.classic_segment import ALL_CHANNELS

#: Pixels looked at: every n-th row and column, n such that about SAMPLE_PX are left
#: along the longer side (nearest pixels: an average would mix thin traces with paper).
SAMPLE_PX = 550
#: The paper's brightness per channel: the brightest of the sample's blocks of this many
#: pixels a side, averaged first over blocks of PAPER_BLOCK.
PAPER_SPAN = 16
PAPER_BLOCK = 8
#: Ink: darkness relative to the paper in the darkest channel at least this.
INK = 0.3
#: Quantisation levels of each channel's darkness for the colour histogram.
LEVELS = 8
#: A colour is the trace's when it is at least this much denser (ink pixels per area)
#: inside the gate than outside it; grid colours are about as dense in both.
GATE_SPECIFIC = 8.0
#: Fewest trace-coloured samples to judge from.
MIN_SAMPLES = 50
#: Channels other than all three are taken only when they set the trace this much further
#: from the grid (darkness, 0-1): a neutral trace never changes the colour rule.
MIN_GAIN = 0.2
#: ... and only when the trace's brightest channel is lighter than this (darkness, 0-1):
#: the colour rule reads darker ink (navy, dark green) as trace already.
COLOURED = 0.55
#: Channel sets within this of the best contrast count as equal; the largest wins.
TIE = 0.05

_SUBSETS: tuple[tuple[int, ...], ...] = tuple(
    s for n in (3, 2, 1) for s in combinations(ALL_CHANNELS, n))


def trace_channels(image: np.ndarray, gate: np.ndarray) -> tuple[int, ...]:
    """The channels (0 red, 1 green, 2 blue) the page's traces are dark in.

    image: (H, W, 3) uint8 RGB; gate: (H, W) 0/1, where the segmentation network sees
    traces (dilated). Returns ALL_CHANNELS for neutral (black, grey, dark) traces and
    whenever the trace's colour cannot be told from the page's other ink.
    """
    if gate.shape != image.shape[:2]:
        raise ValueError(f"gate {gate.shape} must match image {image.shape[:2]}")
    step = max(1, round(max(image.shape[:2]) / SAMPLE_PX))
    inside = (gate[::step, ::step] > 0).ravel()
    n_in, n_out = int(inside.sum()), int(inside.size - inside.sum())
    if n_in == 0 or n_out == 0:
        return ALL_CHANNELS
    dark = _darkness(np.ascontiguousarray(image[::step, ::step])).reshape(-1, 3)  # (N, 3)
    darkest = np.maximum(np.maximum(dark[:, 0], dark[:, 1]), dark[:, 2])
    ink = darkest > INK
    level = np.clip((dark * LEVELS).astype(np.int64), 0, LEVELS - 1)
    colour = (level[:, 0] * LEVELS + level[:, 1]) * LEVELS + level[:, 2]
    bins = LEVELS ** 3
    density_in = np.bincount(colour[ink & inside], minlength=bins) / n_in
    density_out = np.bincount(colour[ink & ~inside], minlength=bins) / n_out
    trace_coloured = (density_in > GATE_SPECIFIC * density_out)[colour]
    traced = ink & inside & trace_coloured
    if np.count_nonzero(traced) < MIN_SAMPLES:
        return ALL_CHANNELS
    # The trace's core: its darker half (antialiased fringes mix in the paper and grid).
    core = traced & (darkest >= np.median(darkest[traced]))
    trace = dark[core].mean(axis=0)
    # The grid: other ink outside the gate (a calibration pulse there is trace-coloured).
    # A grid too light to be ink is paper.
    grid_ink = ink & ~inside & ~trace_coloured
    grid = (dark[grid_ink].mean(axis=0) if np.count_nonzero(grid_ink) >= MIN_SAMPLES
            else np.zeros(3))
    contrast = {s: float(trace[list(s)].min() - grid[list(s)].min()) for s in _SUBSETS}
    best = max(contrast.values())
    if trace.min() >= COLOURED or best - contrast[ALL_CHANNELS] <= MIN_GAIN:
        return ALL_CHANNELS
    # _SUBSETS runs from the most channels to the fewest: the first near-best is largest.
    return next(s for s in _SUBSETS if contrast[s] >= best - TIE)


def _darkness(sample: np.ndarray) -> np.ndarray:
    """1 - brightness / local paper brightness of each channel of an (h, w, 3) uint8
    sample: (h, w, 3) float32 (negative where brighter than the paper's estimate).

    Like `pipeline.classic_segment.channel_darkness`, at a fifth of its cost on a
    sample: the paper level is a max filter over block means, not over pixels."""
    h, w = sample.shape[:2]
    # Lines up to 4 px wide (grid, traces) go first, so the blocks' means are paper.
    open_paper = cv2.dilate(sample, np.ones((5, 5), np.uint8))
    small = cv2.resize(open_paper, (max(1, w // PAPER_BLOCK), max(1, h // PAPER_BLOCK)),
                       interpolation=cv2.INTER_AREA)
    k = max(1, PAPER_SPAN // PAPER_BLOCK) * 2 + 1
    paper = cv2.dilate(small, np.ones((k, k), np.uint8))
    paper = cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    np.maximum(paper, 1.0, out=paper)
    return 1.0 - sample.astype(np.float32) / paper
