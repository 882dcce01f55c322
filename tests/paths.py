"""Where the tests find PTB-XL records.

The shared data set lies beside the checkout (`<repo>/../shared/data/ptbxl`, as in CI and in a
developer's work folder); `ECGBRIDGE_PTBXL_DIR` overrides it. A few records are also copied
into `tests/fixtures/ptbxl` so that tests needing only one or two records run without it.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURE_PTBXL = REPO / "tests" / "fixtures" / "ptbxl"


def _shared_ptbxl() -> Path:
    override = os.environ.get("ECGBRIDGE_PTBXL_DIR")
    if override:
        return Path(override)
    for candidate in (REPO.parent / "shared" / "data" / "ptbxl", Path("/work/shared/data/ptbxl")):
        if (candidate / "00009_hr.hea").exists():
            return candidate
    return REPO.parent / "shared" / "data" / "ptbxl"


#: The shared PTB-XL folder (may be absent on a machine without ../shared).
SHARED_PTBXL = _shared_ptbxl()


def ptbxl_record(name: str = "00009_hr") -> Path:
    """Path (without extension) of record `name`: the shared copy, else the fixture copy."""
    shared = SHARED_PTBXL / name
    return shared if shared.with_suffix(".hea").exists() else FIXTURE_PTBXL / name


def ptbxl_dir() -> Path:
    """The shared PTB-XL folder when present, else the fixture folder."""
    return SHARED_PTBXL if (SHARED_PTBXL / "00009_hr.hea").exists() else FIXTURE_PTBXL
