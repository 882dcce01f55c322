"""Specks in a line mask (`pipeline.line_maps.drop_specks`): a dotted grid's dots and
stray specks are dropped; a line's own dashes and a broken-off tip are kept."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline import line_maps
from pipeline.line_maps import drop_specks

PPM = 8.0  # px/mm: the dots of a 1 mm grid stand 8 px apart


def dotted_page(h: int = 400, w: int = 800, phase: tuple[int, int] = (3, 5)) -> np.ndarray:
    """(h, w) bool: 2 x 2 px dots on a 1 mm (8 px) lattice at phase (y, x) px."""
    mask = np.zeros((h, w), bool)
    for y in range(phase[0], h - 1, 8):
        for x in range(phase[1], w - 1, 8):
            mask[y:y + 2, x:x + 2] = True
    return mask


def test_dots_on_the_grid_lattice_leave_the_mask_and_the_line_stays() -> None:
    mask = dotted_page()
    line = np.zeros_like(mask)
    line[200:202, 100:700] = True  # a flat line 1 px off the dots' rows
    line[150:200, 400:402] = True  # and a QRS stroke up from it
    out = drop_specks(mask | line, PPM)
    assert out[line].all()
    far = np.ones_like(mask)
    far[190:212, 90:710] = False  # the dots touching the line merge with it
    far[140:212, 390:412] = False
    assert not (out & far).any()


def test_a_lines_dash_on_the_lattice_with_the_line_beside_it_stays() -> None:
    # A flat line broken where the grid's lines crossed it: a 2 px dash at a lattice place,
    # the line's other pieces a column to either side.
    mask = dotted_page()
    y, x = 3 + 8 * 20, 5 + 8 * 40
    mask[y:y + 2, x - 100:x - 1] = True
    mask[y:y + 2, x + 3:x + 100] = True
    out = drop_specks(mask, PPM)
    assert out[y:y + 2, x:x + 2].all()
    assert not out[y + 8:y + 10, x:x + 2].any()  # the dot below, off the line, goes


def test_specks_off_any_lattice_near_a_line_stay() -> None:
    # A thin stroke broken into dashes beside a line: its specks lie on no lattice.
    rng = np.random.default_rng(0)
    mask = np.zeros((400, 800), bool)
    mask[200:202, 20:780] = True
    for x, dy in zip(rng.integers(20, 778, 200), rng.integers(3, 6, 200), strict=True):
        mask[200 - dy - 1:200 - dy + 1, x:x + 2] = True
    assert drop_specks(mask, PPM) is mask


def test_a_speck_far_from_the_line_goes_and_one_beside_it_stays() -> None:
    mask = np.zeros((300, 600), bool)
    mask[150:152, 50:550] = True  # the line
    mask[60:62, 300:302] = True  # a label's dot, 11 mm above it
    mask[143:145, 200:202] = True  # a tip broken off, 0.6 mm above it
    out = drop_specks(mask, PPM)
    assert not out[60:62, 300:302].any()
    assert out[143:145, 200:202].all()
    assert out[150:152, 50:550].all()


def test_a_mask_of_lines_only_is_kept_as_it_is() -> None:
    mask = np.zeros((300, 600), bool)
    mask[150:152, 50:550] = True
    mask[100:150, 300:302] = True
    assert drop_specks(mask, PPM) is mask


def test_at_low_resolution_no_piece_counts_as_a_speck() -> None:
    # At 3 px/mm (a 75 dpi scan) a thin faint line falls into pieces of a pixel or two.
    mask = np.zeros((300, 600), bool)
    mask[150, 50:550:4] = True  # a faint line in 1 px pieces
    mask[60, 300] = True
    assert drop_specks(mask, 3.0) is mask


def test_many_specks_are_judged_as_few_are(monkeypatch: pytest.MonkeyPatch) -> None:
    # Over STRAY_WINDOWS_MAX specks, one dilation of the whole mask replaces a look at
    # each speck's surroundings: the same specks go.
    rng = np.random.default_rng(1)
    mask = np.zeros((400, 800), bool)
    mask[200:202, 20:780] = True
    mask[150:170, 400:402] = True
    mask[rng.integers(0, 400, 300), rng.integers(0, 800, 300)] = True
    few = drop_specks(mask, PPM)
    monkeypatch.setattr(line_maps, "STRAY_WINDOWS_MAX", 10)
    many = drop_specks(mask, PPM)
    assert few is not mask and np.array_equal(few, many)
    assert few[200:202, 20:780].all()
