"""pipeline.extract: reading one row's line at full resolution."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.extract import (
    RowRuns,
    choose_row_runs,
    choose_runs,
    choose_runs_skipping,
    column_runs,
    extract_row,
    fit_line,
    line_fit_schedule,
    uncrossed_runs,
    window_consistent,
)
from pipeline.synth.raster import stroke_patch


def draw(y: np.ndarray, h: int, thickness: float) -> np.ndarray:
    """(h, len(y)) bool mask of the polyline through (x, y[x]) drawn with a square pen
    (the renderer's rasteriser, `pipeline.synth.raster.stroke_patch`)."""
    patch = stroke_patch(np.arange(y.size, dtype=np.float64), y.astype(np.float64), thickness)
    cov = np.zeros((h, y.size), np.float32)
    img_sl, patch_sl = patch.slices(cov.shape)
    cov[img_sl] = patch.coverage[patch_sl]
    return cov >= 0.5


def read(mask: np.ndarray, base: float):
    h, w = mask.shape
    return extract_row(mask, mask.astype(np.float32), top_px=0, bottom_px=h, x0_px=0,
                       x1_px=w - 1, baseline_px=base)


def test_smooth_line_is_read_within_a_pixel() -> None:
    x = np.arange(600)
    y = 100 + 30 * np.sin(x / 40.0)
    tr = read(draw(y, 200, 3), 100)
    err = np.abs(tr.at(x) - y)[5:-5]
    assert np.nanmax(err) < 1.0
    flat = draw(np.full(50, 20.0), 40, 3)[:, 25].sum()
    assert tr.line_width_px == pytest.approx(flat, abs=1.0)
    assert flat == 3


def test_thick_line_keeps_spike_apex() -> None:
    x = np.arange(300)
    y = 150.0 - 90.0 * np.exp(-(((x - 150) / 2.0) ** 2))  # a narrow R wave, 90 px tall
    tr = read(draw(y, 260, 3.0), 150)
    apex = float(np.nanmin(tr.y_px))
    assert apex == pytest.approx(60.0, abs=2.0)
    # a plain column centroid of the ink would sit far below the apex
    mask = draw(y, 260, 3.0)
    centroid = np.nonzero(mask[:, 150])[0].mean()
    assert centroid - 60.0 > 10.0


def test_neighbour_crossing_does_not_capture_the_row() -> None:
    own = np.full(400, 100.0)
    other = np.full(400, 190.0)
    other[200:206] = [150, 110, 90, 110, 150, 190]  # neighbour's tall wave crosses our line
    mask = draw(own, 260, 2) | draw(other, 260, 2)
    tr = read(mask, 100)
    away = np.r_[20:195, 212:380]
    cols = tr.at(np.arange(400))
    assert np.nanmax(np.abs(cols[away] - 100.0)) < 1.0  # the row never jumps to its neighbour
    # where the other line crosses, at most a column or two are misread (known limit)
    assert int(np.sum(np.abs(cols[195:212] - 100.0) > 3.0)) <= 2


def test_gaps_stay_nan() -> None:
    y = np.full(300, 50.0)
    mask = draw(y, 100, 2)
    mask[:, 100:140] = False
    tr = read(mask, 50)
    cols = tr.at(np.arange(300))
    assert np.isnan(cols[110:130]).all()
    assert np.isfinite(cols[20:90]).all()


def test_text_seen_through_a_break_is_not_read() -> None:
    y = np.full(300, 60.0)
    mask = draw(y, 260, 2)
    mask[:, 148:153] = False  # a break in our line (faint ink, a removed grid line)
    mask[200:212, 146:156] = True  # a glyph of the footer text, far below the line
    tr = read(mask, 60)
    cols = tr.at(np.arange(300))
    assert np.nanmax(np.abs(cols - 60.0)) < 1.0  # never reads the glyph
    assert np.isfinite(cols[2:146]).all() and np.isfinite(cols[156:-2]).all()


def test_drop_islands_keeps_a_connected_spike() -> None:
    from pipeline.extract import choose_runs, column_runs, drop_islands

    y = np.full(200, 150.0)
    y[100:103] = [100.0, 60.0, 100.0]  # a tall narrow wave, drawn continuously
    mask = draw(y, 260, 2)
    top, bottom, valid = column_runs(mask, 150)
    choice = choose_runs(top, bottom, valid, 150, 130)
    assert np.array_equal(drop_islands(choice, top, bottom), choice)



def test_a_grid_lines_piece_seen_through_a_break_is_dropped() -> None:
    from pipeline.extract import choose_runs, column_runs, drop_islands

    # A faint line at row 100 broken over columns 60-67, where only a grid line 6 px below
    # (rows 106-107) is inked: each column must take a run, so the path steps onto it.
    mask = draw(np.full(200, 100.0), 160, 1)
    mask[:, 60:68] = False
    mask[106:108, 40:90] = True
    top, bottom, valid = column_runs(mask, 100)
    choice = choose_runs(top, bottom, valid, 100, 60)
    on_grid = np.arange(60, 68)
    assert (top[on_grid, choice[on_grid]] == 106).all()
    dropped = drop_islands(choice, top, bottom)
    assert (dropped[on_grid] == -1).all()
    assert np.array_equal(dropped[:60], choice[:60]) and np.array_equal(dropped[68:], choice[68:])



def test_a_longer_island_goes_when_the_page_scale_allows_it() -> None:
    from pipeline.extract import extract_rows

    # A line at row 100 lost over columns 150-209, where a stamp's arc 30 px below is the
    # only ink: 60 columns of other ink, 7.5 mm at 8 px/mm.
    mask = draw(np.full(400, 100.0), 200, 2)
    mask[:, 150:210] = False
    mask[130:132, 140:220] = True
    band = [(0, 200, 0, 399, 100.0, 100.0)]
    gap = np.arange(300, 420)  # 0.5 px samples of columns 150-209
    kept, = extract_rows(mask, mask.astype(np.float32), band)
    assert np.nanmedian(kept.y_px[gap]) > 125  # 40 columns at most: read along the arc
    dropped, = extract_rows(mask, mask.astype(np.float32), band, max_island_px=80)
    assert not (dropped.y_px[gap] > 110).any()


def test_islands_side_by_side_go_and_the_line_between_them_stays() -> None:
    from pipeline.extract import choose_runs_skipping, column_runs, drop_islands

    # A thin line on row 60 with one-column breaks every 6 columns, where tick marks on
    # row 120 are inked: the path hops down to each, so every 5-column piece of the line
    # between two hops is bounded by jumps too.
    mask = draw(np.full(300, 60.0), 160, 1)
    ticks = np.arange(100, 200, 6)
    mask[:, ticks] = False
    mask[120, ticks] = True
    top, bottom, valid = column_runs(mask, 60)
    choice = choose_runs_skipping(top, bottom, valid, 60, 50, max_skipped=0)
    assert (top[ticks, choice[ticks]] == 120).all()
    dropped = drop_islands(choice, top, bottom)
    assert (dropped[ticks] == -1).all()
    line = np.setdiff1d(np.arange(300), ticks)
    assert (dropped[line] >= 0).all()


def test_a_speck_seen_through_a_break_is_dropped() -> None:
    from pipeline.extract import choose_runs, column_runs, drop_islands

    mask = draw(np.full(200, 100.0), 160, 1)
    mask[:, 60] = False  # one column where the line is too faint to be inked
    mask[107:109, 60] = True  # and a speck of noise 7 px below it
    top, bottom, valid = column_runs(mask, 100)
    choice = choose_runs(top, bottom, valid, 100, 60)
    assert top[60, choice[60]] == 107
    dropped = drop_islands(choice, top, bottom)
    assert dropped[60] == -1 and (dropped[np.r_[0:60, 61:200]] >= 0).all()

def test_a_waves_tip_seen_through_faint_strokes_is_kept() -> None:
    from pipeline.extract import choose_runs, column_runs, drop_islands

    y = np.full(200, 100.0)
    y[98:103] = [100.0, 92.0, 88.0, 92.0, 100.0]  # a small wave: its tip is not flat
    mask = draw(y, 160, 1)
    mask[93:101, 98:103] = False  # its strokes too faint to be inked: its tip stands alone
    top, bottom, valid = column_runs(mask, 100)
    choice = choose_runs(top, bottom, valid, 100, 60)
    tip = np.arange(98, 103)
    assert (bottom[tip, choice[tip]] <= 92).all()
    assert np.array_equal(drop_islands(choice, top, bottom), choice)

def test_a_label_touching_a_qrs_stroke_does_not_take_its_apex() -> None:
    from pipeline.extract import choose_runs, window_consistent

    # Runs (first, last row) of 18 columns of a 300-dpi page (pen 2 px): an R wave rising to
    # row 1302 and a lead label's "V" whose left stroke touches it (rows 1400-1420). Going
    # along the letter is cheaper pair by pair; it leaves the stroke's top at column 8
    # (row 1340) higher than both its neighbours', which one pen's ink cannot do.
    columns = [[(1445, 1451)], [(1445, 1457)], [(1447, 1457)], [(1449, 1457)],
               [(1400, 1401), (1442, 1455)], [(1400, 1403), (1423, 1452)], [(1398, 1448)],
               [(1372, 1436)], [(1340, 1414)], [(1310, 1390), (1400, 1413)],
               [(1302, 1362), (1402, 1415)], [(1302, 1349), (1405, 1418)],
               [(1302, 1394), (1407, 1420)], [(1318, 1428)], [(1365, 1444)], [(1407, 1454)],
               [(1436, 1455)], [(1448, 1455)]]
    w = len(columns)
    top = np.zeros((w, 2), dtype=np.int64)
    bottom = np.zeros((w, 2), dtype=np.int64)
    valid = np.zeros((w, 2), dtype=bool)
    for c, runs in enumerate(columns):
        for j, (a, b) in enumerate(runs):
            top[c, j], bottom[c, j], valid[c, j] = a, b, True
    first = choose_runs(top, bottom, valid, 1437.0, 263.0)
    assert top[9:13, :][np.arange(4), first[9:13]].min() >= 1400  # on the letter
    choice = window_consistent(first, top, bottom, valid, 1437.0, 263.0)
    assert list(top[9:13, :][np.arange(4), choice[9:13]]) == [1310, 1302, 1302, 1302]
    assert np.array_equal(choice[:4], first[:4]) and np.array_equal(choice[-3:], first[-3:])


def test_a_run_two_rows_chose_gives_each_the_end_on_its_side() -> None:
    from pipeline.extract import RowRuns, shared_edges

    # Column 1: the upper row's down stroke and the lower row's up stroke merge into one
    # run (page rows 100-160); column 0: each row has its own run.
    upper = RowRuns(top_px=50, bottom_px=150, x0_px=10, has=np.array([True, True]),
                    t=np.array([50, 50]), b=np.array([52, 110]))
    lower = RowRuns(top_px=100, bottom_px=200, x0_px=10, has=np.array([True, True]),
                    t=np.array([60, 0]), b=np.array([62, 60]))
    (u_top, u_bottom), (l_top, l_bottom) = shared_edges([upper, lower])
    assert u_bottom.tolist() == [False, True] and not u_top.any()
    assert l_top.tolist() == [False, True] and not l_bottom.any()


def test_a_line_two_rows_follow_goes_to_the_nearer_row() -> None:
    from pipeline.extract import extract_rows

    upper, lower = np.full(400, 100.0), np.full(400, 150.0)
    mask = draw(upper, 260, 2) | draw(lower, 260, 2)
    mask[140:160, 150:250] = False  # the lower row's line is not inked here
    bands = [(0, 260, 0, 399, 100.0, 25.0), (0, 260, 0, 399, 150.0, 25.0)]
    up, low = extract_rows(mask, mask.astype(np.float32), bands, max_shared_px=20)
    x = np.arange(400)
    assert np.nanmax(np.abs(up.at(x) - 100.0)[5:-5]) < 1.0
    read = low.at(x)
    assert np.isnan(read[170:230]).all()  # a gap, not the upper row's line
    assert np.nanmax(np.abs(read - 150.0)[5:-5]) < 1.0


def test_a_wave_cut_by_a_narrow_band_is_followed_beyond_it() -> None:
    y = np.full(300, 150.0)
    y[145:156] = [140, 120, 100, 80, 60, 40, 60, 80, 100, 120, 140]  # R wave to 40 px
    mask = draw(y, 260, 2)
    tr = extract_row(mask, mask.astype(np.float32), top_px=100, bottom_px=200, x0_px=0,
                     x1_px=299, baseline_px=150.0)
    assert float(np.nanmin(tr.y_px)) == pytest.approx(40.0, abs=5.0)  # 60 px above the band


def _deep_s_wave_and_a_far_line() -> tuple[np.ndarray, np.ndarray]:
    """(500, 400) mask and the drawn line y ((400,) px): a row's line on row 100 with an S
    wave down to row 380 whose trough is 30 columns wide, its line broken over columns
    250-330 where another line (row 330, a row further down seen in a panel gap) runs."""
    y = np.full(400, 100.0)
    y[100:110] = np.linspace(100, 380, 10)
    y[110:140] = 380.0
    y[140:150] = np.linspace(380, 100, 10)
    mask = draw(y, 500, 3)
    mask[:, 250:330] = False
    mask[:, 240:340] |= draw(np.full(400, 330.0), 500, 3)[:, 240:340]
    return mask, y


def test_connected_ink_keeps_a_waves_apex_beyond_the_band_not_other_lines() -> None:
    from pipeline.extract import connected_ink

    mask, _ = _deep_s_wave_and_a_far_line()
    ink = connected_ink(mask, top_px=50, bottom_px=150, x0_px=0, x1_px=399, far_top_px=0,
                        far_bottom_px=500)
    assert ink.shape == mask.shape
    assert ink[370:390, 110:140].any()  # the S wave's trough
    assert not ink[320:340, 240:340].any()  # the line in the gap touches none of the band's
    assert (ink <= mask).all()


def test_a_row_reaching_far_follows_its_deep_wave_but_not_other_ink_there() -> None:
    from pipeline.extract import extract_rows

    mask, y = _deep_s_wave_and_a_far_line()
    band = (50, 150, 0, 399, 100.0, 50.0)
    near, = extract_rows(mask, mask.astype(np.float32), [band])
    far, = extract_rows(mask, mask.astype(np.float32), [band], far_bands=[(0, 500)],
                        far_window_px=20)
    plain, = extract_rows(mask, mask.astype(np.float32), [(0, 500, *band[2:])])
    x = np.arange(400)
    assert not (near.at(x)[110:140] > 300).any()  # cut at the band: the trough is not read
    assert np.nanmax(np.abs(far.at(x) - y)[115:135]) < 1.5
    assert np.isnan(far.at(x)[260:320]).all()  # its own break, left unread
    assert np.nanmin(np.abs(plain.at(x)[260:320] - 330.0)) < 2  # read as its line in full


def test_only_a_wave_the_band_reading_breaks_off_beyond_the_band_is_read_again() -> None:
    from pipeline.extract import _broken_cuts

    y = np.full(300, 150.0)
    y[145:156] = [140, 120, 100, 80, 60, 40, 60, 80, 100, 120, 140]  # R wave to 40 px
    whole = draw(y, 260, 2)
    runs = choose_row_runs(whole, top_px=100, bottom_px=200, x0_px=0, x1_px=299,
                           baseline_px=150.0, prior_half_px=50.0)
    assert not _broken_cuts(runs, 100, 200).any()  # followed beyond the band, and back
    deep, _ = _deep_s_wave_and_a_far_line()
    runs = choose_row_runs(deep, top_px=50, bottom_px=150, x0_px=0, x1_px=399,
                           baseline_px=100.0, prior_half_px=50.0)
    broken = np.flatnonzero(_broken_cuts(runs, 50, 150))
    assert broken.size and broken.min() >= 100 and broken.max() < 150  # about the trough


def test_a_neighbours_line_before_the_rows_own_is_not_its_start() -> None:
    from pipeline.extract import choose_row_runs, drop_end_islands

    own = np.full(300, 60.0)
    other = np.full(300, 150.0)  # the next row's line, drawn from further left
    mask = draw(other, 200, 2)
    mask[:, 20:] |= draw(own, 200, 2)[:, 20:]
    mask[:, 280:] = draw(other, 200, 2)[:, 280:]  # and our line ends first
    runs = choose_row_runs(mask, top_px=0, bottom_px=200, x0_px=0, x1_px=299, baseline_px=60,
                           prior_half_px=45.0)
    assert runs.has[:20].all() and runs.has[280:].all()  # the path starts on the neighbour
    kept = drop_end_islands(runs, 60.0)
    assert not kept.has[:20].any() and not kept.has[280:].any()
    assert kept.has[22:278].all()


def _reference_path(top: np.ndarray, bottom: np.ndarray, valid: np.ndarray, baseline: float,
                    half_band: float, move_cost: float) -> np.ndarray:
    """choose_runs' dynamic program written plainly: every step over all K runs."""
    centre = 0.5 * (top + bottom)
    unary = np.where(valid, 0.5 * np.square((centre - baseline) / half_band), np.inf)
    cols = np.flatnonzero(valid.any(axis=1))
    cost = unary[cols[0]].copy()
    back = np.zeros((cols.size, top.shape[1]), dtype=np.int64)
    for i in range(1, cols.size):
        a, b = cols[i - 1], cols[i]
        gap = np.maximum(0, np.maximum(top[b][None, :] - bottom[a][:, None],
                                       top[a][:, None] - bottom[b][None, :]) - 1)
        total = cost[:, None] + gap + move_cost * np.abs(centre[a][:, None] - centre[b][None, :])
        back[i] = np.argmin(total, axis=0)
        cost = total.min(axis=0) + unary[b]
    out = np.full(top.shape[0], -1)
    j = int(np.argmin(cost))
    for i in range(cols.size - 1, -1, -1):
        out[cols[i]] = j
        j = back[i, j]
    return out


def _wandering_line_with_specks(seed: int) -> np.ndarray:
    """(40, 300) bool: a 2 px line wandering about row 20, and in 15% of the columns another
    3 px run elsewhere (a letter, a neighbour's wave)."""
    rng = np.random.default_rng(seed)
    h, w = 40, 300
    mask = np.zeros((h, w), bool)
    y = 20 + np.cumsum(rng.integers(-1, 2, w)).clip(-15, 15)
    for c in range(w):
        mask[y[c]:y[c] + 2, c] = True
        if rng.random() < 0.15:
            r0 = int(rng.integers(0, h - 3))
            mask[r0:r0 + 3, c] = True
    return mask


@pytest.mark.parametrize("seed", range(4))
def test_choose_runs_is_the_plain_dynamic_program(seed: int) -> None:
    """Stretches of one-run columns summed at once, several-run columns stepped: the same
    path as stepping every column (costs in eighths: sums exact either way)."""
    mask = _wandering_line_with_specks(seed)
    mask[:, 100:104] = False  # a break
    top, bottom, valid = column_runs(mask, 20.0)
    got = choose_runs(top, bottom, valid, 20.0, 4.0, move_cost=0.25)
    assert np.array_equal(got, _reference_path(top, bottom, valid, 20.0, 4.0, 0.25))
    assert (got[100:104] == -1).all()
    fixed = window_consistent(got, top, bottom, valid, 20.0, 4.0)
    assert fixed.shape == got.shape and (fixed[valid.any(axis=1)] >= 0).all()


def test_a_break_in_the_rows_line_is_skipped_not_taken_to_the_neighbours() -> None:
    """A thin line (row 40) broken for 2 and 3 columns, with the next row's line (row 100,
    beyond the row's half band of 50 px) in the band: the plain path jumps to the
    neighbour's line at the first break and stays on it until the second (123 columns: no
    island to drop); skipping, it keeps its own line and leaves the breaks unread."""
    mask = np.zeros((130, 600), bool)
    mask[40, :] = True
    mask[100, :] = True
    mask[40, 300:302] = False
    mask[40, 420:423] = False
    top, bottom, valid = column_runs(mask, 40.0)
    plain = choose_runs(top, bottom, valid, 40.0, 50.0)
    assert (top[np.arange(600), plain][300:423] == 100).all()  # the neighbour's line
    runs = choose_row_runs(mask, top_px=0, bottom_px=130, x0_px=0, x1_px=599,
                           baseline_px=40.0, prior_half_px=50.0)
    gaps = np.r_[300:302, 420:423]
    assert not runs.has[gaps].any()
    kept = np.setdiff1d(np.arange(600), gaps)
    assert runs.has[kept].all() and (runs.t[kept] + runs.top_px == 40).all()


@pytest.mark.parametrize("seed", range(4))
def test_skipping_path_without_breaks_is_the_plain_one(seed: int) -> None:
    """Where no break makes a skip worth its cost, the skipping path is the plain one."""
    mask = _wandering_line_with_specks(seed)
    top, bottom, valid = column_runs(mask, 20.0)
    plain = choose_runs(top, bottom, valid, 20.0, 4.0)
    assert np.array_equal(choose_runs_skipping(top, bottom, valid, 20.0, 4.0), plain)


def test_column_spans_list_each_columns_rows_in_turn() -> None:
    from pipeline.extract import _column_spans

    rows, cols, first = _column_spans(np.array([2, 0, 5]), np.array([4, 0, 6]),
                                      np.array([1, 3, 7]))
    assert rows.tolist() == [2, 3, 4, 0, 5, 6]
    assert cols.tolist() == [1, 1, 1, 3, 7, 7]
    assert first.tolist() == [0, 3, 4]


def test_column_edges_are_each_columns_run_ends_in_order() -> None:
    from pipeline.extract import column_edges

    mask = np.zeros((6, 3), bool)
    mask[1:3, 0] = True  # rows 1-2
    mask[4:, 0] = True  # rows 4-5, to the bottom
    mask[:, 2] = True  # the whole column
    col, row = column_edges(mask)
    assert col.tolist() == [0, 0, 0, 0, 2, 2]
    assert row.tolist() == [1, 3, 4, 6, 0, 6]  # first row, last row + 1
    rng = np.random.default_rng(5)
    for _ in range(20):
        m = rng.random((int(rng.integers(1, 30)), int(rng.integers(1, 30)))) < 0.4
        padded = np.pad(m.astype(np.int8), ((1, 1), (0, 0)))
        want = np.nonzero(np.diff(padded, axis=0).T)
        got = column_edges(m)
        assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))



