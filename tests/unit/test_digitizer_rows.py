"""The digitizer's row helpers (pipeline.row_extents, pipeline.line_maps): where a row's
signal starts and ends."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.extract import RowTrace
from pipeline.layout import TraceRow
from pipeline.row_extents import after_break, line_cap, line_samples

PPM = 8.0


def pulse_row(gap_px: int) -> tuple[np.ndarray, TraceRow]:
    """(H, W) mask: a pulse's falling stroke (x 100), its flat tail (x 100..112) on the
    baseline, a gap, then a line."""
    mask = np.zeros((80, 400), dtype=bool)
    mask[15:41, 100] = True
    mask[40, 100:113] = True
    mask[40:42, 113 + gap_px:390] = True
    return mask, TraceRow(40.0, 60, 390, 10, 70)


def test_signal_starts_past_the_pulse_tail_and_its_break() -> None:
    mask, row = pulse_row(gap_px=5)
    assert after_break(mask, row, 101.0, 4 * PPM, +1, PPM, 100) == pytest.approx(118.0)


def test_no_break_after_the_pulse_keeps_the_start() -> None:
    mask, row = pulse_row(gap_px=0)
    assert after_break(mask, row, 101.0, 4 * PPM, +1, PPM, 100) is None


def test_a_two_column_gap_is_a_break_at_any_scale() -> None:
    # 0.3 mm at 12 px/mm (300 dpi) is 3.6 px; a 2-px printed gap is still a break.
    mask, row = pulse_row(gap_px=2)
    assert after_break(mask, row, 101.0, 4 * 12.0, +1, 12.0, 100) == 115


def test_signal_ends_before_the_break_of_an_end_pulse() -> None:
    mask = np.zeros((80, 400), dtype=bool)
    mask[40, 50:300] = True
    mask[40, 305:321] = True  # the end pulse's flat lead-in
    mask[15:41, 320] = True  # and its rising stroke
    row = TraceRow(40.0, 50, 390, 10, 70)
    assert after_break(mask, row, 318.0, 4 * PPM, -1, PPM, 320) == pytest.approx(299.0)


def test_a_pen_lift_without_an_ink_free_column_is_a_break() -> None:
    # The signal starts lower than the tail, in the tail's last column: no column of the
    # band is free of ink, but the signal's ink is not the pulse's.
    mask = np.zeros((80, 400), dtype=bool)
    mask[15:41, 100] = True
    mask[40, 100:113] = True
    mask[50:52, 112:390] = True
    row = TraceRow(45.0, 60, 390, 10, 70)
    assert after_break(mask, row, 101.0, 4 * PPM, +1, PPM, 100) == 112


def test_a_dropout_in_the_signal_after_the_pulse_is_not_its_start() -> None:
    # The reading already starts on the signal (past the pulse and its break, 6 px under
    # the pulse's foot); a grid line crossing the thin line cuts 2 columns out of it 4 px
    # later.
    mask, row = pulse_row(gap_px=5)
    mask[40:42, 118:390] = False
    mask[46:48, 118:390] = True
    mask[46:48, 122:124] = False
    assert after_break(mask, row, 118.0, 4 * PPM, +1, PPM, 100) is None


def test_a_broken_pulse_tail_is_still_the_pulse() -> None:
    # A scan's noise breaks the pulse's thin flat tail twice; its pieces stay the pulse's,
    # and the signal starts past the break after them.
    mask, row = pulse_row(gap_px=6)
    mask[40, 104:106] = False
    mask[40, 109] = False
    assert after_break(mask, row, 107.0, 4 * PPM, +1, PPM, 100) == 119


def test_dropouts_of_a_thin_line_are_not_a_break() -> None:
    mask, row = pulse_row(gap_px=0)
    mask[40:42, 116:390:6] = False  # 1-px dropouts every 6 px (a faint 1-px line)
    assert after_break(mask, row, 101.0, 4 * PPM, +1, PPM, 100) is None


def test_a_line_begins_half_a_pen_inside_its_first_inked_column() -> None:
    x = np.arange(100, 200, dtype=np.float64)
    tr = RowTrace(x_px=x, y_px=np.full(x.size, 40.0), line_width_px=2.0,
                  confident=np.ones(x.size, dtype=bool))
    # Ink from about 99.5 (the middle of the columns that put 100 first in the mask), the
    # cap 1 px: the line starts at 100.5; an end mirrors it.
    assert line_cap(tr, 100, +1) == pytest.approx(100.5)
    assert line_cap(tr, 199, -1) == pytest.approx(198.5)


def test_stray_pieces_at_the_ends_are_not_the_line() -> None:
    x = np.arange(0, 305, dtype=np.float64)
    y = np.full(x.size, 50.0)
    y[4:20] = np.nan  # a 4-px speck at x 0..3, then the line from x 20
    y[290:300] = np.nan  # the line ends at 289, a 4-px speck at 300..304
    tr = RowTrace(x_px=x, y_px=y, line_width_px=1.5, confident=np.isfinite(y))
    idx = line_samples(tr, PPM)
    assert (x[idx[0]], x[idx[-1]]) == (20.0, 289.0)


def test_the_gate_grows_over_a_spike_tip_but_not_a_crossing_tick() -> None:
    from pipeline.line_maps import grow_gate

    ink = np.zeros((200, 2000), dtype=np.float32)  # 2% of the longer side: 40 px
    ink[100:102, :] = 1.0  # the line
    ink[60:102, 30:32] = 1.0  # a spike whose tip the network missed (rows 60-79)
    ink[50:150, 70:72] = 1.0  # a separator tick crossing the line
    ink[5:102, 50:52] = 1.0  # a long dark edge touching the line (a shadow's, a fold's)
    gate = np.zeros((200, 2000), dtype=np.uint8)
    gate[80:120, :] = 1
    grown = grow_gate(ink, gate)
    assert grown[60:80, 30:32].all()  # the tip is read
    assert not grown[50:78, 70:72].any() and not grown[123:150, 70:72].any()
    assert not grown[5:78, 50:52].any()  # 75 px outside: not grown


def test_rows_without_a_found_pulse_start_where_the_pulse_rows_do() -> None:
    from types import SimpleNamespace

    from pipeline.calibration import Pulse
    from pipeline.row_extents import row_extents

    mask = np.zeros((300, 400), dtype=bool)
    traces, rows = [], []
    for k, first in enumerate((120, 120, 114)):  # row 2 reads its missed pulse's tail
        y = 50 + 100 * k
        mask[y:y + 2, first:390] = True
        x = np.arange(100, 390, 0.5)
        tr_y = np.where(x >= first, float(y), np.nan)
        traces.append(RowTrace(x_px=x, y_px=tr_y, line_width_px=2.0,
                               confident=np.isfinite(tr_y)))
        rows.append(TraceRow(float(y), 60, 390, y - 40, y + 40))
    pulse = Pulse(x0_px=95, x1_px=110, height_px=80.0, width_px=40.0, side="start")
    page = SimpleNamespace(traces=traces, rows=rows, mask=mask, ppm_guess=PPM, grid=None,
                           start_pulses=[pulse, pulse, None], end_pulses=[None] * 3,
                           faint=mask)
    starts, _ = row_extents(page)  # type: ignore[arg-type]
    assert starts[0] == pytest.approx(120.0) and starts[2] == pytest.approx(starts[0])


@pytest.mark.parametrize(("into_pulse", "dotted"), [(False, False), (True, False),
                                                    (False, True)])
def test_a_faint_first_stretch_below_the_mask_starts_the_row(into_pulse: bool,
                                                             dotted: bool) -> None:
    # Rows read from x = 150; their faint first stretch (x 120-149, under the mask's
    # threshold) follows a break after the pulse (ending at 110) unless it runs on into it
    # (its tail, not the signal), or is a dotted grid line's every other pixel.
    from types import SimpleNamespace

    from pipeline.calibration import Pulse
    from pipeline.row_extents import row_extents

    mask = np.zeros((300, 400), dtype=bool)
    faint = np.zeros_like(mask)
    traces, rows = [], []
    for k in range(3):
        y = 50 + 100 * k
        mask[y:y + 2, 150:390] = True
        faint[y + 1, 111 if into_pulse else 120:150] = True
        faint[y + 1, 131] = False  # a grid line crossing it
        if dotted:
            faint[y + 1, 121:150:2] = False
        x = np.arange(100, 390, 0.5)
        tr_y = np.where(x >= 150, float(y), np.nan)
        traces.append(RowTrace(x_px=x, y_px=tr_y, line_width_px=2.0,
                               confident=np.isfinite(tr_y)))
        rows.append(TraceRow(float(y), 60, 390, y - 40, y + 40))
    pulse = Pulse(x0_px=95, x1_px=110, height_px=80.0, width_px=40.0, side="start")
    page = SimpleNamespace(traces=traces, rows=rows, mask=mask, ppm_guess=PPM, grid=None,
                           start_pulses=[pulse] * 3, end_pulses=[None] * 3,
                           faint=mask | faint)
    starts, _ = row_extents(page)  # type: ignore[arg-type]
    assert starts == pytest.approx([150.0 if into_pulse or dotted else 120.5] * 3)


@pytest.mark.parametrize(("mm_per_s", "agreed"), [(25.0, False), (12.5, True)])
def test_rows_agree_on_their_start_within_60_ms(mm_per_s: float, agreed: bool) -> None:
    """A row read 1.2 mm before the others (from its pulse's tail): 48 ms at 25 mm/s, left
    alone; 96 ms at 12.5 mm/s, moved onto the others' start."""
    from types import SimpleNamespace

    from pipeline.row_extents import row_extents

    early = 120.0 - 1.2 * PPM
    mask = np.zeros((300, 400), dtype=bool)
    traces, rows = [], []
    for k, first in enumerate((120.0, 120.0, early)):
        y = 50 + 100 * k
        mask[y:y + 2, int(first):390] = True
        x = np.arange(100, 390, 0.5)
        tr_y = np.where(x >= first, float(y), np.nan)
        traces.append(RowTrace(x_px=x, y_px=tr_y, line_width_px=2.0,
                               confident=np.isfinite(tr_y)))
        rows.append(TraceRow(float(y), 60, 390, y - 40, y + 40))
    page = SimpleNamespace(traces=traces, rows=rows, mask=mask, ppm_guess=PPM, grid=None,
                           start_pulses=[None] * 3, end_pulses=[None] * 3)
    starts, _ = row_extents(page, mm_per_s * PPM)  # type: ignore[arg-type]
    assert starts[2] == pytest.approx(120.0 if agreed else early, abs=0.5)  # 0.5 px samples


def test_a_line_the_gate_cut_is_put_back_but_not_a_stamp_touching_it() -> None:
    from pipeline.line_maps import restore_gated_lines

    ink = np.zeros((200, 400), dtype=np.float32)
    ink[100:102, 20:380] = 1.0  # a line whose start (x < 150) the gate dropped
    ink[60:100, 250:290] = 1.0  # a stamp's thick stroke touching it, outside the gate
    ink[20:30, 20:60] = 1.0  # text apart from the line
    ink[90:100, 300:302] = 1.0  # a label's thin stroke touching the kept line
    trace = ink.copy()
    trace[:, :150] = 0.0
    trace[:100, 250:302] = 0.0
    rows = [TraceRow(101.0, 20, 380, 50, 150)]
    out = restore_gated_lines(trace, ink, rows, PPM)
    assert (out[100:102, 20:150] > 0.5).all()
    assert not (out[60:98, 250:290] > 0.5).any()
    assert not (out[20:30, 20:60] > 0.5).any()
    assert not (out[90:99, 300:302] > 0.5).any()  # the line is kept there: not put back
    assert restore_gated_lines(trace, trace, rows, PPM) is trace


def test_a_line_cut_into_pieces_by_grid_lines_is_put_back_across_them() -> None:
    from pipeline.line_maps import restore_gated_lines

    # A black grid's 1 mm lines cut a faint flat stretch (x < 150, which the gate dropped)
    # into pieces a pixel apart; the grid lines' own pixels stay out.
    ink = np.zeros((200, 400), dtype=np.float32)
    ink[100:102, 20:380] = 1.0
    grid = np.zeros_like(ink)
    line_x = np.arange(24, 380, round(PPM))
    grid[:, line_x] = 1.0
    ink[:, line_x[line_x < 150]] = 0.0
    ink[102:140, 96] = 1.0  # the ink map keeps a grid line's stretch below the line
    ink[80:100, 107:109] = 1.0  # a lead label's stroke on the piece between 104 and 112
    trace = ink.copy()
    trace[:, :150] = 0.0
    rows = [TraceRow(101.0, 20, 380, 50, 150)]
    out = restore_gated_lines(trace, ink, rows, PPM, grid)
    pieces = np.ones(150, dtype=bool)
    pieces[:20] = False
    pieces[line_x[line_x < 150]] = False
    pieces[105:112] = False  # taller than wide with the stroke: not a line's stretch
    assert not (out[80:98, 107:109] > 0.5).any()
    assert (out[100:102, :150][:, pieces] > 0.5).all()
    assert not (out[104:140, 96] > 0.5).any()  # (the line's one-pixel fringe aside)
    # Without the grid map the pieces are each too narrow to be put back.
    assert not (restore_gated_lines(trace, ink, rows, PPM)[100:102, 20:150] > 0.5).any()


def test_pulses_that_all_point_down_turn_a_page_despite_moderate_skew() -> None:
    from pipeline.calibration import Pulse
    from pipeline.upside_down import flip_votes

    down = [Pulse(10, 40, 80.0, 40.0, "end", inverted=True) for _ in range(4)]
    up = Pulse(10, 40, 80.0, 40.0, "start")
    assert flip_votes(down, 0.85, 4) == 1  # a record of mostly downward complexes
    assert flip_votes(down, 2.5, 4) == -1  # the complexes contradict strongly
    assert flip_votes([*down[:3], up], 0.85, 4) == -1  # pulses disagree: skew decides
    assert flip_votes([], -2.5, 4) == 1 and flip_votes([], -1.0, 4) == -1


def test_without_pulses_the_rhythm_strips_place_turns_a_page() -> None:
    from pipeline.calibration import Pulse
    from pipeline.upside_down import TURNED_FIT_MARGIN, flip_votes

    clear = TURNED_FIT_MARGIN + 0.1
    assert flip_votes([], -1.0, 4, clear) == 1  # strip above the leads, moderate skew
    assert flip_votes([], -2.5, 4, -clear) == -1  # strip below: the skew does not turn it
    assert flip_votes([], -2.5, 4, 0.5 * TURNED_FIT_MARGIN) == 1  # unclear: skew decides
    assert flip_votes([], -1.0, 4, 0.5 * TURNED_FIT_MARGIN) == -1
    up = [Pulse(10, 40, 80.0, 40.0, "start") for _ in range(4)]
    assert flip_votes(up, 0.5, 4, clear) == -1  # pulses come first


def test_time_running_backwards_turns_a_page_nothing_else_decides() -> None:
    from pipeline.calibration import Pulse
    from pipeline.upside_down import TURNED_FIT_MARGIN, flip_votes

    assert flip_votes([], 0.4, 12, 0.0, lambda: -0.6) == 1
    assert flip_votes([], 0.4, 12, 0.0, lambda: 0.3) == -1
    # A moderately negative asymmetry with upward complexes: not enough.
    assert flip_votes([], 1.0, 12, 0.0, lambda: -0.08) == -1
    # Without a measured asymmetry the skew alone keeps its own rule (under -2).
    assert flip_votes([], -1.5, 12, 0.0, lambda: 0.0) == -1
    # Three pulses of twelve rows, all down: any backward sum turns the page.
    down = [Pulse(10, 40, 80.0, 40.0, "end", inverted=True) for _ in range(3)]
    assert flip_votes(down, -0.2, 12, 0.0, lambda: -0.05) == 1
    assert flip_votes(down, 0.6, 12, 0.0, lambda: -0.05) == -1

    def never() -> float:
        raise AssertionError("asymmetry worked out though the strips decide")

    # Pulses and strips decide before time does, and it is not worked out then.
    assert flip_votes([], 0.4, 4, -2 * TURNED_FIT_MARGIN, never) == -1


def test_restored_ink_does_not_lower_the_line_threshold() -> None:
    from pipeline.line_maps import line_mask

    trace = np.zeros((200, 400), np.float32)
    trace[50:52, 20:380] = 0.9
    trace[150:152, 100:380] = 0.9  # the gate cut this row's start
    line = trace.copy()
    line[150:152, 20:100] = 0.35  # put back (faint)
    line[30:40, 200:204] = 0.35  # faint ink of a label beside the other row's line
    rows = [TraceRow(51.0, 20, 379, 0, 100), TraceRow(151.0, 20, 379, 100, 200)]
    mask = line_mask(trace, rows, line)
    assert not mask[30:40, 200:204].any()  # read at 0.5, as the gated map alone
    assert mask[50, 20:380].all() and mask[150, 100:380].all()


def test_rows_that_all_end_apart_end_at_the_latest() -> None:
    # A photo's last stretches fade row by row: no two rows end together, and the earliest
    # end would cut every row short; the widest reading (as for starts) is kept.
    from types import SimpleNamespace

    from pipeline.row_extents import row_extents

    mask = np.zeros((400, 500), dtype=bool)
    traces, rows = [], []
    for k, last in enumerate((300, 340, 380, 450)):
        y = 50 + 100 * k
        mask[y:y + 2, 20:last] = True
        x = np.arange(20, 480, 0.5)
        tr_y = np.where(x <= last, float(y), np.nan)
        traces.append(RowTrace(x_px=x, y_px=tr_y, line_width_px=2.0,
                               confident=np.isfinite(tr_y)))
        rows.append(TraceRow(float(y), 20, last, y - 40, y + 40))
    page = SimpleNamespace(traces=traces, rows=rows, mask=mask, ppm_guess=PPM, grid=None,
                           start_pulses=[None] * 4, end_pulses=[None] * 4)
    starts, ends = row_extents(page)  # type: ignore[arg-type]
    assert ends == pytest.approx([450.0] * 4, abs=1.0)
    assert starts == pytest.approx([20.0] * 4, abs=1.0)


def test_a_photos_grid_line_dashes_leave_the_line_mask() -> None:
    from pipeline.line_maps import drop_grid_pieces

    mask = np.zeros((60, 200), bool)
    trace = np.zeros((60, 200), np.float32)
    grid = np.zeros((60, 200), np.float32)
    mask[30:33, 10:190] = True  # the line, 3 px tall
    trace[30:33, 10:190] = 0.9
    grid[30:33, 50:52] = 0.8  # where a grid line crosses it
    mask[20, 60:90] = True  # a grid line's dash: greyer than grid-like
    trace[20, 60:90], grid[20, 60:90] = 0.3, 0.6
    mask[10, 60:90] = True  # a thin piece of faint line: more trace than grid
    trace[10, 60:90], grid[10, 60:90] = 0.4, 0.2
    out = drop_grid_pieces(mask, trace, grid)
    assert out[30:33, 10:190].all() and out[10, 60:90].all()
    assert not out[20].any()


def test_downward_complexes_do_not_turn_rows_that_fit_better_as_they_lie() -> None:
    # Photo bench page 35: no grid, no pulses, skew -2.08, and its rows fit a template
    # 0.31 better as read (under the margin). It was turned and read at -1.4 dB; 16.7 now.
    from pipeline.upside_down import flip_votes

    assert flip_votes([], -2.08, 4, -0.307) == -1
    assert flip_votes([], -2.08, 4, 0.0) == 1  # no template tells: the skew decides
