"""pipeline.digitizer: lead labels that the network's first look at a page takes for text
are left out of the trace map (`_first_look_labels`), on pages up to
FIRST_LOOK_LABELS_MAX_UPSAMPLE times the size of its maps; and the network's text map
travels with the trace map to page-reading processes (`_NetMaps.shared`)."""
from __future__ import annotations

from unittest import mock

import numpy as np
import pytest

from pipeline import digitizer
from pipeline.digitizer import (
    FIRST_LOOK_LABELS_MAX_UPSAMPLE,
    FIRST_LOOK_TEXT_MARGIN,
    Digitizer,
    _first_look_labels,
    _NetMaps,
)
from pipeline.evaluate import score_record
from pipeline.shared_pages import SharedPageBlocks, take_shared_page
from pipeline.synth import load_record, render_page, sample_spec
from pipeline.types import DigitizeOptions
from tests.paths import ptbxl_record

RECORD = ptbxl_record("00040_hr")
needs_data = pytest.mark.skipif(not RECORD.with_suffix(".hea").exists(),
                                reason="PTB-XL sample records not available")


def _maps(text: float, trace: float, shape: tuple[int, int] = (20, 30)) -> _NetMaps:
    return _NetMaps(np.full(shape, trace, np.float32), None,
                    np.full(shape, text, np.float32))


def test_labels_are_what_is_clearly_likelier_text_than_trace() -> None:
    trace_p = np.full((40, 60), 0.1, np.float32)
    trace_p[:, 20:40] = 0.35
    trace_p[:, 40:] = 0.6
    text = 0.8  # over 0.1 by more than the margin (0.5), over 0.35 by less
    labels = _first_look_labels(_maps(text=text, trace=0.0), trace_p)
    assert text - 0.1 > FIRST_LOOK_TEXT_MARGIN > text - 0.35
    assert labels is not None and labels.shape == (40, 60) and labels.dtype == np.uint8
    assert labels[:, :20].all() and not labels[:, 20:].any()


def test_no_labels_without_a_text_map_or_on_a_page_far_larger_than_the_maps() -> None:
    no_text = _NetMaps(np.zeros((20, 30), np.float32), None)
    assert _first_look_labels(no_text, np.zeros((40, 60), np.float32)) is None
    maps = _maps(text=1.0, trace=0.0)
    near = int(FIRST_LOOK_LABELS_MAX_UPSAMPLE * 30)
    assert _first_look_labels(maps, np.zeros((20, near), np.float32)) is not None
    assert _first_look_labels(maps, np.zeros((20, near + 1), np.float32)) is None


@pytest.mark.parametrize("grid, text", [(False, True), (True, False), (False, False)])
def test_maps_come_back_from_shared_memory_as_they_went(grid: bool, text: bool) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    trace = rng.random((6, 8), dtype=np.float32)
    sent = _NetMaps(trace, rng.random((6, 8), dtype=np.float32) if grid else None,
                    rng.random((6, 8), dtype=np.float32) if text else None)
    blocks = SharedPageBlocks()
    try:
        _, page = blocks.share(image, sent.shared())
        pixels, shared = take_shared_page(page)
        got = _NetMaps.from_shared(shared)
    finally:
        blocks.close()
    np.testing.assert_array_equal(pixels, image)
    for a, b in zip(got, sent, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)


@needs_data
def test_a_low_resolution_page_reads_better_with_its_labels_out() -> None:
    """A 100-dpi page whose lead labels sit on the lines: the colour rule keeps the letters
    as trace, and without the first look's labels rows follow them (1.7 dB lower when
    this was written)."""
    signals, fs = load_record(str(RECORD))
    rng = np.random.default_rng(2)
    page = render_page(signals, fs, sample_spec(rng, "clean", layout="3x4+1", dpi=100.0), rng)
    dz = Digitizer(DigitizeOptions(device="cpu"))
    seen: list[bool] = []
    real = digitizer._first_look_labels

    def spy(maps: _NetMaps, trace_p: np.ndarray) -> np.ndarray | None:
        labels = real(maps, trace_p)
        seen.append(labels is not None and bool(labels.any()))
        return labels

    def mean_db(image: np.ndarray) -> float:
        res = dz.digitize(image)
        return float(np.mean([s["score_db"] for s in
                              score_record(page.truth_uv, res.signals_uv, fs).values()]))

    with mock.patch.object(digitizer, "_first_look_labels", spy):
        with_labels = mean_db(page.image)
    assert seen == [True]
    with mock.patch.object(digitizer, "_first_look_labels", lambda maps, trace_p: None):
        without = mean_db(page.image)
    assert with_labels > without + 1.0
