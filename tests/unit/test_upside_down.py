"""pipeline.upside_down: the lead labels' side of the rows, and its vote."""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.calibration import Pulse
from pipeline.layout import TraceRow
from pipeline.upside_down import flip_votes, label_side

PPM = 8.0  # px per mm


def page_with_labels(at: str) -> tuple[np.ndarray, np.ndarray, list[TraceRow]]:
    """(ink (H, W) float, line mask (H, W) bool, rows): three rows of line from x 200 to
    1800 px, each with a lead label (text) at its start, at its end, or none."""
    ink = np.zeros((600, 2000), np.float32)
    lines = np.zeros(ink.shape, bool)
    rows = []
    for k, y in enumerate((100, 300, 500)):
        lines[y - 1:y + 2, 200:1800] = True
        lines[y - 40:y, 600] = True  # a QRS stroke
        if at == "start":
            cv2.putText(ink, "aVR", (205, y - 15), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 1.0, 2)
        elif at == "end":  # as an upside-down page shows it: at the end, under the line
            cv2.putText(ink, "aVR", (1730, y + 35), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 1.0, 2)
        rows.append(TraceRow(float(y), 200, 1800, y - 100, y + 100))
    ink[lines] = 1.0
    return ink, lines, rows


def test_labels_at_the_rows_starts_read_upright_and_at_their_ends_turned() -> None:
    assert label_side(*page_with_labels("start"), PPM) > 0.9
    assert label_side(*page_with_labels("end"), PPM) < -0.9


def test_the_lines_own_ink_and_too_little_ink_say_nothing() -> None:
    ink, lines, rows = page_with_labels("none")
    assert label_side(ink, lines, rows, PPM) == 0.0
    ink[95:97, 1790:1795] = 1.0  # a speck at one end: under MIN_LABEL_INK_MM2
    assert label_side(ink, lines, rows, PPM) == 0.0


def test_without_pulses_or_strips_the_labels_decide_before_the_time_direction() -> None:
    backward = lambda: -0.5  # the time asymmetry of a page read turned
    assert flip_votes([], 0.0, 12, 0.0, backward, lambda: 0.95) == -1
    assert flip_votes([], 0.0, 12, 0.0, lambda: 0.5, lambda: -0.95) == 1
    assert flip_votes([], 0.0, 12, 0.0, backward, lambda: 0.3) == 1  # undecided: time
    # pulses that all point up come first
    up = [Pulse(10, 40, 80.0, 40.0, "start") for _ in range(12)]
    assert flip_votes(up, 0.5, 12, 0.0, backward, lambda: -0.95) == -1
    # labels all at one end come before the strips' place; labels only mostly there not
    assert flip_votes([], 0.0, 4, -1.0, backward, lambda: -0.95) == 1
    assert flip_votes([], 0.0, 4, 1.0, backward, lambda: 0.95) == -1
    assert flip_votes([], 0.0, 4, -1.0, backward, lambda: -0.6) == -1


def test_a_grid_as_dark_as_the_traces_is_not_taken_for_labels() -> None:
    # Black-and-white grid pages hold grid pieces in the ink; drawn only over the rows'
    # ends here, they would read as labels there (a turned page) if they counted.
    ink, lines, rows = page_with_labels("none")
    ink[:, 1700::8] = 1.0  # 1 mm lines at 8 px/mm
    ink[::8, 1700:] = 1.0
    ink[50:52, 1700:1760] = 0.0  # a gap: some pieces not joined to the lattice
    assert label_side(ink, lines, rows, PPM) == 0.0
    ink, lines, rows = page_with_labels("start")
    ink[:, 1790:1800] = 1.0  # a thick frame line at the rows' ends: one tall piece
    assert label_side(ink, lines, rows, PPM) > 0.9
