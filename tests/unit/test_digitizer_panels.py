"""Digitizer end to end on a page drawn as separate panels with gaps (ecg_plot's style)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

import pipeline.row_extents as row_extents_module
from pipeline.digitizer import Digitizer
from pipeline.evaluate import score_record
from pipeline.types import LEADS, DigitizeOptions

PPM = 8.0  # px per mm
FS = 500
GAP_MM = 6.0
LEFT_MM = 22.0
COLUMNS = (("I", "II", "III"), ("aVR", "aVL", "aVF"), ("V1", "V2", "V3"), ("V4", "V5", "V6"))


def _signals() -> np.ndarray:
    """(12, 5000) uV: beats at lead-specific times (a QRS spike and a T wave), so a lead
    read at the wrong time or place scores low."""
    t = np.arange(10 * FS) / FS
    out = np.zeros((12, t.size))
    for i in range(12):
        rr = 0.7 + 0.03 * i
        for beat in np.arange(0.2 + 0.02 * i, 10.0, rr):
            out[i] += (800 + 40 * i) * np.exp(-0.5 * ((t - beat) / 0.012) ** 2)
            out[i] += 250 * np.exp(-0.5 * ((t - beat - 0.25) / 0.05) ** 2)
    return out


def _page(signals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An RGB page with a 3x4 grid of panels (62.5 mm, 6 mm gaps) and a lead II strip,
    10 mm/mV, 25 mm/s, pulses at the rows' starts; and the (12, 5000) uV truth, NaN
    outside each lead's drawn window."""
    h, w = int(215 * PPM), int(300 * PPM)
    img = np.full((h, w, 3), 255, np.uint8)
    for k in range(0, w, int(PPM)):
        img[:, k] = (245, 200, 200) if k % int(5 * PPM) else (230, 150, 150)
    for k in range(0, h, int(PPM)):
        img[k, :] = np.minimum(img[k, :], (245, 200, 200) if k % int(5 * PPM) else (230, 150, 150))
    truth = np.full_like(signals, np.nan)
    mv_px = 10.0 * PPM / 1000.0  # px per uV

    def draw(lead: str, t0: float, t1: float, x0_mm: float, base_mm: float) -> None:
        i = LEADS.index(lead)
        n0, n1 = round(t0 * FS), round(t1 * FS)
        truth[i, n0:n1] = signals[i, n0:n1]
        x = (x0_mm + 25.0 * (np.arange(n0, n1) / FS - t0)) * PPM
        y = base_mm * PPM - signals[i, n0:n1] * mv_px
        cv2.polylines(img, [np.stack([x, y], 1).round().astype(np.int32)], False, (0, 0, 0), 2)

    def pulse(base_mm: float) -> None:
        x0, x1 = (LEFT_MM - 9.0) * PPM, (LEFT_MM - 4.0) * PPM
        y0, y1 = base_mm * PPM, (base_mm - 10.0) * PPM
        pts = [(x0 - 16, y0), (x0, y0), (x0, y1), (x1, y1), (x1, y0), (x1 + 16, y0)]
        cv2.polylines(img, [np.array(pts, np.int32)], False, (0, 0, 0), 2)

    for r in range(3):
        base = 40.0 + 45.0 * r
        pulse(base)
        for c, leads in enumerate(COLUMNS):
            draw(leads[r], 2.5 * c, 2.5 * (c + 1), LEFT_MM + c * (62.5 + GAP_MM), base)
    # Each panel's lines clipped to it, as a plotting library clips to its axes: no cap
    # reaches into the gaps.
    for c in range(3):
        x0 = round((LEFT_MM + c * (62.5 + GAP_MM) + 62.5 - 25.0 / FS) * PPM) + 1
        x1 = round((LEFT_MM + (c + 1) * (62.5 + GAP_MM)) * PPM)
        img[int(15 * PPM):int(150 * PPM), x0:x1] = 255
    pulse(175.0)
    draw("II", 0.0, 10.0, LEFT_MM, 175.0)
    truth[LEADS.index("II")] = signals[LEADS.index("II")]
    return img, truth


def _read(img: np.ndarray, truth: np.ndarray) -> tuple[float, dict[str, float], str]:
    """Mean score (dB), each lead's time shift (samples the estimate is late by), layout."""
    result = Digitizer(DigitizeOptions(device="cpu"), segmenter="classic").digitize(img)
    scores = score_record(truth, result.signals_uv, FS)
    return (float(np.mean([s["score_db"] for s in scores.values()])),
            {lead: s["shift_samples"] for lead, s in scores.items()}, result.layout)


def test_panels_with_gaps_are_read_on_their_own_time(monkeypatch: pytest.MonkeyPatch) -> None:
    img, truth = _page(_signals())
    score, shifts, layout = _read(img, truth)
    assert layout == "3x4+1"
    assert score > 15.0, f"mean {score:.1f} dB"
    # Every lead on its own time (the score forgives shifts up to 0.5 s; a reader does not):
    # within about a pixel per gap closed (~3 samples at 8 px/mm), under 20 ms.
    assert max(abs(v) for v in shifts.values()) <= 10, shifts
    # Read as one row running on through the gaps, the later columns slide off their time
    # (each gap moves the next panel's start by 6 mm, 0.24 s, less what the stretch gives).
    monkeypatch.setattr(row_extents_module, "find_panel_gaps", lambda *args: None)
    _, shifted, _ = _read(img, truth)
    assert max(abs(shifted[lead]) for lead in COLUMNS[3]) > 40, shifted
