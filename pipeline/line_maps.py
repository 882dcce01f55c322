"""The trace maps a page's lines are read from.

The colour rule's trace map of a page is kept to where the network's gate saw traces
(`colour_maps`): the gate grown over the stroke tips it cuts (`grow_gate`), on a
two-level page only the pieces of ink the network sees traces on (`network_pieces`), and
the thin stretches of lines the gate cut put back (`restore_gated_lines`). From it comes
the (H, W) bool mask the rows' lines are read from, at the highest threshold that inks
them along nearly their whole length (`line_mask`), without a dotted grid's dots and
stray specks (`drop_specks`), on a photo without its grid lines' pieces
(`drop_grid_pieces`). Maps are (H, W) float, of the page before or after it is
rectified; lengths px, with the page's px/mm where a rule is in mm.
"""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.classic_segment import ALL_CHANNELS, colour_rule, faint_trace
from pipeline.layout import INK_THRESHOLDS, TraceRow

#: Share of a row's columns that must hold ink at a threshold for it to be used.
MIN_INKED_SHARE = 0.95
#: Longest piece of a stroke the gate may be grown over, as a share of the longer side.
MAX_GROWTH = 0.02
#: Ink the network's gate cut from a line it keeps in part is put back where its vertical
#: or horizontal run is shorter than this (mm): a line's, not a stamp's thick strokes.
RESTORE_RUN_MM = 0.5
#: ... and where the piece put back is at least this wide (mm).
RESTORE_MIN_MM = 1.0
#: ... of pieces of ink at least this wide (mm): lines, not lead labels or letters.
RESTORE_LINE_MM = 15.0
#: Least network trace probability on a piece of a two-level page's ink for it to be
#: trace (`network_pieces`).
BILEVEL_TRACE_P = 0.5


