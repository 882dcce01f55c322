"""Reading one row of traces at full resolution: the row's line, sampled every 0.5 px.

Per column, the trace mask splits into vertical runs of ink. A dynamic program picks one run
per column so that consecutive runs touch (a steep QRS is a chain of long, overlapping
runs; a jump through paper is expensive), staying near the row's baseline when in doubt.
This keeps a row on its own line where it touches or crosses a neighbouring row's trace.
A wave taller than the band (a deep S wave through the next rows) is read again with the ink
beyond the band that joins its strokes, about where they leave it (`_choose_far`).

The line is not read as one value per column (a centroid flattens the peaks of thick lines):
the chosen runs' sub-pixel top and bottom edges (from the ink coverage) are fitted by a
polyline whose pen stroke draws them (`pipeline.ink_fit`). Columns where a crossing line
lengthens the run, and run ends that other ink touches (a label's letter), are left out of
the fit; the line's ends are placed from the partial ink of its first and last columns.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

import cv2
import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from pipeline.ink_fit import FIT_SCHEDULE, fit_samples
from pipeline.runs import true_runs

#: Spacing of the fitted line's samples, px (a 500 Hz sample is 0.39 px at 200 dpi, 25 mm/s;
#: 0.5 px scores the same and fits a fifth faster).
SAMPLE_STEP_PX = 0.5
#: Fit stage for page ink: one soft stage (0.1 px, as FIT_SCHEDULE's first), 6 Gauss-Newton
#: steps. The sharper stages that make the exact-ink oracle exact only fit pixel noise on
#: real pages: same scores on clean and scanned pages at a third of the time.
LINE_FIT_TEMPERATURE_PX = FIT_SCHEDULE[0][0]
LINE_FIT_STEPS = 6
#: Curvature weight of that stage on exact edges (FIT_SCHEDULE's first)...
LINE_FIT_CURVATURE = FIT_SCHEDULE[0][1]
#: ... plus this much per px of edge noise for a pen 2 px wide, growing as the pen width's
#: fourth power from LINE_FIT_MIN_PEN_PX up (`line_fit_schedule`).
LINE_FIT_NOISE_CURVATURE = 0.2
LINE_FIT_MIN_PEN_PX = 1.0
#: Flat columns needed to measure a line's edge noise (`_pen_width`).
MIN_NOISE_COLUMNS = 10
#: Most runs per column kept for the dynamic program (nearest the baseline first).
MAX_RUNS = 8
#: Breaks in a row's own line (`choose_runs_skipping`): the path may leave up to
#: MAX_SKIPPED_COLS inked columns whose ink all lies beyond the row's half band (other rows'
#: lines) unread, at SKIP_COST each (in px of paper jumped), where the plain path jumps
#: through more than SKIP_COST px somewhere. A 1-3 column break in a thin, faint line with
#: a neighbour's line in the band cost a jump there and back (2 x 150 px on a 100-dpi
#: scan), so the path stayed on the neighbour's line for 100 columns.
SKIP_COST = 20.0
MAX_SKIPPED_COLS = 3
#: Smallest piece of other ink, in pen dots (pen width squared, px^2), that makes a run's
#: end beside it untrusted (`_edges_clear`): a letter's stroke is longer; smaller specks
#: are noise or the line's own blurred fringe cut off by the threshold, which on photos
#: and scans left QRS apexes unfitted (scan 18.7 -> 19.2 dB, photo 10.6 -> 11.0 on 8 pages).
MIN_OTHER_INK_DOTS = 2.0

#: Thinnest pen (px) whose broken strokes are bridged (`bridge_broken_strokes`): thin
#: sharp lines (clean 100-dpi pages, pen 2 px) hold runs of other ink beside a steep
#: stroke, not its fragments (clean 100 dpi -0.18 dB when bridged).
MIN_BRIDGED_PEN_PX = 3.0
#: Widest paper gap (in pen widths) between a broken stroke's fragments that is bridged.
BRIDGED_GAP_PENS = 3.0

#: One row's band: (top_px, bottom_px, x0_px, x1_px, baseline_px, prior_half_px).
RowBand = tuple[int, int, int, int, float, float | None]


@dataclass(frozen=True)
class RowTrace:
    """The line of one row, sampled every SAMPLE_STEP_PX along it.

    x_px: (N,) increasing column positions (px). y_px: (N,) float line position (px,
    sub-pixel), NaN where the row's line was not read. line_width_px: estimated pen width, px.
    confident: (N,) bool, samples over columns whose ink is the line's alone.
    """

    x_px: np.ndarray
    y_px: np.ndarray
    line_width_px: float
    confident: np.ndarray

    def at(self, x: np.ndarray) -> np.ndarray:
        """(M,) line position (px) at x ((M,) px), linear between neighbouring samples; NaN
        outside the row or next to an unread sample."""
        x = np.asarray(x, dtype=np.float64)
        i = np.clip(np.searchsorted(self.x_px, x, side="right") - 1, 0, self.x_px.size - 2)
        x0, x1 = self.x_px[i], self.x_px[i + 1]
        w = np.clip((x - x0) / np.where(x1 > x0, x1 - x0, 1.0), 0.0, 1.0)
        y = self.y_px[i] * (1.0 - w) + self.y_px[i + 1] * w
        inside = (x >= self.x_px[0]) & (x <= self.x_px[-1])
        return np.where(inside, y, np.nan)


def column_edges(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the vertical runs of `mask` ((h, w) bool) start and end: (column, row), each
    (E,) int, column by column from the left and top to bottom within a column. A
    column's edges alternate: a run's first row, then its last row + 1."""
    h, w = mask.shape
    padded = np.zeros((w, h + 2), dtype=np.int8)
    padded[:, 1:-1] = mask.T
    # One flat index per edge: 20x faster than np.nonzero's two of a 2-D int8 array.
    edges = np.flatnonzero(np.diff(padded, axis=1) != 0)
    column, row = np.divmod(edges, h + 1)
    return column, row


def column_runs(mask: np.ndarray, baseline: float, max_runs: int = MAX_RUNS
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertical ink runs of each column of a band.

    mask: (h, w) bool; baseline: row of the band the trace rests on (px, band coordinates).
    Returns (top, bottom, valid), each (w, K): first and last ink row of each run (inclusive),
    and which entries hold a run; per column at most K = max_runs runs, nearest the baseline.
    """
    w = mask.shape[1]
    edge_col, edge_row = column_edges(mask)
    s_col, s_row = edge_col[0::2], edge_row[0::2]
    e_row = edge_row[1::2] - 1
    top = np.zeros((w, max_runs), dtype=np.int64)
    bottom = np.zeros((w, max_runs), dtype=np.int64)
    valid = np.zeros((w, max_runs), dtype=bool)
    if s_col.size == 0:
        return top, bottom, valid
    counts = np.bincount(s_col, minlength=w)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    rank = np.arange(s_col.size) - starts[s_col]
    simple = counts[s_col] <= max_runs
    top[s_col[simple], rank[simple]] = s_row[simple]
    bottom[s_col[simple], rank[simple]] = e_row[simple]
    valid[s_col[simple], rank[simple]] = True
    for c in np.flatnonzero(counts > max_runs):  # rare: many runs (text); keep the nearest
        lo, hi = starts[c], starts[c] + counts[c]
        centre = 0.5 * (s_row[lo:hi] + e_row[lo:hi])
        keep = np.sort(np.argsort(np.abs(centre - baseline))[:max_runs])
        top[c] = s_row[lo:hi][keep]
        bottom[c] = e_row[lo:hi][keep]
        valid[c] = True
    return top, bottom, valid


def _prior(centre: np.ndarray, baseline: float, half_band: float,
           prior_cost: float) -> np.ndarray:
    """Cost of runs lying off the row's baseline: prior_cost * ((centre - baseline) /
    half_band)^2 for run centres (px, any shape)."""
    return prior_cost * np.square((centre - baseline) / max(half_band, 1.0))


def _step_cost(top_a: np.ndarray, bottom_a: np.ndarray, centre_a: np.ndarray,
               top_b: np.ndarray, bottom_b: np.ndarray, centre_b: np.ndarray,
               gap_cost: float, move_cost: float) -> np.ndarray:
    """Cost of stepping from runs a to runs b (arrays broadcast together, px): gap_cost
    per px of paper between them, move_cost per px their centres move."""
    gap = np.maximum(0, np.maximum(top_b - bottom_a, top_a - bottom_b) - 1)
    return gap_cost * gap + move_cost * np.abs(centre_a - centre_b)


def _paper_between(t: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n - 1,) px of paper between consecutive runs of a path, from their first and last
    ink rows t, b ((n,))."""
    return np.maximum(t[1:] - b[:-1], t[:-1] - b[1:]) - 1