def _spike(extra_rows: tuple[int, int], extra_cols: int) -> np.ndarray:
    """(h, w) mask of a narrow R wave 90 px tall (pen 3 px, apex at row 60) and a piece of
    other ink: rows extra_rows, the extra_cols columns ending one column left of the
    stroke's leftmost column at row 60 (a gap of one column)."""
    x = np.arange(300)
    mask = draw(150.0 - 90.0 * np.exp(-(((x - 150) / 2.0) ** 2)), 260, 3.0)
    left = int(np.flatnonzero(mask[60])[0])
    mask[extra_rows[0]:extra_rows[1], left - 1 - extra_cols:left - 1] = True
    return mask


def test_a_speck_beside_a_spike_apex_leaves_the_apex_read() -> None:
    from pipeline import extract

    # 2 px: a photo's noise, or the stroke's blurred fringe cut off by the threshold
    mask = _spike((60, 62), 1)
    assert float(np.nanmin(read(mask, 150).y_px)) == pytest.approx(60.0, abs=1.0)
    # counted as a letter, the speck makes the apex columns' tops untrusted: the line
    # is cut below the apex
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(extract, "MIN_OTHER_INK_DOTS", 0.0)
        assert float(np.nanmin(read(mask, 150).y_px)) > 65.0


def test_a_letter_beside_a_run_end_still_untrusts_it() -> None:
    from pipeline.extract import _edges_clear

    band = np.zeros((40, 20), dtype=bool)
    band[10:30, 8:10] = True  # the chosen stroke, rows 10-29
    band[9:12, 11:13] = True  # a letter's stroke beside its top, 6 px
    has = np.zeros(20, dtype=bool)
    has[8:10] = True
    t = np.full(20, 10)
    b = np.full(20, 29)
    top_ok, bot_ok = _edges_clear(band, has, t, b, reach=1, min_other_px=2 * 1.5 ** 2)
    assert not top_ok[8:10].any() and bot_ok[8:10].all()
    band[9:12, 12] = False  # 3 px: a speck, under 2 pen dots
    top_ok, _ = _edges_clear(band, has, t, b, reach=1, min_other_px=2 * 1.5 ** 2)
    assert top_ok[8:10].all()


