"""Deterministic train/val/test split by record name, shared by every tool.

A record's split depends only on its name (sha256 of the name, first 8 bytes, modulo 100):
80 % train, 10 % val, 10 % test. No record can be in two splits.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Upper bounds (exclusive) of the hash bucket (0..99) for each split.
_BOUNDS: tuple[tuple[str, int], ...] = (("train", 80), ("val", 90), ("test", 100))


def split_of(record_name: str) -> str:
    """Split of a record, from its name (e.g. "00009_hr" -> "train" | "val" | "test")."""
    name = Path(record_name).name
    if not name:
        raise ValueError("record name is empty")
    bucket = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big") % 100
    for split, bound in _BOUNDS:
        if bucket < bound:
            return split
    raise AssertionError("unreachable: bucket is in 0..99")


def records_in_split(folder: str | Path, split: str) -> list[Path]:
    """Record paths (without extension) in `folder` whose split is `split`, sorted by name."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; found {split!r}")
    headers: Iterable[Path] = sorted(Path(folder).glob("*.hea"))
    return [h.with_suffix("") for h in headers if split_of(h.stem) == split]
