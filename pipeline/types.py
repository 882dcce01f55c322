"""Types shared by every stage of the digitizer and by its callers.

Letters used in shapes: L leads (always 12, in `LEADS` order), T samples, H/W pixels.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: The 12 standard leads, in the order every signal array of this package uses.
LEADS: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)

#: Classes of the segmentation map, in channel order.
SEGMENTATION_CLASSES: tuple[str, ...] = ("background", "grid", "text", "trace")


@dataclass(frozen=True)
class DigitizeOptions:
    """What a caller may choose about one digitization run.

    fs_hz: output sampling rate in Hz (samples per second).
    device: "auto" (cuda when available), "cpu" or "cuda".
    batch_size: images per network forward pass.
    layout: "auto" or a layout template name (see `pipeline.layout`).
    duration_s: length of the output time axis in seconds.
    workers: processes that read segmented pages (every stage after the network) side by
        side; 1 reads them in the calling process. Worth raising with a GPU, where the
        network is no longer the slow part.
    """

    fs_hz: float = 500.0
    device: str = "auto"
    batch_size: int = 4
    layout: str = "auto"
    duration_s: float = 10.0
    workers: int = 1


@dataclass(frozen=True)
class DigitizationResult:
    """One digitized page.

    signals_uv: (L=12, T) float32 in microvolts, NaN where a lead was not drawn; T =
        round(duration_s * fs_hz). Row i is lead `LEADS[i]`.
    fs_hz: sampling rate of `signals_uv` in Hz.
    layout: name of the layout template that matched (e.g. "3x4+1").
    px_per_mm: pixel size of the (rectified) page, pixels per millimetre.
    mm_per_mv: amplitude scale, millimetres per millivolt.
    mm_per_s: paper speed, millimetres per second.
    quality: (L=12,) float in [0, 1], confidence per lead; 0 where a lead is missing.
    assumed: names of values that were assumed rather than measured (e.g. "mm_per_mv").
    timings_s: seconds spent per stage.
    rotation_deg: rotation applied to straighten the page (180 when it was upside down).
    """

    signals_uv: np.ndarray
    fs_hz: float
    layout: str
    px_per_mm: float
    mm_per_mv: float
    mm_per_s: float
    quality: np.ndarray
    assumed: tuple[str, ...] = ()
    timings_s: dict[str, float] = field(default_factory=dict)
    rotation_deg: float = 0.0
    leads: tuple[str, ...] = LEADS

    def __post_init__(self) -> None:
        if self.signals_uv.ndim != 2 or self.signals_uv.shape[0] != len(LEADS):
            raise ValueError(
                f"signals_uv must have shape (12, T); found {self.signals_uv.shape}"
            )
        if self.quality.shape != (len(LEADS),):
            raise ValueError(f"quality must have shape (12,); found {self.quality.shape}")
