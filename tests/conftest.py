"""Fixtures shared by the whole suite: a real Orthanc PACS and dcmtk / dicom3tools paths.

- `orthanc`: one private Orthanc per test session (see `tests/integration/orthanc.py`);
  call `orthanc.clear()` first in a test that counts instances. It knows the modality
  "ECGBRIDGE" (AE ECGBRIDGE at 127.0.0.1:11112); `orthanc.register_modality(...)` adds or
  changes peers at runtime, e.g. a bridge listening on a port chosen by the test.
- `dcmtk`: a function name -> absolute /usr/bin path of a dcmtk tool.
- `dciodvfy`: a function path -> dciodvfy's "Error" lines.
Each skips (with the reason) only when its binary is not installed.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.orthanc import (
    DCIODVFY_BINARY,
    ORTHANC_BINARY,
    Modality,
    OrthancServer,
    dciodvfy_errors,
    dcmtk_tool,
    start_orthanc,
)


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """A running Orthanc (AE "ORTHANC") on free loopback ports, for the whole session."""
    if not ORTHANC_BINARY.is_file():
        pytest.skip(f"{ORTHANC_BINARY} is not installed (Debian package orthanc)")
    workdir = tmp_path_factory.mktemp("orthanc")
    with start_orthanc(
        workdir, modalities={"ECGBRIDGE": Modality("ECGBRIDGE", "127.0.0.1", 11112)}
    ) as server:
        yield server


@pytest.fixture(scope="session")
def dcmtk() -> Callable[[str], Path]:
    """`dcmtk("storescu")` -> Path("/usr/bin/storescu"); skips when dcmtk is absent."""
    if not (Path("/usr/bin/storescu").is_file() and Path("/usr/bin/img2dcm").is_file()):
        pytest.skip("dcmtk is not installed in /usr/bin (Debian package dcmtk)")
    return dcmtk_tool


@pytest.fixture(scope="session")
def dciodvfy() -> Callable[[Path], list[str]]:
    """`dciodvfy(path)` -> dciodvfy's "Error" lines for that file; skips when absent."""
    if not DCIODVFY_BINARY.is_file():
        pytest.skip(f"{DCIODVFY_BINARY} is not installed (Debian package dicom3tools)")
    return dciodvfy_errors
