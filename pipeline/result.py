"""The digitizer's result with the page geometry the QA picture needs.

`PageResult` is a `DigitizationResult` (callers may ignore the extra field) that also says
where each lead window was read on the page, so `pipeline.qa.render_qa` can draw the
signals back over the image.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.types import DigitizationResult


@dataclass(frozen=True)
class PanelPlacement:
    """Where one lead window was read, in rectified working-image px.

    lead: lead name; polarity: -1 when drawn inverted; row: index of the drawn row.
    x_start_px: column of time t0_s; px_per_s: horizontal scale; baseline_px: isoelectric
    row (y, px); px_per_mv: vertical scale; t0_s, t1_s: the window on the 10 s axis.
    """

    lead: str
    polarity: int
    row: int
    x_start_px: float
    px_per_s: float
    baseline_px: float
    px_per_mv: float
    t0_s: float
    t1_s: float


@dataclass(frozen=True)
class PageGeometry:
    """How the working image maps to the page that was read.

    matrix: (3, 3) homography from working-image px to rectified px; shape: (H, W) of the
    rectified image; work_scale: working px per input px; panels: lead windows.
    """

    matrix: np.ndarray
    shape: tuple[int, int]
    work_scale: float
    panels: tuple[PanelPlacement, ...]


@dataclass(frozen=True)
class PageResult(DigitizationResult):
    """A DigitizationResult plus `geometry` (None when unknown)."""

    geometry: PageGeometry | None = None
