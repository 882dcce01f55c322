"""PDF pages -> (H, W, 3) uint8 images; limits; Encapsulated PDF datasets."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset

from ecgbridge.errors import InputError, UnsupportedObjectError
from ecgbridge.inputs.errors import PageTooLargeError, PdfUnreadableError, TooManyPagesError
from ecgbridge.inputs.pdf import (
    ENCAPSULATED_PDF_SOP_CLASS,
    PdfLimits,
    pages_from_encapsulated_pdf,
    pdf_page_count,
    render_pdf_pages,
)


def _pdf_bytes(n_pages: int, size: tuple[int, int] = (400, 300), dpi: float = 100.0) -> bytes:
    """A PDF of `n_pages` pages of `size` px at `dpi`; page i is grey level 40*i with a red
    100x100 square at its top-left corner."""
    pages = []
    for i in range(n_pages):
        img = Image.new("RGB", size, (40 * i,) * 3)
        img.paste((255, 0, 0), (0, 0, 100, 100))
        pages.append(img)
    buf = io.BytesIO()
    pages[0].save(buf, "PDF", save_all=True, append_images=pages[1:], resolution=dpi)
    return buf.getvalue()


def test_pages_shape_colour_and_order() -> None:
    pages = render_pdf_pages(_pdf_bytes(3), PdfLimits(dpi=100))
    assert len(pages) == 3
    for i, page in enumerate(pages):
        assert page.shape == (300, 400, 3) and page.dtype == np.uint8
        assert abs(int(page[250, 350, 0]) - 40 * i) <= 2
        r, g, b = (int(v) for v in page[50, 50])
        assert r > 240 and g < 15 and b < 15  # RGB order, not BGR


def test_dpi_scales_pixels() -> None:
    pages = render_pdf_pages(_pdf_bytes(1), PdfLimits(dpi=200))
    assert pages[0].shape == (600, 800, 3)


def test_page_count_limit_before_rendering() -> None:
    with pytest.raises(TooManyPagesError, match="5 pages; at most 4"):
        render_pdf_pages(_pdf_bytes(5), PdfLimits(dpi=72, max_pages=4))


def test_pixel_limit() -> None:
    with pytest.raises(PageTooLargeError, match="800x600 px"):
        render_pdf_pages(_pdf_bytes(1), PdfLimits(dpi=200, max_pixels=100_000))


def test_corrupt_and_truncated_pdf() -> None:
    data = _pdf_bytes(2)
    with pytest.raises(PdfUnreadableError):
        render_pdf_pages(b"%PDF-1.4 this is not a pdf")
    with pytest.raises(InputError):
        render_pdf_pages(data[: len(data) // 3])


def test_bad_limits_rejected() -> None:
    with pytest.raises(ValueError, match="dpi"):
        PdfLimits(dpi=10)


def test_page_count() -> None:
    assert pdf_page_count(_pdf_bytes(4)) == 4


def _encapsulated(data: bytes) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = ENCAPSULATED_PDF_SOP_CLASS
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = data + (b"\x00" if len(data) % 2 else b"")
    return ds


def test_encapsulated_pdf_pages() -> None:
    pages = pages_from_encapsulated_pdf(_encapsulated(_pdf_bytes(2)), PdfLimits(dpi=100))
    assert [p.shape for p in pages] == [(300, 400, 3)] * 2


def test_encapsulated_pdf_wrong_class_or_empty() -> None:
    ds = _encapsulated(_pdf_bytes(1))
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    with pytest.raises(UnsupportedObjectError, match="not Encapsulated PDF"):
        pages_from_encapsulated_pdf(ds)
    ds = _encapsulated(b"")
    del ds.EncapsulatedDocument
    with pytest.raises(PdfUnreadableError, match="missing"):
        pages_from_encapsulated_pdf(ds)
