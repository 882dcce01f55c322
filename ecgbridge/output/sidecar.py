"""Write the JSON sidecar that goes with each WFDB record: how a page was read.

Contents (schema version 1): layout, px_per_mm (px/mm), mm_per_mv (mm/mV), mm_per_s (mm/s),
fs_hz (Hz), n_samples, rotation_deg, quality per lead name in [0, 1], the fraction of each
lead's samples that were drawn (not NaN), what was assumed rather than measured, stage
timings (s), the package versions, and the caller's `extra` mapping (e.g. UIDs, digitizer
version, weights hash; never patient data). When the digitizer says where each lead window
was read, `panels` lists them: lead, drawn row (0 = top), start_s and end_s on the time
axis, inverted (rhythm strips show which lead each strip was found to be).
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ecgbridge import __version__ as ecgbridge_version
from pipeline import __version__ as pipeline_version
from pipeline.types import LEADS, DigitizationResult

#: Version of the sidecar's layout; bump when keys change meaning.
SIDECAR_SCHEMA_VERSION = 1


def sidecar_content(
    result: DigitizationResult, *, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The sidecar as a JSON-ready dict (see the module docstring for its keys).

    Raises ValueError when `extra` uses a key the sidecar itself defines.
    """
    n_samples = int(result.signals_uv.shape[1])
    drawn_fraction = np.count_nonzero(~np.isnan(result.signals_uv), axis=1) / max(n_samples, 1)
    content: dict[str, Any] = {
        "schema_version": SIDECAR_SCHEMA_VERSION,
        "layout": result.layout,
        "px_per_mm": _number(result.px_per_mm),
        "mm_per_mv": _number(result.mm_per_mv),
        "mm_per_s": _number(result.mm_per_s),
        "fs_hz": _number(result.fs_hz),
        "n_samples": n_samples,
        "rotation_deg": _number(result.rotation_deg),
        "leads": list(LEADS),
        "quality": {lead: _number(q) for lead, q in zip(LEADS, result.quality.tolist())},
        "drawn_fraction": {
            lead: round(float(f), 4) for lead, f in zip(LEADS, drawn_fraction.tolist())
        },
        "assumed": list(result.assumed),
        "timings_s": {str(k): _number(v) for k, v in result.timings_s.items()},
        "version": {"ecgbridge": ecgbridge_version, "pipeline": pipeline_version},
    }
    geometry = getattr(result, "geometry", None)
    if geometry is not None:
        content["panels"] = [
            {"lead": p.lead, "row": int(p.row), "start_s": _number(p.t0_s),
             "end_s": _number(p.t1_s), "inverted": p.polarity < 0}
            for p in geometry.panels]
    for key, value in (extra or {}).items():
        if key in content:
            raise ValueError(
                f"extra key {key!r} clashes with a sidecar key; sidecar keys are "
                f"{sorted(content)}"
            )
        content[key] = value
    return content


def write_sidecar(
    result: DigitizationResult, path: Path, *, extra: Mapping[str, Any] | None = None
) -> Path:
    """Write `sidecar_content(result, extra=extra)` as UTF-8 JSON to `path`, atomically.

    The JSON goes to a temporary file in the same folder, is fsynced, then renamed onto
    `path`. Returns `path`. Raises TypeError when `extra` holds values JSON cannot encode.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(sidecar_content(result, extra=extra), indent=2, allow_nan=False)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def _number(value: float) -> float | None:
    """A float for JSON; NaN and infinities become null (JSON has no NaN)."""
    number = float(value)
    return number if math.isfinite(number) else None
