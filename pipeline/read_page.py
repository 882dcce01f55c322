"""A page as read before its layout is fixed.

`ReadPage` holds what was read from one rectified page (its rows, their traces, baselines
and calibration pulses, the grid, the line mask) for the stages that place the leads;
`page_px_per_mm` is its scale. Maps are (H, W) on the rectified page; positions px.
"""
from __future__ import annotations

import numpy as np

from pipeline.calibration import Pulse
from pipeline.extract import RowTrace
from pipeline.grid import GridScale
from pipeline.layout import TraceRow
from pipeline.rectify import Rectification
from pipeline.seam_bars import SeamBar


class ReadPage:
    """Everything read from one rectified page before the layout is fixed."""

    def __init__(self, rect: Rectification, image: np.ndarray, mask: np.ndarray,
                 rows: list[TraceRow],
                 traces: list[RowTrace], baselines: list[float], start: list[Pulse | None],
                 end: list[Pulse | None], grid: GridScale | None, ppm_guess: float,
                 long_ink: np.ndarray, flip_votes: int) -> None:
        self.rect, self.image, self.mask, self.rows, self.traces = rect, image, mask, rows, traces
        self.baselines, self.start_pulses, self.end_pulses = baselines, start, end
        self.grid, self.ppm_guess, self.long_ink, self.flip_votes = (
            grid, ppm_guess, long_ink, flip_votes)
        self.fallback = False
        self.photo = False  # a photographed sheet, its perspective undone
        # (width, height) px of that sheet, rows along the width, when its outline was found
        self.sheet_px: tuple[float, float] | None = None
        self.grid_map: np.ndarray | None = None  # (H, W) grid probability, rectified
        self.seam_bars: list[SeamBar] = []  # bars between a row's leads (`find_seam_bars`)
        self.faint: np.ndarray | None = None  # (H, W) bool: the mask and faint trace ink


def page_px_per_mm(page: ReadPage) -> float:
    """A read page's scale, px/mm: its grid's, else the guess it was read at."""
    return page.grid.px_per_mm if page.grid is not None else page.ppm_guess
