"""Segmentation without a network: class probabilities from colour and darkness.

Dark, low-saturation ink is trace; coloured or light periodic lines are grid. This is the
fallback used when no U-Net weights are shipped, and the reference the later stages are
tested with. Output has the same form as the U-Net's: `SegMaps.probs` (4, h, w) in the class
order of `pipeline.types.SEGMENTATION_CLASSES` (background, grid, text, trace).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.strips import row_strips
from pipeline.types import SEGMENTATION_CLASSES

BACKGROUND, GRID, TEXT, TRACE = (SEGMENTATION_CLASSES.index(c) for c in SEGMENTATION_CLASSES)
#: Longest break bridged along a vertical grid line, as a share of the image's longer side
#: (glare or a shadow's edge fades stretches of a photographed grid line; the QRS strokes
#: of a 12x1 page's rows stay further apart).
LINE_GAP = 0.008
#: Lowest trace threshold (darkness relative to the paper) of `faint_trace`.
FAINT_FLOOR = 0.1
#: A line's own darkness is measured on every n-th pixel along it (`_lighter_than_own_line`).
LINE_SAMPLE_STEP = 4
#: ...as this quantile of their darkness (the line's core, not its fringe)...
LINE_QUANTILE = 0.9
#: ...but on a drawn page a line whose own stretches reach TRACE_LIKE_LINE of the traces'
#: darkness while their lower quartile is over TRACED_LINE_SPREAD lighter has traces
#: standing on it (a vertical line: calibration pulses' strokes in every row, QRS strokes
#: of rows drawn at the same time; a horizontal one: a row's flat baseline), and is taken
#: to be TRACED_LINE_SPREAD darker than that quartile (0.1 until session 30: a grid 0.80
#: dark under traces of 0.89 was not told from them)...
TRACE_LIKE_LINE = 0.8
TRACED_LINE_SPREAD = 0.05
#: ...a drawn page being one whose vertical lines (those with MIN_LINE_SAMPLES measured
#: pixels) have their quartiles of darkness at most this far apart, in the median: even
#: along their length (a rendered page's: 0; a faint scan's heavy lines, 0.10).
EVEN_LINE_SPREAD = 0.03
MIN_LINE_SAMPLES = 8
#: Trace probability above which ink counts towards long straight lines (`_line_families`)
#: on a picture resampled by a turn or a perspective (`colour_rule`'s resampled; 0.15 on
#: pictures as given: there it took the edges of a chest X-ray's blurred spine for lines,
#: left under 15 % of it trace-like, and read it as an ECG). A turn
#: resamples a thin line twice, to half its darkness in two rows: at 0.15 a scanned brown
#: grid's 5 mm lines broke every few mm (under the w / 5 px run a horizontal line needs,
#: which may not bridge gaps), stayed trace ink, and beside a QRS stroke gave the row's
#: path a flat way past it (kit brown scanned page 2: V4-V6 read 3 mV R waves at 1.2).
RESAMPLED_LINE_INK = 0.05
#: A line at most this share of the traces' darkness has its pixels that a trace touches
#: judged by the line's own darkness too (`_lighter_than_own_line`). (0.7 while the
#: traces' darkness was taken with the picture's edges, where ECG-Image-Kit's pages have
#: a black frame: 1.0 to their traces' 0.89; its green grid's heavy lines, 0.70, are 0.78
#: of the traces'.)
TOUCHED_LINE_SHARE = 0.8


@dataclass(frozen=True)
class SegMaps:
    """Class probabilities of one image.

    probs: (4, h, w) float32 in [0, 1], classes in SEGMENTATION_CLASSES order.
    scale: working px per input px (h = round(H * scale)).
    """

    probs: np.ndarray
    scale: float


#: Channel indices of an RGB image (red, green, blue).
ALL_CHANNELS: tuple[int, ...] = (0, 1, 2)


def paper_normalised(image: np.ndarray, channels: tuple[int, ...] = ALL_CHANNELS
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Darkness relative to the local paper brightness, robust to shadows and tints.

    image: (H, W, 3) uint8 RGB. channels: those the traces are dark in
    (`pipeline.trace_colour.trace_channels`; all three for black ink).
    Returns (dark_value, dark_min): (H, W) float32 in [0, 1]; dark_value is darkness of the
    brightest of `channels` (black ink ~1, coloured grid ~0), dark_min of the darkest
    channel (coloured grid and ink both high).
    """
    rgb = _rgb_channels(image)
    return channel_darkness(_brightest_of(rgb, channels)), channel_darkness(_darkest_of(rgb))