def colour_maps(image: np.ndarray, gate: np.ndarray | None,
                labels: np.ndarray | None = None, channels: tuple[int, ...] = ALL_CHANNELS,
                bilevel_net: np.ndarray | None = None, per_line: bool = False,
                resampled: bool = False
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The colour rule's maps of an (H, W, 3) page: (trace, grid, ink, dark_v), each (H, W)
    float; trace is the ink kept to where the network's `gate` ((H, W) 0/1, None:
    everywhere) saw traces and out of `labels` ((H, W) 0/1 text, None: none), ink is all
    trace-coloured ink (calibration pulses are looked for there), dark_v the darkness
    relative to the paper (`paper_normalised`). Where the
    gated traces are fainter than the page's darkest ink, the trace map also holds their
    ink at a threshold of their own (`faint_trace`); ink keeps the page's (pulses are
    looked for there: in the fainter ink they were found in stray strokes). channels: the
    colour channels the traces are dark in (`trace_channels`). bilevel_net: the network's
    trace probability (H, W) of a two-level page (`is_bilevel`), None for others: the
    trace map then keeps only the pieces of ink it sees traces on (`network_pieces`).
    per_line: `colour_rule`'s, for a picture not resampled; resampled: `colour_rule`'s,
    for a picture turned or straightened."""
    maps = colour_rule(image, channels, per_line, resampled)
    ink = maps.trace
    if gate is None:
        return ink, maps.grid, ink, maps.dark_v
    grown = grow_gate(ink, gate)
    if bilevel_net is not None:
        trace = network_pieces(ink, grown, bilevel_net)
    else:
        trace = cv2.copyTo(ink, grown, np.zeros_like(ink))  # ink * grown, without a cast
        faint = faint_trace(maps, grown)
        if faint is not None:
            faint *= grown
            np.maximum(trace, faint, out=trace)
    if labels is not None:
        trace[labels > 0] = 0.0
    return trace, maps.grid, ink, maps.dark_v


def network_pieces(ink: np.ndarray, gate: np.ndarray, net: np.ndarray) -> np.ndarray:
    """The trace map (H, W) float of a two-level page: its ink (`ink` (H, W) float, > 0.5)
    within the `gate` ((H, W) 0/1) in 8-connected pieces on which the network's trace
    probability (`net` (H, W)) reaches BILEVEL_TRACE_P somewhere.

    A thresholded page's grid dots and lines are as black as its traces, so the colour
    rule keeps them as trace, and the gate keeps those beside the lines. The network
    sees them for what they are at its scale, but not its traces' every pixel: thin
    traces break up when thresholded, and ink kept pixel by pixel where its coarse map
    sees trace lost whole stretches of lines (bench binarized scan 5: 12.0 -> 9.0 dB).
    Piece by piece, binarized scans 0-23 read at 11.78 dB (11.44 before).
    """
    on = cv2.bitwise_and((ink > 0.5).view(np.uint8), gate.astype(np.uint8, copy=False))
    n, pieces = cv2.connectedComponents(on, connectivity=8)
    keep = np.zeros(n, bool)
    keep[pieces[net >= BILEVEL_TRACE_P]] = True
    keep[0] = False  # not ink
    return ink * keep[pieces]


def grow_gate(ink: np.ndarray, gate: np.ndarray) -> np.ndarray:
    """The network's gate ((H, W) 0/1) grown over the column runs of ink it cuts on one side.

    The network works at a coarse resolution where a QRS spike is under a pixel wide, and
    it takes a spike beside a lead label for text: the gate then cuts the spike's tip off.
    A vertical run of ink (`ink` (H, W) float > 0.3) that the gate holds in part and that
    leaves it on one side only (up or down) is the rest of a stroke the gate holds: kept
    whole, with its faint fringe, when the part outside is at most MAX_GROWTH of the
    image's longer side (a tip, not a shadow's edge or a fold). A run leaving on both
    sides (a separator tick crossing the line) keeps only its gated part. Returns (H, W)
    uint8 0/1.
    """
    on = ink > 0.3
    inside = gate > 0
    h, w = on.shape
    # The ink pixels column by column (index c * h + r), runs numbered in that order
    # (OpenCV transposes the mask 4x faster than numpy's strided scan of on.T).
    flat = np.flatnonzero(cv2.transpose(on.view(np.uint8)))
    if flat.size == 0:
        return gate
    rows, cols = flat % h, flat // h
    starts = np.r_[True, (np.diff(flat) != 1) | (rows[1:] == 0)]
    run = np.cumsum(starts) - 1
    held_px = inside[rows, cols]
    first = np.flatnonzero(starts)
    last = np.r_[first[1:] - 1, flat.size - 1]
    held = np.bincount(run, weights=held_px) > 0
    outside = np.bincount(run, weights=~held_px)
    grow = held & (~held_px[first] ^ ~held_px[last]) & (outside <= MAX_GROWTH * max(h, w))
    pick = grow[run] & ~held_px
    if not pick.any():
        return gate
    ys, xs = rows[pick], cols[pick]
    # The fringe reaches one pixel past the grown pixels: only their box, so widened, is
    # drawn and dilated (cv2.dilate's border adds nothing), not a page-sized mask.
    y0, y1 = max(0, int(ys.min()) - 1), min(h, int(ys.max()) + 2)
    x0, x1 = max(0, int(xs.min()) - 1), min(w, int(xs.max()) + 2)
    grown = np.zeros((y1 - y0, x1 - x0), np.uint8)
    grown[ys - y0, xs - x0] = 1
    out = gate.astype(np.uint8)  # a copy
    box = out[y0:y1, x0:x1]
    np.maximum(box, cv2.dilate(grown, np.ones((3, 3), np.uint8)), out=box)
    return out


def restore_gated_lines(trace_r: np.ndarray, ink_r: np.ndarray, rows: list[TraceRow],
                        px_per_mm: float, grid_r: np.ndarray | None = None) -> np.ndarray:
    """The gated trace map with the thin stretches of lines the gate cut: (H, W) float.

    The network's gate is coarse and sometimes drops a stretch of a line (its start beside
    a lead label, or a flat low line it takes for a grid line) while keeping the rest.
    Ink (`ink_r` (H, W) float, ungated, > the lowest of INK_THRESHOLDS) of 8-connected
    pieces at least RESTORE_LINE_MM wide (lines, not labels) that the gate holds in part
    (`trace_r` (H, W) float > 0.5 somewhere in them) is put back with its faint fringe
    (one pixel around) where it is a line's: thin
    (its vertical or its horizontal run under RESTORE_RUN_MM; a stamp's or lettering's
    thick strokes that touch a kept stroke are both) and in pieces at least
    RESTORE_MIN_MM wide (not specks of a photo's texture), only in a row's own band
    (`rows`) where the gate holds no ink within a quarter of the band of its baseline (the
    line is missing there; elsewhere put-back ink is a label touching the line).
    px_per_mm: the page's scale. Ink the gate holds nowhere stays out.
    grid_r: the page's grid map (H, W) float (None: no grid). Its lines (> 0.5) cut a line
    that runs across them into pieces a pixel apart where they are as dark as the traces
    (a black grid's 1 mm lines: a faint flat stretch 1 mm long between each two, too
    narrow to be put back alone); pieces are joined across them (`_across_grid_lines`).
    Of a piece the gate holds only so, the grid lines' own pixels are not put back (a
    grid line's stretch in the ink map, joined to the line, led the path down into a
    stamp: scan page 18), nor the rest where it is taller than wide (a lead label's
    letter); one of a piece held as it is stays put back (a separator tick on a grid
    line, without which a photo's V2 went unread). Clean black-grid bench pages 0-7:
    16.02 -> 16.38 dB.
    """
    if ink_r is trace_r:
        return trace_r
    gated = trace_r > 0.5
    missing = _line_missing(gated, rows)
    cols = np.flatnonzero(missing.any(axis=0))
    if cols.size == 0:
        return trace_r
    # Only the columns around the missing stretches, with room for a line's kept part.
    reach = int(np.ceil(RESTORE_LINE_MM * px_per_mm))
    x0, x1 = max(0, int(cols[0]) - reach), min(trace_r.shape[1], int(cols[-1]) + reach + 1)
    on = (ink_r[:, x0:x1] > min(INK_THRESHOLDS)).astype(np.uint8)
    gated = gated[:, x0:x1]
    on_grid = None if grid_r is None else grid_r[:, x0:x1] > 0.5
    n, labels = cv2.connectedComponentsWithAlgorithm(on, 8, cv2.CV_32S, cv2.CCL_SPAGHETTI)
    held = np.bincount(labels[gated], minlength=n) > 0
    held[0] = False
    if on_grid is not None:
        alone, held_alone = labels, held  # pieces the gate holds as they are
        # Off the grid lines, a piece that only a join across them holds is a stretch of
        # a line where it is no taller than wide; a lead label's letter beside the line is
        # taller (clean light-on-dark page 0: aVR 27.9 -> 19.9 dB, reading an 'R').
        _, apart, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
            on & ~on_grid, 8, cv2.CV_32S, cv2.CCL_SPAGHETTI)
        flat = stats[:, cv2.CC_STAT_HEIGHT] <= stats[:, cv2.CC_STAT_WIDTH]
        # Pieces a grid line cut off count with the line they were cut from.
        n, labels = cv2.connectedComponentsWithAlgorithm(
            _across_grid_lines(on, on_grid), 8, cv2.CV_32S, cv2.CCL_SPAGHETTI)
        held = np.bincount(labels[gated], minlength=n) > 0
        held[0] = False
    # The pixels to put back, as flat indices into the strip: ungated ink where the line
    # is missing (few), then those of held pieces, not thick, of wide pieces. (Looking
    # labels up over the whole strip cost more than all the rest.)
    at = np.flatnonzero(missing[:, x0:x1] & ~gated & (on > 0))
    at = at[held[labels.ravel()[at]]]
    if at.size == 0:
        return trace_r
    run = max(3, round(RESTORE_RUN_MM * px_per_mm)) + 1
    thick = ((cv2.morphologyEx(on, cv2.MORPH_OPEN, np.ones((run, 1), np.uint8)) > 0)
             & (cv2.morphologyEx(on, cv2.MORPH_OPEN, np.ones((1, run), np.uint8)) > 0))
    at = at[~thick.ravel()[at]]
    if on_grid is not None:
        # Of pieces held only across a grid line, the grid line's own pixels stay out,
        # and so do pieces taller than wide.
        at = at[held_alone[alone.ravel()[at]]
                | (~on_grid.ravel()[at] & flat[apart.ravel()[at]])]
    if at.size == 0:
        return trace_r
    lab = labels.ravel()[at]
    at = at[_wide_labels(labels, np.unique(lab), RESTORE_LINE_MM * px_per_mm)[lab]]
    if at.size == 0:
        return trace_r
    back = np.zeros_like(on, dtype=bool)
    back.ravel()[at] = True
    ys = np.flatnonzero(back.any(axis=1))
    y0, y1 = max(0, int(ys[0]) - 1), min(back.shape[0], int(ys[-1]) + 2)
    _, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        _across_grid_lines(back[y0:y1].astype(np.uint8),
                           None if on_grid is None else on_grid[y0:y1]),
        8, cv2.CV_32S, cv2.CCL_SPAGHETTI)
    wide = stats[:, cv2.CC_STAT_WIDTH] >= RESTORE_MIN_MM * px_per_mm - 1
    wide[0] = False  # the background
    grown = cv2.dilate(wide[labels].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    out = trace_r.copy()
    part = out[y0:y1, x0:x1]
    part[grown] = np.maximum(part[grown], ink_r[y0:y1, x0:x1][grown])
    return out


def _across_grid_lines(ink: np.ndarray, on_grid: np.ndarray | None) -> np.ndarray:
    """(H, W) uint8 0/1 ink (`ink` (H, W) uint8 0/1) with the one-pixel breaks that grid
    lines cut in it filled: a pixel of a grid line (`on_grid` (H, W) bool; None: no
    grid) between ink on its left and right, or above and below."""
    if on_grid is None:
        return ink
    across: np.ndarray = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, np.ones((1, 3), np.uint8))
    along: np.ndarray = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, np.ones((3, 1), np.uint8))
    return ink | ((across | along) & on_grid)


def _wide_labels(labels: np.ndarray, which: np.ndarray, min_px: float, step: int = 4
                 ) -> np.ndarray:
    """(n,) bool over the labels of `labels` ((H, W) int, n = labels.max() + 1): those of
    `which` ((k,) int) that span at least min_px columns, counted on every step-th column
    (to step px; cheaper than exact widths of every piece on the page)."""
    n = int(labels.max()) + 1
    pick = np.zeros(n, dtype=bool)
    pick[which] = True
    sparse = labels[:, ::step]
    ys, xs = np.divmod(np.flatnonzero(pick[sparse]), sparse.shape[1])  # as np.nonzero
    lab = sparse[ys, xs]
    lo = np.full(n, sparse.shape[1])
    hi = np.full(n, -1)
    np.minimum.at(lo, lab, xs)
    np.maximum.at(hi, lab, xs)
    return pick & (step * (hi - lo) + 1 >= min_px - step)


def _line_missing(gated: np.ndarray, rows: list[TraceRow]) -> np.ndarray:
    """(H, W) bool: the own bands of rows (`rows`) over the columns where `gated` ((H, W)
    bool) holds no ink within a quarter of the band's height of the row's baseline."""
    out = np.zeros(gated.shape, dtype=bool)
    for r in rows:
        top, bottom = r.own_band
        q = max(1, (bottom - top) // 4)
        y = round(r.y_px)
        near: np.ndarray = np.asarray(
            gated[max(0, y - q):y + q + 1, r.x0_px:r.x1_px + 1].any(axis=0), dtype=bool)
        out[top:bottom, r.x0_px:r.x1_px + 1] |= ~near[None, :]
    return out


def line_mask(trace_r: np.ndarray, rows: list[TraceRow],
              line_r: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool trace pixels to read the rows' lines from: the trace map above the
    highest of the row finder's INK_THRESHOLDS at which the rows' lines are inked along
    nearly their whole length within their own bands (thin faint lines fall apart at 0.5;
    a wider reading band would also count the neighbours' ink), 1-2 px vertical breaks
    closed (removed grid lines, faint antialiasing). trace_r: (H, W) float trace map of
    the rectified page; line_r: the same with the ink the gate cut put back
    (`restore_gated_lines`), thresholded at the level trace_r chose (None: trace_r)."""
    best: tuple[float, float, np.ndarray] | None = None
    for threshold in INK_THRESHOLDS:
        mask = _closed(trace_r > threshold)
        inked = [float(mask[r.own_band[0]:r.own_band[1], r.x0_px:r.x1_px + 1].any(axis=0)
                       .mean()) for r in rows if r.x1_px > r.x0_px]
        share = float(np.median(inked)) if inked else 0.0
        if share >= MIN_INKED_SHARE:
            best = (share, threshold, mask)
            break
        if best is None or share > best[0] + 0.05:
            best = (share, threshold, mask)
    assert best is not None  # INK_THRESHOLDS is not empty
    if line_r is None or line_r is trace_r:
        return best[2]  # nothing was put back: the mask chosen is the lines'
    return _closed(line_r > best[1])


#: Tallest piece of a photo's line mask (px) that may be a grid line's (`drop_grid_pieces`).
GRID_PIECE_MAX_PX = 2


def drop_grid_pieces(mask: np.ndarray, trace_r: np.ndarray, grid_r: np.ndarray
                     ) -> np.ndarray:
    """A photo's line mask (H, W) bool without the pieces (8-connected) at most
    GRID_PIECE_MAX_PX tall whose mean grid probability (grid_r, (H, W)) exceeds their
    mean trace probability (trace_r): under shade and glare a grid line is as grey as a
    faint trace, and where the line broke the path followed the grid line's dashes in
    flat plateaus 1.5-3 mm off (photo bench page 7). Taken piece by piece, not pixel by
    pixel: the line's own pixels where grid lines cross it are grid-like too, and dropping
    them broke the line (photo pages 0-31: -1.4 dB by pixel, +0.1 by piece; scans, where it
    was tried too, lost 0.14 dB over 16 pages, so it is for photos only)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8),
                                                           connectivity=8)
    if n <= 1:
        return mask
    flat = labels.ravel()
    count = np.maximum(np.bincount(flat, minlength=n), 1).astype(np.float64)
    trace = np.bincount(flat, weights=trace_r.ravel().astype(np.float64), minlength=n) / count
    grid = np.bincount(flat, weights=grid_r.ravel().astype(np.float64), minlength=n) / count
    drop = (stats[:, cv2.CC_STAT_HEIGHT] <= GRID_PIECE_MAX_PX) & (grid > trace)
    drop[0] = False
    return mask & ~drop[labels] if drop.any() else mask


def _closed(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool mask with 1-2 px vertical breaks closed."""
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE,
                            np.ones((3, 1), np.uint8)).astype(bool)


