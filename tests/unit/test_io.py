"""Tests for pipeline.io.load_image: formats, and refusals of bad input."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.errors import ImageTooLargeError, ImageTooSmallError, NotAnImageError
from pipeline.io import load_image


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares width x height but whose data holds a single row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\xff" * 3 * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _encode(arr: np.ndarray, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture()
def page() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, size=(200, 300, 3), dtype=np.uint8)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "BMP"])
def test_lossless_formats_round_trip(page: np.ndarray, fmt: str) -> None:
    out = load_image(_encode(page, fmt))
    assert out.dtype == np.uint8 and out.shape == (200, 300, 3)
    np.testing.assert_array_equal(out, page)


def test_jpeg_and_path(page: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "p.jpg"
    path.write_bytes(_encode(page, "JPEG", quality=95))
    out = load_image(path)
    assert out.shape == (200, 300, 3)


def test_grey_and_alpha_become_rgb(tmp_path: Path) -> None:
    grey = np.full((150, 160), 7, dtype=np.uint8)
    assert load_image(_encode(grey, "PNG"))[0, 0].tolist() == [7, 7, 7]
    rgba = np.zeros((150, 160, 4), dtype=np.uint8)  # fully transparent -> white
    assert load_image(_encode(rgba, "PNG"))[0, 0].tolist() == [255, 255, 255]


def test_not_an_image() -> None:
    with pytest.raises(NotAnImageError, match="not a readable image"):
        load_image(b"this is a text file, not a picture")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotAnImageError, match="no such file"):
        load_image(tmp_path / "absent.png")


def test_truncated_file(page: np.ndarray) -> None:
    data = _encode(page, "PNG")
    with pytest.raises(NotAnImageError, match="damaged or truncated"):
        load_image(data[: len(data) // 2])


def test_huge_declared_image_refused_before_decoding() -> None:
    data = _png_header_only(50_000, 50_000)
    assert len(data) < 200
    with pytest.raises(ImageTooLargeError, match="limit"):
        load_image(data)


def test_our_limit_is_checked_on_the_header() -> None:
    data = _png_header_only(5_000, 5_000)  # under PIL's guard, over ours
    with pytest.raises(ImageTooLargeError, match="25000000 px; the limit is 1000000"):
        load_image(data, max_pixels=1_000_000)


def test_too_small() -> None:
    with pytest.raises(ImageTooSmallError, match="at least 128"):
        load_image(_encode(np.zeros((40, 500, 3), np.uint8), "PNG"))
