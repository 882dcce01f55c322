"""Review decisions (quality over drawn leads, unknown layout, send_held) and routing."""
from __future__ import annotations

import numpy as np
import pytest

from ecgbridge.config import ReviewConfig, load_settings
from ecgbridge.jobs.review import result_quality, review
from ecgbridge.jobs.routing import destination_config, destination_for
from pipeline.types import DigitizationResult


def _result(quality: list[float], layout: str = "3x4", undrawn: tuple[int, ...] = ()) -> DigitizationResult:
    signals = np.zeros((12, 5000), np.float32)
    signals[list(undrawn)] = np.nan
    return DigitizationResult(signals_uv=signals, fs_hz=500.0, layout=layout, px_per_mm=4.0,
                              mm_per_mv=10.0, mm_per_s=25.0, quality=np.asarray(quality))


def test_quality_is_the_weakest_drawn_lead() -> None:
    q = [0.9] * 12
    q[3] = 0.0  # not drawn: ignored
    q[5] = 0.6
    assert result_quality(_result(q, undrawn=(3,))) == pytest.approx(0.6)
    assert result_quality(_result([0.9] * 12, undrawn=tuple(range(12)))) == 0.0


@pytest.mark.parametrize(
    ("quality", "layout", "config", "hold", "reason"),
    [
        (0.9, "3x4", ReviewConfig(), False, None),
        (0.3, "3x4", ReviewConfig(), True, "low_quality"),
        (0.9, "unknown", ReviewConfig(), True, "layout_unknown"),
        (0.9, "unknown", ReviewConfig(hold_when_layout_unknown=False), False, None),
        (0.3, "3x4", ReviewConfig(send_held=True), False, "low_quality"),
    ],
)
def test_review(quality: float, layout: str, config: ReviewConfig, hold: bool,
                reason: str | None) -> None:
    decision = review([_result([quality] * 12, layout)], config)
    assert (decision.hold, decision.reason) == (hold, reason)


def test_review_needs_a_result() -> None:
    with pytest.raises(ValueError, match="at least one result"):
        review([], ReviewConfig())


def test_routing_per_calling_ae_then_default() -> None:
    env = {
        "ECGBRIDGE__DESTINATIONS__A__AE_TITLE": "PACSA", "ECGBRIDGE__DESTINATIONS__A__HOST": "h",
        "ECGBRIDGE__DESTINATIONS__A__PORT": "104",
        "ECGBRIDGE__DESTINATIONS__B__AE_TITLE": "PACSB", "ECGBRIDGE__DESTINATIONS__B__HOST": "h",
        "ECGBRIDGE__DESTINATIONS__B__PORT": "105",
        "ECGBRIDGE__ROUTING__BY_CALLING_AE": "{MOD1: b}", "ECGBRIDGE__ROUTING__DEFAULT": "a",
    }
    settings = load_settings(environ=env)
    assert destination_for(settings, "MOD1 ") == "b"
    assert destination_for(settings, "OTHER") == "a"
    assert destination_config(settings, "b").port == 105
    with pytest.raises(KeyError, match="configured"):
        destination_config(settings, "c")
    assert destination_for(load_settings(environ={}), "MOD1") is None