#: Largest piece of a line mask (mm each side, and at least 2 px) that is a speck
#: (`drop_specks`) ...
SPECK_MM = 0.4
#: ... on pages of this many px/mm or more (under 100 dpi, about 4 px/mm, a thin faint
#: line falls into pieces as small).
MIN_SPECK_PX_PER_MM = 4.0
#: Fewest specks on a page for them to be looked for on the grid's lattice (a page's
#: count; `pipeline.calibration.MIN_GRID_DOTS` is that of a pulse's inside).
MIN_LATTICE_SPECKS = 30
#: Least concentration (mean resultant length of their phases, 0..1) of the specks'
#: positions modulo the grid's period, on each axis, for them to lie on a lattice.
DOT_LATTICE_CONCENTRATION = 0.5
#: A speck within this share of a period of the lattice on both axes is a grid dot ...
DOT_PHASE_TOLERANCE = 0.2
#: ... unless other ink lies this close (mm, at least 2 px) beside it at its height.
DOT_LINE_GAP_MM = 0.3
#: A speck further than this (mm) from every larger piece of the mask is stray.
STRAY_SPECK_MM = 1.0
#: Most specks looked at one by one for that; more take one dilation of the whole mask.
STRAY_WINDOWS_MAX = 1000


def drop_specks(mask: np.ndarray, px_per_mm: float) -> np.ndarray:
    """The line mask (H, W) bool without its specks (8-connected pieces at most SPECK_MM
    wide and tall) that are a dotted grid's dots or stray.

    A black-and-white page's 1 mm dots pass the colour rule as trace ink, and the
    network's gate keeps those beside the lines: in the mask they made bumps in flat
    stretches and hid the break between a calibration pulse and the signal. Specks on
    one lattice of the grid's period (px_per_mm) on both axes are those dots, unless the
    line's other ink lies beside them at their height (a flat line broken where grid
    lines crossed it keeps only such pieces). Specks off any lattice stay (a thin stroke
    broken into dashes), unless further than STRAY_SPECK_MM from every larger piece (a
    lead label's dots: the line follower bridged a gap in a flat line through one 12 mm
    above it). Clean black-grid bench pages 0-15: 18.19 -> 18.83 dB; scan black grid
    15.63 -> 15.71; a real picture at 4.3 px/mm (ecg00050) reads its rows' last beats.
    Under MIN_SPECK_PX_PER_MM nothing is dropped (a 2.3 px/mm scan, ecg00054, lost
    stretches of its faint lines). Returns `mask` itself when nothing is dropped.
    """
    if px_per_mm < MIN_SPECK_PX_PER_MM:
        return mask  # a thin line's own pieces are as small
    side = max(2.0, SPECK_MM * px_per_mm)
    _, labels, stats, centroids = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8)
    small = (stats[:, cv2.CC_STAT_WIDTH] <= side) & (stats[:, cv2.CC_STAT_HEIGHT] <= side)
    small[0] = False
    if not small.any():
        return mask
    drop = _grid_dots(mask, labels, small, centroids, px_per_mm)
    drop |= _stray(labels, stats, small, small & ~drop, px_per_mm)
    return mask & ~drop[labels] if drop.any() else mask