def paper_darkness(image: np.ndarray, channels: tuple[int, ...] = ALL_CHANNELS
                   ) -> np.ndarray:
    """`paper_normalised`'s dark_value alone: (H, W) float32 in [0, 1] of (H, W, 3) uint8 RGB."""
    return channel_darkness(_brightest_of(_rgb_channels(image), channels))


def brightest_channel(image: np.ndarray) -> np.ndarray:
    """(H, W) uint8: the brightest channel of each pixel of an (H, W, 3) uint8 image (HSV's
    value). numpy's image.max(axis=2) gives the same, 20-70x slower."""
    return _brightest_of(_rgb_channels(image), ALL_CHANNELS)


def darkest_channel(image: np.ndarray) -> np.ndarray:
    """(H, W) uint8: the darkest channel of each pixel of an (H, W, 3) uint8 image (strided
    views are copied per channel first: numpy's min over the channel axis is 10x slower)."""
    return _darkest_of(_rgb_channels(image))


def _darkest_of(rgb: tuple[np.ndarray, ...]) -> np.ndarray:
    """(H, W) uint8: the darkest of the three channels `rgb` per pixel."""
    r, g, b = rgb
    return cv2.min(cv2.min(r, g), b)


def _brightest_of(rgb: tuple[np.ndarray, ...], channels: tuple[int, ...]) -> np.ndarray:
    """(H, W) uint8: the brightest of `channels` (indices into rgb, non-empty) per pixel."""
    if not channels or any(c not in ALL_CHANNELS for c in channels):
        raise ValueError(f"channels must be a non-empty subset of {ALL_CHANNELS}; "
                         f"found {channels}")
    out = rgb[channels[0]]
    for c in channels[1:]:
        out = cv2.max(out, rgb[c])
    return out


