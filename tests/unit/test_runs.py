"""pipeline.runs: runs of True in a flag array."""
from __future__ import annotations

import numpy as np

from pipeline.runs import true_runs


def test_runs_are_half_open_and_in_order() -> None:
    flags = np.array([1, 1, 0, 0, 1, 0, 1, 1, 1], bool)
    assert true_runs(flags) == [(0, 2), (4, 5), (6, 9)]


def test_no_true_has_no_runs() -> None:
    assert true_runs(np.zeros(5, bool)) == []
    assert true_runs(np.zeros(0, bool)) == []
