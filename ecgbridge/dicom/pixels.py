"""Pixels of received Secondary Capture images as RGB frames for the digitizer.

`frames_from_dataset(ds)` returns one (H, W, 3) uint8 RGB array per frame of a Secondary
Capture Image Storage object or one of the four multi-frame SC classes, whatever its
photometric interpretation (MONOCHROME1/2, RGB, YBR_FULL, YBR_FULL_422, PALETTE COLOR,
YBR_RCT/ICT of JPEG 2000) and transfer syntax (native little/big endian, deflated, JPEG
baseline/extended/lossless, JPEG-LS, JPEG 2000, RLE). Decoding is pydicom 3's, with the
pylibjpeg plugins (libjpeg: JPEG and JPEG-LS, openjpeg: JPEG 2000, rle) and Pillow.

Grey images become 8-bit through the modality LUT (Rescale Slope/Intercept), then the first
VOI window (Window Center/Width) or VOI LUT when present; otherwise images of <= 8 stored
bits keep their nominal range and deeper ones are stretched from their min to their max.
MONOCHROME1 is inverted so that ink is dark, as on paper.
"""
from __future__ import annotations

import logging
from collections.abc import Collection

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.multival import MultiValue
from pydicom.pixels import (
    apply_color_lut,
    apply_modality_lut,
    apply_voi_lut,
    convert_color_space,
    get_decoder,
    pixel_array,
)
from pydicom.uid import UID, ImplicitVRLittleEndian, JPEGBaseline8Bit, JPEGExtended12Bit

from ecgbridge.errors import CorruptObjectError, UnsupportedObjectError

#: Secondary Capture Image Storage and the four multi-frame SC classes (PS3.4 B.5).
SC_STORAGE_CLASSES: tuple[str, ...] = (
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image Storage
    "1.2.840.10008.5.1.4.1.1.7.1",  # Multi-frame Single Bit SC Image Storage
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte SC Image Storage
    "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word SC Image Storage
    "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color SC Image Storage
)

#: Photometric interpretations this module turns into RGB.
SUPPORTED_PHOTOMETRIC: tuple[str, ...] = (
    "MONOCHROME1",
    "MONOCHROME2",
    "RGB",
    "YBR_FULL",
    "YBR_FULL_422",
    "YBR_RCT",
    "YBR_ICT",
    "PALETTE COLOR",
)

LOG = logging.getLogger(__name__)

_GREY = ("MONOCHROME1", "MONOCHROME2")
_LOSSY_JPEG = (JPEGBaseline8Bit, JPEGExtended12Bit)
_REQUIRED = ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "PhotometricInterpretation")


def is_supported_sop_class(uid: str) -> bool:
    """True for the Secondary Capture classes in `SC_STORAGE_CLASSES`."""
    return str(uid).strip() in SC_STORAGE_CLASSES


