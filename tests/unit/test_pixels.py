"""frames_from_dataset: photometric interpretations, transfer syntaxes, frames, errors."""
from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import convert_color_space, pack_bits
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    RLELossless,
    generate_uid,
)

from ecgbridge.dicom.pixels import SC_STORAGE_CLASSES, frames_from_dataset, is_supported_sop_class
from ecgbridge.errors import CorruptObjectError, UnsupportedObjectError

SC, MF_BIT, MF_BYTE, MF_WORD, MF_RGB = SC_STORAGE_CLASSES
RNG = np.random.default_rng(20261125)


def _dataset(arr: np.ndarray, photometric: str, bits_stored: int, sop_class: str = SC) -> Dataset:
    """A minimal SC dataset around `arr` ((H, W), (H, W, 3) or (F, H, W[, 3]))."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[photometric, str(arr.shape)])
    ds.set_pixel_data(arr, photometric, bits_stored, generate_instance_uid=False)
    return ds


def _round_trip(ds: Dataset) -> Dataset:
    """Write with its transfer syntax and read back, as a received object would be."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


def _grey8(shape: tuple[int, ...] = (24, 32)) -> np.ndarray:
    return RNG.integers(0, 256, size=shape, dtype=np.uint8)


def _rgb8(shape: tuple[int, ...] = (24, 32, 3)) -> np.ndarray:
    return RNG.integers(0, 256, size=shape, dtype=np.uint8)


def test_sop_class_helpers() -> None:
    assert len(SC_STORAGE_CLASSES) == 5
    assert is_supported_sop_class("1.2.840.10008.5.1.4.1.1.7.4")
    assert not is_supported_sop_class("1.2.840.10008.5.1.4.1.1.2")  # CT


def test_monochrome2_8bit_is_identity() -> None:
    grey = _grey8()
    [frame] = frames_from_dataset(_round_trip(_dataset(grey, "MONOCHROME2", 8)))
    assert frame.shape == (24, 32, 3) and frame.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(frame[:, :, channel], grey)


def test_monochrome1_is_inverted() -> None:
    grey = _grey8()
    [frame] = frames_from_dataset(_round_trip(_dataset(grey, "MONOCHROME1", 8)))
    np.testing.assert_array_equal(frame[:, :, 0], 255 - grey)


def test_16bit_window_applied() -> None:
    values = np.array([[0, 1000, 1500, 2000, 4095]], dtype=np.uint16)
    ds = _dataset(values, "MONOCHROME2", 12)
    ds.WindowCenter, ds.WindowWidth = 1500, 1001
    [frame] = frames_from_dataset(_round_trip(ds))
    assert frame[0, :, 0].tolist() == [0, 0, 128, 255, 255]


def test_16bit_rescale_then_window() -> None:
    values = np.array([[0, 100, 200]], dtype=np.uint16)
    ds = _dataset(values, "MONOCHROME2", 16)
    ds.RescaleSlope, ds.RescaleIntercept = 2, -100  # -> -100, 100, 300
    ds.WindowCenter, ds.WindowWidth = 100, 401
    [frame] = frames_from_dataset(_round_trip(ds))
    assert frame[0, :, 0].tolist() == [0, 128, 255]


def test_16bit_without_window_is_stretched() -> None:
    values = np.array([[1000, 1500, 2000]], dtype=np.uint16)
    [frame] = frames_from_dataset(_round_trip(_dataset(values, "MONOCHROME2", 16)))
    assert frame[0, :, 0].tolist() == [0, 128, 255]


def test_rgb_identity_and_ybr_full_converted() -> None:
    rgb = _rgb8()
    [frame] = frames_from_dataset(_round_trip(_dataset(rgb, "RGB", 8)))
    np.testing.assert_array_equal(frame, rgb)
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    [frame] = frames_from_dataset(_round_trip(_dataset(ybr, "YBR_FULL", 8)))
    assert np.max(np.abs(frame.astype(int) - rgb.astype(int))) <= 2


def test_rgb_16bit_scaled_to_8bit() -> None:
    rgb = np.array([[[0, 32768, 65535]]], dtype=np.uint16)
    [frame] = frames_from_dataset(_round_trip(_dataset(rgb, "RGB", 16)))
    assert frame[0, 0].tolist() == [0, 128, 255]


def test_palette_colour() -> None:
    index = np.array([[0, 1, 2]], dtype=np.uint8)
    ds = _dataset(index, "MONOCHROME2", 8)
    ds.PhotometricInterpretation = "PALETTE COLOR"
    lut = {"Red": [65535, 0, 0], "Green": [0, 65535, 0], "Blue": [0, 0, 65535]}
    for colour, entries in lut.items():
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [3, 0, 16])
        setattr(ds, f"{colour}PaletteColorLookupTableData",
                np.array(entries, dtype="<u2").tobytes())
    [frame] = frames_from_dataset(_round_trip(ds))
    assert frame[0].tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]


def test_multiframe_grey_and_colour() -> None:
    grey = _grey8((3, 10, 12))
    ds = _dataset(grey, "MONOCHROME2", 8, MF_BYTE)
    frames = frames_from_dataset(_round_trip(ds))
    assert len(frames) == 3
    for decoded, expected in zip(frames, grey):
        np.testing.assert_array_equal(decoded[:, :, 1], expected)
    rgb = _rgb8((2, 10, 12, 3))
    frames = frames_from_dataset(_round_trip(_dataset(rgb, "RGB", 8, MF_RGB)))
    assert [f.shape for f in frames] == [(10, 12, 3)] * 2
    np.testing.assert_array_equal(np.stack(frames), rgb)


