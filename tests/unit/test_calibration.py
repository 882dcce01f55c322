"""pipeline.calibration: the 1 mV x 0.2 s pulse and page scales."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.calibration import (
    Pulse,
    Scales,
    agreeing_pulses,
    find_pulse,
    lone_piece,
    lone_pulse_doubted,
    page_scales,
    snap,
)
from pipeline.layout import TraceRow

PPM = 8.0


def page_with_pulse(mm_per_mv: float, inverted: bool = False) -> tuple[np.ndarray, TraceRow]:
    """A row at y=300 with a pulse (5 mm wide, mm_per_mv tall) then a flat trace."""
    img = np.zeros((600, 1200), np.uint8)
    base, h = 300, round(mm_per_mv * PPM)
    top = base + h if inverted else base - h
    x0, x1 = 40, 40 + int(5 * PPM)
    pts = [(20, base), (x0, base), (x0, top), (x1, top), (x1, base), (1150, base)]
    cv2.polylines(img, [np.array(pts, np.int32)], False, 255, 2)
    return img > 0, TraceRow(y_px=float(base), x0_px=20, x1_px=1150, top_px=150, bottom_px=450)


@pytest.mark.parametrize("gain", [5.0, 10.0, 20.0])
def test_pulse_height_and_width(gain: float) -> None:
    mask, row = page_with_pulse(gain)
    p = find_pulse(mask, row, PPM, "start")
    assert p is not None and not p.inverted
    assert p.height_px / PPM == pytest.approx(gain, rel=0.05)
    assert p.width_px / PPM == pytest.approx(5.0, rel=0.06)
    s = page_scales([p], PPM, grid_measured=True)
    assert s.mm_per_mv == gain and s.mm_per_s == 25.0 and s.assumed == ()


def test_a_lone_pulse_of_odd_gain_and_speed_is_not_trusted() -> None:
    small = Pulse(x0_px=100, x1_px=111, height_px=2.5 * PPM, width_px=2.5 * PPM,
                  side="start", inverted=False)
    s = page_scales([small], PPM, grid_measured=True)
    assert (s.mm_per_mv, s.mm_per_s) == (10.0, 25.0)
    assert set(s.assumed) == {"mm_per_mv", "mm_per_s"}
    # Two pulses that agree on it are believed; so is a lone pulse of an odd gain alone,
    # but for the rarest, 2.5 mm/mV (a pulse the size of a notch: photo 6x2 page 12).
    assert page_scales([small, small], PPM, grid_measured=True).mm_per_mv == 2.5
    # Nor is one of no standard height, whose width would set the speed (photo 12x1
    # page 0: 3.2 x 2.0 mm read as 12.5 mm/s).
    piece = Pulse(x0_px=100, x1_px=116, height_px=3.2 * PPM, width_px=2.0 * PPM,
                  side="start", inverted=False)
    s = page_scales([piece], PPM, grid_measured=True)
    assert (s.mm_per_mv, s.mm_per_s) == (10.0, 25.0)
    assert set(s.assumed) == {"mm_per_mv", "mm_per_s"}
    for gain, believed in ((2.5, 10.0), (5.0, 5.0), (20.0, 20.0)):
        odd_gain = Pulse(x0_px=100, x1_px=120, height_px=gain * PPM, width_px=5.0 * PPM,
                         side="start", inverted=False)
        assert page_scales([odd_gain], PPM, grid_measured=True).mm_per_mv == believed
        assert page_scales([odd_gain] * 2, PPM, grid_measured=True).mm_per_mv == gain


@pytest.mark.parametrize("f", [0.79, 0.81, 1.15])
def test_usual_pulses_too_small_for_the_grid_set_the_page_scale(f: float) -> None:
    # Four pulses of the usual 10 x 5 mm shape at f of the grid's px/mm: the grid's
    # period was misread (photo bench page 55 at 0.79), not the gain and speed both odd;
    # also where the speed alone is within 20 % of a standard one (0.81: 20.3 mm/s, a
    # gridless photo's false grid, photo 12x1 page 8).
    usual = Pulse(x0_px=100, x1_px=120, height_px=10.0 * f * PPM, width_px=5.0 * f * PPM,
                  side="start")
    s = page_scales([usual] * 4, PPM, grid_measured=True)
    assert s.px_per_mm == pytest.approx(f * PPM, rel=0.01)
    assert (s.mm_per_mv, s.mm_per_s) == (10.0, 25.0) and "px_per_mm" in s.assumed
    # Pulses within the gain's tolerance keep the grid's scale.
    near = Pulse(x0_px=100, x1_px=120, height_px=9.3 * PPM, width_px=4.65 * PPM,
                 side="start")
    s = page_scales([near] * 4, PPM, grid_measured=True)
    assert (s.px_per_mm, s.mm_per_mv, s.mm_per_s) == (PPM, 10.0, 25.0)
    # A standard pair of settings keeps the grid's scale: 5 mm/mV at 50 mm/s (5 x 10 mm).
    odd = Pulse(x0_px=100, x1_px=140, height_px=5.0 * PPM, width_px=10.0 * PPM, side="start")
    s = page_scales([odd] * 4, PPM, grid_measured=True)
    assert (s.px_per_mm, s.mm_per_mv, s.mm_per_s) == (PPM, 5.0, 50.0)


@pytest.mark.parametrize(("gain", "inverted", "found"), [
    (10.0, False, True), (10.0, True, False), (5.0, False, False), (20.0, False, False)])
def test_a_pulse_with_a_broken_top_stroke(gain: float, inverted: bool, found: bool) -> None:
    """Photo 6x2 bench page 10: the mask lost 30% of the pulses' thin top strokes. Such a
    pulse is still found when it has the usual shape (10 x 5 mm) and stands upright; a
    broken flat stroke of any other pulse is too likely two waves' tips."""
    mask, row = page_with_pulse(gain, inverted)
    flat_y = round(row.y_px + (gain if inverted else -gain) * PPM)
    x0 = 40 + int(1.5 * PPM)
    mask[flat_y - 2:flat_y + 3, x0:x0 + int(1.5 * PPM)] = False
    p = find_pulse(mask, row, PPM, "start")
    assert (p is not None) == found
    if p is not None:
        assert p.height_px / PPM == pytest.approx(gain, rel=0.05)
    # Whole, every one of them is a pulse.
    assert find_pulse(page_with_pulse(gain, inverted)[0], row, PPM, "start") is not None