def frames_from_dataset(
    ds: Dataset,
    *,
    max_pixels: int = 100_000_000,
    sop_classes: Collection[str] = SC_STORAGE_CLASSES,
) -> list[np.ndarray]:
    """Decode every frame of `ds` to (H, W, 3) uint8 RGB.

    max_pixels: limit on Rows x Columns x NumberOfFrames, checked before anything is decoded.
    sop_classes: SOP Class UIDs accepted (default: the SC classes).

    Raises UnsupportedObjectError when the SOP class is not accepted, there is no Pixel Data,
    the image is larger than `max_pixels`, the photometric interpretation is not supported or
    no decoder is available for the transfer syntax; CorruptObjectError when the image
    attributes are missing or inconsistent or decoding fails (e.g. truncated data).
    """
    sop_class = str(ds.get("SOPClassUID", "")).strip()
    if sop_class not in sop_classes:
        name = UID(sop_class).name if sop_class else "(no SOP Class UID)"
        raise UnsupportedObjectError(
            f"SOP class {sop_class or '-'} ({name}) is not a supported image class; "
            f"expected one of {tuple(sop_classes)}"
        )
    if "PixelData" not in ds:
        raise UnsupportedObjectError(
            f"object of SOP class {sop_class} has no Pixel Data (7FE0,0010)"
        )
    missing = [keyword for keyword in _REQUIRED if ds.get(keyword) in (None, "")]
    if missing:
        raise CorruptObjectError(f"image attributes missing or empty: {', '.join(missing)}")

    rows, columns = int(ds.Rows), int(ds.Columns)
    n_frames = _number_of_frames(ds)
    if rows <= 0 or columns <= 0:
        raise CorruptObjectError(f"image size must be positive; found {rows} x {columns}")
    n_pixels = rows * columns * n_frames
    if n_pixels > max_pixels:
        raise UnsupportedObjectError(
            f"image too large: {rows} rows x {columns} columns x {n_frames} frames = "
            f"{n_pixels} pixels; limit is {max_pixels}"
        )
    photometric = str(ds.PhotometricInterpretation).strip().upper()
    if photometric not in SUPPORTED_PHOTOMETRIC:
        raise UnsupportedObjectError(
            f"photometric interpretation {photometric!r} is not supported; "
            f"expected one of {SUPPORTED_PHOTOMETRIC}"
        )
    samples = int(ds.SamplesPerPixel)
    expected_samples = 1 if photometric in _GREY or photometric == "PALETTE COLOR" else 3
    if samples != expected_samples:
        raise CorruptObjectError(
            f"{photometric} needs Samples per Pixel {expected_samples}; found {samples}"
        )
    _check_decoder(ds)
    if photometric == "RGB" and _jpeg_rgb_label_hides_ycbcr(ds, n_frames):
        LOG.warning(
            "Photometric Interpretation says RGB but the lossy JPEG codestream is YCbCr "
            "(no RGB component ids, no Adobe RGB marker); converting it as YBR_FULL"
        )
        photometric = "YBR_FULL"

    frames: list[np.ndarray] = []
    for index in range(n_frames):
        try:
            decoded = pixel_array(ds, index=index if n_frames > 1 else None)
        except (ValueError, RuntimeError, TypeError, KeyError, IndexError, OSError,
                AttributeError, NotImplementedError) as error:
            raise CorruptObjectError(
                f"pixel data of frame {index + 1}/{n_frames} could not be decoded "
                f"(transfer syntax {_transfer_syntax(ds).name}): "
                f"{type(error).__name__}: {error}"
            ) from error
        if photometric == "YBR_FULL" and str(ds.PhotometricInterpretation).strip() == "RGB":
            decoded = convert_color_space(decoded, "YBR_FULL", "RGB")
        frames.append(_to_rgb8(decoded, ds, photometric))
    return frames


def _jpeg_rgb_label_hides_ycbcr(ds: Dataset, n_frames: int) -> bool:
    """True when lossy JPEG pixel data labelled RGB is YCbCr by the JPEG conventions.

    A 3-component baseline/extended JPEG is YCbCr (IJG/JFIF convention) unless its component
    ids spell "RGB" or an Adobe APP14 marker says "no transform"; writers often label such
    data RGB anyway (dcmtk's `dcmdjpeg +cg` guesses the same way). pydicom itself fixes
    only labels contradicted by a JFIF marker or by RGB component ids.
    """
    if _transfer_syntax(ds) not in _LOSSY_JPEG or int(ds.SamplesPerPixel) != 3:
        return False
    try:
        first = next(generate_frames(ds.PixelData, number_of_frames=n_frames))
    except (StopIteration, ValueError, KeyError, IndexError, TypeError) as error:
        raise CorruptObjectError(f"JPEG pixel data cannot be framed: {error}") from error
    apps, component_ids = jpeg_header(bytes(first[:65536]))
    if component_ids in ([82, 71, 66], [114, 103, 98]):  # "RGB" / "rgb"
        return False
    for marker, payload in apps:
        if marker == 0xEE and payload.startswith(b"Adobe") and len(payload) >= 12:
            return payload[11] != 0  # transform 0: RGB, 1: YCbCr
        if marker == 0xE0 and payload.startswith(b"JFIF"):
            return False  # pydicom conforms JFIF-marked data itself
    return component_ids is not None and len(component_ids) == 3


