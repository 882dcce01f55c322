"""pipeline.classic_segment: class maps from colour and darkness."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.classic_segment import (
    LINE_GAP,
    _bins,
    _cornered_pieces,
    _long_runs,
    _quantiles_by_group,
    classic_segment,
    colour_rule,
    faint_trace,
    paper_darkness,
    paper_normalised,
)


def test_red_grid_black_trace() -> None:
    img = np.full((300, 400, 3), 255, np.uint8)
    for x in range(0, 400, 8):
        img[:, x] = (240, 150, 150)
    for y in range(0, 300, 8):
        img[y, :] = (240, 150, 150)
    pts = np.stack([np.arange(10, 390), 150 + 30 * np.sin(np.arange(10, 390) / 15)], 1)
    cv2.polylines(img, [pts.astype(np.int32)], False, (0, 0, 0), 2)
    m = classic_segment(img)
    assert m.probs.shape == (4, 300, 400) and m.scale == 1.0
    assert m.probs[3, int(150 + 30 * np.sin(200 / 15)), 200] > 0.9  # trace
    assert m.probs[1, 40, 8] > 0.9 and m.probs[3, 40, 8] < 0.1  # grid
    assert m.probs[0, 44, 44] > 0.9  # paper
    np.testing.assert_allclose(m.probs.sum(axis=0), 1.0, atol=1e-5)


def test_black_grid_lines_are_not_trace() -> None:
    img = np.full((300, 400, 3), 255, np.uint8)
    for x in range(0, 400, 40):
        img[:, x] = 0
    pts = np.stack([np.arange(400), 150 + 40 * np.sin(np.arange(400) / 20)], 1)
    cv2.polylines(img, [pts.astype(np.int32)], False, (0, 0, 0), 2)
    m = classic_segment(img)
    assert m.probs[3, 10, 40] < 0.5  # grid line far from the trace
    assert m.probs[1, 10, 40] > 0.5


def test_heavy_lines_of_a_two_weight_grid_go_to_the_grid_measured_line_by_line() -> None:
    # Light grey lines every 8 px and dark ones every 80 px (a black-and-white grid of two
    # weights) under a black trace. Measured all together, the lines are light, and the
    # dark lines, darker than midway to the trace, stay trace; measured line by line they
    # go to the grid, and the trace where it crosses them stays trace.
    img = np.full((400, 640, 3), 255, np.uint8)
    img[::8, :] = 140
    img[:, ::8] = 140
    img[::80, :] = 40
    img[:, ::80] = 40
    x = np.arange(20, 620)
    pts = np.stack([x, 200 + 60 * np.sin(x / 25)], 1).round().astype(np.int32)
    cv2.polylines(img, [pts], False, (0, 0, 0), 2)
    together, by_line = colour_rule(img), colour_rule(img, per_line=True)
    assert together.trace[80, 40] > 0.5 and together.trace[370, 160] > 0.5
    assert by_line.trace[80, 40] < 0.5 and by_line.trace[370, 160] < 0.5
    assert by_line.grid[80, 40] > 0.5
    crossings = [(y, xx) for xx, y in pts if xx % 80 == 0]
    assert crossings and all(by_line.trace[y - 1:y + 2, xx].max() > 0.5 for y, xx in crossings)


def test_pulse_strokes_along_a_heavy_line_in_every_row_stay_trace_by_line() -> None:
    # A grid of two weights (grey 180, 1 px; grey 100, 3 px); four rows' calibration
    # pulses, 3 px strokes in near-black grey under a page whose darkest ink is black (a
    # frame, bold text), rise and fall on the same two heavy lines (ECG-Image-Kit's
    # pages): their strokes are a sixth of those lines' length. Each line's darkness is
    # its own, not its strokes'.
    img = np.full((400, 640, 3), 255, np.uint8)
    img[::8, :] = 180
    img[:, ::8] = 180
    for x in range(0, 640, 80):
        img[:, max(0, x - 1):x + 2] = 100
    img[::80, :] = 100
    img[2:40, 570:630] = 0  # a black block of text
    for base in (75, 175, 275, 375):
        img[base - 1:base + 2, 60:81] = 26
        img[base - 17:base + 2, 79:82] = 26
        img[base - 17:base - 14, 79:162] = 26
        img[base - 17:base + 2, 159:162] = 26
        img[base - 1:base + 2, 159:240] = 26
    by_line = colour_rule(img, per_line=True)
    for base in (75, 175, 275, 375):
        rows = [y for y in range(base - 12, base - 3) if y % 80]  # not on heavy crossings
        for x in (80, 160):
            assert by_line.trace[rows, x].min() > 0.5
    assert by_line.trace[380:398, 80].max() < 0.5  # the line below the last pulse: grid


def test_a_scanned_heavy_line_uneven_along_its_length_stays_grid_by_line() -> None:
    # The heavy lines of a faint scan vary in darkness along their length, their darkest
    # tenth as dark as its traces: on such a page (not drawn) no line is lowered as one
    # with traces standing on it.
    rng = np.random.default_rng(3)
    img = np.full((400, 640, 3), 255, np.uint8)
    img[::8, :] = 200
    img[:, ::8] = 200
    for x in range(0, 640, 80):
        img[:, x] = rng.integers(60, 160, 400)[:, None]
    img[2:40, 570:630] = 40  # the page's darkest ink: text
    x = np.arange(20, 560)
    pts = np.stack([x, 200 + 40 * np.sin(x / 25)], 1).round().astype(np.int32)
    cv2.polylines(img, [pts], False, (40, 40, 40), 2)
    by_line = colour_rule(img, per_line=True)
    assert by_line.trace[20:180, 160].max() < 0.5


@pytest.mark.parametrize(("heavy", "ink"), [(120, 20), (77, 26)])
def test_a_light_lines_pixels_beside_a_trace_go_to_the_grid_by_line(heavy: int, ink: int
                                                                     ) -> None:
    # A drawn page's grey lines (heavy ones at about half the trace's darkness, or 0.78 of
    # it: ECG-Image-Kit's green grid, 0.70 under traces of 0.89) and a black trace that
    # runs along a heavy line, touching it. Where the trace touches the line, the line's
    # own pixels beside it are still line: judged by that line's darkness, they are
    # lighter than midway to the trace. Kept as trace, they thickened the line's mask
    # towards the grid line (ECG-Image-Kit's grey pages read 3 dB under its red ones).
    img = np.full((400, 640, 3), 255, np.uint8)
    img[::8, :] = 210
    img[:, ::8] = 210
    for k in range(40, 640, 40):  # heavy lines, antialiased as a renderer draws them
        img[:, k - 1:k + 2] = np.minimum(img[:, k - 1:k + 2], 180)
        if k < 400:
            img[k - 1:k + 2] = np.minimum(img[k - 1:k + 2], 180)
    img[::40, :] = heavy
    img[:, ::40] = heavy
    x = np.arange(200, 440)
    pts = np.stack([x, 203 + 3 * np.sin(x / 6)], 1).round().astype(np.int32)
    cv2.polylines(img, [pts], False, (ink, ink, ink), 2)
    ink = np.zeros(img.shape[:2], np.uint8)
    cv2.polylines(ink, [pts], False, 1, 2)
    beside = (cv2.dilate(ink, np.ones((5, 5), np.uint8)) > 0) & (ink == 0)
    beside[:200] = False
    beside[201:] = False  # the heavy line's row only
    by_line = colour_rule(img, per_line=True)
    assert beside.sum() > 50
    assert (by_line.trace[beside] > 0.5).sum() == 0
    assert (by_line.trace[ink > 0] > 0.5).mean() > 0.99


def test_quantiles_by_group_are_each_groups_own_to_a_bin() -> None:
    rng = np.random.default_rng(5)
    group = rng.integers(0, 6, 3000)
    values = rng.uniform(0, 1, 3000) ** (1 + group)  # each group its own distribution
    group[group == 4] = 5  # an empty group
    got = _quantiles_by_group(group, _bins(values), 6, (0.9, 0.5, 0.25))
    assert got.shape == (3, 6)
    assert np.all(got[:, 4] == 0.0)
    for g in (0, 1, 2, 3, 5):
        own = values[group == g]
        for row, q in zip(got, (0.9, 0.5, 0.25), strict=True):
            assert abs(row[g] - np.quantile(own, q)) <= 1.5 / 256


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="uint8"):
        classic_segment(np.zeros((10, 10), np.float32))


def test_black_spike_along_a_grey_grid_line_stays_trace() -> None:
    img = np.full((300, 400, 3), 255, np.uint8)
    for x in range(0, 400, 40):
        img[:, x:x + 2] = 120  # grey major lines, as dark as a trace threshold
    pts = np.stack([np.arange(400), 150 + 10 * np.sin(np.arange(400) / 12)], 1)
    cv2.polylines(img, [pts.astype(np.int32)], False, (0, 0, 0), 2)  # a black trace ...
    img[90:150, 200:202] = 0  # ... with a spike running exactly along the line at x=200
    m = classic_segment(img)
    assert m.probs[3, 100, 200] > 0.5  # the spike is trace
    assert m.probs[3, 10, 200] < 0.5 and m.probs[1, 10, 200] > 0.5  # the line above it is grid


def test_strokes_stacked_across_rows_stay_trace() -> None:
    # 12x1 pages: the QRS strokes of neighbouring rows fall in the same columns and join
    # into one straight vertical run of a third of the page; grid lines span the page.
    img = np.full((600, 800, 3), 255, np.uint8)
    cv2.line(img, (400, 200), (400, 400), (0, 0, 0), 2)
    cv2.line(img, (100, 0), (100, 599), (0, 0, 0), 1)  # a black grid line
    maps = classic_segment(img)
    assert maps.probs[3][220:380, 400].min() > 0.5
    assert maps.probs[3][:, 100].max() < 0.5


@pytest.mark.parametrize("axis", [0, 1])
def test_long_runs_equal_opencv_opening(axis: int) -> None:
    # Only rows (columns) with enough ink are opened; the result must be the full opening's,
    # runs touching the image edge included (OpenCV's erosion counts the edge as ink).
    rng = np.random.default_rng(axis)
    for _ in range(100):
        h, w = (int(n) for n in rng.integers(5, 90, 2))
        ink = (rng.random((h, w)) < rng.random()).astype(np.uint8)
        length = int(rng.integers(3, max(4, h if axis == 0 else w)))
        kernel = np.ones((length, 1) if axis == 0 else (1, length), np.uint8)
        expected = cv2.morphologyEx(ink, cv2.MORPH_OPEN, kernel)
        np.testing.assert_array_equal(_long_runs(ink, length, axis), expected)


def test_cornered_pieces_equal_labelling_the_whole_page() -> None:
    # The pieces are labelled on a strip of the columns holding ink; the result must be
    # that of labelling the page and checking each short piece's ends one by one.
    rng = np.random.default_rng(3)
    for _ in range(300):
        h, w = (int(n) for n in rng.integers(3, 60, 2))
        vert = (rng.random((h, w)) < 0.6 * rng.random()).astype(np.uint8)
        vert[:, rng.random(w) < rng.random()] = 0  # columns without ink
        touch_h = rng.random((h, w)) < rng.random()
        length = int(rng.integers(1, h + 2))
        _, labels, stats, _ = cv2.connectedComponentsWithStats(vert, connectivity=8)
        expected = np.zeros((h, w), bool)
        for k in range(1, len(stats)):
            x, y, wk, hk = (int(v) for v in stats[k, :4])
            if (hk < length and touch_h[max(0, y - 2):y + 3, x:x + wk].any()
                    and touch_h[y + hk - 3:y + hk + 2, x:x + wk].any()):
                expected |= labels == k
        np.testing.assert_array_equal(_cornered_pieces(vert, touch_h, length), expected)


def test_colour_rule_maps_are_classic_segments_classes() -> None:
    img = np.full((120, 200, 3), 255, np.uint8)
    img[:, ::10] = (240, 150, 150)
    cv2.line(img, (0, 60), (199, 70), (0, 0, 0), 2)
    maps, seg = colour_rule(img), classic_segment(img)
    np.testing.assert_array_equal(seg.probs[3], maps.trace)
    np.testing.assert_array_equal(seg.probs[1], maps.grid)
    np.testing.assert_array_equal(seg.probs[2], 0.0)
    np.testing.assert_array_equal(seg.probs[0], np.clip(1 - maps.trace - maps.grid, 0, 1))
    np.testing.assert_array_equal(maps.dark_v, paper_normalised(img)[0])


def test_paper_darkness_is_paper_normalised_dark_value() -> None:
    """Darkness of the brightest channel relative to the local paper, alone; 0 on paper,
    near 1 on black ink, under a shadow too."""
    rng = np.random.default_rng(2)
    img = np.full((240, 320, 3), 235, np.uint8)
    img[:, 160:] = 150  # a shadow over the right half
    img[100:103, 20:300] = 0
    img = np.clip(img.astype(np.int16) + rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)
    dark = paper_darkness(img)
    assert dark.dtype == np.float32 and dark.shape == (240, 320)
    assert np.array_equal(dark, paper_normalised(img)[0])
    assert dark[101, 50] > 0.9 and dark[101, 250] > 0.9
    assert abs(float(np.median(dark[20:60, 200:300]))) < 0.05
    with pytest.raises(ValueError):
        paper_darkness(img[:, :, 0])


def test_a_faded_grid_line_is_grid_across_its_breaks() -> None:
    # A black grid line faded in two places (glare): each piece is under half the page
    # high, together it spans the page. The breaks are bridged; a trace's stroke is not
    # joined to it.
    img = np.full((600, 800, 3), 255, np.uint8)
    gap = int(0.8 * LINE_GAP * 800)
    img[:, 100] = 0
    img[200:200 + gap, 100] = 255
    img[400:400 + gap, 100] = 255
    cv2.line(img, (400, 250), (400, 350), (0, 0, 0), 2)  # a QRS stroke
    maps = classic_segment(img)
    assert maps.probs[3][:, 100].max() < 0.5
    assert maps.probs[3][260:340, 400].min() > 0.5


def test_calibration_pulses_stacked_in_one_column_are_not_a_grid_line() -> None:
    # A 12x1 page's pulses stand in one column, a few px apart: their vertical strokes
    # join across the bridged breaks into "lines" spanning the page, but each piece is a
    # stroke from corner to corner (top stroke, foot), so it stays trace.
    img = np.full((600, 800, 3), 255, np.uint8)
    gap = int(0.8 * LINE_GAP * 800)
    pitch = 50
    for top in range(20, 560, pitch):
        foot = top + pitch - gap
        cv2.line(img, (80, foot), (100, foot), (0, 0, 0), 1)
        cv2.line(img, (100, foot), (100, top), (0, 0, 0), 1)
        cv2.line(img, (100, top), (140, top), (0, 0, 0), 1)
        cv2.line(img, (140, top), (140, foot), (0, 0, 0), 1)
        cv2.line(img, (140, foot), (160, foot), (0, 0, 0), 1)
    maps = classic_segment(img)
    assert maps.probs[3][30:60, 100].min() > 0.5
    assert maps.probs[3][30:60, 140].min() > 0.5


def test_faint_trace_keeps_a_thin_grey_trace_under_a_dark_page() -> None:
    # Bold black text sets the page's threshold (half its darkness) above a thin grey
    # trace's: it breaks into pieces. Its own ridge darkness, read under the gate, keeps it
    # whole; a page whose traces are its darkest ink is left alone (None).
    img = np.full((400, 1200, 3), 255, np.uint8)
    img[20:80, 100:400] = 0  # bold text
    x = np.arange(50, 1150)
    pts = np.stack([x, 250 + 20 * np.sin(x / 30)], 1).round().astype(np.int32)
    cv2.polylines(img, [pts], False, (175, 175, 175), 1)
    gate = np.zeros((400, 1200), np.uint8)
    gate[200:300, 40:1160] = 1
    maps = colour_rule(img)
    faint = faint_trace(maps, gate)
    assert faint is not None

    def on_line(trace: np.ndarray) -> float:
        """Share of the trace's columns holding trace (> 0.5) at the line."""
        return float(np.mean([trace[max(0, y - 1):y + 2, x].max() > 0.5
                              for x, y in pts[10:-10]]))

    assert on_line(maps.trace) < 0.5
    assert on_line(faint) > 0.95
    img[:] = 255
    cv2.polylines(img, [pts], False, (0, 0, 0), 1)  # the traces are the page's darkest ink
    assert faint_trace(colour_rule(img), gate) is None