def _grid_dots(mask: np.ndarray, labels: np.ndarray, small: np.ndarray,
               centroids: np.ndarray, px_per_mm: float) -> np.ndarray:
    """(n,) bool over the mask's pieces (`labels` (H, W), `centroids` (n, 2) px): the
    specks (`small` (n,) bool) that are a dotted grid's dots (see `drop_specks`). Each
    speck is placed on the lattice here, so the nearest-neighbour spacing test of a
    pulse's inside (`pipeline.calibration._ink_share_without_grid_dots`), which says
    only whether the dots form one, would not serve (and costs n^2 over a page's)."""
    drop = np.zeros(small.size, dtype=bool)
    which = np.flatnonzero(small)
    if which.size < MIN_LATTICE_SPECKS:
        return drop
    near = np.ones(which.size, dtype=bool)
    for axis in (0, 1):
        phase = _lattice_phase(centroids[which, axis], px_per_mm)
        if phase is None:
            return drop
        near &= phase <= DOT_PHASE_TOLERANCE
    drop[which[near]] = True
    if not drop.any():
        return drop
    dots = drop[labels]
    reach = max(2, round(DOT_LINE_GAP_MM * px_per_mm))
    beside = cv2.dilate((mask & ~dots).astype(np.uint8), np.ones((3, 2 * reach + 1), np.uint8))
    drop[np.unique(labels[dots & (beside > 0)])] = False
    return drop


