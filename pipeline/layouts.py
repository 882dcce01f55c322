"""Lead layouts of printed 12-lead ECGs: which lead is drawn where.

A layout is a grid of `rows x cols` cells (each a lead shown for one time window) plus
0..3 full-width rhythm strips below it. Column c of a row shows the time window
[c * D, (c + 1) * D) of the recording, D = the column duration; a rhythm strip shows
[0, cols * D). In a layout of full columns every column shows [0, D): each lead's whole
record, columns side by side (plotting programs' "2 columns" of 10 s each, ecg_plot's
default "simultaneous" time mode). A lead name prefixed with "-" is drawn inverted
(Cabrera's -aVR).

One definition for both sides: the renderer (`pipeline.synth`) draws these templates and
the digitizer (`pipeline.layout`) fits pages against them.
"""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.types import LEADS


@dataclass(frozen=True)
class LayoutTemplate:
    """A layout: `cells[row][col]` lead names (optionally "-" prefixed), rhythm strip leads;
    full_columns: every column shows the same window [0, D) (see the module's docstring)."""

    name: str
    cells: tuple[tuple[str, ...], ...]
    rhythm: tuple[str, ...] = ()
    full_columns: bool = False

    @property
    def n_cols(self) -> int:
        """Number of time columns in the main grid."""
        return len(self.cells[0])

    @property
    def n_rows(self) -> int:
        """Number of drawn rows, rhythm strips included."""
        return len(self.cells) + len(self.rhythm)

    def window_s(self, col: int, col_s: float) -> tuple[float, float]:
        """Time window (t0, t1) s of the recording that column `col` shows, columns of
        `col_s` seconds."""
        return (0.0, col_s) if self.full_columns else (col * col_s, (col + 1) * col_s)

    def row_cols(self, row: int) -> int:
        """Number of time columns of drawn row `row` (1 for a rhythm strip)."""
        return self.n_cols if row < len(self.cells) else 1


_STD_3X4 = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
_CAB_3X4 = (("aVL", "II", "V1", "V4"), ("I", "aVF", "V2", "V5"), ("-aVR", "III", "V3", "V6"))
_STD_6X2 = (("I", "V1"), ("II", "V2"), ("III", "V3"), ("aVR", "V4"), ("aVL", "V5"), ("aVF", "V6"))

LAYOUTS: dict[str, LayoutTemplate] = {
    t.name: t
    for t in (
        LayoutTemplate("3x4", _STD_3X4),
        LayoutTemplate("3x4+1", _STD_3X4, ("II",)),
        LayoutTemplate("3x4+2", _STD_3X4, ("II", "V1")),
        LayoutTemplate("3x4+3", _STD_3X4, ("II", "V1", "V5")),
        LayoutTemplate("6x2", _STD_6X2),
        LayoutTemplate("6x2+1", _STD_6X2, ("II",)),
        LayoutTemplate("6x2-full", _STD_6X2, full_columns=True),
        LayoutTemplate("3x4-full", _STD_3X4, full_columns=True),
        LayoutTemplate("12x1", tuple((lead,) for lead in LEADS)),
        LayoutTemplate("cabrera-3x4", _CAB_3X4),
        LayoutTemplate("cabrera-3x4+1", _CAB_3X4, ("II",)),
        LayoutTemplate("limb-6x1", tuple((lead,) for lead in LEADS[:6])),
        LayoutTemplate("precordial-6x1", tuple((lead,) for lead in LEADS[6:])),
    )
}


def get_layout(name: str) -> LayoutTemplate:
    """The template called `name`; raises ValueError listing the known names otherwise."""
    if name not in LAYOUTS:
        raise ValueError(f"unknown layout {name!r}; expected one of {sorted(LAYOUTS)}")
    return LAYOUTS[name]


def parse_lead(token: str) -> tuple[str, int]:
    """Split a cell token into (lead name, polarity): "-aVR" -> ("aVR", -1)."""
    lead, polarity = (token[1:], -1) if token.startswith("-") else (token, 1)
    if lead not in LEADS:
        raise ValueError(f"unknown lead {lead!r} in layout cell {token!r}; expected {LEADS}")
    return lead, polarity