#: Start-of-frame markers (SOF0-SOF15 without DHT 0xC4, JPG 0xC8 and DAC 0xCC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def jpeg_header(codestream: bytes) -> tuple[list[tuple[int, bytes]], list[int] | None]:
    """The APPn segments [(marker 0xE0-0xEF, payload)] and frame component ids of a JPEG
    codestream, read up to its first scan; ([], None) when it is not a JPEG codestream."""
    if codestream[:2] != b"\xff\xd8":
        return [], None
    apps: list[tuple[int, bytes]] = []
    component_ids: list[int] | None = None
    offset = 2
    while offset + 4 <= len(codestream):
        if codestream[offset] != 0xFF:
            break
        marker = codestream[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        length = int.from_bytes(codestream[offset + 2:offset + 4], "big")
        payload = codestream[offset + 4:offset + 2 + length]
        if 0xE0 <= marker <= 0xEF:
            apps.append((marker, payload))
        elif marker in _SOF_MARKERS and len(payload) >= 6:
            n_components = payload[5]
            component_ids = [payload[6 + 3 * i] for i in range(n_components)
                             if 6 + 3 * i < len(payload)]
        elif marker == 0xDA:  # start of scan: the header is over
            break
        offset += 2 + length
    return apps, component_ids


def _number_of_frames(ds: Dataset) -> int:
    value = ds.get("NumberOfFrames", 1)
    try:
        n_frames = int(value) if value not in (None, "") else 1
    except (TypeError, ValueError) as error:
        raise CorruptObjectError(f"Number of Frames must be an integer; found {value!r}") from error
    if n_frames < 1:
        raise CorruptObjectError(f"Number of Frames must be >= 1; found {n_frames}")
    return n_frames


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    return UID(syntax) if syntax else ImplicitVRLittleEndian


def _check_decoder(ds: Dataset) -> None:
    syntax = _transfer_syntax(ds)
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as error:
        raise UnsupportedObjectError(
            f"transfer syntax {syntax} ({syntax.name}) has no pixel data decoder"
        ) from error
    if not decoder.is_available:
        raise UnsupportedObjectError(
            f"no decoder plugin is installed for transfer syntax {syntax} ({syntax.name}); "
            f"missing dependencies: {decoder.missing_dependencies}"
        )


def _to_rgb8(decoded: np.ndarray, ds: Dataset, photometric: str) -> np.ndarray:
    """One decoded frame, (H, W) or (H, W, 3) of any integer type, to (H, W, 3) uint8."""
    if photometric in _GREY:
        grey = _grey_to_uint8(decoded, ds)
        if photometric == "MONOCHROME1":
            grey = 255 - grey
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(decoded, ds)
    else:  # RGB; YBR_FULL(_422) were converted to RGB by pixel_array; YBR_RCT/ICT decode as RGB
        rgb = decoded
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise CorruptObjectError(f"{photometric} frame must decode to (H, W, 3); found {rgb.shape}")
    return np.ascontiguousarray(_colour_to_uint8(rgb, ds, photometric))


def _colour_to_uint8(rgb: np.ndarray, ds: Dataset, photometric: str) -> np.ndarray:
    if rgb.dtype == np.uint8:
        return rgb
    if photometric == "PALETTE COLOR":  # apply_color_lut gives uint16 for 16-bit LUT entries
        bits = 16
    else:
        bits = int(ds.get("BitsStored", ds.BitsAllocated))
    scaled = rgb.astype(np.float64) * (255.0 / float(2**bits - 1))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _grey_to_uint8(decoded: np.ndarray, ds: Dataset) -> np.ndarray:
    if decoded.ndim != 2:
        raise CorruptObjectError(f"grey frame must decode to (H, W); found {decoded.shape}")
    values = apply_modality_lut(decoded, ds).astype(np.float64)
    centers, widths = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centers is not None and widths is not None:
        center, width = _first(centers), _first(widths)
        if width >= 1:
            # PS3.3 C.11.2.1.2.1, linear function, output range [0, 1]
            unit = np.clip((values - (center - 0.5)) / max(width - 1.0, 1.0) + 0.5, 0.0, 1.0)
            return np.rint(unit * 255.0).astype(np.uint8)
    if "VOILUTSequence" in ds:
        values = apply_voi_lut(decoded, ds).astype(np.float64)
        return _stretch(values, float(values.min()), float(values.max()))
    bits = int(ds.get("BitsStored", ds.BitsAllocated))
    rescaled = "RescaleSlope" in ds or "RescaleIntercept" in ds or "ModalityLUTSequence" in ds
    if bits <= 8 and not rescaled:
        signed = int(ds.get("PixelRepresentation", 0)) == 1
        low = -(2.0 ** (bits - 1)) if signed else 0.0
        return _stretch(values, low, low + 2.0**bits - 1.0)
    return _stretch(values, float(values.min()), float(values.max()))


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map [low, high] linearly onto [0, 255]; a constant image maps to 0."""
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    unit = np.clip((values - low) / (high - low), 0.0, 1.0)
    return np.rint(unit * 255.0).astype(np.uint8)


def _first(value: object) -> float:
    """First value of a possibly multi-valued DS element (Window Center/Width)."""
    if isinstance(value, MultiValue):
        return float(value[0])
    return float(value)  # type: ignore[arg-type]
