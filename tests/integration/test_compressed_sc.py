"""An ECG page as Secondary Capture, compressed by dcmtk and pylibjpeg-openjpeg, decodes
through `frames_from_dataset` to the same pixels as the uncompressed object: exactly for
lossless syntaxes and RLE, within a small mean absolute difference for lossy JPEG.

The page is rendered once with `pipeline.synth` (3x4, 100 dpi, PTB-XL 00009_hr, seed 4), written
as BMP, and wrapped as an uncompressed SC by dcmtk's `img2dcm`; the variants come from dcmtk's
`dcmcjpeg`, `dcmcjpls`, `dcmcrle`, `dcmconv` and from pydicom's JPEG 2000 encoder.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from ecgbridge.dicom.pixels import frames_from_dataset
from tests.results import load_signals_uv

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Page:
    """The rendered page (H, W, 3) uint8 and its uncompressed SC file."""

    image: np.ndarray
    uncompressed: Path
    folder: Path


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Page:
    from pipeline.synth import render_page, sample_spec

    if not Path("/usr/bin/img2dcm").is_file():
        pytest.skip("dcmtk is not installed in /usr/bin (Debian package dcmtk)")
    folder = tmp_path_factory.mktemp("compressed-sc")
    rng = np.random.default_rng(4)
    spec = sample_spec(rng, "clean", dpi=100.0, layout="3x4")
    signals_uv, fs_hz = load_signals_uv("00009_hr")
    image = render_page(signals_uv / 1000.0, fs_hz, spec, rng).image
    Image.fromarray(image).save(folder / "page.bmp")
    uncompressed = folder / "uncompressed.dcm"
    _run("/usr/bin/img2dcm", "-i", "BMP", folder / "page.bmp", uncompressed)
    return Page(image=image, uncompressed=uncompressed, folder=folder)


def _run(*args: object) -> None:
    proc = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(f"{args[0]} failed ({proc.returncode}): {proc.stderr}{proc.stdout}")


def _decode(path: Path) -> tuple[str, np.ndarray]:
    ds = pydicom.dcmread(path)
    [frame] = frames_from_dataset(ds)
    return str(ds.file_meta.TransferSyntaxUID), frame


def test_uncompressed_reference_is_the_page(page: Page) -> None:
    syntax, frame = _decode(page.uncompressed)
    assert syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
    assert frame.shape == page.image.shape
    np.testing.assert_array_equal(frame, page.image)


DCMTK_LOSSLESS = {
    "jpeg-lossless-sv1": (("/usr/bin/dcmcjpeg", "+e1"), JPEGLosslessSV1),
    "jpeg-ls-lossless": (("/usr/bin/dcmcjpls", "+el"), JPEGLSLossless),
    "rle": (("/usr/bin/dcmcrle",), RLELossless),
    "deflated": (("/usr/bin/dcmconv", "+td"), DeflatedExplicitVRLittleEndian),
}


@pytest.mark.parametrize("name", sorted(DCMTK_LOSSLESS))
def test_dcmtk_lossless_variants_are_exact(page: Page, name: str) -> None:
    command, expected_syntax = DCMTK_LOSSLESS[name]
    out = page.folder / f"{name}.dcm"
    _run(*command, page.uncompressed, out)
    syntax, frame = _decode(out)
    assert syntax == expected_syntax
    np.testing.assert_array_equal(frame, page.image)


DCMTK_LOSSY = {
    "jpeg-baseline": (("/usr/bin/dcmcjpeg", "+eb"), JPEGBaseline8Bit, 1.0),
    "jpeg-extended": (("/usr/bin/dcmcjpeg", "+ee"), JPEGExtended12Bit, 1.0),
    "jpeg-ls-near-lossless": (("/usr/bin/dcmcjpls", "+en"), JPEGLSNearLossless, 1.0),
}


@pytest.mark.parametrize("name", sorted(DCMTK_LOSSY))
def test_dcmtk_lossy_variants_are_close(page: Page, name: str) -> None:
    command, expected_syntax, max_mean_abs = DCMTK_LOSSY[name]
    out = page.folder / f"{name}.dcm"
    _run(*command, page.uncompressed, out)
    syntax, frame = _decode(out)
    assert syntax == expected_syntax
    assert frame.shape == page.image.shape
    difference = np.abs(frame.astype(np.int16) - page.image.astype(np.int16))
    assert difference.mean() <= max_mean_abs, (name, float(difference.mean()))
    assert np.count_nonzero(difference) > 0  # really lossy: the comparison can fail


def test_img2dcm_jpeg_baseline_from_a_jpeg_file(page: Page) -> None:
    """img2dcm encapsulates a JPEG file unchanged (JPEG baseline, YBR_FULL_422)."""
    jpeg = page.folder / "page.jpg"
    Image.fromarray(page.image).save(jpeg, quality=92)
    out = page.folder / "img2dcm-jpeg.dcm"
    _run("/usr/bin/img2dcm", "-i", "JPEG", jpeg, out)
    syntax, frame = _decode(out)
    assert syntax == JPEGBaseline8Bit
    assert pydicom.dcmread(out).PhotometricInterpretation == "YBR_FULL_422"
    reference = np.asarray(Image.open(jpeg).convert("RGB"))
    assert np.abs(frame.astype(np.int16) - reference.astype(np.int16)).mean() <= 1.0
    assert np.abs(frame.astype(np.int16) - page.image.astype(np.int16)).mean() <= 3.0


@pytest.mark.parametrize(("syntax", "exact"), [(JPEG2000Lossless, True), (JPEG2000, False)])
def test_jpeg2000_variants(page: Page, syntax: str, exact: bool) -> None:
    ds = pydicom.dcmread(page.uncompressed)
    kwargs = {} if exact else {"j2k_cr": [20]}
    ds.compress(syntax, encoding_plugin="pylibjpeg", generate_instance_uid=False, **kwargs)
    out = page.folder / f"j2k-{'lossless' if exact else 'lossy'}.dcm"
    ds.save_as(out, enforce_file_format=True)
    decoded_syntax, frame = _decode(out)
    assert decoded_syntax == syntax
    if exact:
        np.testing.assert_array_equal(frame, page.image)
    else:
        assert np.abs(frame.astype(np.int16) - page.image.astype(np.int16)).mean() <= 1.0



@pytest.mark.parametrize("keep_rgb", [False, True])
def test_jpeg_labelled_rgb_gets_true_colours(page: Page, keep_rgb: bool) -> None:
    """A lossy JPEG SC wrongly labelled RGB (img2dcm strips JFIF, so pydicom cannot tell):
    YCbCr data is converted; true RGB data (RGB component ids) is left as is."""
    jpeg = page.folder / f"colour-{keep_rgb}.jpg"
    Image.fromarray(page.image).save(jpeg, quality=95, keep_rgb=keep_rgb)
    out = page.folder / f"colour-{keep_rgb}.dcm"
    _run("/usr/bin/img2dcm", "-i", "JPEG", jpeg, out)
    ds = pydicom.dcmread(out)
    ds.PhotometricInterpretation = "RGB"
    [frame] = frames_from_dataset(ds)
    reference = np.asarray(Image.open(jpeg).convert("RGB"))
    assert np.abs(frame.astype(np.int16) - reference.astype(np.int16)).mean() <= 1.0
