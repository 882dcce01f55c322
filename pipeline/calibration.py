"""The calibration pulse: a 1 mV step held for 0.2 s, drawn at the start (or end) of rows.

Its height in px is 1 mV, so it gives the amplitude scale without trusting the printed
gain; its width (0.2 s) checks the paper speed. Measured values are snapped to the standard
settings when within tolerance (gain 2.5/5/10/20/40 mm/mV, speed 12.5/25/50/100 mm/s).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from pipeline.extract import column_runs
from pipeline.layout import TraceRow
from pipeline.signals import BAND_LIMIT, MIN_CUTOFF_HZ

STANDARD_MM_PER_MV = (2.5, 5.0, 10.0, 20.0, 40.0)
STANDARD_MM_PER_S = (12.5, 25.0, 50.0, 100.0)
#: The rarest gain, whose pulse (2.5 mm tall) is the size of a notch in a trace: found on
#: one row only, it is not believed (photo 6x2 bench page 12: a 2.5 x 4.7 mm piece at a
#: row's end read so, every lead 4x too tall, -10 dB).
LONE_PULSE_DOUBT_MM_PER_MV = 2.5
#: The usual pulse's height (mm: 1 mV at 10 mm/mV), and how far (relative) a doubted lone
#: pulse may be from it and still be taken for a pulse where its row starts (`lone_piece`).
USUAL_PULSE_MM = 10.0
USUAL_HEIGHT_SLACK = 0.25
#: The pulse's amplitude (mV) and duration (s).
PULSE_MV = 1.0
PULSE_S = 0.2
#: Height over width of the usual pulse: 10 mm tall at 10 mm/mV, 5 mm wide at 25 mm/s.
USUAL_PULSE_ASPECT = 10.0 * PULSE_MV / (25.0 * PULSE_S)
#: Largest relative difference from USUAL_PULSE_ASPECT for a pulse to count as the usual.
PULSE_SHAPE_TOLERANCE = 0.06
#: Pulses of the usual shape that fit no standard gain at the grid's px/mm, and no standard
#: speed within this (relative), say the grid's period is misread (`page_scales`). The
#: 0.2 a speed snaps within let one through: a gridless photo's false 7.26 px/mm made its
#: seven pulses 8.0 x 4.1 mm, 20.3 mm/s, read as 25 (photo 12x1 page 8, 5.9 px/mm).
GRID_SPEED_TOLERANCE = 0.1
#: Largest distance from a pulse's foot to its row's line, mm. The pulse stands on 0 mV;
#: a trace drawn as recorded, with its DC offset (0.5 mV and more on raw records), lies off
#: it (ecg_plot draws so: 4.5 mm on one PTB-XL record at 10 mm/mV).
FOOT_REACH_MM = 8.0
#: Share of a pulse's width that its flat stroke (the top; the bottom when inverted) must
#: ink...
MIN_FLAT_STROKE = 0.9
#: ...or this share, for a pulse of the usual shape (USUAL_PULSE_ASPECT) standing upright:
#: on photos the mask can lose pieces of the thin top stroke (photo 6x2 bench page 10: it
#: kept 70%, on three rows; no pulse was found and the gridless page was scaled from its
#: rows' length, 1.7x off, -2.1 dB).
MIN_BROKEN_FLAT_STROKE = 0.6
#: Largest share of a pulse's inside that may hold ink (a pen's width in from its strokes).
MAX_INSIDE_INK = 0.05
#: Rows inside a pulse on which a line crosses it (`_without_crossing_lines`): ink over this
#: share of the columns within CROSSING_LINE_MM (mm) before and after the pulse.
CROSSING_LINE_COVER = 0.3
CROSSING_LINE_MM = 2.0
#: Ink pieces inside a pulse smaller than this both ways (mm) are a dotted grid's dots or a
#: grid line's dashes, not a trace. They are discounted only for a pulse of a common height
#: (`SPECK_TOLERANT_HEIGHTS_MM`): discounted everywhere, a 2.5 mm notch of a real picture's
#: trace (ecg00020) passed for a 2.5 mm/mV pulse.
PULSE_SPECK_MM = 1.0
#: Pulse heights (mm, 1 mV at 5, 10 and 20 mm/mV) at which specks inside are discounted,
#: to within SPECK_TOLERANT_HEIGHT_TOLERANCE (relative). A dotted grid's dots filled 8-14 %
#: of the pulses of real picture ecg00028, which then read as lead I's first 0.4 s.
SPECK_TOLERANT_HEIGHTS_MM = (5.0, 10.0, 20.0)
SPECK_TOLERANT_HEIGHT_TOLERANCE = 0.15
#: Specks count as a dotted grid's only when there are at least this many, spaced like
#: its 1 mm lattice (median distance to the nearest other speck within DOT_SPACING_MM): a
#: serif label's pieces between two of its letters' stems ("III" on a 100 dpi scan, two
#: specks) then stay ink inside, where real pictures' dotted pulses held 11-24 dots.
MIN_GRID_DOTS = 6
DOT_SPACING_MM = (0.6, 1.6)


@dataclass(frozen=True)
class Pulse:
    """A calibration pulse found in one row.

    x0_px, x1_px: first and last column of its flat top, px. height_px: top above the
    baseline, px (1 mV). width_px: duration of the top, px (0.2 s). side: "start" | "end".
    inverted: the flat stroke is below the vertical strokes (the page is upside down).
    """

    x0_px: int
    x1_px: int
    height_px: float
    width_px: float
    side: str
    inverted: bool = False


def _stroke_centre(ink: np.ndarray, y0: int, x0: int, c0: int, c1: int, top: float,
                   bottom: float) -> float:
    """Column (band px, sub-pixel) of the centre of a vertical stroke's ink.

    The stroke covers band columns c0..c1 and rows top..bottom (band px; the band starts
    at page row y0 and column x0). Its ink is summed over its middle half of rows (clear
    of the horizontal strokes at its ends) in those columns and one either side; the centre
    is the ink-weighted mean column. A pulse's width measured between column middles is
    off by up to a pixel, 2% of a 0.2 s pulse at 5 px/mm, which was the whole time-scale
    error of gridless photos. Falls back to the columns' middle when there is no ink.
    """
    quarter = 0.25 * (bottom - top)
    r0, r1 = y0 + int(np.ceil(top + quarter)), y0 + int(np.floor(bottom - quarter)) + 1
    lo, hi = max(0, x0 + c0 - 1), min(ink.shape[1], x0 + c1 + 2)
    weights = np.clip(ink[max(0, r0):max(r0 + 1, r1), lo:hi], 0.0, 1.0).sum(axis=0)
    total = float(weights.sum())
    if total <= 0:
        return 0.5 * (c0 + c1)
    return float(np.dot(np.arange(lo, hi) - x0, weights) / total)


def snap(value: float, standards: tuple[float, ...], tolerance: float) -> tuple[float, bool]:
    """The standard value within relative `tolerance` of `value`, else value; (v, snapped)."""
    best = min(standards, key=lambda s: abs(value / s - 1))
    if abs(value / best - 1) <= tolerance:
        return best, True
    return value, False


def find_pulse(mask: np.ndarray, row: TraceRow, px_per_mm: float, side: str = "start",
               search_mm: float = 30.0, ink: np.ndarray | None = None) -> Pulse | None:
    """Look for a calibration pulse near one end of a row of traces.

    mask: (H, W) bool trace pixels of the rectified page; row: the row (its band and the
    extent of its long traces); px_per_mm: page scale (an estimate bounds the search).
    side: "start" (left end) or "end" (right end). ink: (H, W) float ink amount per pixel
    (0-1), when known: the vertical strokes are then placed at their ink's centre, to a
    fraction of a pixel (see `_stroke_centre`), else at their columns' middle.
    A pulse is two vertical strokes of equal extent, 2-14 mm apart, joined at the top by a
    straight horizontal stroke, with nothing inside (at most MAX_INSIDE_INK; for a pulse of
    a common height, not counting a dotted grid's dots, `_ink_share_without_grid_dots`).
    Returns the pulse or None.
    """
    h, w = mask.shape
    reach = int(search_mm * px_per_mm)
    inner = int(20.0 * px_per_mm)
    if side == "start":
        xa, xb = max(0, row.x0_px - reach), min(w, row.x0_px + inner)
    else:
        xa, xb = max(0, row.x1_px - inner), min(w, row.x1_px + reach)
    # Tall pulses (20 mm/mV) reach into the neighbouring rows' bands: search wider, keep
    # the pulse standing on (or, inverted, hanging from) this row's baseline.
    y0 = max(0, int(row.y_px - 50.0 * px_per_mm))
    y1 = min(h, int(row.y_px + 50.0 * px_per_mm))
    band = mask[y0:y1, xa:xb]
    if band.size == 0:
        return None
    base = row.y_px - y0
    top, bottom, valid = column_runs(band, base, max_runs=24)
    length = np.where(valid, bottom - top + 1, 0)
    # Per column, the longest run with one end on this row's baseline (a pulse stands on
    # it or, upside down, hangs from it); taller pulses of other rows are left out.
    near = FOOT_REACH_MM * px_per_mm
    on_base = (np.abs(bottom - base) <= near) | (np.abs(top - base) <= near)
    k = np.argmax(np.where(on_base, length, 0), axis=1)
    cols = np.arange(band.shape[1])
    run_len = np.where(on_base[cols, k], length[cols, k], 0)
    run_top, run_bot = top[cols, k], bottom[cols, k]
    min_len = 2.2 * px_per_mm
    edge = run_len >= min_len
    if edge.sum() < 2:
        return None
    # Clusters of adjacent edge columns -> one vertical stroke each.
    tol = max(2.0, 0.6 * px_per_mm)
    idx = np.flatnonzero(edge)
    # Adjacent columns whose runs line up vertically form one stroke.
    splits = np.flatnonzero((np.diff(idx) > 1) | (np.abs(np.diff(run_top[idx])) > tol)
                            | (np.abs(np.diff(run_bot[idx])) > tol)) + 1
    strokes = [(int(g[0]), int(g[-1]), float(np.median(run_top[g])), float(np.median(run_bot[g])))
               for g in np.split(idx, splits)]
    found: list[tuple[float, Pulse]] = []
    pairs = [(p, q) for i, p in enumerate(strokes) for q in strokes[i + 1:]
             if 2.0 * px_per_mm <= 0.5 * (q[0] + q[1] - p[0] - p[1]) <= 14.0 * px_per_mm]
    for (a0, a1, at, ab), (b0, b1, bt, bb) in pairs:
        sep = (0.5 * (b0 + b1) - 0.5 * (a0 + a1) if ink is None
               else _stroke_centre(ink, y0, xa, b0, b1, bt, bb)
               - _stroke_centre(ink, y0, xa, a0, a1, at, ab))
        if not 2.0 * px_per_mm <= sep <= 14.0 * px_per_mm:
            continue
        if abs(at - bt) > tol or abs(ab - bb) > tol:
            continue
        y_top = round(0.5 * (at + bt))
        y_bot = round(0.5 * (ab + bb))
        between = band[:, a1 + 1:b0]
        if between.shape[1] < 2:
            continue
        pen = max(1, round(0.3 * px_per_mm))
        top_stroke = between[max(0, y_top - 1):y_top + pen + 1].any(axis=0).mean()
        bot_stroke = between[max(0, y_bot - pen):y_bot + 2].any(axis=0).mean()
        # Inside: a pen's width in from every side (a stroke's own broken columns, read as
        # separate strokes, are no ink inside the pulse).
        core = between[y_top + 2 * pen + 1:y_bot - 2 * pen, pen:between.shape[1] - pen]
        inside = float(core.mean()) if core.size else 0.0
        if inside > MAX_INSIDE_INK:
            core = _without_crossing_lines(band, core, y_top + 2 * pen + 1, a0, b1, px_per_mm)
            inside = float(core.mean()) if core.size else 0.0
        if inside > MAX_INSIDE_INK and snap((y_bot - y_top) / px_per_mm,
                                            SPECK_TOLERANT_HEIGHTS_MM,
                                            SPECK_TOLERANT_HEIGHT_TOLERANCE)[1]:
            inside = _ink_share_without_grid_dots(core, px_per_mm)
        flat_stroke = max(top_stroke, bot_stroke)
        if flat_stroke < MIN_BROKEN_FLAT_STROKE or inside > MAX_INSIDE_INK:
            continue
        if min(top_stroke, bot_stroke) > 0.5:
            # A closed box (the baseline drawn under the pulse): the end on the baseline
            # is the foot.
            inverted = abs(y_top - base) < abs(y_bot - base)
        else:
            inverted = bot_stroke > top_stroke
        foot = y_top if inverted else y_bot
        if abs(foot - base) > FOOT_REACH_MM * px_per_mm:
            continue
        pen_w = float(np.median(length[a1 + 1:b0][length[a1 + 1:b0] > 0])) if (
            length[a1 + 1:b0] > 0).any() else 1.0
        height = (y_bot - y_top + 1) - pen_w
        height_mm = height / px_per_mm
        if not 1.8 <= height_mm <= 45.0:
            continue
        if flat_stroke < MIN_FLAT_STROKE and (
                inverted or abs(height / sep / USUAL_PULSE_ASPECT - 1.0) > PULSE_SHAPE_TOLERANCE):
            continue  # a broken flat stroke: only the usual pulse, standing upright
        found.append((abs(foot - base), Pulse(xa + a0, xa + b1, float(height), float(sep),
                                              side, inverted)))
    if not found:
        return None
    return min(found, key=lambda fp: fp[0])[1]  # the one standing on this row's baseline


def _without_crossing_lines(band: np.ndarray, core: np.ndarray, core_top: int, left: int,
                            right: int, px_per_mm: float) -> np.ndarray:
    """A pulse's inside `core` ((h, w) bool, from band row core_top) without the rows on
    which a horizontal line crosses the whole pulse: ink within a row of them over
    CROSSING_LINE_COVER of the CROSSING_LINE_MM before the pulse's left stroke (band column
    `left`) and after its right one (`right`). On photos the mask keeps pieces of the
    grid's lines (photo 6x2 bench page 12: two dashed lines through every start pulse,
    over 5% of its inside: no pulse was found, and each row's first lead was read from
    the pulse on, 0.38 s early); a trace inside a pulse does not go on outside it."""
    reach = max(2, round(CROSSING_LINE_MM * px_per_mm))
    keep = np.ones(core.shape[0], dtype=bool)
    for i in range(core.shape[0]):
        rows = band[max(0, core_top + i - 1):core_top + i + 2]
        before = rows[:, max(0, left - reach):left].any(axis=0)
        after = rows[:, right + 1:right + 1 + reach].any(axis=0)
        if (before.size and after.size and before.mean() >= CROSSING_LINE_COVER
                and after.mean() >= CROSSING_LINE_COVER):
            keep[max(0, i - 1):i + 2] = False
    return core[keep]


def _ink_share_without_grid_dots(core: np.ndarray, px_per_mm: float) -> float:
    """Share of `core` ((h, w) bool, a pulse's inside) that is ink, not counting a dotted
    grid's dots: pieces (8-connected) under PULSE_SPECK_MM both ways, when there are at
    least MIN_GRID_DOTS of them spaced as a 1 mm lattice (`DOT_SPACING_MM`); otherwise
    every piece counts."""
    _n, _labels, stats, centres = cv2.connectedComponentsWithStats(core.astype(np.uint8),
                                                                   connectivity=8)
    pieces, centres = stats[1:], centres[1:]
    speck_px = PULSE_SPECK_MM * px_per_mm
    speck = ((pieces[:, cv2.CC_STAT_WIDTH] < speck_px)
             & (pieces[:, cv2.CC_STAT_HEIGHT] < speck_px))
    if speck.sum() < MIN_GRID_DOTS:
        return float(core.mean())
    dots = centres[speck]
    dist = np.sqrt(np.square(dots[:, None, :] - dots[None, :, :]).sum(axis=2))
    np.fill_diagonal(dist, np.inf)
    spacing_mm = float(np.median(dist.min(axis=1))) / px_per_mm
    if not DOT_SPACING_MM[0] <= spacing_mm <= DOT_SPACING_MM[1]:
        return float(core.mean())
    return float(pieces[~speck, cv2.CC_STAT_AREA].sum()) / core.size


def agreeing_pulses(pulses: list[Pulse], tolerance: float = 0.1) -> list[Pulse]:
    """The largest set of pulses that agree on height and width (within `tolerance`,
    relative, of one of them); ties go to the set with more start pulses.

    Every row of a page is drawn at the same gain and speed, so one row's odd "pulse" (a
    serif label such as "III", a notch in a trace) is outvoted by the pulses of the others.
    """
    best: list[Pulse] = []
    best_key = (0, 0)
    for ref in pulses:
        group = [p for p in pulses
                 if abs(p.height_px / ref.height_px - 1) <= tolerance
                 and abs(p.width_px / ref.width_px - 1) <= tolerance]
        key = (len(group), sum(p.side == "start" for p in group))
        if key > best_key:
            best, best_key = group, key
    return best


@dataclass(frozen=True)
class Scales:
    """Amplitude and time scale of a page.

    px_per_mv: px per millivolt (vertical); px_per_s: px per second (horizontal).
    px_per_mm: page scale used, px/mm. mm_per_mv, mm_per_s: the paper settings. assumed: names assumed, not measured.
    band_limit: the share of the page's column Nyquist rate (px_per_s / 2) that its
    signals keep (`pipeline.signals.BAND_LIMIT`; less on photos), and min_cutoff_hz the
    least cut-off, Hz, whatever that share (`pipeline.signals.MIN_CUTOFF_HZ`; 0 on photos).
    """

    px_per_mv: float
    px_per_s: float
    px_per_mm: float
    mm_per_mv: float
    mm_per_s: float
    assumed: tuple[str, ...]
    band_limit: float = BAND_LIMIT
    min_cutoff_hz: float = MIN_CUTOFF_HZ


def lone_pulse_doubted(pulses: list[Pulse], px_per_mm: float, grid_measured: bool) -> bool:
    """Whether `pulses` is one pulse, on a page whose grid was measured (px_per_mm), that
    is likelier a piece of something else (a notch in a trace, a letter, a grid line's
    piece) than a calibration pulse: the usual settings are then assumed (its row still
    starts after it: real picture ecg00028's lone pulse, 11.4 mm tall at the grid's
    px/mm, is a pulse, read as lead I's first 0.4 s when left in). Such a pulse has no
    standard height (its width would set the speed: photo 12x1 bench page 0, a 3.2 x 2.0
    mm piece read as 12.5 mm/s, every lead's time axis doubled), the rarest gain's
    (LONE_PULSE_DOUBT_MM_PER_MV), or an odd gain and an odd speed both (a 2.5 x 2.2 mm
    notch of photo bench page 12 read as 2.5 mm/mV at 12.5 mm/s)."""
    if not grid_measured or len(pulses) != 1:
        return False
    mm_per_mv, gain_ok = snap(pulses[0].height_px / px_per_mm / PULSE_MV, STANDARD_MM_PER_MV,
                              0.12)
    mm_per_s, speed_ok = snap(pulses[0].width_px / px_per_mm / PULSE_S, STANDARD_MM_PER_S, 0.2)
    return (not gain_ok or mm_per_mv == LONE_PULSE_DOUBT_MM_PER_MV
            or (mm_per_mv != 10.0 and speed_ok and mm_per_s != 25.0))


def lone_piece(pulses: list[Pulse], px_per_mm: float, grid_measured: bool) -> bool:
    """Whether `pulses` is a doubted lone pulse (`lone_pulse_doubted`) too far from the
    usual pulse's 10 mm height (over USUAL_HEIGHT_SLACK) to be a pulse at all: its row
    is then read from its line's start, not after it. (Clean upside-down bench page 3
    without pulses: a 2.2 x 2.0 mm piece started every row, each lead read 164 ms early;
    real picture ecg00028's lone 11.4 mm pulse is one.)"""
    return (lone_pulse_doubted(pulses, px_per_mm, grid_measured)
            and abs(pulses[0].height_px / px_per_mm / USUAL_PULSE_MM - 1.0) > USUAL_HEIGHT_SLACK)


def page_scales(pulses: list[Pulse], px_per_mm: float | None, grid_measured: bool) -> Scales:
    """Combine the grid's px/mm and the pulses into amplitude and time scales.

    pulses: pulses found on the page (any rows). px_per_mm: from the grid (or an estimate
    when grid_measured is False). With no pulse, or a lone one that is doubted
    (`lone_pulse_doubted`), 10 mm/mV and 25 mm/s are assumed.
    """
    assumed: list[str] = []
    if px_per_mm is None or px_per_mm <= 0:
        raise ValueError(f"px_per_mm must be a positive estimate; found {px_per_mm}")
    if lone_pulse_doubted(pulses, px_per_mm, grid_measured):
        pulses = []
    if pulses:
        height = float(np.median([p.height_px for p in pulses]))
        width = float(np.median([p.width_px for p in pulses]))
        if not grid_measured:
            # No grid: assume the usual 25 mm/s to turn the pulse width into px per mm.
            px_per_mm = width / (PULSE_S * 25.0)
            assumed += ["px_per_mm", "mm_per_s"]
        mm_per_mv, gain_ok = snap(height / px_per_mm / PULSE_MV, STANDARD_MM_PER_MV, 0.12)
        if not gain_ok:
            # A pulse of no standard height is more likely a misread than an odd gain.
            mm_per_mv = 10.0
            assumed.append("mm_per_mv")
        speed = width / px_per_mm / PULSE_S
        mm_per_s, snapped = snap(speed, STANDARD_MM_PER_S, 0.2)
        near_speed = snap(speed, STANDARD_MM_PER_S, GRID_SPEED_TOLERANCE)[1]
        if (grid_measured and len(pulses) >= 2 and not gain_ok and not near_speed
                and abs(height / width / USUAL_PULSE_ASPECT - 1.0) <= PULSE_SHAPE_TOLERANCE):
            # Pulses of the usual 10 mm x 5 mm shape whose size fits no standard gain nor,
            # closely, speed at the grid's px/mm: the grid's period is misread (photo bench page 55:
            # 6.81 px/mm from a perspective-warped pink grid; four pulses 53 x 27 px, which
            # are 5.3 and 5.4 px/mm at 10 mm/mV and 25 mm/s). Scaled as a gridless page.
            return page_scales(pulses, px_per_mm, grid_measured=False)
        if not snapped:
            mm_per_s = 25.0
            assumed.append("mm_per_s")
        # The measured height is the best amplitude scale when it matches the standard.
        px_per_mv = height if abs(height / (mm_per_mv * px_per_mm) - 1) < 0.03 else (
            mm_per_mv * px_per_mm)
    else:
        mm_per_mv, mm_per_s = 10.0, 25.0
        assumed += ["mm_per_mv", "mm_per_s"]
        if not grid_measured:
            assumed.append("px_per_mm")
        px_per_mv = mm_per_mv * px_per_mm
    return Scales(px_per_mv=float(px_per_mv), px_per_s=float(mm_per_s * px_per_mm),
                  px_per_mm=float(px_per_mm),
                  mm_per_mv=float(mm_per_mv), mm_per_s=float(mm_per_s),
                  assumed=tuple(dict.fromkeys(assumed)))


#: Seconds a printed 12-lead page's rows show, read from their lines' ends: its 10 s
#: record, whole in each row (3x4's four columns of 2.5 s, 6x2's two of 5 s, 12x1 and
#: rhythm strips whole), drawn from its first sample to its last (9.998 s at 500 Hz). The
#: bench's scans, at their grid's scale, read 9.93-9.995 s, median 9.986 (taken for 10 s,
#: they shrank a gridless photo's time axis 0.13 %, and its leads read 1.5 dB lower).
ROW_RECORD_S = 9.99
#: Seconds a gridless page's whole rows may read at its pulse's time scale for the rows to
#: set the scale. A pulse's width is 39 px at 200 dpi, so a pixel is 2.6 %; rows 1,900 px
#: long are read to about 0.1 % (see ROW_RECORD_S). (The renderer draws a pulse's two vertical
#: strokes in whole columns, each up to half a pixel inward: its pulses are 0-2.3 %
#: narrow, bench scans without grid 0.9 and 1.2 %, its leads at 1-9 dB for it; they
#: are read as drawn.) Rows read past 10 s are the pulse's error (a record shows no more);
#: rows read short may be a page narrower than the record (the renderer's letter pages,
#: margins taken, show 9.76 s), so only a little short is taken for the pulse's error
#: (9.9 s snapped a letter page read 1.5 % off to 2.4 %).
ROWS_READ_S = (9.95, 10.4)


def scales_from_rows(scales: Scales, whole_rows_px: Sequence[float]) -> Scales:
    """A gridless page's scales with its time scale from its whole rows read as the
    record's ROW_RECORD_S.

    scales: from `page_scales` without a grid (px/mm from the pulse's width, or from rows
    read as 10 s where there is no pulse). whole_rows_px: drawn lengths, px, of rows no
    picture edge cuts (pulses left out). When their median at scales' px/s reads within
    ROWS_READ_S, px/s and px/mm follow from the rows; px/mV too
    unless a pulse's height set it. Else, and on a page with a grid or no whole
    row, `scales` unchanged. "rows_show_10_s" joins what was assumed.
    """
    if "px_per_mm" not in scales.assumed or not whole_rows_px:
        return scales
    length = float(np.median(whole_rows_px))
    if not ROWS_READ_S[0] <= length / scales.px_per_s <= ROWS_READ_S[1]:
        return scales
    factor = length / ROW_RECORD_S / scales.px_per_s
    # px/mV set by a pulse's height is kept; one that follows from px/mm follows it.
    derived = abs(scales.px_per_mv / (scales.mm_per_mv * scales.px_per_mm) - 1.0) < 1e-9
    return replace(scales, px_per_s=scales.px_per_s * factor,
                   px_per_mm=scales.px_per_mm * factor,
                   px_per_mv=scales.px_per_mv * (factor if derived else 1.0),
                   assumed=(*scales.assumed, "rows_show_10_s"))


#: Paper a photographed sheet may be, (long, short) side in mm: ECGs are printed on these.
PAPER_SIZES_MM = {"A4": (297.0, 210.0), "letter": (279.4, 215.9)}
#: Largest disagreement between the px/mm of a sheet's two sides for it to be that paper:
#: the outline's straightening sets its aspect from its longer edges, a few % off under a
#: strong tilt (5.7 % at 15 degrees); a sheet cut off by the picture's edge is further off.
SHEET_SIDES_TOLERANCE = 0.08
#: Largest disagreement between the sheet's px/mm along the rows and the page's own
#: estimate (pulse width: 0.2-1.3 % off on the bench's gridless photos; rows read as 10 s)
#: for the sheet's to be used. A4 and letter differ by 6.3 % along a landscape row and
#: 2.8 % along a portrait one; where both fit, the one whose sides agree better by
#: SHEET_SIDES_MARGIN is taken, else neither.
SHEET_MATCH_TOLERANCE = 0.02
SHEET_SIDES_MARGIN = 0.03
#: Range of a paper's px/mm over that of whole rows read as 10 s (no pulse, no grid) for
#: the paper to be the page's: its rows then show at most 10.2 s, and at least a 3x4
#: column's 2.5 s (a portrait page's rows may show 6 s).
SHEET_ROWS_MATCH = (ROW_RECORD_S / 10.2, ROW_RECORD_S / 2.5)
#: SHEET_SIDES_TOLERANCE for a page seen square-on whose whole picture may be the sheet
#: (an exported page, a scan of the whole sheet): no straightening bends its aspect, so
#: only a picture of the paper's own aspect, to rounding, is taken for it (a 300 x 215 mm
#: picture, 1.3 % off A4, is not A4).
IMAGE_SIDES_TOLERANCE = 0.005


def sheet_px_per_mm(sheet_px: tuple[float, float], estimate: float | None,
                    sides_tolerance: float = SHEET_SIDES_TOLERANCE,
                    match: tuple[float, float] = (1.0 - SHEET_MATCH_TOLERANCE,
                                                  1.0 + SHEET_MATCH_TOLERANCE)
                    ) -> tuple[float, float] | None:
    """px/mm along the rows (x) and across them (y) of a straightened photographed sheet
    of a standard paper size (`PAPER_SIZES_MM`), or None when no size fits.

    sheet_px: (width, height) of the sheet, px, rows running along the width. estimate:
    the page's own px/mm along the rows, or None when the page has no measure of its own
    (no grid, no pulse). A size fits when the width's px/mm over the estimate lies
    within `match` (by default SHEET_MATCH_TOLERANCE either way) and both sides' px/mm
    agree within `sides_tolerance` (see SHEET_SIDES_MARGIN where two fit).
    """
    w, h = sheet_px
    fits = []
    for long_mm, short_mm in PAPER_SIZES_MM.values():
        x_mm, y_mm = (long_mm, short_mm) if w >= h else (short_mm, long_mm)
        x, y = w / x_mm, h / y_mm
        sides = abs(x / y - 1)
        matches = estimate is None or match[0] <= x / estimate <= match[1]
        if sides <= sides_tolerance and matches:
            fits.append((sides, x, y))
    fits.sort()
    if not fits or (len(fits) > 1 and fits[1][0] - fits[0][0] < SHEET_SIDES_MARGIN):
        return None
    return fits[0][1], fits[0][2]


def scales_from_sheet(scales: Scales, sheet_px: tuple[float, float],
                      whole_image: bool = False) -> Scales:
    """A gridless page's scales with px/mm taken from its sheet's size.

    Without a grid, px/mm comes from the pulse width (about 25 px at 5 px/mm: a third of
    a pixel is 1.3 %, and a 10 s strip drifts 130 ms) or from rows assumed to show 10 s.
    The sheet's sides, over a thousand px, give it to a pixel when the sheet is A4 or
    letter (`sheet_px_per_mm`): the time scale then follows from them at the same
    mm/s, and the amplitude scale too unless a pulse measured it (its height is read
    across the rows, where the sheet's scale may differ by the outline's few %).
    whole_image: the sheet is a picture seen square-on (a scan, an exported page), whose
    aspect must then match the paper's within IMAGE_SIDES_TOLERANCE; where its px/mm was
    itself assumed (no pulse, and rows read as 10 s that a picture edge may cut) the
    paper's is taken without comparing.
    A photographed sheet's outline may be cut off by the picture's edge, so it is always
    compared.
    scales: from `page_scales` without a grid; sheet_px: (width, height), px.
    Returns `scales` unchanged when the sheet is of no standard size; else "paper_size"
    joins what was assumed.
    """
    if whole_image:
        no_pulse = "mm_per_mv" in scales.assumed  # a pulse measures the height
        if no_pulse and "rows_show_10_s" in scales.assumed:
            # Whole rows read as 10 s: a paper they would show more than that on is not
            # the page's (a cropped scan's aspect matched A4 by chance: bench gridless
            # scan 6, its rows 11.2 s); one they would show less on may be (rows of
            # 9.76 s on the bench's letter pages, of 6 s on portrait ones).
            sides = sheet_px_per_mm(sheet_px, scales.px_per_mm, IMAGE_SIDES_TOLERANCE,
                                    SHEET_ROWS_MATCH)
        else:
            estimate = None if no_pulse else scales.px_per_mm
            sides = sheet_px_per_mm(sheet_px, estimate, IMAGE_SIDES_TOLERANCE)
    else:
        sides = sheet_px_per_mm(sheet_px, scales.px_per_mm)
    if sides is None:
        return scales
    x, y = sides
    pulse_height = "mm_per_mv" not in scales.assumed
    return replace(scales, px_per_s=scales.mm_per_s * x, px_per_mm=x,
                   px_per_mv=scales.px_per_mv if pulse_height else scales.mm_per_mv * y,
                   assumed=(*scales.assumed, "paper_size"))
