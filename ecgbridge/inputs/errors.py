"""Errors of the input readers; all are permanent `InputError`s (the file goes to failed/)."""
from __future__ import annotations

from ecgbridge.errors import CorruptObjectError, InputError, UnsupportedObjectError


class PdfUnreadableError(CorruptObjectError):
    """The PDF could not be opened or a page could not be rendered."""

    reason = "pdf_unreadable"


class TooManyPagesError(InputError):
    """The PDF (or multi-frame TIFF) has more pages than the configured limit."""

    reason = "too_many_pages"


class PageTooLargeError(InputError):
    """A page (or image) would exceed the pixel limit at the requested resolution."""

    reason = "page_too_large"


class UnsupportedFileError(UnsupportedObjectError):
    """The file is neither DICOM nor PNG/JPEG/TIFF/BMP/PDF."""

    reason = "unsupported_file_type"


class ImageUnreadableError(CorruptObjectError):
    """The file claims to be an image but cannot be decoded (truncated, corrupt)."""

    reason = "image_unreadable"


class SidecarError(InputError):
    """A patient sidecar exists but cannot be parsed or holds invalid values."""

    reason = "sidecar_invalid"
