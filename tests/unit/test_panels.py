"""pipeline.panels: gaps between the panels of a row."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.extract import RowTrace
from pipeline.layout import TraceRow
from pipeline.panels import PanelGaps, close_trace, find_panel_gaps, row_gaps

PPM = 8.0


def _page(gap_rows: tuple[int, ...], gap_mm: float = 6.0, widths_mm: tuple[float, ...] = (
        62.5, 62.5, 62.5, 62.5)) -> tuple[np.ndarray, list[TraceRow], list[float], list[float]]:
    """A mask with 4 rows of ink 80 px apart; rows in gap_rows are drawn as panels of the
    given widths separated by gap_mm, the others as one line. -> mask, rows, starts, ends."""
    mask = np.zeros((400, 2600), bool)
    rows, starts, ends = [], [], []
    for r in range(4):
        y, x = 50 + 80 * r, 100
        if r in gap_rows:
            for k, wmm in enumerate(widths_mm):
                w = round(wmm * PPM)
                mask[y - 1:y + 2, x:x + w] = True
                x += w + (round(gap_mm * PPM) if k < len(widths_mm) - 1 else 0)
        else:
            x += round(250 * PPM)
            mask[y - 1:y + 2, 100:x] = True
        rows.append(TraceRow(y_px=float(y), x0_px=100, x1_px=x - 1, top_px=y - 40,
                             bottom_px=y + 40))
        starts.append(100.0)
        ends.append(float(x - 1))
    return mask, rows, starts, ends


def test_gaps_shared_by_rows_are_found() -> None:
    mask, rows, starts, ends = _page((0, 1, 2))
    gaps = find_panel_gaps(mask, rows, starts, ends, PPM)
    assert gaps is not None and gaps.rows == (0, 1, 2)
    assert len(gaps.gaps) == 3
    assert all(x1 - x0 + 1 == pytest.approx(6.0 * PPM, abs=1) for x0, x1 in gaps.gaps)


def test_one_row_with_gaps_is_no_pattern() -> None:
    mask, rows, starts, ends = _page((1,))
    assert find_panel_gaps(mask, rows, starts, ends, PPM) is None


def test_unequal_panels_are_no_pattern() -> None:
    # Breaks that cut rows into unequal pieces are unread stretches, not panels.
    mask, rows, starts, ends = _page((0, 1, 2), widths_mm=(40.0, 85.0, 62.5, 62.5))
    assert find_panel_gaps(mask, rows, starts, ends, PPM) is None


def test_gaps_narrower_than_the_least_are_ignored() -> None:
    mask, rows, starts, ends = _page((0, 1, 2), gap_mm=1.0)
    assert row_gaps(mask, rows[0], starts[0], ends[0], PPM) == []


def test_close_and_open_are_inverse() -> None:
    gaps = PanelGaps(((100.0, 149.0), (300.0, 349.0)), (0,))
    x = np.array([50.0, 99.0, 120.0, 150.0, 299.0, 349.0, 350.0, 400.0])
    closed = gaps.close(x)
    assert np.isnan(closed[2]) and np.isnan(closed[5])
    drawn = np.isfinite(closed)
    np.testing.assert_allclose(closed[drawn], [50, 99, 100, 249, 250, 300])
    assert [gaps.open(c) for c in closed[drawn]] == list(x[drawn])


def test_close_trace_drops_samples_in_gaps() -> None:
    x = np.arange(0.0, 400.0, 2.0)
    tr = RowTrace(x_px=x, y_px=np.sin(x / 20.0), line_width_px=2.0,
                  confident=np.ones(x.size, bool))
    closed = close_trace(tr, PanelGaps(((100.0, 149.0),), (0,)))
    assert closed.x_px.size == x.size - 25
    assert np.all(np.diff(closed.x_px) > 0)
    # A sample after the gap keeps its value and moves left by the gap's width.
    i = int(np.flatnonzero(x == 200.0)[0])
    j = int(np.flatnonzero(closed.x_px == 150.0)[0])  # 200 - 50
    assert closed.y_px[j] == tr.y_px[i]


def test_a_row_end_is_one_inner_panel_past_the_last_gap() -> None:
    # Panels of 500 px between gaps of 50: the last panel's line read 30 px short (its flat
    # end taken for a grid line) still ends 500 px after the last gap, gaps taken out.
    gaps = PanelGaps(((600.0, 649.0), (1150.0, 1199.0), (1700.0, 1749.0)), (0, 1, 2))
    assert gaps.inner_panel_px() == 500.0
    assert gaps.closed_end(2220.0, 4.0) == 1750.0 - 150.0 + 499.0
    assert gaps.first_start(130.0, 4.0) == 100.0  # its first 30 px lost the same way
    # A reading within the tolerance is kept (sub-pixel; the panels' widths whole columns).
    assert gaps.first_start(101.6, 4.0) == 101.6
    assert gaps.closed_end(2247.0, 4.0) == 2247.0 - 150.0
    # A single gap bounds no panel on both sides: the row's own end, closed.
    one = PanelGaps(((600.0, 649.0),), (0, 1))
    assert one.inner_panel_px() is None
    assert one.closed_end(1120.0, 4.0) == 1070.0
    assert one.first_start(130.0, 4.0) == 130.0


def test_panels_found_on_a_page_give_the_drawn_end() -> None:
    mask, rows, starts, ends = _page((0, 1, 2))
    gaps = find_panel_gaps(mask, rows, starts, ends, PPM)
    assert gaps is not None
    drawn_end = gaps.close(np.array([ends[0]]))[0]
    assert gaps.closed_end(ends[0] - 20.0, 4.0) == pytest.approx(drawn_end, abs=0.5)


def test_of_two_panels_the_narrower_read_is_widened_to_the_other() -> None:
    gaps = PanelGaps(((600.0, 649.0),), (0, 1))
    # Panels 100..599 and 650..1149: the first read from 104 (its faint flat start lost).
    assert gaps.outer_edges(104.0, 1149.0, 2.0) == (100.0, 1099.0)
    # The second read 5 px short: widened to the first's 500 px (closed: less the gap).
    assert gaps.outer_edges(100.0, 1144.0, 2.0) == (100.0, 1149.0 - 50.0)
    # Within the tolerance, or with inner panels, each keeps its own reading.
    assert gaps.outer_edges(101.0, 1149.0, 2.0) == (101.0, 1099.0)
    three = PanelGaps(((600.0, 649.0), (1150.0, 1199.0)), (0, 1))
    assert three.outer_edges(104.0, 1699.0, 2.0) == (104.0, 1599.0)


def test_row_edges_hold_a_row_to_its_panels_by_their_count() -> None:
    # At 8 px/mm: one gap widens the narrower panel (over 2 px narrower); three gaps
    # place the edges by the inner panels (over 4 px off).
    one = PanelGaps(((600.0, 649.0),), (0, 1))
    assert one.row_edges(104.0, 1149.0, PPM) == one.outer_edges(104.0, 1149.0, 0.25 * PPM)
    three = PanelGaps(((600.0, 649.0), (1150.0, 1199.0), (1700.0, 1749.0)), (0, 1, 2))
    assert three.row_edges(130.0, 2220.0, PPM) == (100.0, 1750.0 - 150.0 + 499.0)
