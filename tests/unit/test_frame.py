"""pipeline.frame: a plot's border lines hold the rows' starts and ends."""
from __future__ import annotations

import numpy as np

from pipeline.frame import Frame, find_frame, hold_inside, without_spines

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
