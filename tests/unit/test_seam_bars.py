"""pipeline.seam_bars: bars printed across the baseline between a row's leads."""
from __future__ import annotations

import numpy as np

from pipeline.extract import RowTrace
from pipeline.layout import TraceRow
from pipeline.seam_bars import (
    bar_spans,
    bars_on_seams,
    find_seam_bars,
    rows_on_seams,
    unread_before,
)

PPM = 8.0  # px/mm
BASELINES = (100, 250, 400)  # px, one per row
SEAMS = (300, 600)  # px: each bar's first column


def page(bars_in: tuple[int, ...] = (0, 1, 2), width: int = 6, half: int = 25,
         lift: int = 0) -> tuple[np.ndarray, list[TraceRow]]:
    """(500, 950) bool trace mask of three rows: a 3 px line along each baseline from
    column 3 to 902, split in three equal columns by, in rows `bars_in`, a bar `width` px
    wide at each seam, from baseline - half - lift to baseline + half - lift."""
    mask = np.zeros((500, 950), dtype=bool)
    rows = []
    for k, y in enumerate(BASELINES):
        mask[y - 1:y + 2, 3:903] = True
        if k in bars_in:
            for x in SEAMS:
                mask[y - half - lift:y + half - lift + 1, x:x + width] = True
        rows.append(TraceRow(float(y), 3, 902, y - 70, y + 70))
    return mask, rows


def found(mask: np.ndarray, rows: list[TraceRow]) -> list[tuple[int, float]]:
    bars = find_seam_bars(mask, mask.astype(np.float32), rows, [r.y_px for r in rows], PPM)
    return sorted((b.row, b.centre_px) for b in bars)


def test_bars_at_the_same_column_in_several_rows_are_found_with_their_centres() -> None:
    mask, rows = page()
    assert found(mask, rows) == [(k, x + 2.5) for k in range(3) for x in SEAMS]


def test_a_bar_in_one_row_only_is_no_seam() -> None:
    mask, rows = page(bars_in=(1,))
    assert found(mask, rows) == []


def test_strokes_that_are_no_bars_are_not_taken_for_one() -> None:
    # A wave above the baseline only (an R wave), a hairline, and a blob wider than a bar.
    mask, rows = page(lift=24)
    assert found(mask, rows) == []
    mask, rows = page(width=1)  # as thin as the line (3 px thick): a QRS stroke's width
    assert found(mask, rows) == []
    mask, rows = page(width=20)  # 2.5 mm: no bar is that wide
    assert found(mask, rows) == []


def test_rows_start_a_column_before_their_first_bar() -> None:
    mask, rows = page()
    bars = find_seam_bars(mask, mask.astype(np.float32), rows, [r.y_px for r in rows], PPM)
    # Columns of 300 px: the rows start at 2.5 and end at 902.5; read 4 px late and 1 px
    # early, a fourth row without bars (a rhythm strip) read like them.
    starts, ends, readable = rows_on_seams([6.5, 6.5, 6.5, 6.5], [901.5] * 4, bars, PPM)
    assert np.allclose(starts, 2.5) and np.allclose(ends[:3], 902.5) and ends[3] == 901.5
    assert readable == [6.5] * 4


def test_rows_too_far_from_their_bars_or_unevenly_split_are_left() -> None:
    mask, rows = page()
    bars = find_seam_bars(mask, mask.astype(np.float32), rows, [r.y_px for r in rows], PPM)
    far = [2.5 + 2 * PPM] * 3  # 2 mm from where the bars put them
    assert rows_on_seams(far, [902.5] * 3, bars, PPM)[0] == far
    uneven = [b for b in bars if b.centre_px < 500] + [
        type(b)(b.row, b.x0_px + 40, b.x1_px + 40, b.top_px, b.bottom_px, b.centre_px + 40)
        for b in bars if b.centre_px > 500]
    uneven += [type(b)(b.row, 850, 855, b.top_px, b.bottom_px, 852.5) for b in bars[:3]]
    assert rows_on_seams([6.5] * 3, [901.5] * 3, uneven, PPM)[0] == [6.5] * 3


def test_bar_spans_and_unread_starts_leave_their_columns_unread() -> None:
    mask, rows = page()
    bars = find_seam_bars(mask, mask.astype(np.float32), rows, [r.y_px for r in rows], PPM)
    assert bar_spans(bars, 4, PPM) == [[(299, 306), (599, 606)]] * 3 + [[]]
    # A row whose bar at one seam was not found (a wave through it) is still not read there.
    partial = [b for b in bars if not (b.row == 2 and b.centre_px > 500)]
    assert bar_spans(partial, 4, PPM) == [[(299, 306), (599, 606)]] * 3 + [[]]
    x = np.arange(0.0, 20.0, 0.5)
    trace = RowTrace(x, np.full(x.size, 5.0), 2.0, np.ones(x.size, bool))
    cut = unread_before(trace, 7.0)
    assert np.isnan(cut.y_px[x < 7.0]).all() and (cut.y_px[x >= 7.0] == 5.0).all()
    assert not cut.confident[x < 7.0].any()
    assert unread_before(trace, None) is trace


def test_only_bars_that_split_their_rows_evenly_are_seams() -> None:
    mask, rows = page()
    bars = find_seam_bars(mask, mask.astype(np.float32), rows, [r.y_px for r in rows], PPM)
    assert bars_on_seams(bars, [2.5] * 3, [902.5] * 3, PPM) == bars  # three columns
    # Rows that end 3 mm short of a third column: the bars split them unevenly (QRS
    # strokes of simultaneous leads, alike in two rows by chance).
    assert bars_on_seams(bars, [2.5] * 3, [879.0] * 3, PPM) == []
    # Four columns whose third seam waves hide in every row: two of three found will do,
    # one will not.
    assert bars_on_seams(bars, [2.5] * 3, [1202.5] * 3, PPM) == bars
    first = [b for b in bars if b.centre_px < 500]
    assert bars_on_seams(first, [2.5] * 3, [1202.5] * 3, PPM) == []


def test_line_thickness_is_the_median_short_run_through_the_baseline() -> None:
    """`_line_thickness` (vectorised, over 1 mm about the row) agrees with its definition
    column by column: the runs `_run_through` gives, under 1 mm long, their median."""
    from pipeline.seam_bars import _line_thickness, _run_through

    rng = np.random.default_rng(3)
    for _ in range(100):
        band = rng.random((60, 200)) < rng.uniform(0.05, 0.9)
        y, ppm = int(rng.integers(0, 60)), float(rng.uniform(2.0, 12.0))
        runs = [run for c in range(band.shape[1])
                if (run := _run_through(band[:, c], y)) is not None and run[1] - run[0] + 1 < ppm]
        expected = float(np.median([b - a + 1 for a, b in runs])) if runs else 1.0
        assert _line_thickness(band, y, ppm) == expected
