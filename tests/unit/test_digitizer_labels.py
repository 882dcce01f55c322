"""pipeline.digitizer on photos: the second look at a photo's straightened sheet
(`_labels_on_sheet`): the shipped network segments the sheet again, and what it takes for
text there leaves the trace map (real peers: pipeline.synth renders the photo, the shipped
weights segment it); and what a photo is read with apart from that (no check of run ends
for merged letters, a narrower band)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import pytest

from pipeline.digitizer import LABEL_TEXT_MIN_P, Digitizer
from pipeline.errors import ModelWeightsError, NoTraceFoundError
from pipeline.line_maps import colour_maps
from pipeline.synth import load_record, render_page, sample_spec
from pipeline.types import DigitizeOptions
from tests.paths import ptbxl_record

RECORD = ptbxl_record("00009_hr")
needs_data = pytest.mark.skipif(not RECORD.with_suffix(".hea").exists(),
                                reason="PTB-XL sample records not available")


def photo(seed: int = 3) -> np.ndarray:
    """(H, W, 3) uint8: a 3x4+1 page photographed at 20 degrees over a solid background."""
    rng = np.random.default_rng(seed)
    signals, fs = load_record(str(RECORD))
    spec = sample_spec(rng, "clean", layout="3x4+1", dpi=200.0, grid="red",
                       calibration="start", mm_per_mv=10.0, orientation="landscape",
                       trace_width_mm=0.2, perspective_deg=20.0, rotation_deg=4.0,
                       background="solid")
    return render_page(signals, fs, spec, rng).image


class Recorder:
    """A sheet segmenter that records what it is shown and calls every pixel text with
    probability `text` (the rest trace)."""

    def __init__(self, text: float) -> None:
        self.text = text
        self.shown: list[tuple[int, ...]] = []

    def segment(self, images: Sequence[np.ndarray]) -> list[Any]:
        out = []
        for image in images:
            self.shown.append(image.shape)
            h, w = image.shape[0] // 4, image.shape[1] // 4
            probs = np.zeros((4, h, w), np.float32)
            probs[2], probs[3] = self.text, 1.0 - self.text
            out.append(type("Maps", (), {"probs": probs, "scale": 0.25})())
        return out


def test_colour_maps_leave_labelled_pixels_out_of_the_trace_map_only() -> None:
    image = np.full((60, 80, 3), 255, np.uint8)
    x = np.arange(5, 75)
    line = np.stack([x, 30 + 8 * np.sin(x / 4)], 1).round().astype(np.int32)
    cv2.polylines(image, [line], False, (0, 0, 0), 2)  # a black wavy line
    gate = np.ones((60, 80), np.uint8)
    labels = np.zeros((60, 80), np.uint8)
    labels[:, 40:] = 1
    trace, _, ink, _ = colour_maps(image, gate, labels)
    assert trace[:, 6:40].max(axis=0).min() > 0.5 and trace[:, 40:].max() == 0.0
    # Calibration pulses are still looked for in all the ink.
    assert ink[:, 6:74].max(axis=0).min() > 0.5


@needs_data
def test_the_sheet_is_looked_at_again_once_straightened() -> None:
    image = photo()
    dz = Digitizer(DigitizeOptions(device="cpu"))
    recorder = Recorder(text=0.0)
    dz.sheet_segmenter = recorder
    res = dz.digitize(image)
    assert res.layout == "3x4+1"
    assert len(recorder.shown) == 1
    sheet_h, sheet_w = recorder.shown[0][:2]
    # The sheet alone, straightened: landscape, and not the whole picture.
    assert sheet_w > sheet_h and sheet_h * sheet_w < 0.9 * image.shape[0] * image.shape[1]


@needs_data
def test_what_the_second_look_calls_text_is_not_read() -> None:
    image = photo()
    dz = Digitizer(DigitizeOptions(device="cpu"))
    dz.sheet_segmenter = Recorder(text=LABEL_TEXT_MIN_P + 0.3)  # text everywhere
    with pytest.raises(NoTraceFoundError):
        dz.digitize(image)
    dz.sheet_segmenter = Recorder(text=LABEL_TEXT_MIN_P - 0.1)  # nowhere
    assert dz.digitize(image).layout == "3x4+1"


class BrokenWeights:
    """A sheet segmenter whose weights file no longer matches (a reader's view of it)."""

    def segment(self, images: Sequence[np.ndarray]) -> list[Any]:
        raise ModelWeightsError("segmenter weights x.pt: sha256 expected a, found b")


@needs_data
def test_a_second_look_that_cannot_load_its_weights_is_skipped() -> None:
    image = photo()
    dz = Digitizer(DigitizeOptions(device="cpu"))
    dz.sheet_segmenter = BrokenWeights()
    assert dz.digitize(image).layout == "3x4+1"  # read as without the second look
    assert dz.sheet_segmenter is None


@needs_data
def test_page_readers_look_again_with_the_parents_network() -> None:
    """A worker process loads the parent's weights for the second look, on the CPU: the
    same signals as reading in the parent."""
    image = photo()
    with Digitizer(DigitizeOptions(device="cpu")) as single:
        alone = single.digitize(image).signals_uv
    with Digitizer(DigitizeOptions(device="cpu", workers=2, batch_size=1)) as pooled:
        out = pooled.digitize_batch([image, image])
    for res in out:
        assert not isinstance(res, Exception)
        np.testing.assert_array_equal(res.signals_uv, alone)


@needs_data
def test_run_ends_are_checked_for_letters_only_where_no_second_look_took_labels_out(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import digitizer

    seen: list[bool] = []
    real = digitizer.extract_rows

    def spy(*args: Any, check_edges: bool = True, **kwargs: Any) -> Any:
        seen.append(check_edges)
        return real(*args, check_edges=check_edges, **kwargs)

    monkeypatch.setattr(digitizer, "extract_rows", spy)
    image = photo()
    dz = Digitizer(DigitizeOptions(device="cpu"))
    dz.sheet_segmenter = Recorder(text=0.0)
    dz.digitize(image)
    assert seen and not any(seen)  # the sheet was looked at again: labels are out
    seen.clear()
    dz.sheet_segmenter = None
    dz.digitize(image)
    assert seen and all(seen)


@needs_data
def test_photos_keep_a_narrower_band_than_pages_seen_square_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import leads
    from pipeline.signals import BAND_LIMIT, MIN_CUTOFF_HZ, PHOTO_BAND_LIMIT

    limits: set[tuple[float, float]] = set()
    real = leads.window_to_samples

    def spy(*args: Any, band_limit: float, min_cutoff_hz: float, **kwargs: Any) -> Any:
        limits.add((band_limit, min_cutoff_hz))
        return real(*args, band_limit=band_limit, min_cutoff_hz=min_cutoff_hz, **kwargs)

    monkeypatch.setattr(leads, "window_to_samples", spy)
    dz = Digitizer(DigitizeOptions(device="cpu"))
    dz.digitize(photo())
    assert limits == {(PHOTO_BAND_LIMIT, 0.0)}  # no floor: a camera's blur
    limits.clear()
    rng = np.random.default_rng(3)
    signals, fs = load_record(str(RECORD))
    flat = render_page(signals, fs, sample_spec(rng, "clean", layout="3x4+1", dpi=200.0),
                       rng).image
    dz.digitize(flat)
    assert limits == {(BAND_LIMIT, MIN_CUTOFF_HZ)}


@needs_data
def test_a_gridless_photos_scale_comes_from_its_sheet() -> None:
    rng = np.random.default_rng(5)
    signals, fs = load_record(str(RECORD))
    spec = sample_spec(rng, "clean", layout="3x4+1", dpi=200.0, grid="none", paper="a4",
                       calibration="start", mm_per_mv=10.0, orientation="landscape",
                       trace_width_mm=0.2, perspective_deg=15.0, rotation_deg=3.0,
                       background="solid")
    image = render_page(signals, fs, spec, rng).image
    res = Digitizer(DigitizeOptions(device="cpu")).digitize(image)
    assert "paper_size" in res.assumed and res.layout == "3x4+1"
    assert res.mm_per_mv == 10.0 and res.mm_per_s == 25.0
    # With a grid the grid gives the scale.
    assert "paper_size" not in Digitizer(DigitizeOptions(device="cpu")).digitize(photo()).assumed
