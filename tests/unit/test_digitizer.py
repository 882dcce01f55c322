"""pipeline.digitizer end to end on rendered pages (pipeline.synth, real peer), and bad input."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

import pipeline.qa as qa_module
from pipeline.digitizer import Digitizer
from pipeline.errors import DigitizerError, NoTraceFoundError
from pipeline.evaluate import score_record
from pipeline.grid import GridScale
from pipeline.qa import render_qa
from pipeline.synth import load_record, render_page, sample_spec
from pipeline.types import LEADS, DigitizationResult, DigitizeOptions
from tests.paths import ptbxl_record

RECORD = ptbxl_record("00009_hr")
needs_data = pytest.mark.skipif(not RECORD.with_suffix(".hea").exists(),
                                reason="PTB-XL sample records not available")


def render(**overrides: object):
    rng = np.random.default_rng(7)
    signals, fs = load_record(str(RECORD))
    spec = sample_spec(rng, "clean", **{"layout": "3x4+1", "dpi": 150.0, "grid": "red",
                                        "calibration": "start", "mm_per_mv": 10.0,
                                        "orientation": "landscape", **overrides})
    return render_page(signals, fs, spec, rng)


@pytest.fixture(scope="module")
def digitizer() -> Digitizer:
    return Digitizer(segmenter="classic")


@pytest.fixture(scope="module")
def page():
    return render()


def mean_score(truth: np.ndarray, est: np.ndarray) -> float:
    scores = score_record(truth, est, 500.0)
    return float(np.mean([s["score_db"] for s in scores.values()]))


@needs_data
def test_clean_page(digitizer: Digitizer, page) -> None:
    res = digitizer.digitize(page.image)
    assert isinstance(res, DigitizationResult)
    assert res.signals_uv.shape == (12, 5000) and res.signals_uv.dtype == np.float32
    assert res.layout == "3x4+1"
    assert res.px_per_mm == pytest.approx(page.px_per_mm, rel=0.005)
    assert (res.mm_per_mv, res.mm_per_s) == (10.0, 25.0)
    assert "mm_per_mv" not in res.assumed
    assert np.isfinite(res.signals_uv[LEADS.index("II")]).mean() > 0.9  # rhythm strip
    assert mean_score(page.truth_uv, res.signals_uv) > 10.0  # measured 13-14 dB
    assert res.quality.min() > 0.5
    assert set(res.timings_s) >= {"segment", "rectify", "grid", "extract"}
    assert digitizer.version.endswith("+classic")


@needs_data
def test_upside_down_page_is_turned(digitizer: Digitizer, page) -> None:
    res = digitizer.digitize(np.ascontiguousarray(page.image[::-1, ::-1]))
    assert abs(abs(res.rotation_deg) - 180.0) < 1.0
    assert res.layout == "3x4+1"
    assert mean_score(page.truth_uv, res.signals_uv) > 8.0


@needs_data
def test_gain_read_from_pulse(digitizer: Digitizer) -> None:
    page = render(mm_per_mv=5.0)
    res = digitizer.digitize(page.image)
    assert res.mm_per_mv == 5.0


@needs_data
@pytest.mark.parametrize("mm_per_mv", [5.0, 20.0])
def test_scales_read_from_pulses_at_the_rows_ends(digitizer: Digitizer, mm_per_mv: float) -> None:
    page = render(mm_per_mv=mm_per_mv, calibration="end")
    res = digitizer.digitize(page.image)
    assert (res.mm_per_mv, res.mm_per_s) == (mm_per_mv, 25.0)
    assert not {"mm_per_mv", "mm_per_s"} & set(res.assumed)


@needs_data
def test_a_serif_label_is_not_taken_for_a_pulse(digitizer: Digitizer) -> None:
    # Pulses at the rows' ends, and a serif "III" at the start of row 3 that looks like a
    # pulse (two strokes joined at the top); the end pulses of four rows outvote it.
    rng = np.random.default_rng(0)
    signals, fs = load_record(str(RECORD))
    spec = sample_spec(rng, "clean", layout="3x4+1", dpi=200.0, paper="letter",
                       orientation="landscape")
    assert (spec.calibration, spec.mm_per_mv) == ("end", 5.0)
    res = digitizer.digitize(render_page(signals, fs, spec, rng).image)
    assert (res.mm_per_mv, res.mm_per_s) == (5.0, 25.0)


@needs_data
def test_batch_isolates_bad_images(digitizer: Digitizer, page) -> None:
    blank = np.full((600, 800, 3), 255, np.uint8)
    rng = np.random.default_rng(0)
    photo = (rng.random((500, 700, 3)) * 255).astype(np.uint8)  # noise, not an ECG
    results = digitizer.digitize_batch([blank, page.image, photo, np.zeros((5, 5, 3), np.uint8)])
    assert isinstance(results[0], NoTraceFoundError)
    assert isinstance(results[1], DigitizationResult)
    assert isinstance(results[2], DigitizerError)
    assert isinstance(results[3], DigitizerError)
    one = digitizer.digitize(page.image)
    np.testing.assert_array_equal(one.signals_uv, results[1].signals_uv)


@needs_data
def test_a_bug_met_on_one_page_fails_that_page_only(digitizer: Digitizer, page,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Any exception out of one page's reading (here StopIteration, which a gridless page
    # once raised from the grid's period search) becomes that page's error; the batch
    # goes on.
    real = digitizer._digitize_one
    calls = []

    def first_fails(*args: object, **kwargs: object) -> DigitizationResult:
        calls.append(1)
        if len(calls) == 1:
            raise StopIteration
        return real(*args, **kwargs)

    monkeypatch.setattr(digitizer, "_digitize_one", first_fails)
    results = digitizer.digitize_batch([page.image, page.image])
    assert isinstance(results[0], DigitizerError)
    assert "internal error" in str(results[0]) and "StopIteration" in str(results[0])
    assert isinstance(results[1], DigitizationResult)


@needs_data
def test_rows_are_found_again_when_the_grid_was_read_at_its_5_mm_lines(
        digitizer: Digitizer, monkeypatch: pytest.MonkeyPatch) -> None:
    # A photo whose 1 mm lines are lost shows only 5 mm lines, read as 1 mm: the scale
    # 5x too coarse. The row length undoes that (`_check_grid_harmonic`), but rows were
    # first found at that scale, where the 6 rows of a 6x2 page, 30 mm apart, merge into 3.
    import pipeline.digitizer as digitizer_module

    real = digitizer_module.measure_grid

    def at_5_mm(grid_prob: np.ndarray) -> GridScale:
        g = real(grid_prob)
        return replace(g, px_per_mm=5 * g.px_per_mm, px_per_mm_x=5 * g.px_per_mm_x,
                       px_per_mm_y=5 * g.px_per_mm_y)

    six = render(layout="6x2", dpi=100.0)
    monkeypatch.setattr(digitizer_module, "measure_grid", at_5_mm)
    res = digitizer.digitize(six.image)
    assert res.layout == "6x2"
    assert mean_score(six.truth_uv, res.signals_uv) > 15.0


@needs_data
def test_worker_processes_give_the_same_results_in_order(digitizer: Digitizer, page) -> None:
    blank = np.full((600, 800, 3), 255, np.uint8)
    upside_down = np.ascontiguousarray(page.image[::-1, ::-1])
    batch = [blank, page.image, np.zeros((5, 5, 3), np.uint8), upside_down]
    alone = digitizer.digitize_batch(batch)
    shm = Path("/dev/shm")  # where Python's shared-memory blocks (psm_*) live on Linux
    blocks_before = set(shm.glob("psm_*"))
    with Digitizer(DigitizeOptions(batch_size=2, workers=2), segmenter="classic") as pooled:
        side_by_side = pooled.digitize_batch(batch)
        again = pooled.digitize_batch(batch[1:2])  # the pool outlives one batch
    assert [type(r) for r in side_by_side] == [type(r) for r in alone]
    assert isinstance(side_by_side[0], NoTraceFoundError)
    for k in (1, 3):
        assert isinstance(side_by_side[k], DigitizationResult)
        np.testing.assert_array_equal(side_by_side[k].signals_uv, alone[k].signals_uv)
    np.testing.assert_array_equal(again[0].signals_uv, alone[1].signals_uv)
    assert pooled._pool is None  # closed on leaving the block
    # The pages handed over in shared memory are all released.
    assert set(shm.glob("psm_*")) == blocks_before


@needs_data
def test_worker_processes_reuse_a_bounded_set_of_shared_blocks(digitizer: Digitizer,
                                                              page) -> None:
    """More pages than may be in flight: the feeder waits for readings to finish and hands
    later pages over in the blocks of pages already read; results stay in input order."""
    blank = np.full((600, 800, 3), 255, np.uint8)
    upside_down = np.ascontiguousarray(page.image[::-1, ::-1])
    batch = [page.image, blank, upside_down, page.image, blank, upside_down, page.image]
    alone = digitizer.digitize_batch(batch[:3])
    with Digitizer(DigitizeOptions(batch_size=1, workers=2), segmenter="classic") as pooled:
        results = pooled.digitize_batch(batch)
        in_flight_at_most = pooled.options.workers + pooled.options.batch_size
        assert 1 <= len(pooled._blocks._all) <= in_flight_at_most
    for k, result in enumerate(results):
        expected = alone[k % 3]
        assert type(result) is type(expected)
        if isinstance(expected, DigitizationResult):
            np.testing.assert_array_equal(result.signals_uv, expected.signals_uv)


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="workers"):
        Digitizer(DigitizeOptions(workers=0), segmenter="classic")


def chest_xray_like(h: int = 900, w: int = 800) -> np.ndarray:
    """(H, W, 3) uint8: a radiograph-like picture (bright body, dark lungs, rib arcs, spine)."""
    img = np.zeros((h, w), np.float32)
    cv2.ellipse(img, (w // 2, h // 2), (int(w * 0.45), int(h * 0.48)), 0, 0, 360, 0.75, -1)
    for side in (-1, 1):
        cv2.ellipse(img, (w // 2 + side * int(w * 0.2), int(h * 0.45)),
                    (int(w * 0.15), int(h * 0.3)), 0, 0, 360, 0.25, -1)
    for k in range(10):
        y = int(h * 0.2 + k * h * 0.055)
        cv2.ellipse(img, (w // 2, y), (int(w * 0.38), int(h * 0.08)), 0, 200, 340, 0.6, 10)
        cv2.ellipse(img, (w // 2, y), (int(w * 0.38), int(h * 0.08)), 0, -20, 160, 0.6, 10)
    cv2.rectangle(img, (w // 2 - w // 30, 0), (w // 2 + w // 30, h), 0.9, -1)
    img = cv2.GaussianBlur(img, (0, 0), w / 150)
    img += np.random.default_rng(0).normal(0, 0.02, img.shape).astype(np.float32)
    grey = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    return np.dstack([grey, grey, grey])


@pytest.mark.parametrize("negative", [False, True])
def test_chest_xray_like_picture_is_refused(digitizer: Digitizer, negative: bool) -> None:
    picture = chest_xray_like()
    with pytest.raises(DigitizerError) as refused:
        digitizer.digitize(np.ascontiguousarray(255 - picture) if negative else picture)
    assert refused.value.reason in {"no_ecg_trace_found", "no_ecg_grid_found",
                                    "layout_not_found"}


def test_blank_page_raises(digitizer: Digitizer) -> None:
    with pytest.raises(NoTraceFoundError, match="no ECG trace found"):
        digitizer.digitize(np.full((600, 800, 3), 255, np.uint8))


def test_bad_array(digitizer: Digitizer) -> None:
    with pytest.raises(DigitizerError, match=r"\(H, W, 3\)"):
        digitizer.digitize(np.zeros((100, 100), np.uint8))


@needs_data
def test_qa_picture(digitizer: Digitizer, page) -> None:
    res = digitizer.digitize(page.image)
    qa = render_qa(page.image, res)
    assert qa.dtype == np.uint8 and qa.ndim == 3 and qa.shape[2] == 3
    assert max(qa.shape[:2]) <= 2024
    # the overlay is drawn in colour over a faded page
    assert (np.abs(qa[..., 0].astype(int) - qa[..., 2].astype(int)) > 100).sum() > 1000


@needs_data
def test_qa_picture_shows_an_unread_stretch_as_a_break(digitizer: Digitizer, page,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    res = digitizer.digitize(page.image)
    drawn: list[int] = []  # stretches drawn per panel, in the order of res.geometry.panels
    real = qa_module.cv2.polylines

    def spy(img, pts, *args, **kwargs):  # type: ignore[no-untyped-def]
        drawn.append(len(pts))
        return real(img, pts, *args, **kwargs)

    monkeypatch.setattr(qa_module.cv2, "polylines", spy)
    render_qa(page.image, res)
    panel = [p.lead for p in res.geometry.panels].index("I")
    before = drawn[panel]
    finite = np.flatnonzero(np.isfinite(res.signals_uv[0]))
    middle = finite[finite.size // 2]
    res.signals_uv[0, middle - 100:middle + 100] = np.nan  # 0.4 s of lead I not read
    drawn.clear()
    render_qa(page.image, res)
    assert drawn[panel] == before + 1


@needs_data
def test_untrained_network_falls_back_to_classic(page, tmp_path: Path) -> None:
    import torch

    from pipeline.segment.infer import Segmenter
    from pipeline.segment.model import UNet, UNetConfig
    from pipeline.segment.weights import save_weights

    torch.manual_seed(0)
    weights = tmp_path / "untrained.pt"
    sha = save_weights(UNet(UNetConfig(widths=(4, 8))), weights, "untrained", 512)
    dz = Digitizer(segmenter=Segmenter(weights, device="cpu"))
    assert dz.version.endswith(f"+seg-{sha[:12]}")
    res = dz.digitize(page.image)
    assert "segmentation_classic_fallback" in res.assumed
    assert res.layout == "3x4+1"


def test_a_picture_the_network_sees_no_trace_in_and_without_a_grid_is_refused() -> None:
    # A smooth colour picture: its dark corner's noise passes the colour rule as ink, and
    # rows of it were once read as a 3x4+2 page.
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:300, 0:400]
    base = np.stack([x / 400, y / 300, (x + y) / 700], axis=-1) * 200 + 20
    picture = np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)
    with pytest.raises(NoTraceFoundError, match="network sees no trace"):
        Digitizer(DigitizeOptions(device="cpu")).digitize(picture)


@pytest.mark.parametrize(("read_ppm", "expected"), [(7.87, 7.87), (23.61, 7.87),
                                                    (3.935, 7.87), (2.62, 7.86),
                                                    (7.87 * 5, 7.87)])
def test_grid_period_harmonics_are_undone_by_the_row_length(read_ppm: float,
                                                             expected: float) -> None:
    from pipeline.digitizer import _check_grid_harmonic
    from pipeline.grid import GridScale
    from pipeline.layout import TraceRow

    row = TraceRow(y_px=500.0, x0_px=100, x1_px=100 + 1968, top_px=400, bottom_px=600)
    grid = GridScale(px_per_mm=read_ppm, px_per_mm_x=read_ppm, px_per_mm_y=read_ppm,
                     strength=0.5, minor_visible=True)
    checked = _check_grid_harmonic(grid, [row])
    assert checked is not None and checked.px_per_mm == pytest.approx(expected, rel=0.01)


def test_a_period_across_the_rows_only_that_leaves_them_no_ecgs_length_is_no_grid() -> None:
    from pipeline.digitizer import _check_grid_harmonic
    from pipeline.grid import GridScale
    from pipeline.layout import TraceRow

    # Rows 1,648 px long under a period of 56.6 px found across them only (no vertical
    # lines): 29 mm, which no whole factor makes an ECG's row.
    row = TraceRow(y_px=500.0, x0_px=383, x1_px=2031, top_px=400, bottom_px=600)
    across = GridScale(px_per_mm=56.6, px_per_mm_x=float("nan"), px_per_mm_y=56.6,
                       strength=0.19, minor_visible=True)
    assert _check_grid_harmonic(across, [row]) is None
    # Lines both ways: a grid, kept as read (a picture of part of a page).
    both = replace(across, px_per_mm_x=56.6)
    assert _check_grid_harmonic(both, [row]) == both


@pytest.mark.parametrize(("odd_deficit", "expected"), [
    (0.0, 3.935), (-0.02, 3.935),  # lines at every period: the rows are that long
    (0.14, 7.87), (0.40, 7.87),  # harmonics: ecg_plot's faint grid on short lags, a render
])
def test_rows_twice_the_usual_length_are_believed_where_the_grid_repeats_at_its_period(
        odd_deficit: float, expected: float) -> None:
    from pipeline.digitizer import _check_grid_harmonic
    from pipeline.grid import GridScale
    from pipeline.layout import TraceRow

    # 1968 px at 3.935 px/mm: 500 mm, two columns of 10 s side by side at 25 mm/s.
    row = TraceRow(y_px=500.0, x0_px=100, x1_px=100 + 1968, top_px=400, bottom_px=600)
    grid = GridScale(px_per_mm=3.935, px_per_mm_x=3.935, px_per_mm_y=3.935, strength=0.5,
                     minor_visible=True, odd_deficit=odd_deficit)
    checked = _check_grid_harmonic(grid, [row])
    assert checked is not None and checked.px_per_mm == pytest.approx(expected, rel=0.01)
    assert checked.odd_deficit == odd_deficit


def test_faint_lines_are_read_at_a_lower_threshold() -> None:
    from pipeline.layout import TraceRow
    from pipeline.line_maps import line_mask

    trace = np.zeros((200, 400), np.float32)
    trace[50:52, 20:380] = 0.9  # a solid line
    trace[150:152, 20:380] = 0.35  # a faint thin line, under 0.5 all along
    rows = [TraceRow(y_px=51.0, x0_px=20, x1_px=379, top_px=0, bottom_px=100),
            TraceRow(y_px=151.0, x0_px=20, x1_px=379, top_px=100, bottom_px=200)]
    mask = line_mask(trace, rows)
    assert mask[150, 20:380].all() and mask[50, 20:380].all()
    assert not line_mask(trace, rows[:1])[150].any()  # solid rows alone: 0.5 is kept


@needs_data
def test_bars_between_a_rows_leads_are_not_read_as_signal(digitizer: Digitizer, page) -> None:
    """ECG-Image-Kit marks each seam between a row's leads with a bar 0.8 mm wide across
    the baseline: the leads on either side are read up to it, not into it (measured: 19.5
    dB with the bars, 18.9 without them; 17.3 when the bars were read as the line)."""
    image = page.image.copy()
    half_w, half_h = 0.4 * page.px_per_mm, 3.0 * page.px_per_mm
    for p in page.panels:
        if p.col > 0:
            cv2.rectangle(image, (round(p.x0_px - half_w), round(p.baseline_y_px - half_h)),
                          (round(p.x0_px + half_w) - 1, round(p.baseline_y_px + half_h)),
                          (20, 20, 20), -1)
    plain = mean_score(page.truth_uv, digitizer.digitize(page.image).signals_uv)
    barred = digitizer.digitize(image).signals_uv
    assert mean_score(page.truth_uv, barred) > plain - 0.5
    shifts = [s["shift_samples"] for s in score_record(page.truth_uv, barred, 500.0).values()]
    assert max(abs(s) for s in shifts) <= 2


def test_rows_running_to_the_pictures_edge_are_not_whole() -> None:
    from types import SimpleNamespace

    from pipeline.layout import TraceRow
    from pipeline.rectify import Rectification
    from pipeline.row_extents import whole_row_lengths

    # A 2200 x 1600 px scan turned 2 degrees about its top-left corner onto the page; rows
    # at 8 px/mm. The first row's ends lie 100 and 40 px inside the picture; the second
    # runs to its right edge (a crop cut it); the third starts 5 px from its left edge.
    a = np.deg2rad(2.0)
    turn = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0, 0, 1]])
    ys = (300.0, 700.0, 1100.0)
    rows = [TraceRow(y_px=y, x0_px=0, x1_px=0, top_px=y - 100, bottom_px=y + 100) for y in ys]

    def page_x(x_picture: float, y_page: float) -> float:
        """x on the page of the picture's column x_picture where it crosses page row y_page."""
        y_picture = (y_page - np.sin(a) * x_picture) / np.cos(a)
        return float((turn @ np.array([x_picture, y_picture, 1.0]))[0])

    page = SimpleNamespace(ppm_guess=8.0, grid=None, rows=rows,
                           rect=Rectification(2.0, turn, (1600, 2200)))
    starts = [page_x(x, y) for x, y in zip((100.0, 100.0, 5.0), ys)]
    ends = [page_x(x, y) for x, y in zip((2159.0, 2198.0, 2100.0), ys)]
    lengths = whole_row_lengths(page, starts, ends, (1600, 2200))  # type: ignore[arg-type]
    assert lengths == [pytest.approx(ends[0] - starts[0])]