def test_strip_by_strip_steps_give_the_whole_maps_numbers() -> None:
    # The sigmoid's steps run on row strips that stay in cache: every value must be what
    # the same steps give on the whole map (a height that is no whole number of strips).
    from pipeline.classic_segment import _sigmoid_scaled
    from pipeline.strips import row_strips

    rng = np.random.default_rng(3)
    x = rng.random((301, 1237)).astype(np.float32)
    strips = row_strips(x.shape)
    assert len(strips) > 2 and strips[-1].stop == 301
    whole = np.subtract(x, 0.3)
    whole /= 0.05
    np.clip(whole, -30, 30, out=whole)
    whole = np.divide(1.0, np.add(cv2.exp(np.negative(whole)), 1.0))
    got = _sigmoid_scaled(x, 0.3, 0.05)
    assert got.dtype == np.float32 and np.array_equal(got, whole)


def test_darkness_past_the_whole_blocks_is_the_replicated_borders() -> None:
    # The level map covers whole blocks only (here 3 x 3 px: 301 % 3 rows and 1237 % 3
    # columns are left over); the rest must read as a replicated border would give it.
    from pipeline.classic_segment import _UNIT, PAPER_FLOOR, _paper_level, channel_darkness

    rng = np.random.default_rng(4)
    channel = rng.integers(0, 256, (301, 1237), dtype=np.uint8)
    value = cv2.LUT(channel, _UNIT)
    level = _paper_level(value)
    assert level.shape == (300, 1236)
    level = cv2.copyMakeBorder(level, 0, 1, 0, 1, cv2.BORDER_REPLICATE)
    expected = np.subtract(1.0, value / np.maximum(level, PAPER_FLOOR))
    assert np.array_equal(channel_darkness(channel), expected)


