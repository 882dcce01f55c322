"""Rows drawn as separate panels: ink-free gaps between a row's columns.

Some programs draw each lead in its own gridded panel, with a gap of a few mm between the
panels of a row, so a row of four 2.5 s panels is wider than 10 s of paper. The layout
templates assume the columns of a row abut (their time axis is one straight line), so
the gaps are found here and taken out of the rows' traces ("closed") before the signals
are assembled; placements are put back on the page afterwards ("opened").

Gaps count only when they are the page's pattern: at least two rows show them at the same
columns (within MAX_OFFSET_MM), and they cut each of those rows into panels of equal width
(within PANEL_WIDTH_TOLERANCE). A flat stretch that a weak line left unread does neither.

A gap is closed by its ink-free width. That is exact where each panel's lines are clipped at
their ends (plotting libraries clip to the panel); a program that draws round or square caps
past a line's last point leaves a narrower gap, and each panel after one is then read late
by about the cap's reach (a pixel or two: a few ms a gap at 200 dpi).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pipeline.extract import RowTrace
from pipeline.layout import TraceRow
from pipeline.runs import true_runs

#: Least width of an ink-free gap between two panels, mm.
MIN_GAP_MM = 2.0
#: Largest offset between the same gap found in two rows, mm.
MAX_OFFSET_MM = 1.0
#: Largest relative spread of the panels' widths in one row.
PANEL_WIDTH_TOLERANCE = 0.1
#: How far a row's own start or end may lie from where its panels put it (mm) and still
#: be kept (`PanelGaps.first_start`, `closed_end`).
PANEL_EDGE_TOLERANCE_MM = 0.5
#: How much narrower one of two panels may be read and be kept (`PanelGaps.outer_edges`).
ONE_GAP_TOLERANCE_MM = 0.25


@dataclass(frozen=True)
class PanelGaps:
    """Gaps between panels shared by some rows of a page.

    gaps: ((x0, x1), ...) px, left to right, each the ink-free columns x0..x1 (inclusive).
    rows: indices of the rows drawn with these gaps (rows not listed are whole, such as
    rhythm strips).
    """

    gaps: tuple[tuple[float, float], ...]
    rows: tuple[int, ...]

    def close(self, x_px: np.ndarray) -> np.ndarray:
        """Page columns (N,) px -> columns with the gaps taken out (N,) px; NaN inside a
        gap."""
        x = np.asarray(x_px, dtype=np.float64)
        out = x.copy()
        for x0, x1 in self.gaps:
            out = np.where(x > x1, out - (x1 - x0 + 1.0), out)
            out = np.where((x >= x0) & (x <= x1), np.nan, out)
        return out

    def open(self, x_px: float) -> float:
        """A column with the gaps taken out, px -> the page's column, px (a column at a
        gap's place goes to the gap's far side: where the next panel starts)."""
        x = float(x_px)
        for x0, x1 in self.gaps:
            if x >= x0:
                x += x1 - x0 + 1.0
        return x

    def inner_panel_px(self) -> float | None:
        """Median width of the panels between two gaps, px (the page's columns, gaps not
        counted), or None with fewer than two gaps. Bounded by gaps on both sides, these
        are measured by ink-free columns alone, not by where a row's line is found to start
        or end (a flat stretch at a line's end, read as a grid line, is not ink)."""
        if len(self.gaps) < 2:
            return None
        return float(np.median([b[0] - a[1] - 1.0 for a, b in zip(self.gaps, self.gaps[1:])]))

    def row_edges(self, start_px: float, end_px: float, px_per_mm: float
                  ) -> tuple[float, float]:
        """A row's start and end (px; the end with the gaps taken out), read `start_px` ..
        `end_px`, held to its panels: with one gap by `outer_edges` (ONE_GAP_TOLERANCE_MM),
        with more by `first_start` and `closed_end` (PANEL_EDGE_TOLERANCE_MM)."""
        if len(self.gaps) == 1:
            return self.outer_edges(start_px, end_px, ONE_GAP_TOLERANCE_MM * px_per_mm)
        tolerance = PANEL_EDGE_TOLERANCE_MM * px_per_mm
        return self.first_start(start_px, tolerance), self.closed_end(end_px, tolerance)

    def first_start(self, start_px: float, tolerance_px: float) -> float:
        """A row's start (its first inked column), px: `start_px`, unless it lies over
        tolerance_px from an inner panel's width before the first gap (with inner panels:
        see `inner_panel_px`), then that. Within it the row's own reading is kept: it is
        sub-pixel, the panels' width whole columns."""
        inner = self.inner_panel_px()
        if inner is None or abs(self.gaps[0][0] - inner - start_px) <= tolerance_px:
            return start_px
        return self.gaps[0][0] - inner

    def outer_edges(self, start_px: float, end_px: float, tolerance_px: float
                    ) -> tuple[float, float]:
        """A row's start and end (px; the end with the gaps taken out) when its panels
        are cut by one gap: the narrower outer panel, over tolerance_px narrower than the
        other, is widened to it (a line loses its faint first or last stretch; it gains no
        ink past its end). With inner panels see `first_start` and `closed_end`."""
        if len(self.gaps) == 1:
            (x0, x1), = self.gaps
            first, last = x0 - start_px, end_px - x1
            if first < last - tolerance_px:
                start_px = x0 - last
            elif last < first - tolerance_px:
                end_px = x1 + first
        return start_px, float(self.close(np.array([end_px]))[0])

    def closed_end(self, end_px: float, tolerance_px: float) -> float:
        """A row's end (its last inked column) with the gaps taken out, px: `end_px`
        closed, unless it lies over tolerance_px from the last column of an inner panel's
        width after the last gap (every panel of a page is drawn equally wide, as
        `find_panel_gaps` checks), then that."""
        closed = float(self.close(np.array([end_px]))[0])
        inner = self.inner_panel_px()
        if inner is None:
            return closed
        drawn = float(self.close(np.array([self.gaps[-1][1] + 1.0]))[0]) + inner - 1.0
        return closed if abs(drawn - closed) <= tolerance_px else drawn


def row_gaps(mask: np.ndarray, row: TraceRow, start_px: float, end_px: float,
             px_per_mm: float) -> list[tuple[float, float]]:
    """Ink-free column runs (x0, x1) px at least MIN_GAP_MM wide strictly inside
    start_px..end_px, in the row's own band of `mask` (H, W) bool trace pixels."""
    top, bottom = row.own_band
    a, b = max(0, round(start_px)), min(mask.shape[1], round(end_px) + 1)
    if b - a < 3:
        return []
    empty = ~mask[max(0, top):max(top + 1, bottom), a:b].any(axis=0)
    return [(float(a + s), float(a + e - 1)) for s, e in true_runs(empty)
            if e - s >= MIN_GAP_MM * px_per_mm and s > 0 and e < b - a]


def _equal_panels(gaps: list[tuple[float, float]], start_px: float, end_px: float) -> bool:
    """Whether the gaps cut start_px..end_px into panels of equal width."""
    lefts = [start_px] + [x1 for _, x1 in gaps]
    rights = [x0 for x0, _ in gaps] + [end_px]
    widths = np.subtract(rights, lefts)
    return bool(widths.min() > 0 and
                (widths.max() - widths.min()) <= PANEL_WIDTH_TOLERANCE * widths.mean())


def find_panel_gaps(mask: np.ndarray, rows: list[TraceRow], starts: list[float],
                    ends: list[float], px_per_mm: float) -> PanelGaps | None:
    """The gaps between panels that at least two rows share (see the module docstring), or
    None. mask: (H, W) bool trace pixels; rows, starts, ends: per row, px."""
    per_row = [row_gaps(mask, row, s, e, px_per_mm) for row, s, e in zip(rows, starts, ends)]
    candidates = [i for i, g in enumerate(per_row)
                  if g and _equal_panels(g, starts[i], ends[i])]
    if len(candidates) < 2:
        return None
    # The pattern: the gaps most rows show at the same places.
    tol = MAX_OFFSET_MM * px_per_mm

    def same(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> bool:
        return len(a) == len(b) and all(abs(p[0] - q[0]) <= tol and abs(p[1] - q[1]) <= tol
                                        for p, q in zip(a, b))

    best = max(candidates, key=lambda i: sum(same(per_row[i], per_row[j])
                                             for j in candidates))
    members = tuple(j for j in candidates if same(per_row[best], per_row[j]))
    if len(members) < 2:
        return None
    gaps = tuple((float(np.median([per_row[j][k][0] for j in members])),
                  float(np.median([per_row[j][k][1] for j in members])))
                 for k in range(len(per_row[best])))
    return PanelGaps(gaps, members)


def close_trace(trace: RowTrace, gaps: PanelGaps) -> RowTrace:
    """The row's line with the gaps taken out of its columns (samples inside a gap
    dropped)."""
    x = gaps.close(trace.x_px)
    keep = np.isfinite(x)
    return replace(trace, x_px=x[keep], y_px=trace.y_px[keep], confident=trace.confident[keep])
