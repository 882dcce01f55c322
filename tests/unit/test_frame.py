"""pipeline.frame: a plot's border lines hold the rows' starts and ends."""
from __future__ import annotations

import numpy as np

from pipeline.frame import (
    Frame,
    find_frame,
    hold_inside,
    tick_frame,
    without_edge_lines,
    without_side_lines,
    without_spines,
)

PPM = 4.0  # px/mm


def _rows_page(width: int = 800, height: int = 300) -> np.ndarray:
    """(height, width) trace mask: three wavy rows from x 30 to width - 30."""
    mask = np.zeros((height, width), bool)
    x = np.arange(30, width - 30)
    for base in (50, 150, 250):
        y = (base + 10 * np.sin(x / 15.0)).astype(int)
        mask[y, x] = True
    return mask


def test_the_plots_border_lines_are_its_frame() -> None:
    mask = _rows_page()
    mask[:, 55] = True  # matplotlib's left spine, the rows' labels before it
    mask[:, 760:762] = True  # a right spine 2 px wide
    frame = find_frame(mask, 0.0, 300.0, PPM)
    assert frame.left_px == 55.0
    assert frame.right_px == 760.5


def test_rows_read_from_a_label_before_the_frame_start_at_it() -> None:
    frame = Frame(left_px=55.0, right_px=760.5)
    starts, ends = hold_inside([30.0, 58.0, 10.0], [770.0, 750.0, 762.0], frame, PPM)
    # 30 (a label, 6 mm out) -> the frame; 58 is inside; 10 is 11 mm out: not this frame's
    assert starts == [55.0, 58.0, 10.0]
    assert ends == [760.5, 750.0, 760.5]


def test_a_page_without_border_lines_has_no_frame() -> None:
    assert find_frame(_rows_page(), 0.0, 300.0, PPM) == Frame(None, None)


def test_black_grid_lines_read_as_trace_ink_are_no_frame() -> None:
    mask = _rows_page()
    mask[:, 40::20] = True  # a line every 5 mm over the whole page
    assert find_frame(mask, 0.0, 300.0, PPM) == Frame(None, None)


def test_a_spike_through_every_row_moves_no_end() -> None:
    mask = _rows_page()
    mask[20:280, 300] = True  # 0.96 of the rows' height, in the page's middle
    mask[:, 55] = True
    frame = find_frame(mask, 20.0, 290.0, PPM)
    starts, ends = hold_inside([30.0] * 3, [770.0] * 3, frame, PPM)
    assert starts == [55.0] * 3
    assert ends == [770.0] * 3