def test_column_max_within_equals_the_masked_page_reduce() -> None:
    # The strip-wise column maximum must give what one masked copy of the page gives:
    # the largest value inside the mask, 0 where that is negative or the column has none.
    from pipeline.classic_segment import _column_max_within

    rng = np.random.default_rng(7)
    values = rng.uniform(-0.5, 1.0, (1013, 377)).astype(np.float32)
    inside = rng.random((1013, 377)) < 0.01
    inside[:, :20] = False  # columns without mask
    expected = np.where(inside, values, 0.0).max(axis=0)
    got = _column_max_within(values, inside)
    assert got.dtype == np.float32 and np.array_equal(got, expected)
    assert np.all(got[:20] == 0.0)


def _drawn_grid(minor: int, major: int, shape: tuple[int, int] = (400, 640)) -> np.ndarray:
    """A drawn page (H, W, 3) uint8: grey `minor` lines every 8 px, `major` every 40 px,
    1 px wide and opaque (a crossing is as dark as the line drawn last)."""
    img = np.full((*shape, 3), 255, np.uint8)
    img[::8, :] = minor
    img[:, ::8] = minor
    img[::40, :] = major
    img[:, ::40] = major
    return img


def test_a_bar_across_a_drawn_grids_crossings_stays_trace_by_line() -> None:
    # A bar in the trace's ink (grey 26) over lines of grey 115 (about 0.55 of the
    # trace's darkness): where two lines cross under it, the bar is no darker than
    # elsewhere. Taken as ink on ink, the crossing was 0.80 dark, midway from it to the
    # page's darkest ink over the bar's: holes in the bar every line (ECG-Image-Kit's seam
    # bars on its random grid colours were not found).
    img = _drawn_grid(115, 115)
    x = np.arange(20, 620)
    pts = np.stack([x, 200 + 30 * np.sin(x / 25)], 1).round().astype(np.int32)
    cv2.polylines(img, [pts], False, (26, 26, 26), 2)
    img[185:215, 317:323] = 26  # the bar, over the vertical line at x 320
    img[5:30, 500:560] = 0  # black text: the page's darkest ink
    by_line = colour_rule(img, per_line=True)
    assert by_line.trace[185:215, 318:322].min() > 0.5
    assert by_line.trace[100:170, 320].max() < 0.5  # the line itself above the bar


