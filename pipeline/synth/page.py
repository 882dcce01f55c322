"""Page geometry: where the grid, rows, panels, labels and calibration pulses go (in mm).

Pure arithmetic on a `RenderSpec`; no drawing. Page coordinates are mm from the sheet's
top-left corner; `pipeline.synth.render` converts them to px.
"""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.synth.layouts import get_layout, parse_lead
from pipeline.synth.spec import RenderSpec

#: Width of the calibration pulse, s, and its height, mV.
CAL_PULSE_S = 0.2
CAL_PULSE_MV = 1.0
#: Flat run before and after the pulse, mm.
CAL_FLAT_MM = 1.0  # default flat run before and after the pulse (RenderSpec.calibration_flat_mm)
#: Longest recording time a page shows, s.
MAX_SECONDS = 10.0


@dataclass(frozen=True)
class PanelPlan:
    """One drawn lead window. Positions in mm on the page."""

    lead: str
    polarity: int
    row: int
    col: int
    t0_s: float
    t1_s: float
    x0_mm: float
    x1_mm: float
    baseline_mm: float
    row_top_mm: float
    row_bottom_mm: float


@dataclass(frozen=True)
class PagePlan:
    """Geometry of one page in mm: grid area, signal area, rows and panels."""

    grid_box_mm: tuple[float, float, float, float]
    grid_origin_mm: tuple[float, float]
    signal_box_mm: tuple[float, float, float, float]
    row_baselines_mm: tuple[float, ...]
    row_pitch_mm: float
    col_seconds: float
    panels: tuple[PanelPlan, ...]
    cal_x0_mm: float | None


def plan_page(spec: RenderSpec) -> PagePlan:
    """Lay out the page for `spec`; raises ValueError if the layout cannot fit."""
    template = get_layout(spec.layout)
    page_w, page_h = spec.page_mm
    left, top, right, bottom = spec.margin_mm
    x0, y0 = left, top + spec.header_mm
    x1, y1 = page_w - right, page_h - bottom
    if x1 - x0 < 40 or y1 - y0 < 20:
        raise ValueError(
            f"signal area {x1 - x0:.1f} x {y1 - y0:.1f} mm too small; expected >= 40 x 20 mm "
            f"(page {page_w} x {page_h} mm, margins {spec.margin_mm}, header {spec.header_mm})"
        )
    cal_w = CAL_PULSE_S * spec.mm_per_s + 2 * spec.calibration_flat_mm
    gap = spec.calibration_gap_mm
    lead_in = 1.0 + (cal_w + gap if spec.calibration == "start" else 0.0)
    lead_out = 1.0 + (cal_w + gap if spec.calibration == "end" else 0.0)
    label_room = 4.0 * spec.label_height_mm if spec.label_position == "left" else 0.0
    trace_x0 = x0 + label_room + lead_in
    avail_mm = x1 - lead_out - trace_x0
    n_cols = template.n_cols
    # Full columns each show the same window; others share MAX_SECONDS between them.
    most_s = MAX_SECONDS if template.full_columns else MAX_SECONDS / n_cols
    col_s = min(most_s, int(avail_mm / (spec.mm_per_s * n_cols) / 0.02) * 0.02)
    if col_s < 0.5:
        raise ValueError(
            f"layout {spec.layout} at {spec.mm_per_s} mm/s leaves {col_s:.2f} s per column; "
            f"expected >= 0.5 s (available width {avail_mm:.1f} mm)"
        )
    pitch = (y1 - y0) / template.n_rows
    baselines = tuple(y0 + pitch * (r + spec.baseline_frac) for r in range(template.n_rows))
    col_mm = col_s * spec.mm_per_s
    panels: list[PanelPlan] = []
    for r, row_cells in enumerate(template.cells):
        for c, token in enumerate(row_cells):
            lead, polarity = parse_lead(token)
            t0, t1 = template.window_s(c, col_s)
            panels.append(PanelPlan(
                lead, polarity, r, c, round(t0, 6), round(t1, 6),
                trace_x0 + c * col_mm, trace_x0 + (c + 1) * col_mm, baselines[r],
                y0 + pitch * r, y0 + pitch * (r + 1)))
    for k, token in enumerate(template.rhythm):
        lead, polarity = parse_lead(token)
        r = len(template.cells) + k
        panels.append(PanelPlan(
            lead, polarity, r, 0, 0.0, round(n_cols * col_s, 6), trace_x0,
            trace_x0 + n_cols * col_mm, baselines[r], y0 + pitch * r, y0 + pitch * (r + 1)))
    cal_x0 = None
    if spec.calibration == "start":
        cal_x0 = trace_x0 - cal_w - gap
    elif spec.calibration == "end":
        cal_x0 = trace_x0 + n_cols * col_mm + gap
    # Grid lines sit on whole mm from the signal area's top-left corner.
    if spec.grid_full_page:
        gx0, gy0 = x0 - 5 * int(x0 / 5), y0 - 5 * int(y0 / 5)
        grid_box = (gx0, gy0, page_w, page_h)
    else:
        grid_box = (x0, y0, x0 + int(x1 - x0), y0 + int(y1 - y0))
    return PagePlan(grid_box, (grid_box[0], grid_box[1]), (x0, y0, x1, y1), baselines, pitch,
                    col_s, tuple(panels), cal_x0)
