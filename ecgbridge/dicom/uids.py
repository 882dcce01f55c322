"""Deterministic UIDs for derived objects, so a resend or a re-run never duplicates in PACS.

The waveform made from frame `f` of source image `S` by digitizer version `v` always gets
the same Series and SOP Instance UIDs: they are pydicom's `generate_uid` with a SHA-512 of
("ecgbridge", kind, S, v[, f]) as entropy. A new digitizer version gives new UIDs (a new,
different result); the same version gives the same UIDs (PACS replaces or ignores it).
"""
from __future__ import annotations

from dataclasses import dataclass

from pydicom.uid import PYDICOM_ROOT_UID, RE_VALID_UID, generate_uid

#: Root under which derived UIDs are made (pydicom's, meant for UIDs generated this way).
DEFAULT_UID_PREFIX = PYDICOM_ROOT_UID


@dataclass(frozen=True)
class DerivedUids:
    """UIDs of the waveform object derived from one frame of one source image."""

    series_instance_uid: str
    sop_instance_uid: str


def derived_uids(
    source_sop_instance_uid: str,
    digitizer_version: str,
    frame: int = 0,
    *,
    prefix: str = DEFAULT_UID_PREFIX,
) -> DerivedUids:
    """Series and SOP Instance UIDs for the waveform of `frame` (0-based) of the source.

    All frames of one source share one series. Raises ValueError when the source UID is not
    a valid UID, the version is empty or the frame is negative.
    """
    source = str(source_sop_instance_uid).strip()
    if len(source) > 64 or not RE_VALID_UID.match(source):
        raise ValueError(f"source SOP Instance UID must be a valid UID; found {source!r}")
    if not digitizer_version.strip():
        raise ValueError("digitizer_version must not be empty")
    if frame < 0:
        raise ValueError(f"frame must be >= 0; found {frame}")
    series = generate_uid(prefix, entropy_srcs=["ecgbridge", "series", source, digitizer_version])
    sop = generate_uid(
        prefix, entropy_srcs=["ecgbridge", "waveform", source, digitizer_version, str(frame)]
    )
    return DerivedUids(series_instance_uid=str(series), sop_instance_uid=str(sop))