def _draw_flat_then_wavy_trace(img: np.ndarray) -> None:
    """Draws on (400, 640, 3) `img` a trace of grey 26, 2 px, flat on row 200 (a grid
    line's) from x 20 to 220, then a sine of 30 px to x 620."""
    x = np.arange(20, 620)
    y = np.where(x < 220, 200, 200 + 30 * np.sin((x - 220) / 25))
    pts = np.stack([x, y], 1).round().astype(np.int32)
    cv2.polylines(img, [pts], False, (26, 26, 26), 2)


def test_a_trace_along_a_grid_line_nearly_as_dark_stays_trace_by_line() -> None:
    # Grid lines 0.80 dark (grey 51) and 0.84 (grey 41) under a trace of grey 26 (0.90),
    # inside a black line round the picture (a plot's frame: 1.0). The trace runs flat
    # along a grid line for a third of the page, as ECG-Image-Kit's rows start and end
    # on one. The lines are told from the trace line by line, the level taken inside the
    # picture's edge; the line under the flat stretch, as dark as the trace over a tenth
    # of its length, is judged by its own quartile.
    img = _drawn_grid(51, 41)
    img[0, :] = img[-1, :] = 0
    img[:, 0] = img[:, -1] = 0
    _draw_flat_then_wavy_trace(img)
    by_line = colour_rule(img, per_line=True)
    assert (by_line.trace[200, 30:210] > 0.5).mean() > 0.95
    assert by_line.trace[100:190, 100].max() < 0.5  # a vertical line away from the trace
    assert by_line.trace[208, 30:210].max() < 0.5  # the next horizontal line