def test_the_frames_top_and_bottom_lines_are_taken_out_of_the_mask() -> None:
    mask = _rows_page()
    mask[10:291, 55] = True  # side lines from the top line to the bottom line ...
    mask[10:295, 760] = True  # ... one running on 4 px into a tick mark
    top = np.zeros(800, bool)
    top[56:760] = (np.arange(56, 760) // 20) % 2 == 0  # broken where grid lines cross it
    mask[10] = top
    mask[290, 56:760] = True
    frame = find_frame(mask, 0.0, 300.0, PPM)
    out = without_spines(mask, frame, PPM)
    assert not out[10].any() and not out[290, 56:760].any()
    assert np.array_equal(out[20:280], mask[20:280])  # the rows and side lines stay
    # No frame, or side lines whose ends disagree by more than 2 mm: the mask as it was.
    assert without_spines(mask, Frame(None, 760.0), PPM) is mask
    uneven = mask.copy()
    uneven[10:40, 760] = False
    assert without_spines(uneven, find_frame(uneven, 0.0, 300.0, PPM), PPM)[10].any()


def test_a_top_line_mostly_lost_among_a_black_grid_is_still_the_frames() -> None:
    mask = _rows_page()
    mask[10:291, 55] = True
    mask[10:291, 760] = True
    mask[10, 56:760] = (np.arange(56, 760) % 8) == 0  # an eighth of it left in the mask
    out = without_spines(mask, find_frame(mask, 0.0, 300.0, PPM), PPM)
    assert not out[10, 56:760].any()


def test_the_frames_side_lines_are_taken_out_of_the_mask_for_reading() -> None:
    mask = _rows_page()
    mask[10:291, 55] = True
    mask[10:295, 760:762] = True  # 2 px wide
    frame = find_frame(mask, 0.0, 300.0, PPM)
    out = without_side_lines(mask, frame)
    assert not out[:, 55].any() and not out[:, 760:762].any()
    assert np.array_equal(out[:, 56:760], mask[:, 56:760])  # the rows between them stay
    assert np.array_equal(out[:, :55], mask[:, :55]) and np.array_equal(out[:, 762:],
                                                                         mask[:, 762:])
    assert without_side_lines(mask, Frame(None, None)) is mask


def _ticked_page(tick_rows: range, tick_x: tuple[int, int] = (22, 27)) -> np.ndarray:
    """_rows_page's rows starting at x 30 beside a side line at x 28 that is not in the mask
    (a black spine by a coloured trace), with its tick marks: 2 px tall dashes at
    tick_x[0]..tick_x[1] (1.5 mm, matplotlib's major ticks) on `tick_rows`."""
    mask = _rows_page()
    for y in tick_rows:
        mask[y:y + 2, tick_x[0]:tick_x[1] + 1] = True
    return mask


def test_tick_marks_place_a_side_line_the_mask_lacks() -> None:
    # Ticks every 20 px (every 0.5 mV at 10 mm/mV and 4 px/mm).
    frame = tick_frame(_ticked_page(range(10, 300, 20)), 0.0, 300.0, PPM, [22.0, 30.0])
    assert frame == Frame(30.0, None)  # the rows' ink resumes past the line, at x 30
    # A row read from its tick's start moves onto the line.
    starts, _ = hold_inside([22.0, 30.0], [770.0, 770.0], frame, PPM)
    assert starts == [30.0, 30.0]


def test_a_missing_tick_still_leaves_the_column_evenly_spaced() -> None:
    rows = [y for y in range(10, 300, 20) if y not in (130, 190)]  # taken by rows' lines
    assert tick_frame(_ticked_page(rows), 0.0, 300.0, PPM, [30.0]).left_px == 30.0


def test_dashes_at_uneven_places_or_of_other_lengths_are_no_ticks() -> None:
    uneven = _ticked_page((10, 23, 61, 70, 141, 200))
    assert tick_frame(uneven, 0.0, 300.0, PPM, [30.0]) == Frame(None, None)
    ragged = _rows_page()
    for k, y in enumerate(range(10, 300, 20)):  # one right end, left ends astray
        ragged[y:y + 2, 12 + (7 * k) % 9:28] = True
    assert tick_frame(ragged, 0.0, 300.0, PPM, [30.0]) == Frame(None, None)


def test_dashes_that_a_row_begins_before_are_no_ticks() -> None:
    # A row read from x 10, left of the dashes (22-27): they stand inside the plot (grid
    # dots, specks), no side line's ticks.
    page = _ticked_page(range(10, 300, 20))
    assert tick_frame(page, 0.0, 300.0, PPM, [10.0, 30.0]) == Frame(None, None)


def test_lines_along_the_pictures_edges_are_taken_out_of_the_mask() -> None:
    # A sheet's grid line on the picture's last row (and a frame line down its right
    # edge), as dark as the traces; a QRS tip that reaches the top edge is no line.
    mask = _rows_page()
    mask[-1, :] = True
    mask[-2, 100:700] = True
    mask[:, -1] = True
    mask[0:3, 400:403] = True  # a tip clipped by the top edge: 3 px wide
    out = without_edge_lines(mask, PPM)
    assert not out[-2:, :].any() and not out[:, -1].any()
    assert out[0:3, 400:403].all()
    assert (out[:-2, :-1] == mask[:-2, :-1]).all()  # nothing else moves


def test_a_picture_without_edge_lines_keeps_its_mask() -> None:
    mask = _rows_page()
    assert without_edge_lines(mask, PPM) is mask