def test_multiframe_single_bit() -> None:
    bits = RNG.integers(0, 2, size=(2, 8, 16), dtype=np.uint8)
    ds = _dataset(bits[0], "MONOCHROME2", 8, MF_BIT)
    ds.NumberOfFrames = 2
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 1, 0
    ds.PixelData = pack_bits(bits)
    frames = frames_from_dataset(_round_trip(ds))
    np.testing.assert_array_equal(np.stack(frames)[..., 0], bits * 255)


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless])
def test_lossless_compression_exact(syntax: str) -> None:
    rgb = _rgb8((80, 96, 3))  # JPEG 2000's default 6 decomposition levels need >= 64 px
    ds = _dataset(rgb, "RGB", 8)
    ds.compress(syntax, generate_instance_uid=False)
    [frame] = frames_from_dataset(_round_trip(ds))
    np.testing.assert_array_equal(frame, rgb)


def test_multiframe_rle_and_grey_jpeg2000() -> None:
    rgb = _rgb8((3, 16, 20, 3))
    ds = _dataset(rgb, "RGB", 8, MF_RGB)
    ds.compress(RLELossless, generate_instance_uid=False)
    np.testing.assert_array_equal(np.stack(frames_from_dataset(_round_trip(ds))), rgb)
    grey = _grey8((80, 96))
    ds = _dataset(grey, "MONOCHROME2", 8)
    ds.compress(JPEG2000Lossless, generate_instance_uid=False)
    [frame] = frames_from_dataset(_round_trip(ds))
    np.testing.assert_array_equal(frame[:, :, 2], grey)


def test_deflated_transfer_syntax() -> None:
    grey = _grey8()
    ds = _dataset(grey, "MONOCHROME2", 8)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    back = _round_trip(ds)
    assert back.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    [frame] = frames_from_dataset(back)
    np.testing.assert_array_equal(frame[:, :, 0], grey)


def test_not_an_image_class_raises_unsupported() -> None:
    ds = _dataset(_grey8(), "MONOCHROME2", 8, sop_class="1.2.840.10008.5.1.4.1.1.2")
    with pytest.raises(UnsupportedObjectError, match="CT Image Storage"):
        frames_from_dataset(ds)
    del ds.SOPClassUID
    with pytest.raises(UnsupportedObjectError, match="no SOP Class UID"):
        frames_from_dataset(ds)


def test_no_pixel_data_raises_unsupported() -> None:
    ds = _dataset(_grey8(), "MONOCHROME2", 8)
    del ds.PixelData
    with pytest.raises(UnsupportedObjectError, match="no Pixel Data"):
        frames_from_dataset(ds)


def test_too_large_is_refused_before_decoding() -> None:
    ds = _dataset(_grey8(), "MONOCHROME2", 8)
    ds.Rows, ds.Columns, ds.NumberOfFrames = 20000, 20000, 2
    ds.PixelData = b"\x00\x00"  # far too short: decoding would fail as corrupt
    with pytest.raises(UnsupportedObjectError, match="800000000 pixels; limit is 100000000"):
        frames_from_dataset(ds)


def test_truncated_native_pixel_data_raises_corrupt() -> None:
    ds = _dataset(_grey8(), "MONOCHROME2", 8)
    ds.PixelData = ds.PixelData[:100]
    with pytest.raises(CorruptObjectError, match="could not be decoded"):
        frames_from_dataset(_round_trip(ds))


def test_garbage_jpeg_raises_corrupt() -> None:
    ds = _dataset(_rgb8(), "RGB", 8)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xe0 this is not a jpeg"])
    ds["PixelData"].VR = "OB"
    with pytest.raises(CorruptObjectError, match="JPEG Baseline"):
        frames_from_dataset(_round_trip(ds))


def test_missing_attribute_raises_corrupt() -> None:
    ds = _dataset(_grey8(), "MONOCHROME2", 8)
    del ds.Rows
    with pytest.raises(CorruptObjectError, match="Rows"):
        frames_from_dataset(ds)


def test_unsupported_photometric_and_wrong_samples() -> None:
    ds = _dataset(_rgb8(), "RGB", 8)
    ds.PhotometricInterpretation = "HSV"
    with pytest.raises(UnsupportedObjectError, match="HSV"):
        frames_from_dataset(ds)
    ds.PhotometricInterpretation = "MONOCHROME2"
    with pytest.raises(CorruptObjectError, match="Samples per Pixel 1; found 3"):
        frames_from_dataset(ds)


def test_jpeg_header_reads_app_markers_and_component_ids() -> None:
    from PIL import Image

    from ecgbridge.dicom.pixels import jpeg_header

    for keep_rgb, marker, ids in ((False, 0xE0, [1, 2, 3]), (True, 0xEE, [82, 71, 66])):
        buffer = io.BytesIO()
        Image.fromarray(_rgb8((8, 8, 3))).save(buffer, "JPEG", keep_rgb=keep_rgb)
        apps, component_ids = jpeg_header(buffer.getvalue())
        assert [m for m, _ in apps] == [marker] and component_ids == ids
    assert jpeg_header(b"not a jpeg") == ([], None)