def _stray(labels: np.ndarray, stats: np.ndarray, small: np.ndarray, specks: np.ndarray,
           px_per_mm: float) -> np.ndarray:
    """(n,) bool over the mask's pieces (`labels` (H, W), `stats` (n, 5) as OpenCV's): the
    `specks` ((n,) bool) with no larger piece (not `small`, (n,) bool) within
    STRAY_SPECK_MM. Each speck's box, widened by that much, is looked at alone (a
    page-sized dilation cost 30-40 ms), up to STRAY_WINDOWS_MAX specks."""
    out = np.zeros(specks.size, dtype=bool)
    reach = max(2, round(STRAY_SPECK_MM * px_per_mm))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    h, w = labels.shape
    larger = ~small
    larger[0] = False  # the background
    which = np.flatnonzero(specks)
    if which.size > STRAY_WINDOWS_MAX:  # a noisy picture: one page-sized dilation is cheaper
        near = cv2.dilate(larger[labels].astype(np.uint8), disc) > 0
        out[which] = True
        out[np.unique(labels[near & specks[labels]])] = False
        return out
    for k in which:
        x, y, bw, bh = (int(v) for v in stats[k, :4])
        y0, y1 = max(0, y - reach), min(h, y + bh + reach)
        x0, x1 = max(0, x - reach), min(w, x + bw + reach)
        window = labels[y0:y1, x0:x1]
        big = larger[window].astype(np.uint8)
        if not big.any():
            out[k] = True
            continue
        grown = cv2.dilate(big, disc, anchor=(reach, reach),
                           borderType=cv2.BORDER_CONSTANT, borderValue=0)
        out[k] = not grown[window == k].any()
    return out


def _lattice_phase(positions: np.ndarray, period: float) -> np.ndarray | None:
    """Each position's (N,) px distance, as a share of a period (0..0.5), from the lattice
    of that period (px, refined within +-0.3 % for the best fit) most positions lie on;
    None when they are not concentrated on one (DOT_LATTICE_CONCENTRATION)."""
    best: tuple[float, float, float] | None = None
    for p in period * (1.0 + 0.0005 * np.arange(-6, 7)):
        z = np.exp(2j * np.pi * positions / p)
        mean = complex(z.mean())
        if best is None or abs(mean) > best[0]:
            best = (abs(mean), float(np.angle(mean)), float(p))
    assert best is not None
    strength, centre, p = best
    if strength < DOT_LATTICE_CONCENTRATION:
        return None
    turn = (2 * np.pi * positions / p - centre) / (2 * np.pi)
    return np.abs(turn - np.round(turn))