def test_without_the_edge_check_a_letter_beside_the_apex_is_ignored() -> None:
    from pipeline.extract import choose_row_runs, read_row

    mask = _spike((60, 70), 3)  # 30 px: a letter's stroke, more than 2 pen dots
    runs = choose_row_runs(mask, top_px=0, bottom_px=260, x0_px=0, x1_px=299,
                           baseline_px=150)
    coverage = mask.astype(np.float32)
    assert float(np.nanmin(read_row(mask, coverage, runs).y_px)) > 65.0
    unchecked = read_row(mask, coverage, runs, check_edges=False)
    assert float(np.nanmin(unchecked.y_px)) == pytest.approx(60.0, abs=1.0)


def _edges_clear_whole_band(band: np.ndarray, has: np.ndarray, t: np.ndarray, b: np.ndarray,
                            reach: int, min_other_px: float) -> tuple[np.ndarray, np.ndarray]:
    """The rule of `_edges_clear`, applied to the whole band at once (the reference)."""
    other = band.astype(np.uint8)
    for c in np.flatnonzero(has):
        other[t[c]:b[c] + 1, c] = 0
    _, piece, stats, _ = cv2.connectedComponentsWithStats(other, connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_other_px
    keep[0] = False
    near = cv2.dilate(keep[piece].astype(np.uint8), np.ones((3, 2 * reach + 5), np.uint8)) > 0
    cols = np.arange(band.shape[1])
    return ~near[t, cols], ~near[b, cols]


@pytest.mark.parametrize("seed", range(6))
def test_run_ends_are_judged_as_over_the_whole_band(seed: int) -> None:
    # Only rows near the runs' ends are labelled: ink pieces running out of them (long
    # strokes, another row's wave) must count as they do over the whole band.
    from pipeline.extract import _edges_clear

    rng = np.random.default_rng(seed)
    h, w = 120, 90
    band = rng.random((h, w)) < 0.04
    for _ in range(6):  # long strokes crossing the runs' rows and beyond
        c, r0 = int(rng.integers(0, w)), int(rng.integers(0, h // 2))
        band[r0:r0 + int(rng.integers(10, 70)), c] = True
    has = rng.random(w) < 0.8
    t = np.clip(50 + rng.integers(-8, 9, w), 0, h - 1)
    b = np.clip(t + rng.integers(0, 12, w), 0, h - 1)
    for c in np.flatnonzero(has):
        band[t[c]:b[c] + 1, c] = True
    top, bottom = _edges_clear(band, has, t, b, reach=2, min_other_px=6.0)
    ref_top, ref_bottom = _edges_clear_whole_band(band, has, t, b, 2, 6.0)
    assert (top[has] == ref_top[has]).all() and (bottom[has] == ref_bottom[has]).all()
    assert not ref_top[has].all()  # other ink does reach some ends


def test_a_broken_down_stroke_is_bridged_and_the_apex_read() -> None:
    """A blurred photo's thick spike whose down-stroke broke into fragments at the mask's
    threshold: the path takes the baseline bit in the broken column, and without the
    bridge the fit pulls the apex next to it down to the baseline."""
    y = np.full(300, 200.0)
    y[148:154] = [200.0, 150.0, 100.0, 120.0, 170.0, 200.0]  # a narrow spike, 100 px tall
    mask = draw(y, 260, 6.0)
    col = mask[:, 153].copy()
    mask[:, 153] = False
    for y0 in range(100, 190, 18):  # the stroke's column left as 6-px fragments...
        mask[y0:y0 + 6, 153] = col[y0:y0 + 6]
    mask[196:204, 153] = col[196:204]  # ... and its bit at the baseline
    tr = read(mask, 200)
    assert float(np.nanmin(tr.y_px)) == pytest.approx(100.0, abs=4.0)


def test_bridging_widens_only_short_runs_over_near_fragments_in_the_neighbours_span() -> None:
    from pipeline.extract import bridge_broken_strokes

    band = np.zeros((100, 5), bool)
    band[20:28, 2] = True  # fragments of a stroke in column 2, 8 px of paper apart ...
    band[36:39, 2] = True
    band[45:48, 2] = True  # ... and its chosen bit near the baseline
    band[5:8, 2] = True  # 12 px of paper above them: another stroke's ink
    band[70:72, 2] = True  # below both neighbours' runs: not the stroke's
    has = np.ones(5, bool)
    t = np.array([45, 2, 45, 40, 45])
    b = np.array([47, 60, 47, 60, 47])
    nt, nb = bridge_broken_strokes(band, has, t, b, pen_px=3.0)
    assert (nt[2], nb[2]) == (20, 47)
    assert np.array_equal(np.delete(nt, 2), np.delete(t, 2))
    assert np.array_equal(np.delete(nb, 2), np.delete(b, 2))
    # A thin pen's column holding two runs is two lines, not a broken stroke.
    thin = bridge_broken_strokes(band, has, t, b, pen_px=2.0)
    assert np.array_equal(thin[0], t) and np.array_equal(thin[1], b)


def test_a_seam_bar_joins_two_leads_and_is_left_unread() -> None:
    """A bar across the baseline where one lead ends and the next begins: the line is
    followed through it (not to a label's stroke below it) and read on both sides, not
    within the bar's columns."""
    from pipeline.extract import extract_rows

    y = np.r_[np.full(200, 100.0), np.full(200, 90.0)]  # the next lead starts 10 px higher
    mask = draw(y, 200, 3)
    mask[70:131, 197:203] = True  # the bar: 6 px wide, 60 px tall, centred on the line
    mask[132:160, 204:207] = True  # a label's stroke under the next lead's start
    rows = [(0, 200, 0, 399, 100.0, 100.0)]
    tr = extract_rows(mask, mask.astype(np.float32), rows, unread=[[(196, 203)]])[0]
    cols = tr.at(np.arange(400.0))
    assert np.isnan(cols[197:203]).all()
    assert np.nanmax(np.abs(cols[150:195] - 100.0)) < 1.0
    assert np.nanmax(np.abs(cols[206:250] - 90.0)) < 1.0


def _row_runs(spans: list[tuple[int, int]]) -> RowRuns:
    """RowRuns of a band of rows 0-399 from x 0, one (first, last) ink row per column."""
    t = np.array([a for a, _ in spans])
    b = np.array([z for _, z in spans])
    return RowRuns(top_px=0, bottom_px=400, x0_px=0, has=np.ones(len(spans), bool), t=t, b=b)


def test_a_wave_that_crossed_the_next_rows_flat_line_is_told_from_it_again() -> None:
    # The upper row's deep S runs down through the lower row's flat line at 200: they merge
    # (columns 3-4), then the upper row took the flat line and the lower row the trough.
    upper = _row_runs([(108, 112), (140, 160), (165, 195), (180, 230), (190, 240),
                       (198, 202), (199, 203), (198, 202), (198, 202), (185, 260)])
    lower = _row_runs([(198, 202), (198, 202), (199, 203), (180, 230), (190, 240),
                       (250, 262), (260, 272), (262, 270), (240, 258), (185, 260)])
    new_upper, new_lower = uncrossed_runs([upper, lower], [100.0, 200.0])
    assert (new_lower.t[5:9] + new_lower.top_px).tolist() == [198, 199, 198, 198]
    assert (new_upper.t[5:9] + new_upper.top_px).tolist() == [250, 260, 262, 240]
    # Outside the parted stretch nothing moves.
    for new, old in ((new_upper, upper), (new_lower, lower)):
        for c in (0, 1, 2, 3, 4, 9):
            assert new.t[c] + new.top_px == old.t[c] + old.top_px
    # A flat stretch away from the row's baseline is a wave's plateau, not its line at
    # rest: nothing is exchanged.
    _, kept = uncrossed_runs([upper, lower], [100.0, 260.0])
    assert np.array_equal(kept.t + kept.top_px, lower.t + lower.top_px)


def test_two_rows_that_touched_and_went_back_keep_their_runs() -> None:
    # The upper row's trough touches the lower row's flat line and turns back up: after
    # they part each row's own choice is right, and stays.
    upper = _row_runs([(108, 112), (140, 160), (165, 195), (180, 203), (170, 203),
                       (150, 175), (120, 150), (105, 125), (100, 106), (99, 104)])
    lower = _row_runs([(198, 202), (198, 202), (199, 203), (180, 203), (170, 203),
                       (198, 202), (199, 203), (198, 202), (198, 202), (198, 202)])
    new_upper, new_lower = uncrossed_runs([upper, lower], [100.0, 200.0])
    assert np.array_equal(new_upper.t + new_upper.top_px, upper.t + upper.top_px)
    assert np.array_equal(new_lower.t + new_lower.top_px, lower.t + lower.top_px)


def _rs_complex(x: np.ndarray) -> np.ndarray:
    """A narrow R then S wave (px, image y: up is smaller), 6 px apart, on a 100 px line."""
    return (100.0 - 30.0 * np.exp(-((x - 50.0) / 2.5) ** 2)
            + 25.0 * np.exp(-((x - 56.0) / 2.5) ** 2))


@pytest.mark.parametrize(("pen", "noise", "max_rms"),
                         [(2.0, 0.5, 0.4), (2.0, 1.0, 0.75), (3.0, 0.5, 0.4), (3.0, 1.0, 0.7)])
def test_a_narrow_wave_is_fitted_through_noisy_edges(pen: float, noise: float,
                                                      max_rms: float) -> None:
    """The ink edges of a narrow R-S drawn with a pen pen px wide (each column's window
    extremes, +- half the pen), each off by `noise` px rms as on a scan or a photo: the
    fitted line, its curvature weight raised for that noise, stays within max_rms px rms
    of the drawn one over the complex (at the exact-edge weight 1e-2: 0.46, 0.93, 0.52,
    0.83 px)."""
    half, cols = 0.5 * pen, np.arange(100)
    fine = np.linspace(-10.0, 110.0, 12001)
    windows = [_rs_complex(fine[np.abs(fine - c) <= 0.5 + half]) for c in cols]
    top = np.array([w.min() for w in windows]) - half
    bottom = np.array([w.max() for w in windows]) + half
    assert line_fit_schedule(pen, noise)[0][1] == pytest.approx(
        0.01 + 0.2 * noise * (pen / 2.0) ** 4)
    rms = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        xs, ys, _ = fit_line(top + rng.normal(0.0, noise, cols.size),
                             bottom + rng.normal(0.0, noise, cols.size),
                             np.ones(cols.size, bool), half, 3, np.ones(cols.size),
                             edge_noise_px=noise)
        near = (xs > 40) & (xs < 66)
        rms.append(float(np.sqrt(np.mean((ys[near] - _rs_complex(xs[near])) ** 2))))
    assert float(np.mean(rms)) < max_rms


def test_the_pen_width_comes_with_its_edges_noise() -> None:
    from pipeline.extract import _pen_width

    flat = np.ones(400, bool)
    top, bottom = np.full(400, 100.0), np.full(400, 103.0)
    assert _pen_width(top, bottom, flat) == (3.0, 0.0)  # exact edges: no noise
    # A ragged line (a scan's, a blurred photo's): its width varies by 1 px rms about
    # its centre, each edge by 1 / sqrt 2.
    ragged = np.random.default_rng(0).normal(0.0, 1.0, 400)
    width, noise = _pen_width(top - 0.5 * ragged, bottom + 0.5 * ragged, flat)
    assert width == pytest.approx(3.0, abs=0.2)
    assert noise == pytest.approx(1.0 / np.sqrt(2.0), rel=0.15)
    assert _pen_width(top, bottom, np.arange(400) < 5)[1] == 0.0  # too few flat columns