def test_a_pulse_crossed_by_grid_lines_is_found() -> None:
    """Photo 6x2 bench page 12: the mask kept two dashed grid lines through every start
    pulse (over 5% of its inside). Lines that go on beyond both strokes are not ink
    inside; the same dashes inside the pulse alone are."""
    def dashed(mask: np.ndarray, x0: int, x1: int) -> np.ndarray:
        out = mask.copy()
        for y in (row.y_px - 3 * PPM, row.y_px - 7 * PPM):  # 3 px thick, 3 of every 4 px
            for x in range(x0, x1, 4):
                out[int(y) - 1:int(y) + 2, x:x + 3] = True
        return out

    mask, row = page_with_pulse(10.0)
    p = find_pulse(dashed(mask, 0, 200), row, PPM, "start")
    assert p is not None and p.height_px / PPM == pytest.approx(10.0, rel=0.05)
    assert find_pulse(dashed(mask, 40 + 3, 40 + int(5 * PPM) - 2), row, PPM, "start") is None


def test_pulse_with_broken_stroke_edges() -> None:
    # A 72-dpi photo (4 px/mm): the pulse's 2-px sides have a broken inner column, read as
    # strokes of their own beside the sides; they are no ink inside the pulse.
    ppm, base = 4.0, 150
    mask = np.zeros((300, 600), bool)
    mask[base, 10:40] = True
    mask[base - 40:base + 1, 40] = True  # left side, 10 mm tall
    mask[base - 25:base - 5, 41] = True  # its broken inner column
    mask[base - 40, 40:61] = True  # the top, 5 mm wide
    mask[base - 40:base + 1, 60] = True  # right side
    mask[base - 30:base - 2, 59] = True
    mask[base, 60:580] = True
    row = TraceRow(y_px=float(base), x0_px=10, x1_px=580, top_px=75, bottom_px=225)
    p = find_pulse(mask, row, ppm, "start")
    assert p is not None and not p.inverted
    assert p.height_px / ppm == pytest.approx(10.0, rel=0.05)


