"""`render_page`: draw a 12-lead ECG page from real signals, with exact ground truth.

Shapes: signals (L=12, T) in mV; image (H, W, 3) uint8 RGB; masks (H, W).
Image coordinates are px with pixel centres on integers (pixel (r, c) covers
x in [c - 0.5, c + 0.5)); page mm map to px as x_px = x_mm * px_per_mm - 0.5.
Panels, boxes and baselines are given in PAGE px (before any geometric degradation);
`homography` (3, 3) maps page px to final-image px (identity when the page is not warped).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.signal import resample_poly

from pipeline.synth import degrade
from pipeline.synth.page import CAL_PULSE_MV, CAL_PULSE_S, PagePlan, plan_page
from pipeline.synth.raster import Patch, line_profile, stroke_patch
from pipeline.synth.spec import RenderSpec
from pipeline.synth.text import TextLayer
from pipeline.synth.texts import footer_text, header_lines
from pipeline.types import LEADS

#: Rate and length of the truth time axis.
TRUTH_FS_HZ = 500.0
TRUTH_SECONDS = 10.0
#: Class ids of `class_mask` (index into pipeline.types.SEGMENTATION_CLASSES).
BACKGROUND, GRID, TEXT, TRACE = 0, 1, 2, 3

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Panel:
    """One drawn lead window, in page px.

    lead: lead name (LEADS); row, col: place in the layout (rhythm strips have col 0 and
    rows below the main grid); t0_s, t1_s: time window on the record's axis, s;
    x0_px, x1_px: x where t0_s and t1_s fall; baseline_y_px: y of 0 mV;
    box_px: (x0, y0, x1, y1) the panel's cell; label_box_px: ink box of its lead label;
    polarity: -1 where the lead is drawn inverted (Cabrera -aVR), else 1.
    Time t maps to x = x0_px + (t - t0_s) * mm_per_s * px_per_mm; a value v uV maps to
    y = baseline_y_px - polarity * v / 1000 * mm_per_mv * px_per_mm.
    """

    lead: str
    row: int
    col: int
    t0_s: float
    t1_s: float
    x0_px: float
    x1_px: float
    baseline_y_px: float
    box_px: Box
    label_box_px: Box | None
    polarity: int = 1

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the fields."""
        return {
            "lead": self.lead, "row": self.row, "col": self.col, "t0_s": self.t0_s,
            "t1_s": self.t1_s, "x0_px": self.x0_px, "x1_px": self.x1_px,
            "baseline_y_px": self.baseline_y_px, "box_px": list(self.box_px),
            "label_box_px": None if self.label_box_px is None else list(self.label_box_px),
            "polarity": self.polarity,
        }


@dataclass
class RenderedPage:
    """A rendered page and its truth.

    image: (H, W, 3) uint8 RGB. class_mask: (H, W) uint8, 0 background, 1 grid, 2 text
    (labels, header, separators, stamps, handwriting), 3 trace (calibration pulses
    included). instance_mask: (H, W) uint16, k = 1 + index into `panels` on that panel's
    trace pixels, else 0. truth_uv: (L=12, T_out) float32 uV at `fs_hz` on the record's
    time axis, NaN where the lead is not drawn. calibration_boxes_px: page-px boxes of the
    calibration pulses. homography: (3, 3) page px -> image px.
    """

    image: np.ndarray
    class_mask: np.ndarray
    instance_mask: np.ndarray
    panels: list[Panel]
    truth_uv: np.ndarray
    fs_hz: float
    px_per_mm: float
    mm_per_mv: float
    mm_per_s: float
    dpi: float
    layout: str
    conditions: dict[str, Any]
    homography: np.ndarray
    calibration_boxes_px: list[Box] = field(default_factory=list)
    page_size_px: tuple[int, int] = (0, 0)
    trace_coverage: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None

    def metadata(self) -> dict[str, Any]:
        """JSON-ready description of everything but the arrays."""
        return {
            "fs_hz": self.fs_hz, "px_per_mm": self.px_per_mm, "mm_per_mv": self.mm_per_mv,
            "mm_per_s": self.mm_per_s, "dpi": self.dpi, "layout": self.layout,
            "image_size_px": [int(self.image.shape[1]), int(self.image.shape[0])],
            "page_size_px": list(self.page_size_px),
            "panels": [p.as_dict() for p in self.panels],
            "calibration_boxes_px": [list(b) for b in self.calibration_boxes_px],
            "homography": self.homography.tolist(), "conditions": self.conditions,
        }