def choose_runs(top: np.ndarray, bottom: np.ndarray, valid: np.ndarray, baseline: float,
                half_band: float, *, gap_cost: float = 1.0, move_cost: float = 0.02,
                prior_cost: float = 0.5) -> np.ndarray:
    """Pick one run per column by dynamic programming.

    top, bottom, valid: (w, K) from `column_runs`. baseline, half_band: px in band
    coordinates. Costs: gap_cost per px of paper between consecutive runs, move_cost per px
    of centre motion, prior_cost * ((centre - baseline) / half_band)^2 per column.
    Returns (w,) int index of the chosen run, -1 for columns with no run.
    """
    w, k = top.shape
    centre = 0.5 * (top + bottom)
    unary = np.where(valid, _prior(centre, baseline, half_band, prior_cost), np.inf)
    cols = np.flatnonzero(valid.any(axis=1))
    choice = np.full(w, -1, dtype=np.int64)
    if cols.size == 0:
        return choice
    back = np.zeros((cols.size, k), dtype=np.int64)
    cost = unary[cols[0]].copy()
    # Forced steps, from one run to one run (most columns): their costs for all columns at
    # once; a stretch of them only adds up, in order, onto the cost of its only state.
    single = valid.sum(axis=1) == 1
    a_all, b_all = cols[:-1], cols[1:]
    forced = single[a_all] & single[b_all]  # step i - 1 -> i is forced[i - 1]
    t0, b0, c0 = top[:, 0], bottom[:, 0], centre[:, 0]
    added = np.empty((cols.size - 1, 3))
    added[:, 0] = gap_cost * np.maximum(0, np.maximum(t0[b_all] - b0[a_all],
                                                      t0[a_all] - b0[b_all]) - 1)
    added[:, 1] = move_cost * np.abs(c0[a_all] - c0[b_all])
    added[:, 2] = unary[b_all, 0]
    # The other steps' (K, K) costs, run p before to run q after, also all at once.
    steps = np.flatnonzero(~forced) + 1
    a_s, b_s = cols[steps - 1], cols[steps]
    trans = _step_cost(top[a_s][:, :, None], bottom[a_s][:, :, None], centre[a_s][:, :, None],
                       top[b_s][:, None, :], bottom[b_s][:, None, :], centre[b_s][:, None, :],
                       gap_cost, move_cost)
    scalar: float | None = None  # cost of the only state while consecutive columns have one run
    done = 1  # steps before column `done` are taken
    for s, i in enumerate([*steps.tolist(), cols.size]):
        if i > done:  # forced steps done .. i - 1: a running sum, term by term
            start = float(cost[0]) if scalar is None else scalar
            scalar = float(np.add.accumulate(np.r_[start, added[done - 1:i - 1].ravel()])[-1])
        done = i + 1
        if i == cols.size:
            break
        if scalar is not None:
            cost = np.full(k, np.inf)
            cost[0] = scalar
            scalar = None
        total = cost[:, None] + trans[s]
        back[i] = np.argmin(total, axis=0)
        cost = total.min(axis=0) + unary[b_s[s]]
    if scalar is not None:
        cost = np.full(k, np.inf)
        cost[0] = scalar
    # Back from the cheapest end; a forced step's only run is run 0.
    path = np.zeros(cols.size, dtype=np.int64)
    path[-1] = int(np.argmin(cost))
    for i in np.flatnonzero(~forced)[::-1] + 1:
        path[i - 1] = back[i, path[i]]
    choice[cols] = path
    return choice


def choose_runs_skipping(top: np.ndarray, bottom: np.ndarray, valid: np.ndarray,
                         baseline: float, half_band: float, *, skip_cost: float = SKIP_COST,
                         max_skipped: int = MAX_SKIPPED_COLS, gap_cost: float = 1.0,
                         move_cost: float = 0.02, prior_cost: float = 0.5) -> np.ndarray:
    """`choose_runs` where the path may also leave up to max_skipped consecutive inked
    columns without a run, at skip_cost each, when all their ink lies farther than
    half_band from the baseline; its costs otherwise the same (the paper gap and motion
    measured between the runs either side of the skipped columns).

    `choose_runs` must take a run in every column that holds ink anywhere in the band.
    Where the row's own line breaks for a column or two and another row's line lies in the
    band, it pays the jump there and back, or stays on the other line; here it skips the
    break. The path is a shortest path through the runs (scipy's Dijkstra, in C: a step
    may span several columns, which the forced-step scan of `choose_runs` cannot take).
    Returns (w,) int index of the chosen run, -1 for columns with no run or skipped.
    """
    w, k = top.shape
    cols = np.flatnonzero(valid.any(axis=1))
    choice = np.full(w, -1, dtype=np.int64)
    n = cols.size
    if n == 0:
        return choice
    t, b, v = top[cols], bottom[cols], valid[cols]
    c = 0.5 * (t + b)
    unary = _prior(c, baseline, half_band, prior_cost)
    # Only columns whose ink all lies beyond the half band (other rows' lines) are skipped:
    # a stroke of the row's own (a panel starting at another level than the last one
    # ended) is followed, not skipped to land on the lead label beside the line (real
    # picture ecg00022's V3). held[i]: inked columns before i that may not be skipped.
    own = (v & (np.abs(c - baseline) <= half_band)).any(axis=1)
    held = np.r_[0, np.cumsum(own)]
    # Nodes: run r of inked column i is i * k + r; then a start and an end node. Every edge
    # weighs a little more than its cost: Dijkstra's graph holds no zero-weight edge.
    start, end = n * k, n * k + 1
    tiny = 1e-9
    src, dst, weight = [], [], []
    for d in range(1, min(max_skipped + 1, n - 1) + 1):
        cost = (_step_cost(t[:-d, :, None], b[:-d, :, None], c[:-d, :, None],
                           t[d:, None, :], b[d:, None, :], c[d:, None, :], gap_cost, move_cost)
                + unary[d:, None, :] + skip_cost * (d - 1) + tiny)
        free = held[d:n] - held[1:n - d + 1] == 0  # columns i + 1 .. i + d - 1 skippable
        i, p, q = np.nonzero(v[:-d, :, None] & v[d:, None, :] & free[:, None, None])
        src.append(i * k + p)
        dst.append((i + d) * k + q)
        weight.append(cost[i, p, q])
    for e in range(min(max_skipped, n - 1) + 1):  # the path may skip the first and last
        first = np.flatnonzero(v[e]) if held[e] == 0 else np.zeros(0, np.int64)
        last = np.flatnonzero(v[n - 1 - e]) if held[n] - held[n - e] == 0 else np.zeros(
            0, np.int64)
        src += [np.full(first.size, start), (n - 1 - e) * k + last]
        dst += [e * k + first, np.full(last.size, end)]
        weight += [unary[e, first] + skip_cost * e + tiny,
                   np.full(last.size, skip_cost * e + tiny)]
    graph = csr_matrix((np.concatenate(weight), (np.concatenate(src), np.concatenate(dst))),
                       shape=(n * k + 2, n * k + 2))
    _, previous = dijkstra(graph, indices=start, return_predecessors=True)
    node = int(previous[end])
    while 0 <= node < start:
        i, r = divmod(node, k)
        choice[cols[i]] = r
        node = int(previous[node])
    return choice


