"""Reading ECG pictures from files or bytes into (H, W, 3) uint8 RGB arrays.

The pixel limit is checked on the image header, before any pixel is decoded, so a tiny file
that declares a huge image (a decompression bomb) costs nothing.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.errors import ImageTooLargeError, ImageTooSmallError, NotAnImageError

#: Largest accepted image, in pixels (a 600-dpi A4 page is about 35 M px).
DEFAULT_MAX_PIXELS = 80_000_000
#: Smallest accepted side, in px; below this no ECG is readable.
DEFAULT_MIN_SIDE_PX = 128

SUPPORTED_FORMATS = frozenset({"PNG", "JPEG", "TIFF", "BMP", "MPO"})


def _open_source(src: str | Path | bytes) -> tuple[io.BytesIO | Path, str]:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(src)), "<bytes>"
    path = Path(src)
    if not path.is_file():
        raise NotAnImageError(f"{path}: no such file")
    return path, str(path)


def load_image(
    src: str | Path | bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side_px: int = DEFAULT_MIN_SIDE_PX,
) -> np.ndarray:
    """Decode a PNG, JPEG, TIFF or BMP picture into RGB pixels.

    src: a file path or the file's bytes.
    max_pixels: images declaring more pixels (width x height) are refused before decoding.
    min_side_px: images with a shorter side are refused.
    Returns (H, W, 3) uint8 RGB. EXIF orientation is applied; transparency is composited
    on white; 16-bit and palette images are converted.
    Raises NotAnImageError, ImageTooLargeError, ImageTooSmallError.
    """
    source, name = _open_source(src)
    with warnings.catch_warnings():
        # PIL's own bomb guard is a module-global setting; we keep it and add our limit.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(source)  # lazy: reads the header only
        except Image.DecompressionBombError as exc:
            raise ImageTooLargeError(
                f"{name}: image declares more pixels than the limit of {max_pixels} ({exc})"
            ) from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise NotAnImageError(f"{name}: not a readable image ({exc})") from exc
        with im:
            width, height = im.size
            if width * height > max_pixels:
                raise ImageTooLargeError(
                    f"{name}: image is {width} x {height} = {width * height} px; "
                    f"the limit is {max_pixels} px"
                )
            if min(width, height) < min_side_px:
                raise ImageTooSmallError(
                    f"{name}: image is {width} x {height} px; the shorter side must be at "
                    f"least {min_side_px} px"
                )
            if im.format not in SUPPORTED_FORMATS:
                raise NotAnImageError(
                    f"{name}: format {im.format} is not supported; expected one of "
                    f"{sorted(SUPPORTED_FORMATS - {'MPO'})}"
                )
            try:
                im.load()
                rgb = _to_rgb(ImageOps.exif_transpose(im))
            except Image.DecompressionBombError as exc:
                raise ImageTooLargeError(f"{name}: {exc}") from exc
            except (OSError, ValueError, SyntaxError) as exc:
                raise NotAnImageError(f"{name}: image data is damaged or truncated ({exc})") from exc
    return rgb


def _to_rgb(im: Image.Image) -> np.ndarray:
    """Convert any PIL mode to (H, W, 3) uint8 RGB, compositing alpha on white."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        hi = float(arr.max()) or 1.0
        grey = np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        grey = np.clip((arr - lo) / ((hi - lo) or 1.0) * 255.0, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))
