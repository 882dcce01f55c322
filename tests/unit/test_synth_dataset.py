"""Dataset command: files per page, formats, determinism, split discipline."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.synth.__main__ import main
from pipeline.synth.splits import split_of
from tests.paths import FIXTURE_PTBXL, ptbxl_dir

_FIXTURE = FIXTURE_PTBXL
RECORDS = ptbxl_dir()


def _make(out: Path, split: str, preset: str = "mixed") -> list[str]:
    rc = main(["make", "--preset", preset, "--n", "3", "--out", str(out), "--seed", "7",
               "--split", split, "--dpi", "72", "--records", str(RECORDS)])
    assert rc == 0
    return sorted(p.stem for p in (out / split).glob("*.json") if p.stem != "manifest")


def test_make_writes_page_files_deterministically(tmp_path: Path) -> None:
    split = split_of("00009_hr")
    stems = _make(tmp_path / "a", split)
    assert len(stems) == 3
    folder = tmp_path / "a" / split
    for stem in stems:
        meta = json.loads((folder / f"{stem}.json").read_text())
        assert split_of(meta["record"]) == split and meta["stem"] == stem
        image = cv2.imread(str(folder / f"{stem}.png"))
        mask = cv2.imread(str(folder / f"{stem}_mask.png"), cv2.IMREAD_UNCHANGED)
        inst = cv2.imread(str(folder / f"{stem}_inst.png"), cv2.IMREAD_UNCHANGED)
        assert image.shape[:2] == mask.shape == inst.shape
        assert mask.dtype == np.uint8 and mask.max() <= 3
        assert inst.dtype == np.uint16 and inst.max() == len(meta["panels"])
        assert meta["image_size_px"] == [image.shape[1], image.shape[0]]
        assert np.asarray(meta["homography"]).shape == (3, 3)
        truth = np.load(folder / f"{stem}_truth.npz")
        assert truth["truth_uv"].shape == (12, 5000) and float(truth["fs"]) == 500.0
    again = _make(tmp_path / "b", split)
    assert again == stems
    for stem in stems:
        for suffix in (".png", "_mask.png", "_inst.png"):
            a = (tmp_path / "a" / split / f"{stem}{suffix}").read_bytes()
            b = (tmp_path / "b" / split / f"{stem}{suffix}").read_bytes()
            assert a == b, f"{stem}{suffix} differs between two runs with the same seed"


def test_make_refuses_empty_split(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    other = next(s for s in ("train", "val", "test") if s != split_of("00009_hr"))
    for suffix in (".hea", ".dat"):
        (records / f"00009_hr{suffix}").write_bytes((_FIXTURE / f"00009_hr{suffix}").read_bytes())
    with pytest.raises(ValueError, match="no records of split"):
        main(["make", "--n", "1", "--out", str(tmp_path / "o"), "--split", other,
              "--records", str(records)])