def _rgb_channels(image: np.ndarray) -> tuple[np.ndarray, ...]:
    """The three (H, W) uint8 channels of an (H, W, 3) uint8 image; ValueError otherwise."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8; found {image.shape} {image.dtype}")
    # Strided copies: cv2.split took 4x as long (16 vs 4 ms on a 2200 x 1700 page).
    return tuple(np.ascontiguousarray(image[..., c]) for c in range(3))


#: uint8 brightness -> float32 in [0, 1].
_UNIT = np.arange(256, dtype=np.float32) * (1.0 / 255.0)


#: Darkest local paper level: a shadow's black is not paper to measure ink against.
PAPER_FLOOR = 0.05


def channel_darkness(channel: np.ndarray) -> np.ndarray:
    """1 - brightness / local paper brightness of an (H, W) uint8 channel: (H, W) float32."""
    value = cv2.LUT(channel, _UNIT)
    h, w = value.shape
    out = np.empty((h, w), np.float32)
    # The level goes straight into the output (a page-sized copy fewer); the rows and
    # columns past the whole blocks take the level of the nearest block row or column,
    # as a replicated border would.
    bh, bw = _paper_level(value, out).shape
    if bw < w:
        out[:bh, bw:] = out[:bh, bw - 1:bw]
    if bh < h:
        out[bh:] = out[bh - 1:bh]
    for s in row_strips(out.shape):
        part = out[s]
        np.maximum(part, PAPER_FLOOR, out=part)
        np.divide(value[s], part, out=part)
        np.subtract(1.0, part, out=part)
    return out


def _paper_level(channel: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Local paper brightness: a max filter (removes ink and grid) at reduced resolution.

    channel: (H, W) float32 in [0, 1]. Returns (H // f * f, W // f * f) float32, the part
    of the page in whole f x f blocks (f about max(H, W) / 400): OpenCV averages those 7x
    faster than fractional ones (1.1 vs 7.4 ms at 2200 x 1700). `channel_darkness` gives the last
    H % f rows and W % f columns the level of the nearest block row or column, and raises
    it to PAPER_FLOOR where darker. out: (H, W) float32 or None; when given, the level is
    written into its top-left part, and that part (a view of it) is returned.
    """
    h, w = channel.shape
    f = max(1, min(round(max(h, w) / 400), h, w))
    bh, bw = h // f * f, w // f * f
    small = cv2.resize(channel[:bh, :bw], (w // f, h // f), interpolation=cv2.INTER_AREA)
    k = 2 * max(3, round(min(small.shape) / 40)) + 1
    level = cv2.dilate(small, np.ones((k, k), np.uint8))
    level = cv2.GaussianBlur(level, (0, 0), k / 2)
    if out is None:
        return cv2.resize(level, (bw, bh), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(level, (bw, bh), dst=out[:bh, :bw], interpolation=cv2.INTER_LINEAR)


def _sigmoid_scaled(x: np.ndarray, centre: float, scale: float) -> np.ndarray:
    """1 / (1 + exp(-(x - centre) / scale)) of (H, W) float32, as a new float32 array,
    worked out strip by strip (`pipeline.strips`)."""
    out = np.empty(x.shape, np.float32)
    for s in row_strips(x.shape):
        part = out[s]
        np.subtract(x[s], centre, out=part)
        part /= scale
        np.clip(part, -30, 30, out=part)
        np.negative(part, out=part)
        np.add(cv2.exp(part, dst=part), 1.0, out=part)
        np.divide(1.0, part, out=part)
    return out


@dataclass(frozen=True)
class ColourMaps:
    """The colour rule's maps of one page, each (H, W) float32 in [0, 1] at full resolution.

    dark_v: darkness of the brightest of the trace's channels relative to the local paper
        (`paper_normalised`).
    trace: trace probability (dark, low-saturation ink; long straight lines removed).
    grid: grid probability (coloured or light lines, and the long straight dark lines).
    dark_m: darkness of the darkest channel (`paper_normalised`).
    threshold: the darkness at which `trace` is 0.5 (half the page's darkest ink's).
    """

    dark_v: np.ndarray
    trace: np.ndarray
    grid: np.ndarray
    dark_m: np.ndarray
    threshold: float


def colour_rule(image: np.ndarray, channels: tuple[int, ...] = ALL_CHANNELS,
                per_line: bool = False, resampled: bool = False) -> ColourMaps:
    """Trace and grid maps of one page from colour and darkness, at full resolution.

    image: (H, W, 3) uint8 RGB. channels: those the traces are dark in (all three for
    black ink; `pipeline.trace_colour.trace_channels` for coloured ink): trace is ink dark
    in all of them. Long straight lines as dark as the trace (black grids) are moved from
    trace to grid, but for ink clearly darker than the lines. per_line: "the lines" are
    each line's own ink (`_lighter_than_own_line`), not all lines' together; for a picture
    as given, not one resampled by a turn (see there). resampled: the picture was resampled
    by a turn or a perspective: its lines are looked for in fainter ink
    (RESAMPLED_LINE_INK).
    """
    dark_v, dark_m = paper_normalised(image, channels)
    # Faint (grey, thin antialiased) traces: lower the threshold to the page's darkest ink.
    sample = dark_v[::4, ::4]
    level = float(np.percentile(sample, 99.7)) if sample.size else 1.0
    thr = float(np.clip(0.5 * level, 0.2, 0.42))
    trace = _sigmoid_scaled(dark_v, thr, thr / 6.0)
    grid = _sigmoid_scaled(dark_m, 0.10, 0.03)
    for s in row_strips(grid.shape):
        grid[s] *= 1.0 - trace[s]
    long_lines, across, down = _line_families(trace > (RESAMPLED_LINE_INK if resampled else 0.15))
    if long_lines.any():
        # Ink clearly darker than the lines themselves (a black trace crossing a grey grid
        # line, or running along it at a QRS) stays trace.
        line_dark = float(np.percentile(dark_v[long_lines > 0], 90))  # core, not fringe
        if per_line and line_dark < OWN_LINE_SHARE * level:
            long_lines = _lighter_than_own_line(dark_v, long_lines > 0, across, down, level,
                                                drawn_only=line_dark >= DARK_LINE_SHARE * level)
        for s in row_strips(trace.shape):
            lines = long_lines[s]
            if line_dark < DARK_LINE_SHARE * level and not per_line:
                lines = lines * (dark_v[s] < 0.5 * (line_dark + level))
            moved = trace[s] * lines
            trace[s] -= moved
            np.maximum(grid[s], moved, out=grid[s])
    return ColourMaps(dark_v, trace, grid, dark_m, thr)


#: Lines under this share of the traces' darkness (their 90th percentile) are told from
#: the traces line by line in a picture as given (`colour_rule`'s per_line); those of
#: DARK_LINE_SHARE of it and over on a drawn page only, whose lines are even: there a
#: trace 0.89 dark is told from its grid's 0.80 (ECG-Image-Kit's random grid colours, dark
#: in every channel on a page in four). Darker lines are the traces' own ink: a black
#: grid's.
OWN_LINE_SHARE = 0.95
#: Lines this share of the traces' darkness or more are as dark as the traces: on a
#: resampled picture all their pixels are grid, on one as given only a drawn page's are
#: told from the traces (`colour_rule`).
DARK_LINE_SHARE = 0.8
#: Share of the picture's longer side along its edges left out of its darkest ink's level.
EDGE_SHARE = 0.005


def _inner_level(dark_v: np.ndarray, level: float) -> float:
    """The traces' darkness on a drawn page: the darkest ink's level (as `colour_rule`'s
    `level`, which it never exceeds) of (H, W) `dark_v` without a border of EDGE_SHARE of
    the picture's longer side.

    A black line along the picture's edge (a plot frame drawn round a sheet: an
    ECG-Image-Kit page's, 1.0 against its traces' 0.89) set the level above the traces,
    and on a grid as dark as 0.8 every trace pixel on a grid line was then lighter than
    midway from its line to that level, and taken out as grid. Only on a drawn page: a
    photo's border holds the table it lies on, and photo 6x2 page 10 read at -1.4 dB for
    13.0 with the level so taken for every page."""
    h, w = dark_v.shape
    b = max(1, round(EDGE_SHARE * max(h, w)))
    if min(h, w) <= 4 * b:
        return level
    sample = dark_v[b:h - b:4, b:w - b:4]
    return min(level, float(np.percentile(sample, 99.7)))


def _lighter_than_own_line(dark_v: np.ndarray, lines: np.ndarray, across: np.ndarray,
                           down: np.ndarray, level: float, drawn_only: bool = False
                           ) -> np.ndarray:
    """(H, W) float32 in {0, 1}: the pixels of `lines` ((H, W) bool) lighter than midway
    from the darkness of the line they lie on to `level` (the traces' darkness); on a
    drawn page (EVEN_LINE_SPREAD), also those of the line families `across` and `down`
    that `lines` leaves out (touched by other ink) where their line is at most
    TOUCHED_LINE_SHARE of `level`.

    A line's darkness is the LINE_QUANTILE of dark_v ((H, W)) over the line pixels of its
    row where the pixel is on a horizontal line (`across`, (H, W) bool), of its column
    where on a vertical one (`down`); on a drawn page, lowered where traces stand on it
    (see TRACE_LIKE_LINE); where on both, the darkness of the two stacked (1 - (1 - a)
    (1 - b), as ink on ink), on a drawn page the darker one's (a drawn line is opaque: an
    ECG-Image-Kit seam bar of 0.89 over lines of 0.55 was taken for their crossings of
    0.80, and lost a pixel on every line); quantiles to 1/256, of every
    LINE_SAMPLE_STEP-th pixel along the line. Before session 28 a vertical line was as
    dark as the traces on it where they covered a tenth of it: the four rows' pulses of an
    ECG-Image-Kit page stand on one grid line, so their strokes were taken out as that
    line, no pulse was found, and the page was read 0.2 s off its time and as Cabrera's
    layout; the QRS strokes of three rows drawn at the same time, stacked on a line, were
    lost the same way (kit brown page 2, V4's 3 mV R waves). (The median of every line
    instead lost photo 12x1 page 7, 2.9 -> -0.2 dB, through the perspective found in a
    photo's first maps; lowering the heavy lines of a faint scan, whose darkness varies
    along them, kept more of them as trace in real picture ecg00020, whose lead labels
    were then no longer found at the rows' starts: it was read upside down.)

    A grid of two weights (black-and-white grids: 1 mm lines at 0.69, 5 mm lines at 0.89
    of the darkest ink) has one page-wide line darkness of about the light lines', and the
    heavy lines and the crossings, darker than its midway to the traces, stayed trace: the
    rows' paths ran along them (clean black-grid page 4: -0.5 dB; 11.1 with each line's
    own). Only for pictures as given: on a page resampled by a turn, a trace on a heavy
    line is no darker than that line's midway (scans 8-39 lost 0.18 dB, scan 12 4.2).

    On a drawn page `level` is taken inside the picture's edges (`_inner_level`).
    drawn_only: the lines are nearly as dark as the traces (OWN_LINE_SHARE): told from
    them on a drawn page only; on others every pixel of `lines` is returned (all line:
    photo 6x2 page 7, read line by line, 9.6 -> 0.1 dB).
    """
    h, w = dark_v.shape
    step = LINE_SAMPLE_STEP
    # Each line's darkness from every step-th pixel along it (a percentile of hundreds of
    # pixels; all of them took 60-100 ms a page).
    ys, xs = np.nonzero(lines[:, ::step] & across[:, ::step])
    row_dark = _quantiles_by_group(ys, _bins(dark_v[ys, xs * step]), h, (LINE_QUANTILE,))[0]
    ys, xs = np.nonzero(lines[::step] & down[::step])
    col_dark = _quantiles_by_group(xs, _bins(dark_v[ys * step, xs]), w, (LINE_QUANTILE,))[0]
    # On a drawn page (its lines even along their length), a vertical line whose own
    # stretches (crossings left out: lines stacked there) are as dark as the traces where
    # its lower quartile is not has traces standing on it.
    own = ~across[::step][ys, xs]
    top, upper, lower = _quantiles_by_group(
        xs[own], _bins(dark_v[ys[own] * step, xs[own]]), w, (LINE_QUANTILE, 0.75, 0.25))
    measured = np.bincount(xs[own], minlength=w) >= MIN_LINE_SAMPLES
    drawn = bool(measured.any()) and np.median((upper - lower)[measured]) <= EVEN_LINE_SPREAD
    if drawn_only and not drawn:
        return lines.astype(np.float32)
    if drawn:
        level = _inner_level(dark_v, level)
        col_dark = _without_traces_on(col_dark, top, lower, measured, level)
        # The same for horizontal lines: a row's flat baseline may run on one (kit pages').
        ys, xs = np.nonzero(lines[:, ::step] & across[:, ::step] & ~down[:, ::step])
        top, lower = _quantiles_by_group(ys, _bins(dark_v[ys, xs * step]), h,
                                         (LINE_QUANTILE, 0.25))
        measured = np.bincount(ys, minlength=h) >= MIN_LINE_SAMPLES
        row_dark = _without_traces_on(row_dark, top, lower, measured, level)
    row_cut = (0.5 * (row_dark + level)).astype(np.float32)[:, None]
    col_cut = (0.5 * (col_dark + level)).astype(np.float32)[None, :]
    both = across & down
    if drawn:
        # Where a line is clearly lighter than the traces, its pixels beside a trace are
        # judged as its others: a trace's fringe darkened by the line is no trace. (Not on
        # a scan: a faint trace is hardly darker than midway from its lines to it.)
        light_rows = (row_dark > 0) & (row_dark <= TOUCHED_LINE_SHARE * level)
        light_cols = (col_dark > 0) & (col_dark <= TOUCHED_LINE_SHARE * level)
        lines = lines | (across & light_rows[:, None]) | (down & light_cols[None, :])
    out = lines & ((across & (dark_v < row_cut)) | (down & (dark_v < col_cut))) & ~both
    line_rows = np.flatnonzero(row_dark > 0)  # crossings lie on them only
    ys, xs = np.nonzero(lines[line_rows] & both[line_rows])
    ys = line_rows[ys]
    a, b = row_dark[ys], col_dark[xs]
    # Ink on ink darkens where lines cross; a drawn page's lines are opaque: the crossing
    # is as dark as the darker line.
    crossing = np.maximum(a, b) if drawn else a + b - a * b
    lighter = dark_v[ys, xs] < 0.5 * (crossing + level)
    out[ys[lighter], xs[lighter]] = True
    return out.astype(np.float32)


def _without_traces_on(dark: np.ndarray, top: np.ndarray, lower: np.ndarray,
                       measured: np.ndarray, level: float) -> np.ndarray:
    """Lines' darkness ((n,) per row or column, `dark`) with those that traces stand on
    lowered: a drawn page's measured line (`measured` (n,) bool) whose own stretches'
    LINE_QUANTILE (`top`) reaches TRACE_LIKE_LINE of the traces' darkness `level` while its
    lower quartile (`lower`) is over TRACED_LINE_SPREAD lighter is taken to be
    TRACED_LINE_SPREAD darker than that quartile."""
    traced = measured & (top >= TRACE_LIKE_LINE * level) & (lower + TRACED_LINE_SPREAD < top)
    return np.where(traced, np.minimum(dark, lower + TRACED_LINE_SPREAD), dark)


def _bins(values: np.ndarray) -> np.ndarray:
    """256-level bins (int) of darkness values in [0, 1]."""
    return np.clip((values * 256).astype(np.intp), 0, 255)


def _quantiles_by_group(group: np.ndarray, bins: np.ndarray, n: int,
                        qs: tuple[float, ...]) -> np.ndarray:
    """(len(qs), n) float: the qs-quantiles (to 1/256, the bin's middle) of the values
    whose 256-level bins are `bins` ((k,) int) in each group `group` ((k,) int in
    [0, n)); 0 for an empty group. One histogram per group (a percentile per row took
    60 ms a page)."""
    counts = np.bincount(group * 256 + bins, minlength=n * 256).reshape(n, 256)
    cumulative = np.cumsum(counts, axis=1)
    total = cumulative[:, -1]
    out = np.zeros((len(qs), n))
    for i, q in enumerate(qs):
        at = np.argmax(cumulative >= q * total[:, None], axis=1)
        out[i] = np.where(total > 0, (at + 0.5) / 256.0, 0.0)
    return out


def faint_trace(maps: ColourMaps, gate: np.ndarray) -> np.ndarray | None:
    """Trace map of a page whose traces are fainter than its darkest ink, None when not.

    The colour rule's threshold is half the page's darkest ink (`colour_rule`): bold text,
    a stamp or the QRS strokes set it, and a thin grey or blurred line, or one faded by
    glare, falls under it in pieces. Here the threshold is half the traces' own ridge
    darkness: the median over the columns of the darkest pixel where `gate` ((H, W) 0/1,
    a segmentation network's mask of where traces are) holds ink. When that is clearly
    under the page's threshold, returns the trace probability at it ((H, W) float32 in
    [0, 1], not gated): neutral ink only (darkness of the brightest channel at least half
    the darkest's: coloured grids stay out) and long straight lines removed (black grids).
    """
    inside = gate > 0
    columns = inside.any(axis=0)
    if not columns.any():
        return None
    ridge = float(np.median(_column_max_within(maps.dark_v, inside)[columns]))
    thr = float(np.clip(0.5 * ridge, FAINT_FLOOR, maps.threshold))
    if thr > 0.9 * maps.threshold:
        return None
    faint = _sigmoid_scaled(maps.dark_v, thr, thr / 6.0)
    faint *= maps.dark_v > 0.5 * maps.dark_m
    lines = _long_straight_lines(faint > 0.15)
    if lines.any():
        faint *= 1.0 - lines
    return faint


def _column_max_within(values: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """(W,) float32: each column's largest value of `values` ((H, W) float32) where
    `inside` ((H, W) bool) holds, and 0 where that is smaller or the column holds none.

    A masked copy and a column reduce per row strip (`pipeline.strips`), cheaper than
    multiplying the whole page by the mask, and with no page-sized copy."""
    best = np.zeros(values.shape[1], np.float32)
    mask = inside.view(np.uint8)
    for s in row_strips(values.shape):
        gated = cv2.copyTo(values[s], mask[s], np.zeros_like(values[s]))
        np.maximum(best, cv2.reduce(gated, 0, cv2.REDUCE_MAX)[0], out=best)
    return best


def classic_segment(image: np.ndarray) -> SegMaps:
    """Class probabilities of one page from colour and darkness (`colour_rule`), at full
    resolution.

    image: (H, W, 3) uint8 RGB. Returns SegMaps with probs (4, H, W) float32 and scale 1.0.
    Text is not separated from trace (its probability is 0).
    """
    maps = colour_rule(image)
    probs = np.zeros((4, *maps.trace.shape), np.float32)
    probs[TRACE] = maps.trace
    probs[GRID] = maps.grid
    np.clip(1.0 - maps.trace - maps.grid, 0.0, 1.0, out=probs[BACKGROUND])
    return SegMaps(probs=probs, scale=1.0)


def _long_straight_lines(ink: np.ndarray) -> np.ndarray:
    """Pixels on horizontal ink lines longer than 1/5 of the page, and vertical ones longer
    than 1/2 of it (grid, frames),
    except where other ink touches them across the line (a trace crossing or lying on it).

    ink: (H, W) bool. Returns (H, W) float32 in {0, 1}.
    """
    return _line_families(ink)[0]


def _line_families(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(`_long_straight_lines`, the horizontal lines' pixels, the vertical lines'
    pixels) of ink (H, W) bool; the last two (H, W) bool, with the lines' fringes and
    the pixels other ink touches."""
    h, w = ink.shape
    u8 = ink.astype(np.uint8)
    gap = int(LINE_GAP * max(h, w))
    horiz = _long_runs(u8, max(3, w // 5), axis=1)
    # Vertical lines must span half the page: on 12x1 pages the QRS strokes of several
    # rows fall in the same columns and join into straight runs of a third of it. Short
    # breaks are bridged (faded stretches of a photographed line); not along horizontal
    # lines, where they would join a trace's flat stretches into a line.
    length = max(3, h // 2)
    vert = _long_runs(u8, length, axis=0, gap=gap)
    if not (horiz.any() or vert.any()):
        return np.zeros((h, w), dtype=np.float32), horiz > 0, vert > 0
    # The lines' antialiased fringes are line too; what remains is other ink.
    horiz_d = cv2.dilate(horiz, np.ones((3, 1), np.uint8)) > 0
    vert_d = cv2.dilate(vert, np.ones((1, 3), np.uint8)) > 0
    rest = (ink & ~(horiz_d | vert_d)).astype(np.uint8)
    touch_h = cv2.dilate(rest, np.ones((1, 7), np.uint8)) > 0
    strokes = _cornered_pieces(vert, touch_h, length)
    if strokes.any():
        vert_d &= ~(cv2.dilate(strokes.astype(np.uint8), np.ones((1, 3), np.uint8)) > 0)
        rest = (ink & ~(horiz_d | vert_d)).astype(np.uint8)
        touch_h = cv2.dilate(rest, np.ones((1, 7), np.uint8)) > 0
    touch_v = cv2.dilate(rest, np.ones((7, 1), np.uint8)) > 0
    lines = (horiz_d & ~touch_v) | (vert_d & ~touch_h)
    return lines.astype(np.float32), horiz_d, vert_d


def _cornered_pieces(vert: np.ndarray, touch_h: np.ndarray, length: int) -> np.ndarray:
    """The pieces of bridged vertical lines that are strokes of a drawn figure: (H, W) bool.

    A piece (8-connected ink of `vert` (H, W) uint8 0/1) shorter than `length` px is on a
    line only through bridged breaks. When other ink meets it sideways at both its ends
    (`touch_h` (H, W) bool, within 2 px of its end rows), it is a corner-to-corner stroke:
    the calibration pulses of a 12x1 page stand in one column, a few mm apart, and their
    strokes join into one "line"; a faded grid line's pieces end in paper.

    Only the columns holding line ink are labelled, as a strip with one empty column
    wherever the page skips columns: the 8-connected pieces are the page's (each holds
    ink in every column of its span), and labelling a strip of a few hundred columns took
    a tenth of the page's time (2 vs 30 ms, 2200 x 1700 px). The ends of all pieces are
    looked at together, in the strip's running sums of `touch_h`.
    """
    h = vert.shape[0]
    out = np.zeros(vert.shape, bool)
    cols = np.flatnonzero(vert.max(axis=0))
    if cols.size == 0:
        return out
    in_strip = np.arange(cols.size) + np.r_[0, np.cumsum(np.diff(cols) > 1)]
    strip = np.zeros((h, int(in_strip[-1]) + 1), np.uint8)
    strip[:, in_strip] = vert[:, cols]
    _, labels, stats, _ = cv2.connectedComponentsWithStats(strip, connectivity=8)
    touching = np.zeros(strip.shape, np.uint8)
    touching[:, in_strip] = touch_h[:, cols]
    sums = cv2.integral(touching)  # (h + 1, w + 1): touching ink above and left of each px
    x0, y0, wk, hk = (stats[:, k].astype(np.intp) for k in range(4))
    x1 = x0 + wk

    def any_touch(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
        """Whether rows top:bottom (as Python slices take them) of each piece's columns
        hold touching ink."""
        top = np.clip(np.where(top < 0, top + h, top), 0, h)
        bottom = np.clip(bottom, 0, h)
        inside = (sums[bottom, x1] - sums[top, x1] - sums[bottom, x0] + sums[top, x0]) > 0
        return inside & (bottom > top)

    cornered = ((hk < length) & any_touch(np.maximum(0, y0 - 2), y0 + 3)
                & any_touch(y0 + hk - 3, y0 + hk + 2))
    cornered[0] = False  # the background
    if cornered.any():
        out[:, cols] = cornered[labels][:, in_strip]
    return out


def _long_runs(u8: np.ndarray, length: int, axis: int, gap: int = 0) -> np.ndarray:
    """Runs of ink at least `length` px long along `axis` (1: rows, 0: columns): the
    morphological opening of `u8` ((H, W) uint8 0/1) with a 1 x length (or length x 1) line,
    after breaks of up to `gap` px are closed (the ink of such runs is returned, not the
    bridged breaks).

    The opening acts on each row (column) alone, so only the few rows (columns) holding
    enough ink are opened; the rest can hold no such run. (OpenCV's erosion counts the
    image's edge as ink, so a run of length - length // 2 px touching it survives.)
    Columns are opened as the rows of their transposed strip: on a strip a few dozen
    columns wide OpenCV's column filter took 4-10x as long as its row filter (12 vs 2 ms
    for the vertical grid lines of a 2200 x 1700 page), for the same result.
    Returns (H, W) uint8.
    """
    out = np.zeros_like(u8)
    # Ink per row (column); cv2 counts 0/1 pixels 8x faster than np.count_nonzero.
    counts = cv2.reduce(u8, axis, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    lines = np.flatnonzero(counts >= length - length // 2)
    if lines.size == 0:
        return out
    if axis == 1:
        part = np.ascontiguousarray(u8[lines])
        if gap > 0:
            part = cv2.morphologyEx(part, cv2.MORPH_CLOSE, np.ones((1, gap + 1), np.uint8))
        out[lines] = cv2.morphologyEx(part, cv2.MORPH_OPEN, np.ones((1, length), np.uint8))
    else:
        part = np.ascontiguousarray(u8[:, lines].T)  # (lines, H): one row per column
        if gap > 0:
            part = cv2.morphologyEx(part, cv2.MORPH_CLOSE, np.ones((1, gap + 1), np.uint8))
        out[:, lines] = cv2.morphologyEx(part, cv2.MORPH_OPEN, np.ones((1, length), np.uint8)).T
    return out & u8 if gap > 0 else out
