"""PDF pages to pixels with pypdfium2, for exported ECG reports and Encapsulated PDF objects.

Every page becomes one image of shape (H, W, 3) uint8 RGB, rendered at `dpi` dots per inch
(a page of w x h points, 1 pt = 1/72 in, gives round(w * dpi / 72) x round(h * dpi / 72) px).
Limits are checked before rendering: the page count, and the pixel count of each page.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
from pydicom.dataset import Dataset

from ecgbridge.inputs.errors import PageTooLargeError, PdfUnreadableError, TooManyPagesError

#: SOP Class UID of Encapsulated PDF Storage.
ENCAPSULATED_PDF_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.104.1"
#: PDF files start with this magic (possibly after a few bytes of junk; we check the first 1 KiB).
PDF_MAGIC = b"%PDF-"


@dataclass(frozen=True)
class PdfLimits:
    """Refusal limits for one PDF.

    dpi: rendering resolution in dots per inch (72-600).
    max_pages: most pages accepted in one document.
    max_pixels: most pixels (H * W) of one rendered page.
    """

    dpi: float = 200.0
    max_pages: int = 20
    max_pixels: int = 40_000_000

    def __post_init__(self) -> None:
        if not 72.0 <= self.dpi <= 600.0:
            raise ValueError(f"dpi must be within 72..600; found {self.dpi}")
        if self.max_pages < 1:
            raise ValueError(f"max_pages must be >= 1; found {self.max_pages}")
        if self.max_pixels < 1:
            raise ValueError(f"max_pixels must be >= 1; found {self.max_pixels}")


def looks_like_pdf(head: bytes) -> bool:
    """True when the first bytes (up to 1 KiB) of a file carry the PDF magic `%PDF-`."""
    return PDF_MAGIC in head[:1024]


def pdf_page_count(source: bytes | Path) -> int:
    """Number of pages of a PDF given as bytes or a path; raises PdfUnreadableError."""
    doc = _open(source)
    try:
        return len(doc)
    finally:
        doc.close()


def render_pdf_pages(source: bytes | Path, limits: PdfLimits | None = None) -> list[np.ndarray]:
    """Render every page of a PDF.

    source: the PDF's bytes or its path.
    Returns one (H, W, 3) uint8 RGB array per page, in page order, white where the page is
    transparent. Raises PdfUnreadableError, TooManyPagesError or PageTooLargeError (the
    latter two before any page is rendered).
    """
    limits = limits or PdfLimits()
    doc = _open(source)
    try:
        n_pages = len(doc)
        if n_pages == 0:
            raise PdfUnreadableError("PDF has no pages; expected at least 1")
        if n_pages > limits.max_pages:
            raise TooManyPagesError(
                f"PDF has {n_pages} pages; at most {limits.max_pages} are accepted"
            )
        scale = limits.dpi / 72.0
        for index in range(n_pages):
            w_pt, h_pt = doc.get_page_size(index)
            w_px, h_px = round(w_pt * scale), round(h_pt * scale)
            if w_px * h_px > limits.max_pixels:
                raise PageTooLargeError(
                    f"page {index + 1} would be {w_px}x{h_px} px at {limits.dpi:g} dpi "
                    f"({w_px * h_px} px); at most {limits.max_pixels} px are accepted"
                )
            if w_px < 1 or h_px < 1:
                raise PdfUnreadableError(
                    f"page {index + 1} has size {w_pt}x{h_pt} pt; expected a positive size"
                )
        pages = []
        for index in range(n_pages):
            pages.append(_render_page(doc, index, scale))
        return pages
    finally:
        doc.close()


def pages_from_encapsulated_pdf(
    ds: Dataset, limits: PdfLimits | None = None
) -> list[np.ndarray]:
    """Render the pages of an Encapsulated PDF Storage dataset.

    ds: a dataset of SOP class 1.2.840.10008.5.1.4.1.1.104.1 with EncapsulatedDocument.
    Returns one (H, W, 3) uint8 RGB array per page. Raises UnsupportedObjectError
    (via PdfUnreadableError's parent tree) when the dataset holds no PDF.
    """
    from ecgbridge.errors import UnsupportedObjectError

    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class != ENCAPSULATED_PDF_SOP_CLASS:
        raise UnsupportedObjectError(
            f"SOP class {sop_class or '(none)'} is not Encapsulated PDF "
            f"({ENCAPSULATED_PDF_SOP_CLASS})"
        )
    mime = str(ds.get("MIMETypeOfEncapsulatedDocument", "application/pdf")).strip()
    if mime.lower() != "application/pdf":
        raise UnsupportedObjectError(
            f"MIMETypeOfEncapsulatedDocument is {mime!r}; expected 'application/pdf'"
        )
    data = ds.get("EncapsulatedDocument")
    if not data:
        raise PdfUnreadableError("EncapsulatedDocument is missing or empty; expected PDF bytes")
    raw = bytes(data)
    # The element has even length: a trailing NUL pad may follow %%EOF; pdfium accepts it.
    return render_pdf_pages(raw, limits)


def _open(source: bytes | Path) -> pdfium.PdfDocument:
    try:
        if isinstance(source, Path):
            return pdfium.PdfDocument(str(source))
        return pdfium.PdfDocument(source)
    except pdfium.PdfiumError as exc:
        raise PdfUnreadableError(f"cannot open PDF: {exc}") from exc


def _render_page(doc: pdfium.PdfDocument, index: int, scale: float) -> np.ndarray:
    try:
        page = doc[index]
        try:
            bitmap = page.render(scale=scale, fill_color=(255, 255, 255, 255), rev_byteorder=True)
            array = bitmap.to_numpy()
        finally:
            page.close()
    except pdfium.PdfiumError as exc:
        raise PdfUnreadableError(f"cannot render page {index + 1}: {exc}") from exc
    # rev_byteorder gives RGB(A) order; drop alpha when present, copy off the pdfium buffer.
    rgb = np.ascontiguousarray(array[:, :, :3], dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise PdfUnreadableError(
            f"page {index + 1} rendered with shape {array.shape}; expected (H, W, 3 or 4)"
        )
    return rgb
