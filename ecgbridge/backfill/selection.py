"""Which objects found in the PACS are ECG pictures; the others are skipped with a reason.

Rules, in order (the first that fails gives the reason):
1. SOP class: Secondary Capture, one of the four multi-frame SC classes, or Encapsulated PDF
   (`sop_class_not_ecg_picture` otherwise, e.g. CT, MR, waveforms).
2. Modality, when `--modality` is given (`modality_not_selected`).
3. Description: with `--series-description PATTERN` (shell-style, case-insensitive) the
   SeriesDescription must match; without it the series or study description must mention an
   ECG (ECG, EKG, electrocardiogram, 12 lead/12-lead) (`description_not_ecg`).
4. Size: a picture reported smaller than `min_side_px` on its shorter side cannot carry a
   readable 12-lead ECG (`image_too_small`).
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from ecgbridge.backfill.query import Candidate
from ecgbridge.dicom.scp import STORAGE_CLASSES

_ECG_WORDS = re.compile(r"(?i)\b(ecg|ekg|electrocardiogra\w*|12[\s-]?lead|12[\s-]?kanal)\b")


@dataclass(frozen=True)
class Selection:
    """modalities: allowed Modality values (empty: any). series_description: shell pattern or
    None (then the ECG word rule). min_side_px: smallest accepted shorter image side (px)."""

    modalities: tuple[str, ...] = ()
    series_description: str | None = None
    min_side_px: int = 300

    def skip_reason(self, c: Candidate) -> str | None:
        """None when `c` should be converted, else a snake_case reason."""
        if c.sop_class_uid not in STORAGE_CLASSES:
            return "sop_class_not_ecg_picture"
        if self.modalities and c.modality not in self.modalities:
            return "modality_not_selected"
        if self.series_description is not None:
            if not fnmatch.fnmatch(c.series_description.lower(), self.series_description.lower()):
                return "description_not_ecg"
        elif not (_ECG_WORDS.search(c.series_description)
                  or _ECG_WORDS.search(c.study_description)):
            return "description_not_ecg"
        if c.rows is not None and c.columns is not None and min(c.rows, c.columns) < self.min_side_px:
            return "image_too_small"
        return None