def _dotted_inside(mask: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """2 x 2 px dots every 1 mm inside box (y0, y1, x0, x1): a dotted grid (6 % ink)."""
    y0, y1, x0, x1 = box
    step = int(PPM)
    for dy in (0, 1):
        for dx in (0, 1):
            mask[y0 + dy:y1:step, x0 + dx:x1:step] = True


@pytest.mark.parametrize("gain", [5.0, 10.0])
def test_a_pulse_over_a_dotted_grid_is_found(gain: float) -> None:
    # Real picture ecg00028: the grid's dots filled 8-14 % of the pulses' inside, and the
    # pulse was read as the first 0.4 s of lead I.
    mask, row = page_with_pulse(gain)
    base, h = 300, round(gain * PPM)
    _dotted_inside(mask, (base - h + 4, base - 3, 44, 40 + int(5 * PPM) - 3))
    p = find_pulse(mask, row, PPM, "start")
    assert p is not None
    assert p.height_px / PPM == pytest.approx(gain, rel=0.05)


def test_only_a_dot_lattice_is_discounted_inside_a_pulse() -> None:
    # A 2.5 mm box over dots (a trace's notch on a real picture passed for a 2.5 mm/mV
    # pulse), a box with a piece of line inside, and one with three small blobs (a serif
    # label's pieces between two stems: "III" on a 100 dpi scan) stay no pulse.
    mask, row = page_with_pulse(2.5)
    _dotted_inside(mask, (300 - 20 + 3, 300 - 2, 43, 40 + int(5 * PPM) - 2))
    assert find_pulse(mask, row, PPM, "start") is None
    mask, row = page_with_pulse(10.0)
    cv2.line(mask.view(np.uint8), (46, 270), (74, 250), 1, 2)  # a piece of line inside
    assert find_pulse(mask, row, PPM, "start") is None
    mask, row = page_with_pulse(10.0)
    for y in (236, 256, 276):  # three 7 x 7 px blobs, each under 1 mm: 7 % of the inside
        mask[y:y + 7, 55:62] = True
    assert find_pulse(mask, row, PPM, "start") is None


def test_inverted_pulse_is_flagged() -> None:
    mask, row = page_with_pulse(10.0, inverted=True)
    p = find_pulse(mask, row, PPM, "start")
    assert p is not None and p.inverted


def test_no_pulse_assumes_defaults() -> None:
    mask, row = page_with_pulse(10.0)
    mask[:, :100] = False
    assert find_pulse(mask, row, PPM, "start") is None
    s = page_scales([], PPM, grid_measured=True)
    assert (s.mm_per_mv, s.mm_per_s) == (10.0, 25.0)
    assert set(s.assumed) == {"mm_per_mv", "mm_per_s"}


def test_snap() -> None:
    assert snap(9.6, (5.0, 10.0, 20.0), 0.1) == (10.0, True)
    assert snap(14.0, (5.0, 10.0, 20.0), 0.1) == (14.0, False)


def test_pulses_of_most_rows_outvote_an_odd_one() -> None:
    label = Pulse(212, 232, height_px=32.0, width_px=16.0, side="start")  # a serif "III"
    ends = [Pulse(2102, 2144, height_px=39.0 + 0.5 * (k == 0), width_px=39.5, side="end")
            for k in range(4)]
    assert agreeing_pulses([label, *ends]) == ends
    starts = [Pulse(10, 50, 39.0, 39.5, "start"), Pulse(10, 50, 39.0, 39.5, "start")]
    assert agreeing_pulses([ends[1], *starts, ends[2]]) == [ends[1], *starts, ends[2]]
    assert agreeing_pulses([label, ends[0]]) == [label]  # a tie: the start pulse
    assert agreeing_pulses([]) == []


@pytest.mark.parametrize("offset_mm", [-6.0, 6.0])
def test_pulse_apart_from_a_trace_drawn_off_its_baseline(offset_mm: float) -> None:
    # The pulse stands on 0 mV; the trace beside it (after a gap) carries the record's DC
    # offset of 0.6 mV at 10 mm/mV, so the row's line lies 6 mm off the pulse's foot.
    img = np.zeros((600, 1200), np.uint8)
    base = 300
    line = round(base + offset_mm * PPM)
    x0, x1 = 40, 40 + int(5 * PPM)
    pulse = [(20, base), (x0, base), (x0, base - 80), (x1, base - 80), (x1, base), (x1 + 8, base)]
    cv2.polylines(img, [np.array(pulse, np.int32)], False, 255, 2)
    cv2.line(img, (x1 + 40, line), (1150, line), 255, 2)
    row = TraceRow(y_px=float(line), x0_px=x1 + 40, x1_px=1150, top_px=150, bottom_px=450)
    p = find_pulse(img > 0, row, PPM, "start")
    assert p is not None and not p.inverted
    assert p.height_px / PPM == pytest.approx(10.0, rel=0.05)


@pytest.mark.parametrize("width_px", [24.3, 24.5, 24.8, 25.25])
def test_pulse_width_to_a_fraction_of_a_pixel_from_its_ink(width_px: float) -> None:
    """An anti-aliased pulse whose sides fall between pixel columns (a 0.2 s pulse at
    ~5 px/mm, as on gridless photos): its width comes from where the sides' ink lies, not
    from the columns they touch (off by up to a pixel, 2-4%)."""
    scale, base, x_left = 16, 150, 30.3  # drawn 16x finer, then area-averaged
    big = np.zeros((300 * scale, 400 * scale), np.uint8)
    left, right = round(x_left * scale), round((x_left + width_px) * scale)
    width_px = (right - left) / scale  # as drawn on the fine grid
    pts = [(10 * scale, base * scale), (left, base * scale), (left, (base - 50) * scale),
           (right, (base - 50) * scale), (right, base * scale), (390 * scale, base * scale)]
    cv2.polylines(big, [np.array(pts, np.int32)], False, 255, 23)  # 1.4 px, odd: centred
    ink = cv2.resize(big.astype(np.float32) / 255, (400, 300), interpolation=cv2.INTER_AREA)
    row = TraceRow(y_px=float(base), x0_px=10, x1_px=390, top_px=75, bottom_px=225)
    columns_only = find_pulse(ink > 0.2, row, 5.0, "start")
    from_ink = find_pulse(ink > 0.2, row, 5.0, "start", ink=ink)
    assert columns_only is not None and from_ink is not None
    assert from_ink.width_px == pytest.approx(width_px, abs=0.1)
    assert abs(columns_only.width_px - width_px) > abs(from_ink.width_px - width_px)


def test_a_standard_sheets_sides_give_px_per_mm_along_and_across_the_rows() -> None:
    from pipeline.calibration import sheet_px_per_mm

    # An A4 sheet upright (rows along its 210 mm side), straightened to 1094 x 1515 px: the
    # pulse width said 5.142 px/mm, 1.3 % short of what the sheet's width says.
    x, y = sheet_px_per_mm((1094.0, 1515.0), 5.142) or (0.0, 0.0)
    assert x == pytest.approx(1094 / 210) and y == pytest.approx(1515 / 297)
    # Letter, landscape.
    x, y = sheet_px_per_mm((1400.0, 1082.0), 5.0) or (0.0, 0.0)
    assert x == pytest.approx(1400 / 279.4) and y == pytest.approx(1082 / 215.9)
    # Sides of no standard paper (a sheet cut off by the picture's edge), and a sheet whose
    # scale is far from the page's own estimate: not used.
    assert sheet_px_per_mm((1644.0, 1020.0), 5.5) is None
    assert sheet_px_per_mm((1094.0, 1515.0), 4.8) is None
    # Upright, A4 and letter both within 2 % of the estimate and their sides no better
    # agreed for one than the other: neither.
    assert sheet_px_per_mm((1080.0, 1460.0), 5.07) is None


def test_a_gridless_photos_scales_follow_its_sheet() -> None:
    from pipeline.calibration import scales_from_sheet

    pulse = Pulse(0, 25, height_px=51.0, width_px=25.7, side="end")
    scales = page_scales([pulse], 5.0, grid_measured=False)  # px/mm from the pulse width
    assert scales.px_per_s == pytest.approx(128.5)
    out = scales_from_sheet(scales, (1094.0, 1515.0))
    assert out.px_per_mm == pytest.approx(1094 / 210)
    assert out.px_per_s == pytest.approx(25.0 * 1094 / 210)
    assert out.px_per_mv == scales.px_per_mv == 51.0  # the pulse measured the height
    assert "paper_size" in out.assumed and "px_per_mm" in out.assumed
    # No pulse: the height follows the sheet too.
    bare = page_scales([], 1515.0 / 297.0 * 1.02, grid_measured=False)
    out = scales_from_sheet(bare, (1094.0, 1515.0))
    assert out.px_per_mv == pytest.approx(10.0 * 1515 / 297)
    # A sheet of no standard size leaves them as they were.
    assert scales_from_sheet(scales, (1000.0, 1000.0)) == scales


def test_a_gridless_pulseless_page_seen_square_on_takes_its_pictures_paper_size() -> None:
    from pipeline.calibration import scales_from_sheet

    # No grid, no pulse: rows read as 10 s said 4.91 px/mm on an A4 portrait page at 200
    # dpi whose rows show 6.2 s; the picture's own size says 7.88.
    assumed = page_scales([], 4.91, grid_measured=False)
    out = scales_from_sheet(assumed, (1654.0, 2339.0), whole_image=True)
    assert out.px_per_mm == pytest.approx(1654 / 210)
    assert out.px_per_s == pytest.approx(25.0 * 1654 / 210)
    assert "paper_size" in out.assumed
    # A photographed sheet's outline (perhaps cut off) must still agree with the estimate.
    assert scales_from_sheet(assumed, (1654.0, 2339.0)) == assumed
    # A picture 1.3 % off A4's aspect (300 x 215 mm) is not A4.
    assert scales_from_sheet(assumed, (2400.0, 1720.0), whole_image=True) == assumed
    # A pulse's px/mm must agree with the picture's within 2 %.
    pulse = Pulse(0, 25, height_px=51.0, width_px=25.7, side="end")
    measured = page_scales([pulse], 5.0, grid_measured=False)
    assert scales_from_sheet(measured, (1654.0, 2339.0), whole_image=True) == measured


def test_a_gridless_pages_whole_rows_read_as_10_s_set_its_time_scale() -> None:
    from pipeline.calibration import ROW_RECORD_S, scales_from_rows

    # A binarized scan's pulse, 39 px wide and 78.7 tall, says 7.8 px/mm (195 px/s); its
    # whole rows, 1,968 px, then read 10.09 s: the pulse's width is a pixel-rounded 1 % off.
    pulse = Pulse(0, 39, height_px=78.7, width_px=39.0, side="start")
    scales = page_scales([pulse], 7.0, grid_measured=False)
    assert scales.px_per_s == pytest.approx(195.0)
    out = scales_from_rows(scales, [1968.0, 1969.0, 1967.0])
    assert out.px_per_s == pytest.approx(1968.0 / ROW_RECORD_S)  # 9.99 s: see its comment
    assert out.px_per_mm == pytest.approx(1968.0 / ROW_RECORD_S / 25.0)
    assert out.px_per_mv == scales.px_per_mv == 78.7  # set by the pulse's height
    assert "rows_show_10_s" in out.assumed and "px_per_mm" in out.assumed
    # Rows a little short (9.96 s) are still the pulse's error; rows shorter may be a page
    # narrower than the record (9.9 s, 9.76 s), or a faster speed (50 mm/s: 5 s): left as
    # read.
    assert scales_from_rows(scales, [1942.2]).px_per_s == pytest.approx(1942.2 / ROW_RECORD_S)
    assert scales_from_rows(scales, [1930.5]) == scales
    assert scales_from_rows(scales, [1903.2]) == scales
    assert scales_from_rows(scales, [975.0]) == scales
    # Rows past 10.4 s are no pulse error either; no whole row, or a grid: left as read.
    assert scales_from_rows(scales, [2050.0]) == scales
    assert scales_from_rows(scales, []) == scales
    gridded = page_scales([pulse], 7.8, grid_measured=True)
    assert scales_from_rows(gridded, [1968.0]) == gridded
    # No pulse: px/mm was the raw rows' as 10 s; whole rows refine it, the height with it.
    bare = page_scales([], 7.8, grid_measured=False)
    out = scales_from_rows(bare, [1968.0])
    assert out.px_per_mm == pytest.approx(1968.0 / ROW_RECORD_S / 25.0)
    assert out.px_per_mv == pytest.approx(10.0 * out.px_per_mm)


def test_a_picture_whose_paper_would_show_more_than_10_s_in_whole_rows_is_not_that_paper(
        ) -> None:
    from pipeline.calibration import scales_from_rows, scales_from_sheet

    def rows_scales(length_px: float) -> Scales:
        return scales_from_rows(page_scales([], length_px / 250.0, grid_measured=False),
                                [length_px])

    # A cropped scan of 2200 x 1555 px has A4's aspect; as A4 its whole rows, 1,967 px,
    # would show 11.2 s: it is not A4, and the rows' own scale stays.
    rows = rows_scales(1967.0)
    assert scales_from_sheet(rows, (2200.0, 1555.0), whole_image=True) == rows
    # Letter at 200 dpi, its rows 1,921 px: 9.76 s on the paper, which is taken.
    rows = rows_scales(1921.0)
    out = scales_from_sheet(rows, (2200.0, 1700.0), whole_image=True)
    assert out.px_per_mm == pytest.approx(2200 / 279.4)
    # A4 portrait at 150 dpi whose rows show 6.2 s: the paper is taken.
    rows = rows_scales(1220.0)
    out = scales_from_sheet(rows, (1240.0, 1754.0), whole_image=True)
    assert out.px_per_mm == pytest.approx(1240 / 210)


def test_a_lone_pulse_is_doubted_only_on_a_page_with_a_grid() -> None:
    """Without a grid the pulse sets px/mm itself: any lone pulse is believed; two that
    agree are believed everywhere."""
    piece = Pulse(x0_px=100, x1_px=116, height_px=3.2 * PPM, width_px=2.0 * PPM, side="start")
    usual = Pulse(x0_px=100, x1_px=140, height_px=10.0 * PPM, width_px=5.0 * PPM, side="start")
    assert lone_pulse_doubted([piece], PPM, grid_measured=True)
    assert not lone_pulse_doubted([piece], PPM, grid_measured=False)
    assert not lone_pulse_doubted([piece, piece], PPM, grid_measured=True)
    assert not lone_pulse_doubted([usual], PPM, grid_measured=True)


def test_a_doubted_lone_pulse_of_about_the_usual_height_still_starts_its_row() -> None:
    """Real picture ecg00028's lone pulse: 11.4 x 3.8 mm at the grid's px/mm, no standard
    height (the usual settings are assumed) but a pulse, after which its row starts; a
    2.2 x 2.0 mm piece is none (clean upside-down page 3 without pulses: every row
    started there, each lead 164 ms early)."""
    real = Pulse(x0_px=36, x1_px=53, height_px=11.4 * PPM, width_px=3.8 * PPM, side="start")
    piece = Pulse(x0_px=100, x1_px=116, height_px=2.2 * PPM, width_px=2.0 * PPM, side="start")
    assert lone_pulse_doubted([real], PPM, grid_measured=True)
    assert not lone_piece([real], PPM, grid_measured=True)
    assert lone_piece([piece], PPM, grid_measured=True)
    assert not lone_piece([piece, piece], PPM, grid_measured=True)
