"""Files dropped into a swept folder: what they are, their content hash, and their pages.

Kinds are told by content (magic bytes), never by the file name alone:
DICOM (`DICM` at byte 128), PDF (`%PDF-`), PNG, JPEG, TIFF (every frame), BMP.
Pages are (H, W, 3) uint8 RGB arrays, ready for the digitizer.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from ecgbridge.inputs.errors import (
    ImageUnreadableError,
    PageTooLargeError,
    TooManyPagesError,
    UnsupportedFileError,
)
from ecgbridge.inputs.patient_sidecar import InputIdentity, identity_for
from ecgbridge.inputs.pdf import PdfLimits, looks_like_pdf, render_pdf_pages

_CHUNK = 1 << 20


class InputKind(str, Enum):
    """What a swept file holds."""

    DICOM = "dicom"
    PDF = "pdf"
    IMAGE = "image"


#: (magic prefix, PIL format name) of the raster formats we accept.
_IMAGE_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
)


@dataclass(frozen=True)
class NonDicomInput:
    """A non-DICOM input file, decoded.

    pages: one (H, W, 3) uint8 RGB array per page (PDF pages, TIFF frames; 1 for others).
    identity: patient fields from the sidecar and the UIDs standing for the file and its pages.
    kind: PDF or IMAGE.
    """

    path: Path
    kind: InputKind
    pages: list[np.ndarray]
    identity: InputIdentity


def sha256_file(path: Path) -> str:
    """Hex sha256 of the file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def detect_kind(path: Path) -> InputKind:
    """Kind of the file from its first bytes. Raises UnsupportedFileError otherwise."""
    with path.open("rb") as handle:
        return detect_kind_of_bytes(handle.read(1024), path.name)


def detect_kind_of_bytes(head: bytes, name: str) -> InputKind:
    """Kind of a file from its first bytes (>= 132 for DICOM); `name` is for the message."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return InputKind.DICOM
    if looks_like_pdf(head):
        return InputKind.PDF
    if _image_format(head) is not None:
        return InputKind.IMAGE
    raise UnsupportedFileError(
        f"{name} ({len(head)}+ bytes read) is not DICOM (Part 10), PDF, PNG, JPEG, TIFF or BMP"
    )


def load_image_pages(
    source: Path | bytes, max_pixels: int = 40_000_000, max_pages: int = 20, name: str = ""
) -> list[np.ndarray]:
    """Decode a PNG/JPEG/TIFF/BMP file into (H, W, 3) uint8 RGB pages (TIFF: every frame).

    The frame count and each frame's declared size are checked (against `max_pages` and
    `max_pixels`) before its pixels are decoded. `name` is used in messages.
    """
    name = name or (source.name if isinstance(source, Path) else "image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source if isinstance(source, Path) else io.BytesIO(source)) as img:
                n_frames = int(getattr(img, "n_frames", 1))
                if n_frames > max_pages:
                    raise TooManyPagesError(
                        f"{name} has {n_frames} frames; at most {max_pages} are accepted"
                    )
                pages: list[np.ndarray] = []
                for frame in ImageSequence.Iterator(img):
                    w, h = frame.size
                    if w * h > max_pixels:
                        raise PageTooLargeError(
                            f"{name} frame {len(pages) + 1} is {w}x{h} px ({w * h} px); "
                            f"at most {max_pixels} px are accepted"
                        )
                    pages.append(np.asarray(frame.convert("RGB"), dtype=np.uint8).copy())
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageUnreadableError(f"cannot decode image {name}: {exc}") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PageTooLargeError(f"{name}: {exc}") from exc
    if not pages:
        raise ImageUnreadableError(f"{name} holds no image frame")
    return pages


def load_non_dicom(
    path: Path, data: bytes, pdf_limits: PdfLimits | None = None
) -> NonDicomInput:
    """Decode a PDF or raster image and attach its identity (sidecar fields, derived UIDs).

    path: where the file lies (for its sidecar and messages); data: its bytes, as hashed.
    Raises UnsupportedFileError for DICOM or unknown files, and the readers' InputErrors.
    """
    limits = pdf_limits or PdfLimits()
    content_sha256 = hashlib.sha256(data).hexdigest()
    kind = detect_kind_of_bytes(data[:1024], path.name)
    if kind is InputKind.DICOM:
        raise UnsupportedFileError(f"{path.name} is DICOM; submit it as a DICOM object")
    identity = identity_for(path, content_sha256)
    if kind is InputKind.PDF:
        pages = render_pdf_pages(data, limits)
    else:
        pages = load_image_pages(data, limits.max_pixels, limits.max_pages, path.name)
    return NonDicomInput(path=path, kind=kind, pages=pages, identity=identity)


def _image_format(head: bytes) -> str | None:
    for magic, name in _IMAGE_MAGICS:
        if head.startswith(magic):
            return name
    return None