def test_a_trace_along_a_lighter_grid_line_stays_trace_by_line() -> None:
    # A trace (grey 26: 0.90) runs flat along a grid line (grey 115: 0.55) for a third of
    # the page, under text a little darker (grey 15: the page's darkest ink, 0.94). The
    # line, as dark as the trace over a tenth of its length, is judged by its own lower
    # quartile, as the vertical lines are: the trace is darker than midway from it.
    img = _drawn_grid(115, 115)
    img[20:50, 440:480] = 15
    _draw_flat_then_wavy_trace(img)
    by_line = colour_rule(img, per_line=True)
    assert (by_line.trace[200, 30:210] > 0.5).mean() > 0.95
    assert by_line.trace[208, 30:210].max() < 0.5  # the next line


def test_faint_noisy_lines_of_a_resampled_page_go_to_the_grid() -> None:
    # A turned page's grid: light lines (grey 175-185 on paper 250, about 0.3 dark) with
    # scanner noise, many pixels under the usual line ink threshold. Found whole as lines
    # at a lower one, their pixels leave the trace map; the trace stays.
    rng = np.random.default_rng(7)
    img = np.full((400, 640, 3), 250.0)
    img[::8, :] = 185
    img[:, ::8] = 185
    img[::40, :] = 175
    img[:, ::40] = 175
    x = np.arange(20, 620)
    pts = np.stack([x, 203 + 40 * np.sin(x / 30)], 1).round().astype(np.int32)
    cv2.polylines(img, [pts], False, (30, 30, 30), 2)
    noisy = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
    maps = colour_rule(noisy, resampled=True)
    assert (maps.trace[120, 100:600] > 0.15).mean() < 0.05  # a 5 mm line, clear of the trace
    ink = np.zeros((400, 640), np.uint8)
    cv2.polylines(ink, [pts], False, 1, 2)
    assert (maps.trace[ink > 0] > 0.5).mean() > 0.99
