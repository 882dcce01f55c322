"""`RenderSpec`: everything that decides how one page looks, and `sample_spec` to draw one.

Units: mm on paper, px in the image, dpi = px per inch, colours are RGB uint8 triples.
Every field is recorded in the page's `conditions`, so a render can be grouped and
reproduced from its JSON.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.synth.fonts import available_fonts
from pipeline.synth.layouts import LAYOUTS

RGB = tuple[int, int, int]

#: Paper sizes, (short side, long side) in mm.
PAPER_MM: dict[str, tuple[float, float]] = {"a4": (210.0, 297.0), "letter": (215.9, 279.4)}
PRESETS: tuple[str, ...] = ("clean", "scan", "photo", "mixed")

#: Grid palettes: name -> (grid RGB, paper RGB).
GRID_PALETTES: dict[str, tuple[RGB, RGB]] = {
    "red": ((230, 60, 60), (255, 255, 255)),
    "pink": ((245, 150, 170), (255, 250, 250)),
    "orange": ((240, 140, 60), (255, 252, 245)),
    "blue": ((90, 140, 220), (255, 255, 255)),
    "green": ((80, 170, 110), (255, 255, 255)),
    "grey": ((150, 150, 150), (255, 255, 255)),
    "bw": ((0, 0, 0), (255, 255, 255)),
    "none": ((0, 0, 0), (255, 255, 255)),
}


@dataclass(frozen=True)
class RenderSpec:
    """How to draw one page. Defaults: a clean 200-dpi A4 landscape 3x4+1 page.

    Page and layout: `paper` a4|letter, `orientation` landscape|portrait, `margin_mm`
    (left, top, right, bottom) of the grid area, `header_mm` height of the header band.
    Scales: `dpi` (px per inch), `mm_per_s`, `mm_per_mv`.
    Grid: `grid` (palette name, "none" draws none), `grid_style` lines|dots, line opacities
    and widths in mm, `grid_full_page` draws the grid over the whole sheet.
    Trace: `trace_rgb`, `trace_width_mm`, `antialias`. Text: `font` (a font file, "" for
    OpenCV's Hershey font), `label_height_mm`, `label_position` above|below|left|baseline.
    Calibration: `calibration` start|end|none, a 1 mV x 0.2 s box with flat runs of
    `calibration_flat_mm` on both sides, `calibration_gap_mm` from the trace (0 = merged).
    Degradations (0 / "none" = off): see `pipeline.synth.degrade`.
    """

    layout: str = "3x4+1"
    paper: str = "a4"
    orientation: str = "landscape"
    dpi: float = 200.0
    mm_per_s: float = 25.0
    mm_per_mv: float = 10.0
    margin_mm: tuple[float, float, float, float] = (12.0, 12.0, 12.0, 14.0)
    header_mm: float = 0.0
    grid: str = "red"
    grid_style: str = "lines"
    grid_rgb: RGB = (230, 60, 60)
    paper_rgb: RGB = (255, 255, 255)
    grid_minor_alpha: float = 0.35
    grid_major_alpha: float = 0.8
    grid_minor_width_mm: float = 0.1
    grid_major_width_mm: float = 0.2
    grid_full_page: bool = False
    trace_rgb: RGB = (0, 0, 0)
    trace_width_mm: float = 0.25
    antialias: bool = True
    text_rgb: RGB = (0, 0, 0)
    font: str = ""
    label_height_mm: float = 3.0
    label_position: str = "above"
    calibration: str = "start"
    calibration_flat_mm: float = 1.0
    calibration_gap_mm: float = 0.5
    separators: bool = False
    footer: bool = True
    baseline_frac: float = 0.55
    # degradations (pipeline.synth.degrade)
    preset: str = "clean"
    paper_tint: float = 0.0
    paper_texture: float = 0.0
    stamps: int = 0
    handwriting: int = 0
    folds: int = 0
    light_gradient: float = 0.0
    shadow: float = 0.0
    rotation_deg: float = 0.0
    perspective_deg: float = 0.0
    background: str = "none"
    crop_mm: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    blur_sigma_px: float = 0.0
    noise_sigma: float = 0.0
    binarize: bool = False
    jpeg_quality: int = 0
    glare: float = 0.0
    motion_blur_px: float = 0.0

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {sorted(LAYOUTS)}; found {self.layout!r}")
        if self.paper not in PAPER_MM:
            raise ValueError(f"paper must be one of {sorted(PAPER_MM)}; found {self.paper!r}")
        if self.orientation not in ("landscape", "portrait"):
            raise ValueError(f"orientation must be landscape|portrait; found {self.orientation!r}")
        if not 30.0 <= self.dpi <= 1200.0:
            raise ValueError(f"dpi must be in [30, 1200]; found {self.dpi}")
        if self.mm_per_s <= 0 or self.mm_per_mv <= 0:
            raise ValueError(
                f"mm_per_s and mm_per_mv must be > 0; found {self.mm_per_s}, {self.mm_per_mv}"
            )
        if self.grid not in GRID_PALETTES:
            raise ValueError(f"grid must be one of {sorted(GRID_PALETTES)}; found {self.grid!r}")
        if self.grid_style not in ("lines", "dots"):
            raise ValueError(f"grid_style must be lines|dots; found {self.grid_style!r}")
        if self.calibration not in ("start", "end", "none"):
            raise ValueError(f"calibration must be start|end|none; found {self.calibration!r}")
        if self.label_position not in ("above", "below", "left", "baseline"):
            raise ValueError(
                f"label_position must be above|below|left|baseline; found {self.label_position!r}"
            )
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {PRESETS}; found {self.preset!r}")
        if not 0 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be 0 (off) or 1..100; found {self.jpeg_quality}")
        if self.calibration_flat_mm < 0 or self.calibration_gap_mm < 0:
            raise ValueError(
                f"calibration_flat_mm and calibration_gap_mm must be >= 0; found "
                f"{self.calibration_flat_mm}, {self.calibration_gap_mm}"
            )
        if not 0.0 <= self.glare <= 1.0 or self.motion_blur_px < 0:
            raise ValueError(
                f"glare must be in [0, 1] and motion_blur_px >= 0; found {self.glare}, "
                f"{self.motion_blur_px}"
            )
        if self.trace_width_mm <= 0:
            raise ValueError(f"trace_width_mm must be > 0; found {self.trace_width_mm}")

    @property
    def px_per_mm(self) -> float:
        """Pixels per millimetre of paper."""
        return self.dpi / 25.4

    @property
    def page_mm(self) -> tuple[float, float]:
        """(width, height) of the sheet in mm."""
        short, long = PAPER_MM[self.paper]
        return (long, short) if self.orientation == "landscape" else (short, long)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def spec_from_dict(values: dict[str, Any]) -> RenderSpec:
    """Rebuild a spec from `RenderSpec.as_dict()` output (lists become tuples)."""
    names = {f.name for f in dataclasses.fields(RenderSpec)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(
            f"unknown RenderSpec fields {unknown}; expected a subset of {sorted(names)}"
        )
    kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return RenderSpec(**kwargs)


def _choice(rng: np.random.Generator, options: list[Any], p: list[float] | None = None) -> Any:
    index = int(rng.choice(len(options), p=None if p is None else np.asarray(p) / np.sum(p)))
    return options[index]


def _jitter_rgb(rng: np.random.Generator, rgb: RGB, amount: int) -> RGB:
    values = np.clip(np.asarray(rgb) + rng.integers(-amount, amount + 1, size=3), 0, 255)
    return (int(values[0]), int(values[1]), int(values[2]))


def _sample_layout(rng: np.random.Generator) -> str:
    names = ["3x4+1", "3x4", "3x4+2", "3x4+3", "6x2", "6x2+1", "12x1", "cabrera-3x4",
             "cabrera-3x4+1", "limb-6x1", "precordial-6x1"]
    weights = [0.30, 0.12, 0.05, 0.10, 0.08, 0.07, 0.08, 0.04, 0.04, 0.06, 0.06]
    return str(_choice(rng, names, weights))


def _sample_appearance(rng: np.random.Generator) -> dict[str, Any]:
    """Page, scale, grid, trace and text choices shared by every preset."""
    layout = _sample_layout(rng)
    orientation = "landscape" if rng.random() < 0.85 else "portrait"
    grid = str(_choice(rng, list(GRID_PALETTES),
                       [0.30, 0.18, 0.10, 0.06, 0.05, 0.10, 0.11, 0.10]))
    grid_rgb, paper_rgb = GRID_PALETTES[grid]
    tall = layout in ("12x1",)
    mm_per_mv = float(_choice(rng, [5.0, 10.0, 20.0], [0.25, 0.65, 0.10] if tall else
                              [0.08, 0.82, 0.10]))
    fonts = available_fonts()
    trace_rgb = (0, 0, 0) if rng.random() < 0.75 else _choice(
        rng, [(20, 20, 90), (40, 40, 40), (10, 60, 10), (90, 20, 20)])
    bw = grid == "bw"
    return {
        "layout": layout,
        "paper": "a4" if rng.random() < 0.6 else "letter",
        "orientation": orientation,
        "dpi": float(_choice(rng, [72.0, 96.0, 100.0, 150.0, 200.0, 300.0, 400.0, 600.0],
                             [0.12, 0.12, 0.12, 0.22, 0.27, 0.12, 0.02, 0.01])),
        "mm_per_s": 25.0 if rng.random() < 0.85 else 50.0,
        "mm_per_mv": mm_per_mv,
        "margin_mm": tuple(float(v) for v in rng.uniform([3, 5, 3, 5], [25, 25, 25, 30])),
        "header_mm": float(_choice(rng, [0.0, rng.uniform(15, 35)], [0.4, 0.6])),
        "grid": grid,
        "grid_style": "dots" if rng.random() < 0.12 else "lines",
        "grid_rgb": _jitter_rgb(rng, grid_rgb, 0 if bw else 25),
        "paper_rgb": _jitter_rgb(rng, paper_rgb, 4) if rng.random() < 0.5 else paper_rgb,
        "grid_minor_alpha": float(rng.uniform(0.15, 0.5) if bw else rng.uniform(0.2, 0.7)),
        "grid_major_alpha": float(rng.uniform(0.35, 0.8) if bw else rng.uniform(0.5, 1.0)),
        "grid_minor_width_mm": float(rng.uniform(0.04, 0.15)),
        "grid_major_width_mm": float(rng.uniform(0.1, 0.35)),
        "grid_full_page": bool(rng.random() < 0.3),
        "trace_rgb": (0, 0, 0) if bw else trace_rgb,
        "trace_width_mm": float(rng.uniform(0.1, 0.5)),
        "antialias": bool(rng.random() < 0.8),
        "text_rgb": (0, 0, 0) if rng.random() < 0.8 else _jitter_rgb(rng, (40, 40, 40), 30),
        "font": str(_choice(rng, [""] + list(fonts))) if fonts else "",
        "label_height_mm": float(rng.uniform(2.0, 4.5)),
        "label_position": str(_choice(rng, ["above", "below", "left", "baseline"],
                                      [0.55, 0.1, 0.15, 0.2])),
        "calibration": str(_choice(rng, ["start", "end", "none"], [0.65, 0.15, 0.2])),
        "separators": bool(rng.random() < 0.4),
        "footer": bool(rng.random() < 0.6),
        "baseline_frac": float(rng.uniform(0.45, 0.65)),
        # New draws go last, so that earlier fields keep their values for a given seed.
        "calibration_flat_mm": float(_choice(rng, [0.0, rng.uniform(0.5, 2.5)], [0.3, 0.7])),
        "calibration_gap_mm": float(_choice(rng, [0.0, rng.uniform(0.3, 2.0)], [0.4, 0.6])),
    }


def _sample_scan(rng: np.random.Generator) -> dict[str, Any]:
    return {
        "paper_tint": float(rng.uniform(0, 0.08)),
        "paper_texture": float(rng.uniform(0, 4)),
        "stamps": int(rng.random() < 0.15),
        "handwriting": int(rng.integers(0, 3)) if rng.random() < 0.3 else 0,
        "folds": int(rng.integers(0, 3)) if rng.random() < 0.25 else 0,
        "light_gradient": float(rng.uniform(0, 0.15)),
        "shadow": 0.0,
        "rotation_deg": float(rng.normal(0, 1.5)),
        # Crops up to the whole margin (clamped in degrade): often a tight crop to the grid.
        "crop_mm": tuple(float(v) for v in
                         (rng.uniform(0, 40, 4) if rng.random() < 0.35 else np.zeros(4))),
        "blur_sigma_px": float(rng.uniform(0, 1.0)),
        "noise_sigma": float(rng.uniform(0, 6)),
        "binarize": bool(rng.random() < 0.05),
        "jpeg_quality": int(rng.integers(40, 96)) if rng.random() < 0.7 else 0,
    }


def _sample_photo(rng: np.random.Generator) -> dict[str, Any]:
    return {
        "paper_tint": float(rng.uniform(0, 0.15)),
        "paper_texture": float(rng.uniform(0, 6)),
        "stamps": int(rng.random() < 0.15),
        "handwriting": int(rng.integers(0, 4)) if rng.random() < 0.3 else 0,
        "folds": int(rng.integers(0, 4)) if rng.random() < 0.4 else 0,
        "light_gradient": float(rng.uniform(0.05, 0.4)),
        "shadow": float(rng.uniform(0, 0.5)) if rng.random() < 0.5 else 0.0,
        "rotation_deg": float(rng.uniform(-15, 15)),
        "perspective_deg": float(rng.uniform(0, 30)),
        "background": str(_choice(rng, ["solid", "texture"])),
        "crop_mm": tuple(float(v) for v in
                         (rng.uniform(0, 15, 4) if rng.random() < 0.3 else np.zeros(4))),
        "blur_sigma_px": float(rng.uniform(0, 1.8)),
        "noise_sigma": float(rng.uniform(1, 10)),
        "jpeg_quality": int(rng.integers(10, 96)),
    }


def sample_spec(rng: np.random.Generator, preset: str = "clean", **overrides: Any) -> RenderSpec:
    """Draw a random `RenderSpec` for `preset` (clean|scan|photo|mixed), then apply overrides.

    clean: a digital page without degradation; scan: flatbed scan (small rotation, noise,
    blur, JPEG, tint, folds, stamps); photo: phone photo (rotation +-15 deg, perspective up
    to 30 deg over a background, shadows, uneven light, heavy JPEG); mixed: 25 % clean,
    35 % scan, 40 % photo. Unknown override names raise ValueError.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}; found {preset!r}")
    names = {f.name for f in dataclasses.fields(RenderSpec)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(
            f"unknown RenderSpec fields {unknown}; expected a subset of {sorted(names)}"
        )
    values = _sample_appearance(rng)
    chosen = preset
    if preset == "mixed":
        chosen = str(_choice(rng, ["clean", "scan", "photo"], [0.25, 0.35, 0.40]))
    if chosen == "scan":
        values.update(_sample_scan(rng))
    elif chosen == "photo":
        values.update(_sample_photo(rng))
        values["dpi"] = float(_choice(rng, [100.0, 150.0, 200.0], [0.3, 0.4, 0.3]))
    if chosen in ("scan", "photo") and rng.random() < 0.025:  # upside down (drawn last)
        values["rotation_deg"] += 180.0
    if chosen == "photo":  # phone-camera effects, drawn after everything older
        values["glare"] = float(rng.uniform(0.2, 0.7)) if rng.random() < 0.25 else 0.0
        values["motion_blur_px"] = float(rng.uniform(1.5, 6.0)) if rng.random() < 0.2 else 0.0
    values["preset"] = chosen
    values.update(overrides)
    if "grid" in overrides and "grid_rgb" not in overrides:
        values["grid_rgb"], _ = GRID_PALETTES[values["grid"]]
    return RenderSpec(**values)
