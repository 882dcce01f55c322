"""The segmenter's weights file: writing it with its sha256 sidecar, and loading it checked.

File layout (`torch.save` of a dict, loadable with `weights_only=True`):
    format: "ecgbridge-segmenter/1"
    version: str, e.g. "unet-8-128-s1024-20261125"
    config: UNetConfig.to_dict()
    working_long_side_px: int
    state_dict: parameter and buffer tensors (float16 storage for floating tensors)
    meta: dict of plain values (training command, steps, validation scores)
Sidecar `<stem>.sha256`: "<64 hex digits>  <file name>\n" (the `sha256sum` format).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pipeline.errors import ModelWeightsError
from pipeline.segment.model import UNet, UNetConfig

FORMAT = "ecgbridge-segmenter/1"

#: Where the shipped weights live: <repo>/weights/segmenter.pt.
DEFAULT_WEIGHTS_PATH = Path(__file__).resolve().parents[2] / "weights" / "segmenter.pt"


@dataclass(frozen=True)
class LoadedWeights:
    """A checked weights file: `model` in eval mode, float32, on the CPU."""

    model: UNet
    version: str
    sha256: str
    working_long_side_px: int
    meta: dict[str, Any]


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sidecar_path(weights_path: Path) -> Path:
    """`weights/segmenter.pt` -> `weights/segmenter.sha256`."""
    return weights_path.with_suffix(".sha256")


def save_weights(model: UNet, path: Path, version: str, working_long_side_px: int,
                 meta: dict[str, Any] | None = None) -> str:
    """Write `model` (float16 storage) to `path` and its sha256 sidecar; return the sha256."""
    state = {k: (v.detach().half() if v.is_floating_point() else v.detach()).cpu().clone()
             for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "version": version,
        "config": model.config.to_dict(),
        "working_long_side_px": int(working_long_side_px),
        "state_dict": state,
        "meta": dict(meta or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    digest = sha256_of(path)
    sidecar_path(path).write_text(f"{digest}  {path.name}\n")
    return digest


def expected_sha256(weights_path: Path) -> str:
    """The sha256 that the sidecar next to `weights_path` promises; ModelWeightsError if none."""
    side = sidecar_path(weights_path)
    if not side.is_file():
        raise ModelWeightsError(f"sha256 sidecar missing: expected {side}, found no such file")
    text = side.read_text().split()
    if not text or len(text[0]) != 64 or any(c not in "0123456789abcdef" for c in text[0].lower()):
        raise ModelWeightsError(f"sha256 sidecar {side} malformed: expected 64 hex digits, found {text[:1]}")
    return text[0].lower()


def load_weights(path: Path | None = None, sha256: str | None = None) -> LoadedWeights:
    """Load and check a weights file.

    path: the .pt file (default `DEFAULT_WEIGHTS_PATH`).
    sha256: the expected hex digest; default: read from the sidecar next to `path`.
    Raises ModelWeightsError when the file or sidecar is missing, the digest differs, or the
    file is not a segmenter weights file.
    """
    path = Path(path) if path is not None else DEFAULT_WEIGHTS_PATH
    if not path.is_file():
        raise ModelWeightsError(f"segmenter weights missing: expected a file at {path}")
    want = (sha256 or expected_sha256(path)).lower()
    got = sha256_of(path)
    if got != want:
        raise ModelWeightsError(f"segmenter weights {path}: sha256 expected {want}, found {got}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ModelWeightsError(f"segmenter weights {path} unreadable: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ModelWeightsError(f"segmenter weights {path}: format expected {FORMAT!r}, found {found!r}")
    try:
        model = UNet(UNetConfig.from_dict(payload["config"]))
        state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
        model.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise ModelWeightsError(f"segmenter weights {path} do not fit the model: {exc}") from exc
    model.eval()
    return LoadedWeights(model=model, version=str(payload["version"]), sha256=got,
                         working_long_side_px=int(payload["working_long_side_px"]),
                         meta=dict(payload.get("meta", {})))
