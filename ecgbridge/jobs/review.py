"""Review: decide whether a digitization is trusted enough to send, or held for a person."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecgbridge.config import ReviewConfig
from pipeline.types import DigitizationResult

#: Layout names that mean the digitizer did not recognise the lead layout.
UNKNOWN_LAYOUTS = frozenset({"", "unknown", "none"})


@dataclass(frozen=True)
class ReviewDecision:
    """hold: keep the result back; reason: why (None when sent); quality: the score used."""

    hold: bool
    reason: str | None
    quality: float


def result_quality(result: DigitizationResult) -> float:
    """Lowest per-lead quality over the leads that were drawn (any finite sample); 0 if none."""
    drawn = np.isfinite(result.signals_uv).any(axis=1)
    if not drawn.any():
        return 0.0
    return float(np.min(result.quality[drawn]))


def layout_unknown(result: DigitizationResult) -> bool:
    return result.layout.strip().lower() in UNKNOWN_LAYOUTS or "layout" in result.assumed


def review(results: list[DigitizationResult], config: ReviewConfig) -> ReviewDecision:
    """Hold when any page scores under `min_quality` or has no known layout, unless
    `send_held` is set (then the reason is still reported, but hold is False)."""
    if not results:
        raise ValueError("review needs at least one result; found none")
    quality = min(result_quality(r) for r in results)
    reason = None
    if config.hold_when_layout_unknown and any(layout_unknown(r) for r in results):
        reason = "layout_unknown"
    elif quality < config.min_quality:
        reason = "low_quality"
    return ReviewDecision(hold=reason is not None and not config.send_held, reason=reason,
                          quality=quality)
