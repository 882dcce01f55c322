"""Runs of True in a 1-D flag array: the stretches that several stages cut profiles into
(a row's shared columns, the gaps between panels, a grid's panels)."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt


def true_runs(flags: npt.ArrayLike) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a (N,) bool array, stop exclusive, in order."""
    edges = np.diff(np.r_[0, np.asarray(flags, dtype=np.int8), 0])
    return [(int(a), int(b)) for a, b in zip(np.flatnonzero(edges == 1),
                                             np.flatnonzero(edges == -1), strict=True)]