def _longest_jump(choice: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> float:
    """Most paper (px) between the runs `choice` takes in consecutive chosen columns."""
    cols = np.flatnonzero(choice >= 0)
    if cols.size < 2:
        return 0.0
    t, b = top[cols, choice[cols]], bottom[cols, choice[cols]]
    return float(_paper_between(t, b).max())


def window_consistent(choice: np.ndarray, top: np.ndarray, bottom: np.ndarray,
                      valid: np.ndarray, baseline: float, half_band: float, *,
                      tol_px: float = 1.0, cost_per_px: float = 0.1, gap_cost: float = 1.0,
                      move_cost: float = 0.02, prior_cost: float = 0.5) -> np.ndarray:
    """Choose again where a column holds several runs, so that the runs can be one pen's ink.

    A pen of width w >= 1 px inks in column c the curve's range over [c - r, c + r]
    (r = 0.5 + w/2), and that window lies within its neighbours' windows together: a
    column's top can be no higher than both its neighbours' tops, nor its bottom lower
    than both their bottoms. A path that steps from a QRS stroke onto a lead label's letter
    touching it (and back) breaks this where it leaves the stroke; `choose_runs` only sees
    pairs of columns and cannot tell. Each stretch of columns with several runs (with two
    chosen columns either side held fixed) is solved again by a second-order dynamic
    program: the costs of `choose_runs` plus cost_per_px per px by which a column breaks
    the rule beyond tol_px (pixel rounding). Use only for pens of at least 1 px (thinner
    pens leave gaps between the windows of a column's neighbours).

    choice: (w,) from `choose_runs`; top, bottom, valid: (w, K) from `column_runs`;
    baseline, half_band: px in band coordinates. Returns a new (w,) choice.
    """
    out = choice.copy()
    w = top.shape[0]
    multi = valid.sum(axis=1) >= 2
    centre = 0.5 * (top + bottom)
    unary = _prior(centre, baseline, half_band, prior_cost)
    for a, stop in true_runs(multi):
        lo, hi = a - 2, stop + 1
        if lo < 0 or hi >= w or np.any(choice[lo:hi + 1] < 0):
            continue
        # Only the entries that hold a run in some column of the stretch (a column's runs
        # fill its first entries): the rest are not allowed anywhere in it.
        k = int(np.flatnonzero(valid[lo:hi + 1].any(axis=0))[-1]) + 1
        span = np.s_[lo:hi + 1, :k]
        allowed = valid[span].copy()
        for c in (0, 1, -2, -1):  # the fixed columns either side: their chosen run only
            allowed[c] = False
            allowed[c, choice[lo:hi + 1][c]] = True
        out[lo:hi + 1] = _second_order_path(top[span], bottom[span], centre[span],
                                            np.where(allowed, unary[span], np.inf), tol_px,
                                            cost_per_px, gap_cost, move_cost)
    return out


def _second_order_path(top: np.ndarray, bottom: np.ndarray, centre: np.ndarray,
                       unary: np.ndarray, tol_px: float, cost_per_px: float,
                       gap_cost: float, move_cost: float) -> np.ndarray:
    """One run per column ((n, K) arrays; unary inf where a run is not allowed) minimising
    the pairwise costs of `choose_runs` plus the window rule of `window_consistent` over
    each three consecutive columns. Returns (n,) run indices."""
    n, k = top.shape
    # pair[i - 1][p, q]: cost of run p at column i - 1 followed by run q at column i.
    pair = _step_cost(top[:-1, :, None], bottom[:-1, :, None], centre[:-1, :, None],
                      top[1:, None, :], bottom[1:, None, :], centre[1:, None, :], gap_cost,
                      move_cost)
    # broken[i - 2][r, p, q]: how far runs r, p, q at columns i - 2, i - 1, i break the rule.
    t0, t1, t2 = top[:-2, :, None, None], top[1:-1, None, :, None], top[2:, None, None, :]
    b0, b1, b2 = bottom[:-2, :, None, None], bottom[1:-1, None, :, None], bottom[2:, None, None, :]
    broken = cost_per_px * (np.maximum(0, np.minimum(t0, t2) - t1 - tol_px)
                            + np.maximum(0, b1 - np.maximum(b0, b2) - tol_px))

    # cost[p, q]: best cost of a path ending with run p at column i - 1 and q at column i.
    cost = unary[0][:, None] + pair[0] + unary[1][None, :]
    back = np.zeros((n, k, k), dtype=np.int64)
    for i in range(2, n):
        total = cost[:, :, None] + broken[i - 2]  # (r, p, q)
        back[i] = np.argmin(total, axis=0)
        cost = total.min(axis=0) + pair[i - 1] + unary[i][None, :]
    p, q = np.unravel_index(int(np.argmin(cost)), cost.shape)
    path = np.zeros(n, dtype=np.int64)
    path[n - 1], path[n - 2] = q, p
    for i in range(n - 1, 1, -1):
        path[i - 2] = back[i][path[i - 1], path[i]]
    return path


#: A flat island (`drop_islands`): a stretch of at least FLAT_ISLAND_COLS chosen runs whose
#: centres lie within FLAT_ISLAND_TOL_PX, reached and left through more than
#: FLAT_ISLAND_JUMP_PX of paper: a grid line's piece or a speck (under shade a grid line is
#: as dark and grey as a faint trace) that the path took where its own line broke. Photo
#: pages 0-7 / 8-15 / 16-31: 11.29 / 11.63 / - dB before; 11.50 / 11.71 / - from 2 columns;
#: 11.86 / 12.80 / 10.79 with single columns too (page 7: 5.6 -> 7.3 -> 8.4); clean 100,
#: 200 and 300 dpi and scans unchanged.
FLAT_ISLAND_JUMP_PX = 4.0
FLAT_ISLAND_TOL_PX = 1.0
FLAT_ISLAND_COLS = 1
#: Longest island (`drop_islands`), columns, where the page's scale is not known.
ISLAND_MAX_PX = 40


def drop_islands(choice: np.ndarray, top: np.ndarray, bottom: np.ndarray, *,
                 min_jump_px: float = 12.0, max_len: int = ISLAND_MAX_PX) -> np.ndarray:
    """Unpick short stretches of runs that the path reached and left only by jumping
    through paper: the line is continuous, so such an island (text or a neighbour's wave
    seen through a break in our own line) is not ours when it also lies away from the
    line on both sides.

    choice: (w,) from `choose_runs`; top, bottom: (w, K) from `column_runs`. A jump is a
    paper gap of more than min_jump_px between consecutive chosen runs; islands are at
    most max_len columns long. Flat islands (`FLAT_ISLAND_COLS`) go at smaller jumps:
    a wave's tip seen through faint strokes is not flat. Returns a new (w,) choice with
    islands set to -1.
    """
    out = choice.copy()
    for jump, flat in ((min_jump_px, False), (FLAT_ISLAND_JUMP_PX, True)):
        while True:
            cols = np.flatnonzero(out >= 0)
            if cols.size < 3:
                return out
            t = top[cols, out[cols]]
            b = bottom[cols, out[cols]]
            found = _island_spans(t, b, cols, jump, flat, max_len)
            # Islands side by side: the path hopped between its line and other ink every
            # few columns, and each piece of the line between hops looks like an island
            # too. The shorter pieces go first; the others are judged again without them.
            waiting = False
            for k, (j0, j1) in enumerate(found):
                beside = [found[k - 1]] if k and found[k - 1][1] == j0 else []
                beside += [found[k + 1]] if k + 1 < len(found) and found[k + 1][0] == j1 else []
                if any(o[1] - o[0] < j1 - j0 for o in beside):
                    waiting = True
                    continue
                out[cols[j0 + 1:j1 + 1]] = -1
            if not waiting:
                break
    return out


def _island_spans(t: np.ndarray, b: np.ndarray, cols: np.ndarray, jump: float, flat: bool,
                  max_len: int) -> list[tuple[int, int]]:
    """Islands of a path (see `drop_islands`): (j0, j1) for each stretch of chosen runs
    j0 + 1 .. j1 (indices into cols, the chosen columns; t, b their runs' first and last
    rows) reached and left through more than jump px of paper, at most max_len columns
    long, lying beyond the line on both sides; flat: only stretches whose centres lie
    within FLAT_ISLAND_TOL_PX."""
    gap = _paper_between(t, b)
    jumps = np.flatnonzero(gap > jump)  # a jump between cols[j] and cols[j + 1]
    found = []
    for j0, j1 in pairwise(jumps):
        if cols[j1] - cols[j0 + 1] + 1 > max_len:
            continue
        if flat:
            centre = 0.5 * (t[j0 + 1:j1 + 1] + b[j0 + 1:j1 + 1])
            if j1 - j0 < FLAT_ISLAND_COLS or np.ptp(centre) > FLAT_ISLAND_TOL_PX:
                continue
        before = 0.5 * (t[j0] + b[j0])
        after = 0.5 * (t[j1 + 1] + b[j1 + 1])
        lo, hi = t[j0 + 1:j1 + 1].min(), b[j0 + 1:j1 + 1].max()
        outside = lo > max(before, after) + jump or hi < min(before, after) - jump
        if outside and abs(before - after) <= jump:
            found.append((int(j0), int(j1)))
    return found


@dataclass(frozen=True)
class RowRuns:
    """The ink run chosen for one row in each column of its band.

    top_px, bottom_px: the band's rows [top_px, bottom_px) on the page, px; x0_px: its
    first column. has: (w,) bool columns with a chosen run; t, b: (w,) int its first and
    last ink row (inclusive, band rows).
    """

    top_px: int
    bottom_px: int
    x0_px: int
    has: np.ndarray
    t: np.ndarray
    b: np.ndarray


def _leading_island(t: np.ndarray, b: np.ndarray, base: float, min_jump_px: float,
                    max_len: int, cols: np.ndarray) -> int:
    """How many of the first chosen columns are a piece of other ink before the line: a
    stretch of at most max_len columns that the path leaves by jumping through more than
    min_jump_px of paper, lying beyond the line after the jump by more than min_jump_px and
    farther from the baseline than it. t, b: (n,) first and last ink row of the chosen runs
    of columns cols ((n,) increasing or decreasing positions, px), band rows; base: the
    baseline, band rows. Returns 0 when the path begins on its line."""
    if cols.size < 3:
        return 0
    jumps = np.flatnonzero(_paper_between(t, b) > min_jump_px)
    if jumps.size == 0:
        return 0
    j = int(jumps[0])
    if abs(int(cols[j]) - int(cols[0])) + 1 > max_len:
        return 0
    stop = int(jumps[1]) + 1 if jumps.size > 1 else cols.size
    after = float(np.median(0.5 * (t[j + 1:min(stop, j + 6)] + b[j + 1:min(stop, j + 6)])))
    lo, hi = int(t[:j + 1].min()), int(b[:j + 1].max())
    outside = lo > after + min_jump_px or hi < after - min_jump_px
    here = float(np.median(0.5 * (t[:j + 1] + b[:j + 1])))
    return j + 1 if outside and abs(here - base) > abs(after - base) else 0


def drop_end_islands(runs: RowRuns, baseline_px: float, *, min_jump_px: float = 12.0,
                     max_len: int = 40) -> RowRuns:
    """A row's runs without pieces of other ink read before its line begins or after it
    ends (`drop_islands` for the ends, where no line on the far side bounds the piece).

    A row's band reaches into its neighbours' to follow tall waves; where a neighbour's
    line, wave or label begins a few columns before this row's own line (or ends after
    it), the path has nothing else to read there and starts on it, then jumps to its own
    line. runs: from `choose_row_runs`; baseline_px: the row's baseline, page px.
    """
    has = runs.has.copy()
    base = baseline_px - runs.top_px
    for order in (1, -1):
        for _ in range(3):
            cols = np.flatnonzero(has)[::order]
            n = _leading_island(runs.t[cols], runs.b[cols], base, min_jump_px, max_len, cols)
            if n == 0:
                break
            has[cols[:n]] = False
    return RowRuns(runs.top_px, runs.bottom_px, runs.x0_px, has, runs.t, runs.b)


def connected_ink(mask: np.ndarray, *, top_px: int, bottom_px: int, x0_px: int, x1_px: int,
                  far_top_px: int, far_bottom_px: int) -> np.ndarray:
    """The ink of rows [far_top_px, far_bottom_px) and columns [x0_px, x1_px] that is
    connected (8-neighbours, within those rows and columns) to ink of the band's own rows
    [top_px, bottom_px), which lie inside them. mask: (H, W) bool page ink. Returns
    (far_bottom_px - far_top_px, x1_px - x0_px + 1) bool.

    A tall wave's apex lies beyond its band, in its neighbours' rows, joined to the
    band's ink by its strokes; another row's line seen there (across a panel gap) is not.
    """
    far = mask[far_top_px:far_bottom_px, x0_px:x1_px + 1]
    count, labels = cv2.connectedComponents(far.astype(np.uint8), connectivity=8)
    own = labels[top_px - far_top_px:bottom_px - far_top_px]
    keep = np.zeros(count, dtype=bool)
    keep[own[own > 0]] = True
    return keep[labels]


def choose_row_runs(mask: np.ndarray, *, top_px: int, bottom_px: int, x0_px: int, x1_px: int,
                    baseline_px: float, prior_half_px: float | None = None,
                    band_mask: np.ndarray | None = None,
                    max_island_px: int = ISLAND_MAX_PX) -> RowRuns:
    """The run of each column of a row's band that its line passes through.

    mask: (H, W) bool trace pixels; the band is rows [top_px, bottom_px), columns
    [x0_px, x1_px]; baseline_px: the row's baseline, px. prior_half_px: see `extract_row`.
    band_mask: (bottom_px - top_px, x1_px - x0_px + 1) bool, the band's ink to choose runs
    from, when not all of its ink in `mask` may be read (`connected_ink`). max_island_px:
    the longest stretch of other ink the path may have taken that is unpicked
    (`drop_islands`), columns.
    """
    band_m = mask[top_px:bottom_px, x0_px:x1_px + 1] if band_mask is None else band_mask
    h, w = band_m.shape
    base = baseline_px - top_px
    top, bottom, valid = column_runs(band_m, base)
    half_band = 0.5 * h if prior_half_px is None else prior_half_px
    choice = choose_runs(top, bottom, valid, base, half_band)
    if _longest_jump(choice, top, bottom) > SKIP_COST:
        # A jump dearer than a skip: the row's line may break where other rows' ink lies.
        choice = choose_runs_skipping(top, bottom, valid, base, half_band)
    pen_px = _run_pen_px(top, bottom, valid)
    if pen_px >= 2:
        choice = window_consistent(choice, top, bottom, valid, base, half_band)
    choice = drop_islands(choice, top, bottom, max_len=max_island_px)
    has = choice >= 0
    idx = np.where(has, choice, 0)
    cols = np.arange(w)
    t = np.where(has, top[cols, idx], 0).astype(np.int64)
    b = np.where(has, bottom[cols, idx], 0).astype(np.int64)
    t, b = bridge_broken_strokes(band_m, has, t, b, pen_px)
    t, b = t + top_px, b + top_px
    has, t, b = _extend_runs(mask[:, x0_px:x1_px + 1], has, t, b, top_px, bottom_px)
    new_top = min(top_px, int(t[has].min())) if has.any() else top_px
    new_bottom = max(bottom_px, int(b[has].max()) + 1) if has.any() else bottom_px
    return RowRuns(top_px=new_top, bottom_px=new_bottom, x0_px=x0_px, has=has,
                   t=t - new_top, b=b - new_top)


def bridge_broken_strokes(band: np.ndarray, has: np.ndarray, t: np.ndarray, b: np.ndarray,
                          pen_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Chosen runs widened over the broken-up ink of a steep stroke.

    A blurred photo's thin QRS down-stroke falls apart at the mask's threshold into
    fragments a few px apart, and the path picks one of them, often the bit at the
    baseline: the fit then holds the line there and cuts the apex next to it. The line is
    continuous, so in a column between two chosen runs it passes everywhere the two
    neighbours' runs span; the ink of that column within their span is the stroke's.
    band: (h, w) bool ink of the row's band; has: (w,) bool columns with a chosen run;
    t, b: (w,) int its first and last row (band rows). Returns the new (t, b) (the inputs
    themselves where nothing is bridged); a column's run only grows, and only to ink of
    its own column inside its neighbours' span.
    """
    inner = np.flatnonzero(has[1:-1] & has[:-2] & has[2:]) + 1
    if inner.size == 0 or pen_px < MIN_BRIDGED_PEN_PX:
        return t, b
    t, b = t.copy(), b.copy()
    lo = np.minimum(t[inner - 1], t[inner + 1])
    hi = np.maximum(b[inner - 1], b[inner + 1])
    short = b[inner] - t[inner] + 1 <= 2.0 * pen_px
    wider = short & ((hi - lo) > 4.0 * pen_px)
    max_gap = BRIDGED_GAP_PENS * pen_px
    for c, y0, y1 in zip(inner[wider], lo[wider], hi[wider], strict=True):
        inked = np.flatnonzero(band[y0:y1 + 1, c]) + y0
        # Grow the run fragment by fragment while the paper between is at most max_gap:
        # the ink across a wider gap (where the path jumped onto another line) is not
        # this stroke's.
        t[c] = _reach(int(t[c]), inked[inked < t[c]][::-1], max_gap)
        b[c] = _reach(int(b[c]), inked[inked > b[c]], max_gap)
    return t, b


def _reach(end: int, ink: np.ndarray, max_gap: float) -> int:
    """The farthest ink row of `ink` ((n,) px, in order away from a run's end `end`, px)
    reached from `end` without crossing more than max_gap px of paper at once."""
    gaps = np.abs(np.diff(np.r_[end, ink])) - 1
    wide = np.flatnonzero(gaps > max_gap)
    k = int(wide[0]) if wide.size else ink.size
    return int(ink[k - 1]) if k > 0 else end


def _extend_runs(mask: np.ndarray, has: np.ndarray, t: np.ndarray, b: np.ndarray,
                 top_px: int, bottom_px: int, max_cols: int = 8
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chosen runs that the band's edge cut, continued through the ink beyond it.

    A tall wave's stroke leaves a narrow band (rows [top_px, bottom_px)) as a run of ink
    that goes on past its edge: it is the same stroke, so its end is where that ink ends;
    and the wave's apex, wholly outside the band in the columns between (at most max_cols
    of them), is the ink there that touches those runs. mask: (H, w) bool page ink of the
    band's columns; has, t, b: (w,) columns with a run and its first and last row (page
    px). Returns the new (has, t, b).
    """
    has, t, b = has.copy(), t.copy(), b.copy()
    for c in np.flatnonzero(has & (t == top_px) & (top_px > 0)):
        above = np.flatnonzero(~mask[:top_px, c])
        t[c] = int(above[-1]) + 1 if above.size else 0
    for c in np.flatnonzero(has & (b == bottom_px - 1) & (bottom_px < mask.shape[0])):
        below = np.flatnonzero(~mask[bottom_px:, c])
        b[c] = bottom_px + (int(below[0]) if below.size else mask.shape[0] - bottom_px) - 1
    outside = (t < top_px) | (b >= bottom_px)
    for step in (1, -1):
        for c in np.flatnonzero(has & outside):
            n = c + step
            while 0 <= n < has.size and not has[n] and abs(n - c) <= max_cols:
                run = _touching_run(mask[:, n], int(t[n - step]), int(b[n - step]),
                                    top_px, bottom_px)
                if run is None:
                    break
                has[n], (t[n], b[n]) = True, run
                n += step
    return has, t, b


def _touching_run(column: np.ndarray, t: int, b: int, top_px: int, bottom_px: int
                  ) -> tuple[int, int] | None:
    """The run of ink of column (H,) bool that touches rows [t - 1, b + 1] and lies wholly
    outside the band [top_px, bottom_px) (first and last row, px), or None."""
    lo, hi = max(0, t - 1), min(column.size - 1, b + 1)
    inked = np.flatnonzero(column[lo:hi + 1]) + lo
    inked = inked[(inked < top_px) | (inked >= bottom_px)]
    if inked.size == 0:
        return None
    r = int(inked[0])
    first, last = r, r
    while first > 0 and column[first - 1]:
        first -= 1
    while last + 1 < column.size and column[last + 1]:
        last += 1
    if first < bottom_px and last >= top_px:
        return None  # it reaches into the band: the band's own reading decided against it
    return first, last


def _spans(r: RowRuns) -> tuple[np.ndarray, np.ndarray]:
    """(w,) page rows of the first and last ink of each column's chosen run (first > last
    where the column has none)."""
    return np.where(r.has, r.t + r.top_px, 1), np.where(r.has, r.b + r.top_px, 0)


def _overlap(a: RowRuns, b: RowRuns) -> tuple[slice, slice, np.ndarray] | None:
    """Columns two rows' bands have in common, as slices of each, and where the two rows
    chose the same run there ((n,) bool); None when the bands share no column."""
    lo, hi = max(a.x0_px, b.x0_px), min(a.x0_px + a.has.size, b.x0_px + b.has.size) - 1
    if hi < lo:
        return None
    sa = slice(lo - a.x0_px, hi - a.x0_px + 1)
    sb = slice(lo - b.x0_px, hi - b.x0_px + 1)
    ta, ba = _spans(a)
    tb, bb = _spans(b)
    return sa, sb, (ta[sa] <= bb[sb]) & (tb[sb] <= ba[sa])


def _overlapping_pairs(runs: Sequence[RowRuns]
                       ) -> Iterator[tuple[int, int, slice, slice, np.ndarray]]:
    """(k, j, columns of k, columns of j, overlap) for each pair of rows k < j (top to
    bottom) whose chosen runs overlap in some column; see `_overlap`."""
    for k in range(len(runs)):
        for j in range(k + 1, len(runs)):
            ov = _overlap(runs[k], runs[j])
            if ov is not None:
                yield (k, j, *ov)


def exclusive_runs(runs: Sequence[RowRuns], baselines: Sequence[float], max_shared_px: float
                   ) -> list[RowRuns]:
    """Runs left to each row once a line two rows followed together is given to one.

    Two lines share ink for a few columns where they cross or their waves overlap; a
    longer stretch of the same runs chosen by two rows (more than max_shared_px columns)
    is one line that both followed, usually because the other row's own line is broken or
    faint there. It is given to the row whose baseline (px, page rows) is nearer the
    stretch; the other row reads nothing there (a gap) rather than its neighbour's line.
    """
    has = [r.has.copy() for r in runs]
    for k, j, sk, sj, both in _overlapping_pairs(runs):
        for a, b in true_runs(both):
            if b - a <= max_shared_px:
                continue
            rk = runs[k]
            cols = np.arange(sk.start + a, sk.start + b)
            centre = float(np.median(0.5 * (rk.t[cols] + rk.b[cols]))) + rk.top_px
            loser, sl = ((j, sj) if abs(centre - baselines[k]) <= abs(centre - baselines[j])
                         else (k, sk))
            has[loser][sl.start + a:sl.start + b] = False
    return [RowRuns(r.top_px, r.bottom_px, r.x0_px, h, r.t, r.b)
            for r, h in zip(runs, has, strict=True)]


#: A row whose run centre moves at most CROSSING_FLAT_PX per column over the
#: CROSSING_LEAD_COLS columns before two rows' lines merge is flat beside one that moves
#: CROSSING_STEEP_RATIO times as fast (`uncrossed_runs`).
CROSSING_FLAT_PX = 5.0
CROSSING_STEEP_RATIO = 4.0
CROSSING_LEAD_COLS = 3
#: How near a flat row's level a run lies to be its line's, px, and how much further per
#: column since the level was last seen.
CROSSING_LEVEL_PX = 4.0
CROSSING_LEVEL_DRIFT_PX = 1.0
#: The flat row's level lies within this share of the two rows' baselines' spacing of its
#: own baseline (its line at rest, not a wave's plateau), and the runs are exchanged over
#: CROSSING_MIN_COLS columns or more (a one-column exchange is a merge's ragged end).
CROSSING_BASELINE_SHARE = 0.15
CROSSING_MIN_COLS = 2


def uncrossed_runs(runs: Sequence[RowRuns], baselines: Sequence[float]) -> list[RowRuns]:
    """Rows' runs with the lines of two rows that crossed told apart again.

    A tall wave of one row (a precordial lead's deep S) runs down through the next row's
    line: the two lines merge in one run for a few columns, then part, and each row's own
    choice may take the other's ink beyond (the flat line took the wave's trough, the wave
    took the flat line: `bench/foreign.py`'s kit red page 0, V3's S waves through the II
    strip; its II -1.5 -> 2.1 dB, V3 10.6 -> 12.2). Where two rows part after
    a shared stretch and one of them was flat just before it, at its baseline (px, page
    rows; CROSSING_BASELINE_SHARE), beside a steep other (CROSSING_FLAT_PX,
    CROSSING_STEEP_RATIO), the flat row keeps its level: in each column from the parting
    on where its run lies off that level (CROSSING_LEVEL_PX, plus CROSSING_LEVEL_DRIFT_PX
    per column since it was seen) and the other row's run on it, on the side the other
    row came from, the two rows' runs are exchanged (CROSSING_MIN_COLS or more), and the
    level follows the exchanged run.
    """
    out = [RowRuns(r.top_px, r.bottom_px, r.x0_px, r.has.copy(),
                   r.t + r.top_px, r.b + r.top_px) for r in runs]  # t, b: page rows here
    for k, j, sk, sj, both in _overlapping_pairs(runs):
        rk, rj = out[k], out[j]
        n = both.size
        has = rk.has[sk] & rj.has[sj]
        for a, stop in true_runs(both):
            lead = np.arange(a - CROSSING_LEAD_COLS, a)
            if lead[0] < 0 or stop >= n or not (has[lead].all() and has[stop]) or both[lead].any():
                continue
            centres = [0.5 * (r.t[s][lead] + r.b[s][lead]) for r, s in ((rk, sk), (rj, sj))]
            slope_k, slope_j = (abs(float(c[-1] - c[0])) / (CROSSING_LEAD_COLS - 1)
                                for c in centres)
            flat_k, flat_j = _flat_beside(slope_k, slope_j), _flat_beside(slope_j, slope_k)
            if not (flat_k or flat_j):
                continue
            (f, sf), (o, so) = ((rk, sk), (rj, sj)) if flat_k else ((rj, sj), (rk, sk))
            fc, oc = (centres[0], centres[1]) if flat_k else (centres[1], centres[0])
            level, seen = float(fc[-1]), a - 1
            own = baselines[k] if flat_k else baselines[j]
            if abs(level - own) > CROSSING_BASELINE_SHARE * abs(baselines[j] - baselines[k]):
                continue
            came_from = np.sign(level - float(oc[0]))  # +1: the other row came from above
            cols = []
            for c in range(stop, n):
                if both[c] or not has[c]:
                    break
                cf, co = sf.start + c, so.start + c
                tol = CROSSING_LEVEL_PX + CROSSING_LEVEL_DRIFT_PX * (c - seen)
                other = 0.5 * (o.t[co] + o.b[co])
                mine = 0.5 * (f.t[cf] + f.b[cf])
                if (abs(mine - level) <= tol or abs(other - level) > tol
                        or np.sign(mine - level) != came_from):
                    break
                cols.append((cf, co))
                level, seen = float(other), c
            if len(cols) < CROSSING_MIN_COLS:
                continue
            for cf, co in cols:
                f.t[cf], o.t[co] = o.t[co], f.t[cf]
                f.b[cf], o.b[co] = o.b[co], f.b[cf]
    result = []
    for r in out:
        top = min(r.top_px, int(r.t[r.has].min())) if r.has.any() else r.top_px
        bottom = max(r.bottom_px, int(r.b[r.has].max()) + 1) if r.has.any() else r.bottom_px
        result.append(RowRuns(top, bottom, r.x0_px, r.has, np.where(r.has, r.t - top, 0),
                              np.where(r.has, r.b - top, 0)))
    return result


def _flat_beside(slope: float, other: float) -> bool:
    """Whether a row moving `slope` px per column is flat beside one moving `other`
    (`uncrossed_runs`: CROSSING_FLAT_PX, CROSSING_STEEP_RATIO)."""
    return slope <= CROSSING_FLAT_PX and other >= CROSSING_STEEP_RATIO * max(slope, 1.0)


def shared_edges(runs: Sequence[RowRuns]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Which run ends each row shares with another row's chosen run, rows top to bottom.

    Where two rows' waves overlap in a column their ink merges into one run that both rows
    choose; its top end is then the upper row's line and its bottom end the lower row's,
    so neither row may fit the end that lies on the other's side (else the line jumps
    across both waves). Returns per row (top_shared, bottom_shared), each (w,) bool.
    """
    out = [(np.zeros(r.has.size, bool), np.zeros(r.has.size, bool)) for r in runs]
    for k, j, sk, sj, both in _overlapping_pairs(runs):
        out[k][1][sk] |= both  # k is the upper row: its run's bottom is j's
        out[j][0][sj] |= both
    return out


def extract_rows(mask: np.ndarray, coverage: np.ndarray, rows: Sequence[RowBand],
                 max_shared_px: float = 16.0, *, check_edges: bool = True,
                 far_bands: Sequence[tuple[int, int]] | None = None,
                 far_window_px: float = 0.0,
                 unread: Sequence[Sequence[tuple[int, int]]] | None = None,
                 max_island_px: int = ISLAND_MAX_PX) -> list[RowTrace]:
    """Read the lines of all rows of a page together (see `extract_row`).

    rows: per row, top to bottom, (top_px, bottom_px, x0_px, x1_px, baseline_px,
    prior_half_px). Each row's runs are chosen on its own; a line two rows followed for
    more than max_shared_px columns goes to one of them (`exclusive_runs`); a run two rows
    chose (their waves overlap) gives each only the end on its side (`shared_edges`).
    check_edges: see `read_row`. far_bands: per row, (top_px, bottom_px) rows around its
    band that its line may also reach, through ink connected to the band's only
    (`connected_ink`), within far_window_px columns of where it leaves the band
    (`_choose_far`); None: the bands alone. unread: per row, spans of columns (first, last
    px) that the line runs through but that are not read (a seam bar's, where its ink
    hides the line): see `read_row`; None: none. max_island_px: see `choose_row_runs`.
    """
    runs = [_choose_far(mask, r, far, far_window_px, max_island_px) for r, far in
            zip(rows, far_bands or [(r[0], r[1]) for r in rows], strict=True)]
    runs = exclusive_runs(runs, [r[4] for r in rows], max_shared_px)
    runs = uncrossed_runs(runs, [r[4] for r in rows])
    runs = [drop_end_islands(ru, r[4]) for ru, r in zip(runs, rows, strict=True)]
    shared = shared_edges(runs)
    return [read_row(mask, coverage, ru, top_shared=ts, bottom_shared=bs,
                     check_edges=check_edges, unread=unread[k] if unread else ())
            for k, (ru, (ts, bs)) in enumerate(zip(runs, shared, strict=True))]


def _choose_far(mask: np.ndarray, row: RowBand, far: tuple[int, int], window_px: float,
                max_island_px: int = ISLAND_MAX_PX) -> RowRuns:
    """`choose_row_runs` for a row whose line may go on to rows far[0]..far[1] through ink
    connected to its band's, within window_px columns of where its line leaves the band.

    The band is read first; where its line leaves the band and comes back whole (the
    wave's strokes and apex continued beyond the edge by `_extend_runs`), that reading
    stands. Where it breaks off there (`_broken_cuts`: the apex columns held other ink, which
    the path took), the row is read again with the far ink (`connected_ink`) added in the
    columns about those breaks only: the apex lies there, while elsewhere the far ink is
    another row's line, which a row whose own line breaks would follow (through a panel gap,
    or along grid pieces a scan's mask joins to it).
    """
    top, bottom, x0, x1, baseline, half = row
    near = choose_row_runs(mask, top_px=top, bottom_px=bottom, x0_px=x0, x1_px=x1,
                           baseline_px=baseline, prior_half_px=half,
                           max_island_px=max_island_px)
    far_top, far_bottom = min(far[0], top), max(far[1], bottom)
    if (far_top, far_bottom) == (top, bottom) or window_px < 1:
        return near
    cut = _broken_cuts(near, top, bottom)
    if not cut.any():
        return near
    around = maximum_filter1d(cut, 2 * round(window_px) + 1)
    reachable = connected_ink(mask, top_px=top, bottom_px=bottom, x0_px=x0, x1_px=x1,
                              far_top_px=far_top, far_bottom_px=far_bottom)
    reachable[:top - far_top, ~around] = False
    reachable[bottom - far_top:, ~around] = False
    far_runs = choose_row_runs(mask, top_px=far_top, bottom_px=far_bottom, x0_px=x0,
                               x1_px=x1, baseline_px=baseline, prior_half_px=half,
                               band_mask=reachable, max_island_px=max_island_px)
    return _spliced(near, far_runs, around)


def _spliced(a: RowRuns, b: RowRuns, use_b: np.ndarray) -> RowRuns:
    """Runs of one row's band: b's in the columns use_b ((w,) bool) marks, a's elsewhere
    (two readings of the same columns, their bands' rows possibly different)."""
    top = min(a.top_px, b.top_px)
    has = np.where(use_b, b.has, a.has)
    t = np.where(use_b, b.t + b.top_px, a.t + a.top_px) - top
    bottom_row = np.where(use_b, b.b + b.top_px, a.b + a.top_px) - top
    return RowRuns(top_px=top, bottom_px=max(a.bottom_px, b.bottom_px), x0_px=a.x0_px,
                   has=has, t=np.where(has, t, 0), b=np.where(has, bottom_row, 0))


def _broken_cuts(runs: RowRuns, top_px: int, bottom_px: int) -> np.ndarray:
    """(w,) bool: columns whose chosen run reaches beyond the band [top_px, bottom_px) (page
    rows) and beside which the line breaks: the next or previous chosen run lies more than
    SKIP_COST px of paper away, or the next or previous column has none."""
    t, b = runs.t + runs.top_px, runs.b + runs.top_px
    cut = runs.has & ((t < top_px) | (b >= bottom_px))
    cols = np.flatnonzero(runs.has)
    if not cut.any() or cols.size < 2:
        return np.zeros_like(cut)
    breaks = (_paper_between(t[cols], b[cols]) > SKIP_COST) | (np.diff(cols) > 1)
    beside = np.zeros_like(cut)
    beside[cols[:-1][breaks]] = True
    beside[cols[1:][breaks]] = True
    return cut & beside


def extract_row(mask: np.ndarray, coverage: np.ndarray, *, top_px: int, bottom_px: int,
                x0_px: int, x1_px: int, baseline_px: float, max_gap_px: int = 3,
                prior_half_px: float | None = None) -> RowTrace:
    """Read the line of one row of a rectified page.

    mask: (H, W) bool trace pixels; coverage: (H, W) float in [0, 1], ink fraction per pixel
    (sub-pixel edges). The row's band is rows [top_px, bottom_px), columns [x0_px, x1_px].
    Gaps of at most max_gap_px columns are bridged by the fit; longer ones stay NaN.
    prior_half_px: distance from the baseline (px) at which the pull towards it has grown
    to its full cost (default half the band): the row's own share of the page, when the
    band reaches further so that tall waves can be followed.
    """
    runs = choose_row_runs(mask, top_px=top_px, bottom_px=bottom_px, x0_px=x0_px,
                           x1_px=x1_px, baseline_px=baseline_px, prior_half_px=prior_half_px)
    return read_row(mask, coverage, runs, max_gap_px=max_gap_px)


def read_row(mask: np.ndarray, coverage: np.ndarray, runs: RowRuns, *, max_gap_px: int = 3,
             top_shared: np.ndarray | None = None, bottom_shared: np.ndarray | None = None,
             check_edges: bool = True, unread: Sequence[tuple[int, int]] = ()) -> RowTrace:
    """Fit the line of one row to the ink edges of its chosen runs (`choose_row_runs`).

    mask, coverage: as for `extract_row`. top_shared, bottom_shared: (w,) bool run ends
    another row's line draws (not fitted). check_edges: leave out run ends that other ink
    touches (`_edges_clear`: a lead label's letter merged with the line); False when the
    labels were taken out of `mask` beforehand, where what ink is left beside the line
    is mostly its own fringe. unread: spans of columns (first, last px, inclusive) left
    out of the fit and of the pen's measure: the line there is not read (NaN where the
    span is wider than max_gap_px).
    """
    top_px, x0_px, has, t, b = runs.top_px, runs.x0_px, runs.has, runs.t, runs.b
    x1_px = x0_px + has.size - 1
    hidden = np.zeros(has.size, dtype=bool)
    for span_x0, span_x1 in unread:
        hidden[max(0, span_x0 - x0_px):max(0, span_x1 - x0_px + 1)] = True
    band_m = mask[top_px:runs.bottom_px, x0_px:x1_px + 1]
    band_c = coverage[top_px:runs.bottom_px, x0_px:x1_px + 1]
    h, w = band_m.shape
    cols = np.arange(w)
    # Sub-pixel edges: partial coverage just outside the run extends it.
    above = band_c[np.clip(t - 1, 0, h - 1), cols] * (t > 0)
    below = band_c[np.clip(b + 1, 0, h - 1), cols] * (b < h - 1)
    t_in = band_c[t, cols]
    b_in = band_c[b, cols]
    top_edge = t + 0.5 - t_in - above
    bot_edge = b - 0.5 + b_in + below
    # A one-pixel run holds ink t_in (not 1 + partial ends): centre it in its pixel.
    single = t == b
    top_edge = np.where(single, t - 0.5 * t_in - above, top_edge)
    bot_edge = np.where(single, t + 0.5 * t_in + below, bot_edge)
    length = bot_edge - top_edge
    # Pen width: vertical thickness where the line is flat (the centre barely moves).
    centre = np.where(has, 0.5 * (t + b), np.nan)
    still = has & ~hidden & (np.abs(np.r_[np.nan, np.diff(centre)]) <= 0.5) & (
        np.abs(np.r_[np.diff(centre), np.nan]) <= 0.5)
    flat = still if still.sum() >= 10 else has
    width, edge_noise = _pen_width(top_edge, bot_edge, flat)
    width = max(width, 0.5)
    half = 0.5 * width
    # A per-column reading, only to tell a crossing line from the row's own steep wave.
    # The pen (width w) turns the line g(x) into ink from min g - w/2 to max g + w/2 over a
    # window of 1 + w columns: top + w/2 is an erosion of g, bottom - w/2 a dilation. Their
    # opening and closing bound g (opening <= g <= closing in image y); the opening is exact
    # at peaks (y minima), the closing at troughs, both on monotone stretches.
    r = max(1, int(np.floor(half + 0.5)))  # columns within the pen's reach 0.5 + w/2
    ero = np.where(has, top_edge + half, -np.inf)
    dil = np.where(has, bot_edge - half, np.inf)
    lo = maximum_filter1d(ero, 2 * r + 1, mode="nearest")
    hi = minimum_filter1d(dil, 2 * r + 1, mode="nearest")
    ok = has & np.isfinite(lo) & np.isfinite(hi) & (lo <= hi)
    with np.errstate(invalid="ignore"):  # inf bounds where a column has no run
        mid = np.where(ok, 0.5 * (lo + hi), 0.5 * (top_edge + bot_edge))
    y = _apexes(mid, ok, lo, hi, top_edge, bot_edge, r)
    # A long run between two short ones that it contains: a crossing line; not fitted.
    short = has & (length <= 1.6 * width)
    prev_short = np.r_[False, short[:-1]]
    next_short = np.r_[short[1:], False]
    prev_y = np.r_[np.nan, y[:-1]]
    next_y = np.r_[y[1:], np.nan]
    crossing = (has & (length > 3 * width) & prev_short & next_short
                & (np.abs(prev_y - next_y) < 2 * width))
    # Darkest ink of each column's chosen run: a line's first and last columns are inked
    # over only part of their width, which places its ends to a fraction of a pixel.
    ink = np.zeros(w, dtype=band_c.dtype)
    inked = np.flatnonzero(has)
    if inked.size:
        ys, xs, first = _column_spans(np.maximum(t[inked] - 1, 0),
                                      np.minimum(b[inked] + 1, h - 1), inked)
        ink[inked] = np.maximum.reduceat(band_c[ys, xs], first)
    if check_edges:
        top_ok, bot_ok = _edges_clear(band_m, has, t, b, r, MIN_OTHER_INK_DOTS * width ** 2)
    else:
        top_ok = bot_ok = np.ones(w, dtype=bool)
    if top_shared is not None:
        top_ok = top_ok & ~top_shared
    if bottom_shared is not None:
        bot_ok = bot_ok & ~bottom_shared
    usable = has & ~crossing & ~hidden & (top_ok | bot_ok)
    xs, ys, conf = fit_line(top_edge, bot_edge, usable, half, max_gap_px, ink, top_ok, bot_ok,
                            edge_noise_px=edge_noise)
    return RowTrace(x_px=xs + x0_px, y_px=ys + top_px, line_width_px=width, confident=conf)


def _column_spans(lo: np.ndarray, hi: np.ndarray, cols: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pixels of rows lo .. hi (inclusive) of each column of cols ((n,) int each, lo <=
    hi), column after column: (rows, columns) (M,) int, and (n,) where each column's
    pixels begin in them."""
    length = hi - lo + 1
    first = np.r_[0, np.cumsum(length)[:-1]]
    rows = np.arange(int(length.sum())) - np.repeat(first - lo, length)
    return rows, np.repeat(cols, length), first


def _run_pen_px(top: np.ndarray, bottom: np.ndarray, valid: np.ndarray) -> float:
    """Median length (px) of the runs of columns holding one run: about the pen width of
    a line that is mostly flat. (w, K) arrays from `column_runs`; 0 when none."""
    single = valid.sum(axis=1) == 1
    if not single.any():
        return 0.0
    return float(np.median(bottom[single, 0] - top[single, 0] + 1))


def _pen_width(top_edge: np.ndarray, bot_edge: np.ndarray, flat: np.ndarray
               ) -> tuple[float, float]:
    """Pen width and edge noise, px: a flat column's ink spans the pen plus the line's own
    motion over the pen's window (+-(0.5 + w/2) columns); the width is the median over
    flat columns of the ink length minus that motion, the noise that length's spread (a
    normal MAD) over both edges (/ sqrt 2; 0 with under MIN_NOISE_COLUMNS flat columns).
    top_edge, bot_edge: (w,) px; flat: (w,) bool columns to use."""
    if not flat.any():
        return 1.0, 0.0
    length = bot_edge - top_edge
    k = max(1, round(0.5 + 0.5 * float(np.median(length[flat]))))
    c = np.where(flat, 0.5 * (top_edge + bot_edge), np.nan)
    padded = np.r_[np.full(k, np.nan), c, np.full(k, np.nan)]
    window = np.stack([padded[i:i + c.size] for i in range(2 * k + 1)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows at gaps
        motion = np.nanmax(window, axis=0) - np.nanmin(window, axis=0)
    own = (length - motion)[flat & np.isfinite(motion)]
    if own.size == 0:
        return float(np.median(length[flat])), 0.0
    width = float(np.median(own))
    if own.size < MIN_NOISE_COLUMNS:
        return width, 0.0
    return width, 1.4826 * float(np.median(np.abs(own - width))) / np.sqrt(2.0)


def _edges_clear(band: np.ndarray, has: np.ndarray, t: np.ndarray, b: np.ndarray, reach: int,
                 min_other_px: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Which ends of each column's chosen run are the line's own edge.

    band: (h, w) bool ink; has: (w,) columns with a chosen run [t, b] (rows, inclusive).
    Ink that is not chosen but lies beside a run's end within `reach` + 2 columns (a lead
    label's letter, another row's wave) means the run may have merged with it there: that
    end is not trusted. Pieces of other ink (8-connected) smaller than min_other_px
    pixels do not count. Returns (top_ok, bottom_ok), (w,) bool (True where no run).
    """
    h, w = band.shape
    cols = np.arange(w)
    top, bottom = np.clip(t, 0, h - 1), np.clip(b, 0, h - 1)
    chosen = np.flatnonzero(has)
    # Only the rows near the chosen runs' ends are looked at: a piece of other ink that
    # reaches them and leaves this crop has more than min_other_px pixels inside it, so
    # it counts here as it does over the whole band (a third less to label on bench pages).
    margin = int(np.ceil(min_other_px)) + 3
    lo = max(0, int(top[chosen].min(initial=h)) - margin)
    hi = min(h, int(bottom[chosen].max(initial=0)) + margin + 1)
    if lo >= hi:
        return np.ones(w, dtype=bool), np.ones(w, dtype=bool)
    other = band[lo:hi].astype(np.uint8)
    rows, columns, _ = _column_spans(t[chosen] - lo, b[chosen] - lo, chosen)
    other[rows, columns] = 0
    if min_other_px > 1.0:
        _, piece, stats, _ = cv2.connectedComponentsWithStats(other, connectivity=8)
        keep = stats[:, cv2.CC_STAT_AREA] >= min_other_px
        keep[0] = False  # the background
        other = keep[piece].astype(np.uint8)
    k = 2 * (reach + 2) + 1
    near = cv2.dilate(other, np.ones((3, k), np.uint8)) > 0
    last = hi - lo - 1
    return (~(near[np.clip(top - lo, 0, last), cols] & has),
            ~(near[np.clip(bottom - lo, 0, last), cols] & has))


def fit_line(top_edge: np.ndarray, bot_edge: np.ndarray, usable: np.ndarray, half_pen: float,
             max_gap_px: int, ink: np.ndarray, top_ok: np.ndarray | None = None,
             bot_ok: np.ndarray | None = None, step_px: float = SAMPLE_STEP_PX,
             edge_noise_px: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The line's samples every step_px from each column's ink edges (`ink_fit`).

    top_edge, bot_edge: (w,) ink edges, px; usable: (w,) bool columns whose edges belong to
    this line alone; ink: (w,) darkest coverage of each column's run (0-1); edge_noise_px:
    how far the edges stray from the line's own, px rms (`line_fit_schedule`). Stretches of usable
    columns separated by at most max_gap_px columns are fitted as one curve, from where its
    line starts to where it ends: the pen's cap reaches half its width beyond the line, and
    the end columns are inked over the fraction of their width the cap covers. Returns
    (x, y, confident): (N,) float column positions (band px), line positions (px; NaN
    between stretches), bool read from ink.
    """
    cols = np.flatnonzero(usable)
    if cols.size == 0:
        w = usable.size
        return np.arange(w, dtype=np.float64), np.full(w, np.nan), np.zeros(w, dtype=bool)
    breaks = np.flatnonzero(np.diff(cols) > max_gap_px + 1)
    schedule = line_fit_schedule(2.0 * half_pen, edge_noise_px)
    xs_all, ys_all, conf_all = [], [], []
    for seg in np.split(cols, breaks + 1):
        a, b = int(seg[0]), int(seg[-1])
        start, end = float(a), float(b)
        if seg.size >= 8:
            # A fully inked column is as dark as its neighbours.
            full_a, full_b = float(np.median(ink[seg[1:4]])), float(np.median(ink[seg[-4:-1]]))
            if full_a > 0:
                start = max(a - 0.5, a + 0.5 - min(1.0, ink[a] / full_a) + half_pen)
            if full_b > 0:
                end = min(b + 0.5, b - 0.5 + min(1.0, ink[b] / full_b) - half_pen)
        if end - start < 2 * step_px:
            start, end = float(a), float(b)
        n = max(3, int(np.floor((end - start) / step_px)) + 1)
        xs = np.linspace(start, end, n)
        if seg.size >= 2:
            ys = fit_samples(xs, seg.astype(np.float64), top_edge[seg], bot_edge[seg], half_pen,
                             schedule=schedule, steps=LINE_FIT_STEPS,
                             top_ok=None if top_ok is None else top_ok[seg],
                             bottom_ok=None if bot_ok is None else bot_ok[seg])
        else:
            ys = np.full(n, 0.5 * (top_edge[a] + bot_edge[a]))
        xs_all += [xs, np.array([xs[-1] + 0.5 * step_px])]
        ys_all += [ys, np.array([np.nan])]
        near = usable[np.clip(np.rint(xs).astype(np.int64), 0, usable.size - 1)]
        conf_all += [near, np.zeros(1, dtype=bool)]
    return (np.concatenate(xs_all)[:-1], np.concatenate(ys_all)[:-1],
            np.concatenate(conf_all)[:-1].astype(bool))


def line_fit_schedule(pen_px: float, edge_noise_px: float = 0.0
                      ) -> tuple[tuple[float, float], ...]:
    """`fit_samples`' schedule for a line drawn with a pen pen_px wide whose ink edges stray
    edge_noise_px (rms) from the line's own: one stage at LINE_FIT_TEMPERATURE_PX, its
    curvature weight LINE_FIT_CURVATURE + LINE_FIT_NOISE_CURVATURE noise (pen / 2 px) ** 4.

    A line's ink edges give only its extremes within the pen's reach, and on a blurred or
    noisy page each edge is off by a pixel or so: with a weak curvature penalty the fit
    follows that noise, most of all where a wave is narrower than the pen. A blurred
    photo's pen 5.5 px wide drew an R-S of 32 ms as a one-sample spike at the fixed 1e-2
    of before, which the band limit then flattened to half its height (photo 3x4+1 page
    3: its leads read at 51-93 % of their spread). A second-difference penalty smooths
    over a span that grows as its weight's fourth root, hence the pen's fourth power; on
    exact edges (noise 0: drawn test lines) the weak weight stays, which reads a sharp
    spike's apex under a wide pen (test_extract's 100 px spikes under a 6 px pen read up
    to 17 px short at 0.1 (pen / 2) ** 4 whatever the noise). On a narrow R-S under a
    5.5 px pen with 1 px of noise (test_extract's) the weight, 11.4, is past its best
    (about 1: 0.58 px rms; 1.21 at 11.4, 1.08 at 1e-2); bench pages' pens are 1-3 px, a
    blurred photo's up to 5.5. Bench pages 0-3 (photo 3x4+1, scan 3x4+1, clean 3x4+1 at 200 / 100
    dpi; edge noise there 0.5-0.6 / 0.4-0.5 / 0.3 / 0.25 px) against 1e-2: 13.85 / 21.66 /
    23.16 / 16.87 -> 14.68 / 22.36 / 23.25 / 17.02 dB; with noise squared (0.3 per px^2)
    14.41 / 22.24 / 23.23 / 17.06; without the noise (0.1 (pen / 2) ** 4) 14.81 / 22.34 /
    23.27 / 16.69."""
    pen = max(pen_px, LINE_FIT_MIN_PEN_PX)
    weight = LINE_FIT_CURVATURE + LINE_FIT_NOISE_CURVATURE * edge_noise_px * (0.5 * pen) ** 4
    return ((LINE_FIT_TEMPERATURE_PX, weight),)


def _apexes(mid: np.ndarray, ok: np.ndarray, lo: np.ndarray, hi: np.ndarray,
            top_edge: np.ndarray, bot_edge: np.ndarray, r: int) -> np.ndarray:
    """Line position per column with peaks kept: the bounds' mean, except at the apex of a
    wave, where one bound is exact (the opening `lo` at a peak up, the closing `hi` at a
    peak down) and the mean would flatten the peak by half the bounds' gap.

    mid: (w,) mean of the bounds; ok: (w,) bool columns with valid bounds; lo, hi: (w,)
    bounds (px, image y); top_edge, bot_edge: (w,) ink edges (px); r: half window, columns.
    An apex is a column whose ink edge is the most extreme within +-r columns.
    """
    y = mid.copy()
    size = 2 * r + 1
    top = np.where(ok, top_edge, np.inf)
    bot = np.where(ok, bot_edge, -np.inf)
    up = ok & (top <= minimum_filter1d(top, size, mode="nearest")) & (hi - lo > 0.5)
    down = ok & (bot >= maximum_filter1d(bot, size, mode="nearest")) & (hi - lo > 0.5)
    # A column that is both (a narrow spike within the window): the apex farther from mid.
    both = up & down
    around = 0.5 * (np.r_[mid[size:], mid[-size:]] + np.r_[mid[:size], mid[:-size]])
    up_wins = (around - lo) >= (hi - around)
    y[up & ~(both & ~up_wins)] = lo[up & ~(both & ~up_wins)]
    y[down & ~(both & up_wins)] = hi[down & ~(both & up_wins)]
    return y