def _to_truth_axis(signals_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """(12, T) mV at fs -> (12, T_out) float64 mV at TRUTH_FS_HZ, first TRUTH_SECONDS s."""
    if signals_mv.ndim != 2 or signals_mv.shape[0] != len(LEADS):
        raise ValueError(f"signals_mv must have shape (12, T); found {signals_mv.shape}")
    if not np.all(np.isfinite(signals_mv)):
        raise ValueError("signals_mv must be finite everywhere")
    if fs_hz <= 0:
        raise ValueError(f"fs_hz must be > 0; found {fs_hz}")
    signals = np.asarray(signals_mv, dtype=np.float64)
    if abs(fs_hz - TRUTH_FS_HZ) > 1e-9:
        from fractions import Fraction

        ratio = Fraction(TRUTH_FS_HZ / fs_hz).limit_denominator(1000)
        signals = resample_poly(signals, ratio.numerator, ratio.denominator, axis=1)
    n_out = round(TRUTH_SECONDS * TRUTH_FS_HZ)
    if signals.shape[1] < n_out:
        raise ValueError(
            f"record lasts {signals.shape[1] / TRUTH_FS_HZ:.2f} s; expected >= {TRUTH_SECONDS} s"
        )
    return signals[:, :n_out]


def composite(planes: np.ndarray, alpha: np.ndarray, rgb: tuple[int, int, int]) -> None:
    """In place: planes = planes * (1 - alpha) + rgb * alpha.

    planes: (3, h, w) float32 RGB planes (planar: per-channel work stays contiguous);
    alpha: (h, w) float32 in [0, 1].
    """
    for channel in range(3):
        plane = planes[channel]
        plane += (np.float32(rgb[channel]) - plane) * alpha


def _draw_grid(spec: RenderSpec, plan: PagePlan, image: np.ndarray, classes: np.ndarray) -> None:
    """Grid lines (or dots) over the plan's grid box, composited into `image`."""
    if spec.grid == "none":
        return
    ppm = spec.px_per_mm
    h, w = classes.shape
    gx0, gy0, gx1, gy1 = plan.grid_box_mm
    c0, c1 = max(int(np.floor(gx0 * ppm)), 0), min(int(np.ceil(gx1 * ppm)), w)
    r0, r1 = max(int(np.floor(gy0 * ppm)), 0), min(int(np.ceil(gy1 * ppm)), h)
    nx, ny = int(np.floor(gx1 - gx0 + 1e-6)), int(np.floor(gy1 - gy0 + 1e-6))

    def profiles(origin_mm: float, n_mm: int, start_px: int, n_px: int, width_mm: float,
                 major: bool) -> tuple[np.ndarray, np.ndarray]:
        k = np.arange(n_mm + 1)
        k = k[(k % 5 == 0)] if major else k[(k % 5 != 0)]
        pos = (origin_mm + k) * ppm - 0.5 - start_px
        return line_profile(pos, max(width_mm * ppm, 1e-3), n_px)

    ox, oy = plan.grid_origin_mm
    hx_min, mx_min = profiles(ox, nx, c0, c1 - c0, spec.grid_minor_width_mm, False)
    hx_maj, mx_maj = profiles(ox, nx, c0, c1 - c0, spec.grid_major_width_mm, True)
    hy_min, my_min = profiles(oy, ny, r0, r1 - r0, spec.grid_minor_width_mm, False)
    hy_maj, my_maj = profiles(oy, ny, r0, r1 - r0, spec.grid_major_width_mm, True)
    a_min, a_maj = spec.grid_minor_alpha, spec.grid_major_alpha
    if spec.grid_style == "lines":
        col_alpha = np.maximum(hx_min * a_min, hx_maj * a_maj)
        row_alpha = np.maximum(hy_min * a_min, hy_maj * a_maj)
        alpha = 1.0 - (1.0 - row_alpha[:, None]) * (1.0 - col_alpha[None, :])
        mask = (my_min | my_maj)[:, None] | (mx_min | mx_maj)[None, :]
    else:
        # Dots on every mm crossing, solid major lines.
        dot_mm = max(spec.grid_minor_width_mm * 2.0, 0.15)
        dx, dmx = profiles(ox, nx, c0, c1 - c0, dot_mm, False)
        dy, dmy = profiles(oy, ny, r0, r1 - r0, dot_mm, False)
        dx_all = np.maximum(dx, profiles(ox, nx, c0, c1 - c0, dot_mm, True)[0])
        dy_all = np.maximum(dy, profiles(oy, ny, r0, r1 - r0, dot_mm, True)[0])
        dots = dy_all[:, None] * dx_all[None, :] * min(1.0, a_min * 2.0)
        lines = 1.0 - (1.0 - hy_maj[:, None] * a_maj) * (1.0 - hx_maj[None, :] * a_maj)
        alpha = 1.0 - (1.0 - dots) * (1.0 - lines)
        mask = (dots >= 0.25 * min(1.0, a_min * 2.0)) | my_maj[:, None] | mx_maj[None, :]
        del dmx, dmy
    composite(image[:, r0:r1, c0:c1], alpha.astype(np.float32), spec.grid_rgb)
    classes[r0:r1, c0:c1][mask] = GRID


def _paint_patch(patch: Patch, image: np.ndarray, classes: np.ndarray, class_id: int,
                 rgb: tuple[int, int, int], opacity: float = 1.0,
                 instances: np.ndarray | None = None, instance_id: int = 0) -> None:
    (isl, psl) = patch.slices(classes.shape)
    cov = patch.coverage[psl] * opacity
    composite(image[:, isl[0], isl[1]], cov, rgb)
    mask = patch.mask[psl]
    classes[isl][mask] = class_id
    if instances is not None:
        instances[isl][mask] = instance_id


def _sparse_coverage(patch: Patch, shape: tuple[int, int]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, coverage) (K,) arrays of the patch's nonzero coverage inside `shape`."""
    (isl, psl) = patch.slices(shape)
    cov = patch.coverage[psl]
    r, c = np.nonzero(cov > 0)
    return ((r + isl[0].start).astype(np.int32), (c + isl[1].start).astype(np.int32),
            cov[r, c].astype(np.float32))


def render_page(signals_mv: np.ndarray, fs_hz: float, spec: RenderSpec,
                rng: np.random.Generator, with_coverage: bool = False) -> RenderedPage:
    """Render one page of `signals_mv` ((L=12, T) mV at fs_hz, >= 10 s) as `spec` says.

    `rng` draws what the spec leaves open (header text, label offsets, degradation
    details); the same spec, signals and rng state give the same page. with_coverage:
    also keep each panel's soft trace ink in `page.trace_coverage` (off by default: the
    image, masks and rng draws are the same either way).
    """
    signals = _to_truth_axis(signals_mv, fs_hz)
    plan = plan_page(spec)
    ppm = spec.px_per_mm
    page_w_mm, page_h_mm = spec.page_mm
    width, height = round(page_w_mm * ppm), round(page_h_mm * ppm)
    image = np.empty((3, height, width), dtype=np.float32)  # planar RGB until degrade
    for channel in range(3):
        image[channel].fill(spec.paper_rgb[channel])
    classes = np.zeros((height, width), dtype=np.uint8)
    instances = np.zeros((height, width), dtype=np.uint16)

    def px(v_mm: float) -> float:
        return v_mm * ppm - 0.5

    _draw_grid(spec, plan, image, classes)

    # Text: labels, header, footer.
    text = TextLayer((height, width), spec.font)
    cap = spec.label_height_mm * ppm
    label_dx = float(rng.uniform(0.5, 2.5)) * ppm
    label_dy = min(float(rng.uniform(1.5, 9.0)), 0.4 * plan.row_pitch_mm) * ppm
    label_boxes: list[Box | None] = []
    for p in plan.panels:
        name = ("-" if p.polarity < 0 else "") + p.lead
        base = px(p.baseline_mm)
        if spec.label_position == "left" and p.col == 0:
            box = text.text(name, px(plan.signal_box_mm[0]) + 0.5 * ppm, base - 0.5 * cap, cap)
        elif spec.label_position == "baseline":
            # On the trace's start, a little above the baseline (as many printers do).
            box = text.text(name, px(p.x0_mm) + label_dx, base - 0.3 * cap, cap)
        elif spec.label_position == "below":
            box = text.text(name, px(p.x0_mm) + label_dx, base + label_dy + cap, cap)
        else:
            box = text.text(name, px(p.x0_mm) + label_dx, base - label_dy, cap)
        label_boxes.append(box)
    if spec.header_mm > 0:
        line_cap = min(cap, spec.header_mm * ppm / 7.0)
        y = px(spec.margin_mm[1]) + 1.5 * line_cap
        for line in header_lines(rng):
            if y > px(spec.margin_mm[1] + spec.header_mm) - 0.5 * line_cap:
                break
            text.text(line, px(spec.margin_mm[0]), y, line_cap)
            y += 1.6 * line_cap
    if spec.footer:
        foot_cap = min(cap, max(spec.margin_mm[3] * ppm * 0.35, 4.0))
        text.text(footer_text(spec, rng), px(spec.margin_mm[0]),
                  px(page_h_mm - spec.margin_mm[3]) + 1.4 * foot_cap, foot_cap)
    text_u8 = text.coverage_u8()
    rows, cols = np.nonzero(text_u8)
    if rows.size:
        a = text_u8[rows, cols].astype(np.float32) * np.float32(1 / 255)
        for channel in range(3):
            sub = image[channel, rows, cols]
            image[channel, rows, cols] = sub + (np.float32(spec.text_rgb[channel]) - sub) * a
        strong = text_u8[rows, cols] >= 128
        classes[rows[strong], cols[strong]] = TEXT

    # Separators between columns (text class: they are not signal).
    width_px = spec.trace_width_mm * ppm
    if spec.separators:
        for p in plan.panels:
            if p.col == 0:
                continue
            half = 0.12 * plan.row_pitch_mm * ppm
            xs = np.array([px(p.x0_mm), px(p.x0_mm)])
            ys = np.array([px(p.baseline_mm) - half, px(p.baseline_mm) + half])
            _paint_patch(stroke_patch(xs, ys, width_px, spec.antialias), image, classes,
                         TEXT, spec.trace_rgb)

    # Traces.
    n_out = signals.shape[1]
    truth = np.full((len(LEADS), n_out), np.nan, dtype=np.float32)
    px_per_s = spec.mm_per_s * ppm
    px_per_mv = spec.mm_per_mv * ppm
    panels: list[Panel] = []
    coverage: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for index, (p, label_box) in enumerate(zip(plan.panels, label_boxes)):
        lead_row = LEADS.index(p.lead)
        n0 = round(p.t0_s * TRUTH_FS_HZ)
        n1 = min(round(p.t1_s * TRUTH_FS_HZ), n_out)
        values = signals[lead_row, n0:n1]
        x0 = px(p.x0_mm)
        xs = x0 + np.arange(n1 - n0) / TRUTH_FS_HZ * px_per_s
        base = px(p.baseline_mm)
        ys = base - p.polarity * values * px_per_mv
        patch = stroke_patch(xs, ys, width_px, spec.antialias)
        _paint_patch(patch, image, classes, TRACE, spec.trace_rgb, 1.0, instances, index + 1)
        if with_coverage:
            coverage.append(_sparse_coverage(patch, classes.shape))
        truth[lead_row, n0:n1] = (values * 1000.0).astype(np.float32)
        panels.append(Panel(
            p.lead, p.row, p.col, p.t0_s, p.t1_s, x0, px(p.x1_mm), base,
            (x0, px(p.row_top_mm), px(p.x1_mm), px(p.row_bottom_mm)), label_box, p.polarity))

    # Calibration pulses, one per row.
    cal_boxes: list[Box] = []
    if plan.cal_x0_mm is not None:
        flat, pulse = spec.calibration_flat_mm * ppm, CAL_PULSE_S * px_per_s
        height_px = CAL_PULSE_MV * px_per_mv
        for base_mm in plan.row_baselines_mm:
            x0, base = px(plan.cal_x0_mm), px(base_mm)
            xs = np.array([x0, x0 + flat, x0 + flat, x0 + flat + pulse, x0 + flat + pulse,
                           x0 + 2 * flat + pulse])
            ys = np.array([base, base, base - height_px, base - height_px, base, base])
            _paint_patch(stroke_patch(xs, ys, width_px, spec.antialias), image, classes,
                         TRACE, spec.trace_rgb)
            half = 0.5 * width_px
            cal_boxes.append((x0 - half, base - height_px - half, xs[-1] + half, base + half))

    conditions = spec.as_dict()
    conditions.update({
        "font_used": text.font_used, "label_dx_px": label_dx, "label_dy_px": label_dy,
        "col_seconds": plan.col_seconds, "row_pitch_mm": plan.row_pitch_mm,
        "trace_width_px": width_px,
    })
    page = RenderedPage(
        image=image, class_mask=classes, instance_mask=instances, panels=panels,
        truth_uv=truth, fs_hz=TRUTH_FS_HZ, px_per_mm=ppm, mm_per_mv=spec.mm_per_mv,
        mm_per_s=spec.mm_per_s, dpi=spec.dpi, layout=spec.layout, conditions=conditions,
        homography=np.eye(3), calibration_boxes_px=cal_boxes, page_size_px=(width, height),
        trace_coverage=coverage if with_coverage else None,
    )
    return degrade.apply(page, spec, rng)
