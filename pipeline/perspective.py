"""Perspective from the grid itself: a homography that makes the grid's two line families
parallel, axis-aligned and equally spaced, with square cells.

A photographed sheet is a plane seen through a pinhole: each family of parallel grid lines
(and the trace baselines, which run along the horizontal family) converges to a vanishing
point. The local direction of each family is measured in overlapping tiles (the shear that
makes the tile's row or column projection sharpest); each family's vanishing point is the
point all its local directions aim at (weighted least squares, homogeneous so that a point
at infinity, parallel lines, is an ordinary answer). Sending both vanishing points to
infinity (the vanishing line to the line at infinity) leaves an affine map; mapping the two
directions onto the axes removes rotation and shear; the grid's period along each axis then
gives the aspect (grid cells are square). This works when the sheet's corners are not seen.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.grid import autocorrelation, best_period, comb_scores
from pipeline.rectify import Rectification, estimate_angle, finish_rough_angle

#: Long side of the reduced map directions are measured on, px.
WORK_SIDE_PX = 1200
#: Tiles per side (overlapping by half), and the steepest local direction searched, deg.
TILES = 4
MAX_TILT_DEG = 15.0
#: Side of the shrunk tile the coarse direction search runs on, px.
COARSE_SIDE_PX = 250
#: Below this relative change of scale across the sheet, perspective is not corrected.
MIN_KEYSTONE = 0.02
#: Largest page rotation looked for before the local directions, deg.
MAX_TURN_DEG = 25.0
#: Directions that agree this well across the page mean no perspective, deg.
SQUARE_ON_SPREAD_DEG = 0.3
#: Median disagreement of the tiles' directions with their vanishing point above which a
#: family is not a grid's, deg.
MAX_DIRECTION_SCATTER_DEG = 0.35
#: Least median sharpening (LocalDirection.weight) of a grid's tiles in the check pass:
#: grids measured 1.4-26, pages without a grid 0.6-0.9 (photo renders).
MIN_GRID_GAIN = 1.0
#: Least comb contrast (pipeline.grid.best_period) of a grid along each axis.
MIN_GRID_STRENGTH = 0.1
#: Largest accepted output side relative to the input's longer side.
MAX_GROWTH = 1.6
#: Gaussian smoothing (sigma, px) of the projections compared in the fine direction search.
SMOOTH_PX = 1.0


@dataclass(frozen=True)
class LocalDirection:
    """Direction of one line family in one tile.

    x, y: where it was measured (weighted centre of the tile's line mass), px of the map.
    angle_deg: the family's angle from its axis, degrees: the horizontal family runs along
    (cos a, sin a), the vertical one along (sin a, cos a) (x right, y down).
    weight: how much sharper the projection is at that angle than at the median angle
    searched (relative gain, >= 0; about 0 where the tile shows no such lines).
    """

    x: float
    y: float
    angle_deg: float
    weight: float


def _profile_sharpness(tile: np.ndarray, slope: float) -> float:
    """Sharpness (sum of squared differences) of the row projection of `tile` (h, w)
    float32 along lines of the given slope (dy/dx, tile px), taken about the tile's centre.

    Linear interpolation smooths every slope but zero a little (a bias towards axis-aligned
    lines that the fine search, `_sheared_sharpness`, does not have), but it also damps
    what aliases near 0.5 cycle/px, which the coarse search on a shrunk tile must ignore.
    """
    h, w = tile.shape
    # Shear y' = y - slope * (x - cx): lines of that slope become rows.
    pad = int(np.ceil(abs(slope) * w / 2)) + 1
    m = np.array([[1.0, 0.0, 0.0], [-slope, 1.0, slope * w / 2 + pad]], dtype=np.float32)
    sheared = cv2.warpAffine(tile, m, (w, h + 2 * pad), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    prof = cv2.reduce(sheared, 1, cv2.REDUCE_SUM, dtype=cv2.CV_64F).ravel()
    return float(np.square(np.diff(prof)).sum())


def _sheared_sharpness(tile: np.ndarray, slopes: np.ndarray, smooth_px: float = SMOOTH_PX,
                       spectra: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """Sharpness of the row projection of `tile` (h, w) float32 along lines of each slope
    (dy/dx, tile px), about the tile's centre: the power of the derivative of the
    projection smoothed by a Gaussian of `smooth_px` (sigma). -> (S,).

    Each column is moved by its fractional shift in the Fourier domain. Resampling it with
    linear interpolation instead smooths every slope but zero (whole-pixel shifts), so the
    search favoured axis-aligned lines and left about a tenth of a photo's perspective in
    place. Smoothing keeps frequencies near 0.5 cycle/px out of the measure: thin lines
    alias there, and a shifted alias lines up at the mirrored slope. spectra: the column
    spectra of this tile already computed, by transform length (filled in here).
    """
    h, w = tile.shape
    x = np.arange(w, dtype=np.float64) - 0.5 * (w - 1)
    reach = float(np.max(np.abs(slopes), initial=0.0)) * w / 2
    n = int(cv2.getOptimalDFTSize(int(np.ceil(h + 2 * reach)) + 4))  # zero padding: no wrap
    if spectra is None:
        spectra = {}
    if n not in spectra:
        spectra[n] = np.fft.rfft(tile, n=n, axis=0)  # (K, w); row k: k / n cycle/px
    spec = spectra[n]
    f = np.arange(spec.shape[0], dtype=np.float64) / n
    weight = (2.0 * np.pi * f) ** 2 * np.exp(-((2.0 * np.pi * smooth_px) * f) ** 2)
    # Frequencies that weigh (a contiguous band k0..k1: the weight rises, then falls).
    band = np.flatnonzero(weight > 1e-3 * weight.max())
    k0, k1 = int(band[0]), int(band[-1]) + 1
    spec, weight = spec[k0:k1].astype(np.complex64), weight[k0:k1]
    out = np.empty(len(slopes))
    phase = np.empty((k1 - k0, w), np.complex64)
    for i, slope in enumerate(slopes):
        # Column x moves up by slope * x: phase exp(2 pi i k slope x / n). Rows k0 + b..2b
        # are rows k0..b times the step to the power b (one vectorised product per
        # doubling: far cheaper than an exponential per element or a running product).
        phase[0] = np.exp((2j * np.pi * k0 / n) * slope * x)
        step = np.exp((2j * np.pi / n) * slope * x).astype(np.complex64)
        done = 1
        while done < len(phase):
            more = min(done, len(phase) - done)
            np.multiply(phase[:more], step, out=phase[done:done + more])
            done += more
            step = step * step
        proj = np.einsum("kx,kx->k", spec, phase)
        out[i] = float((weight * np.abs(proj) ** 2).sum())
    return out


def _search(tile: np.ndarray, angles: np.ndarray, squeeze: tuple[int, int],
            fine: bool = False, cache: dict[tuple[int, int], tuple[np.ndarray, dict[
                int, np.ndarray]]] | None = None) -> np.ndarray:
    """Sharpness of the horizontal family of `tile` (h, w) at each angle (deg), measured on
    the tile reduced by squeeze = (along x, along y): shrinking along the lines costs
    little precision and most of the time. fine: unbiased (`_sheared_sharpness`), else
    robust to aliasing (`_profile_sharpness`). cache: reduced tiles and their column
    spectra by squeeze, kept between the rounds of one tile's fine search."""
    h, w = tile.shape
    sx, sy = squeeze
    if cache is not None and squeeze in cache:
        small, spectra = cache[squeeze]
    else:
        small = cv2.resize(tile, (max(8, w // sx), max(8, h // sy)),
                           interpolation=cv2.INTER_AREA)
        spectra = {}
        if cache is not None:
            cache[squeeze] = (small, spectra)
    ratio = (w / small.shape[1]) / (h / small.shape[0])
    slopes = np.tan(np.radians(angles)) * ratio
    if fine:
        return _sheared_sharpness(small, slopes, spectra=spectra)
    return np.array([_profile_sharpness(small, float(s)) for s in slopes])


def _tile_direction(tile: np.ndarray, vertical: bool, max_tilt: float, around: float = 0.0
                    ) -> tuple[float, float]:
    """Best angle (deg, within around +- max_tilt) of one family in a tile (h, w) float32,
    and the sharpness gain of that angle over the median angle's (0 when the tile shows no
    family).

    Coarse on the tile shrunk to about COARSE_SIDE_PX (a narrower tile's peak is wider, so
    0.5 degree steps cannot step over it; shrinking both axes alike keeps the lattice of
    grid crossings from aliasing), then finer on the tile squeezed along the lines.
    """
    tile = _tapered(tile, vertical)
    shrink = max(1, round(max(tile.shape) / COARSE_SIDE_PX))
    cand = around + np.arange(-max_tilt, max_tilt + 1e-9, 0.5)
    scores = _search(tile, cand, (shrink, shrink))
    best = float(cand[int(np.argmax(scores))])
    floor = float(np.median(scores))
    gain = float(scores.max()) / floor - 1.0 if floor > 0 else 0.0
    return _fine_direction(tile, best), max(0.0, gain)


def _fine_direction(tile: np.ndarray, best: float) -> float:
    """The sharpest angle (deg) of the horizontal family of a tapered tile (h, w) float32,
    searched in three rounds of 5 angles (steps of 0.25, 0.08 and 0.025 degree) from
    `best`: within 0.71 degree of it, to about 0.01 degree."""
    cache: dict[tuple[int, int], tuple[np.ndarray, dict[int, np.ndarray]]] = {}
    for fine_step in (0.25, 0.08, 0.025):
        near = best + np.arange(-2, 3) * fine_step
        squeeze = (1, 1) if abs(best) > 8.0 else (4, 1)
        best = float(near[int(np.argmax(_search(tile, near, squeeze, True, cache)))])
    return best


def _tapered(tile: np.ndarray, vertical: bool) -> np.ndarray:
    """A tile (h, w) float32 laid so that the family measured runs along its rows
    (transposed for the vertical one) and tapered across them: the tile's own straight top
    and bottom edges must not make the unsheared projection look sharp."""
    if vertical:
        tile = np.ascontiguousarray(tile.T)
    return tile * np.hanning(tile.shape[0] + 2)[1:-1, None].astype(np.float32)


def _direction_near(tile: np.ndarray, vertical: bool, around: float) -> tuple[float, float]:
    """`_tile_direction` within 0.71 degree of `around` (deg), for a tile whose family is
    expected there (the page's turn, measured to 0.05 degree): the fine search alone, from
    `around`. The gain is the sharpness at the angle found over the mean of that at
    around +- 2 degrees (where a grid's lines are blurred across the tile), both measured
    as `_tile_direction`'s coarse search measures them. A family more than 0.71 degree
    from `around` is reported at the search's edge.

    On a page seen square-on each family lies within 0.1 degree of the page's turn, where
    `_tile_direction`'s coarse search (0.5 degree steps about `around`) would start the
    same fine search: the angles are the same, at 3 coarse turns of the tile instead of 9.
    """
    tile = _tapered(tile, vertical)
    best = _fine_direction(tile, around)
    shrink = max(1, round(max(tile.shape) / COARSE_SIDE_PX))
    scores = _search(tile, np.array([around - 2.0, around + 2.0, best]), (shrink, shrink))
    floor = 0.5 * float(scores[0] + scores[1])
    gain = float(scores[2]) / floor - 1.0 if floor > 0 else 0.0
    return best, max(0.0, gain)


def local_directions(line_map: np.ndarray, tiles: int = TILES, max_tilt: float = MAX_TILT_DEG,
                     around: tuple[float, float] = (0.0, 0.0)
                     ) -> tuple[list[LocalDirection], list[LocalDirection]]:
    """Directions of the horizontal and vertical line families in overlapping tiles.

    line_map: (H, W) float, high on grid lines (or traces). Tiles are 2/(tiles+1) of each
    side, overlapping by half; angles within around[k] +- max_tilt deg are searched for the
    horizontal (k = 0) and vertical (k = 1) family. Returns (horizontal, vertical) lists
    in line_map px.
    """
    h, w = line_map.shape
    th, tw = 2 * h // (tiles + 1), 2 * w // (tiles + 1)
    total = float(line_map.sum())
    horiz: list[LocalDirection] = []
    vert: list[LocalDirection] = []
    if th < 16 or tw < 16 or total <= 0:
        return horiz, vert
    ys, xs = np.mgrid[0:th, 0:tw].astype(np.float32)
    for i in range(tiles):
        for j in range(tiles):
            y0, x0 = i * th // 2, j * tw // 2
            tile = np.ascontiguousarray(line_map[y0:y0 + th, x0:x0 + tw], dtype=np.float32)
            mass = float(tile.sum())
            if mass < 0.01 * total:
                continue
            # Where the tapered tile's lines are (the direction is measured there).
            th_, tw_ = tile.shape
            weighted = tile * np.outer(np.hanning(th_ + 2)[1:-1], np.hanning(tw_ + 2)[1:-1])
            wmass = float(weighted.sum()) or 1.0
            cx = x0 + float((weighted * xs[:th_, :tw_]).sum()) / wmass
            cy = y0 + float((weighted * ys[:th_, :tw_]).sum()) / wmass
            for vertical, out in ((False, horiz), (True, vert)):
                angle, gain = _tile_direction(tile, vertical, max_tilt, around[int(vertical)])
                out.append(LocalDirection(cx, cy, angle, gain))
    return horiz, vert


def vanishing_point(dirs: list[LocalDirection], vertical: bool, norm: np.ndarray,
                    max_scatter_deg: float | None = None) -> np.ndarray | None:
    """Homogeneous vanishing point (3,) of one family, in the normalised coordinates given by
    `norm` (3, 3: px -> roughly [-1, 1]), or None with fewer than 3 usable tiles.

    Each tile's line (through its centre along its direction) should pass through the point;
    weighted least squares on unit-normal lines, then once more without outliers. With
    max_scatter_deg, None also when the median tile's direction misses the point by more
    (a grid's tiles agree on one point; paper texture or a page without grid do not).
    """
    good = [d for d in dirs if d.weight > 0.05]
    if len(good) < 3:
        return None
    lines, weights = [], []
    for d in good:
        a = np.radians(d.angle_deg)
        step = np.array([np.sin(a), np.cos(a)]) if vertical else np.array(
            [np.cos(a), np.sin(a)])
        p = norm @ np.array([d.x, d.y, 1.0])
        q = norm @ np.array([d.x + 50.0 * step[0], d.y + 50.0 * step[1], 1.0])
        line = np.cross(p, q)
        line /= np.hypot(line[0], line[1]) or 1.0
        lines.append(line)
        weights.append(min(d.weight, 10.0))
    lmat, wts = np.array(lines), np.sqrt(np.array(weights))
    keep = np.ones(len(lines), dtype=bool)
    vp = np.zeros(3)
    for _ in range(2):
        _, _, vt = np.linalg.svd(lmat[keep] * wts[keep, None])
        vp = vt[-1]
        res = np.abs(lmat @ vp)
        limit = max(3.0 * float(np.median(res[keep])), 1e-4)
        if (res <= limit).sum() < 3:
            break
        keep = res <= limit
    if max_scatter_deg is not None and float(
            np.median(_angle_off(good, vp, vertical, norm)[keep])) > max_scatter_deg:
        return None
    return vp


def _angle_off(dirs: list[LocalDirection], vp: np.ndarray, vertical: bool, norm: np.ndarray
               ) -> np.ndarray:
    """Angle (deg, (N,)) between each tile's direction and the line from it to the
    vanishing point vp (homogeneous, normalised coordinates)."""
    out = []
    for d in dirs:
        p = norm @ np.array([d.x, d.y, 1.0])
        to_vp = vp[:2] * p[2] - p[:2] * vp[2]  # direction towards vp (at infinity too)
        a = np.radians(d.angle_deg)
        step = np.array([np.sin(a), np.cos(a)]) if vertical else np.array([np.cos(a), np.sin(a)])
        cos = abs(float(step @ to_vp)) / (float(np.linalg.norm(to_vp)) or 1.0)
        out.append(float(np.degrees(np.arccos(min(1.0, cos)))))
    return np.array(out)


def _normaliser(shape: tuple[int, int]) -> np.ndarray:
    """(3, 3) px -> coordinates centred on the map, its half longer side = 1."""
    h, w = shape
    s = 2.0 / max(h, w)
    return np.array([[s, 0.0, -s * w / 2], [0.0, s, -s * h / 2], [0.0, 0.0, 1.0]])


def rectifying_homography(v_h: np.ndarray, v_v: np.ndarray) -> np.ndarray | None:
    """(3, 3) homography in normalised coordinates sending the horizontal family's vanishing
    point to +x at infinity and the vertical family's to +y at infinity (keeps the origin).
    None when the two points coincide or the vanishing line passes through the centre."""
    horizon = np.cross(v_h, v_v)
    if abs(horizon[2]) < 1e-9 or not np.isfinite(horizon).all():
        return None
    proj = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0],
                     [horizon[0] / horizon[2], horizon[1] / horizon[2], 1.0]])
    d_h, d_v = v_h[:2].copy(), v_v[:2].copy()
    if d_h[0] < 0:
        d_h = -d_h
    if d_v[1] < 0:
        d_v = -d_v
    basis = np.array([d_h / np.linalg.norm(d_h), d_v / np.linalg.norm(d_v)]).T
    if abs(np.linalg.det(basis)) < 0.2:  # families closer than ~12 degrees: not a grid
        return None
    affine = np.eye(3)
    affine[:2, :2] = np.linalg.inv(basis)
    return affine @ proj


def _aspect(warped_map: np.ndarray) -> float | None:
    """y/x ratio of the grid period in a rectified map (H, W): multiply x by it to make the
    grid's cells square. None when the map shows no periodic grid along both axes."""
    cols, rows = warped_map.sum(axis=0), warped_map.sum(axis=1)
    period, strength = best_period([cols, rows], 2.0, min(warped_map.shape) / 8)
    if not np.isfinite(period) or strength < MIN_GRID_STRENGTH:
        return None
    (px, sx), (py, sy) = _axis_period(cols, period), _axis_period(rows, period)
    if not (np.isfinite(px) and np.isfinite(py)) or min(sx, sy) < MIN_GRID_STRENGTH:
        return None
    return py / px


def _axis_period(profile: np.ndarray, period: float) -> tuple[float, float]:
    """Grid period of one axis's profile (N,) within -20%/+25% of the pages's common
    `period` (px), and its comb contrast: of the strong peaks there (at least half the
    best), the one nearest `period`.

    The strongest peak may be another harmonic (half the 5 mm period when the common one
    is the 3 mm harmonic), which an axis's measured cell size must not be compared with.
    """
    ac = autocorrelation(profile)
    cands = np.geomspace(0.8 * period, 1.25 * period, 600)
    scores = comb_scores([ac], cands)
    best = float(scores.max())
    if best <= 0:
        return float("nan"), 0.0
    peak = np.r_[False, (scores[1:-1] >= scores[:-2]) & (scores[1:-1] >= scores[2:]), False]
    peak[int(np.argmax(scores))] = True
    strong = np.flatnonzero(peak & (scores >= 0.5 * best))
    i = int(strong[np.argmin(np.abs(np.log(cands[strong] / period)))])
    return float(cands[i]), float(scores[i])


def _step(current: np.ndarray, max_tilt: float, tiles: int,
          around: tuple[float, float] = (0.0, 0.0), max_scatter_deg: float | None = None
          ) -> np.ndarray | None:
    """Homography (3, 3, px of `current` -> px) straightening the line families of the map
    `current` (h, w) float32; None when they are not found. With max_scatter_deg (the
    check pass), also None when the median tile of a family sharpens its projection by
    less than MIN_GRID_GAIN or the tiles disagree on the vanishing point."""
    horiz, vert = local_directions(current, tiles, max_tilt, around)
    if max_scatter_deg is not None and min(
            float(np.median([d.weight for d in dirs])) if dirs else 0.0
            for dirs in (horiz, vert)) < MIN_GRID_GAIN:
        return None  # the tiles' lines are too faint to be a grid's (traces, texture)
    norm = _normaliser(current.shape)
    v_h = vanishing_point(horiz, False, norm, max_scatter_deg)
    v_v = vanishing_point(vert, True, norm, max_scatter_deg)
    if v_h is None or v_v is None:
        return None
    hom_n = rectifying_homography(v_h, v_v)
    return None if hom_n is None else np.linalg.inv(norm) @ hom_n @ norm


def _reduced(line_map: np.ndarray) -> tuple[np.ndarray, float]:
    """line_map (H, W) brought to WORK_SIDE_PX on its long side (never enlarged), float32;
    and the factor (reduced px per map px)."""
    h, w = line_map.shape
    f = min(1.0, WORK_SIDE_PX / max(h, w))
    small = cv2.resize(line_map.astype(np.float32, copy=False),
                       (max(16, round(w * f)), max(16, round(h * f))),
                       interpolation=cv2.INTER_AREA)
    return small, f


def _half(small: np.ndarray) -> np.ndarray:
    """A reduced map (h, w) at half its size (h // 2, w // 2), float32."""
    return cv2.resize(small, (max(8, small.shape[1] // 2), max(8, small.shape[0] // 2)),
                      interpolation=cv2.INTER_AREA)


def _turn_and_square_on(half: np.ndarray) -> tuple[float, bool]:
    """The turn (deg) of a map `half` (h, w) and whether it looks square-on. The turn of a
    page seen square-on is measured to 0.05 degree (rectify's climb starts from it), any
    other's to 0.01.

    half: the line map reduced to WORK_SIDE_PX / 2 (`_half` of `_reduced`). The square-on
    check's tiles (300 px on a 2200 px page) still resolve 0.1 degree there, at about 2/3
    of the cost at WORK_SIDE_PX. The way the map is shrunk sets the moire of a grid whose
    lines lie 2-3 px apart there, and with it the directions found: a scan's map shrunk in
    whole blocks of 3 px first showed no lines in its quarters.
    """
    turn = estimate_angle(half, MAX_TURN_DEG, rough=True)
    if _square_on(half, (turn, -turn)):
        return turn, True
    # A photo's turn seeds `grid_rectification`, whose answer can move a degree with its
    # seed's last hundredth of a degree (photo bench page 33: 13.3 -> 0.6 dB at -14.45
    # instead of -14.43): measured in full.
    return finish_rough_angle(half, turn), False


def page_turn(line_map: np.ndarray) -> tuple[float, bool]:
    """The page's turn (deg, within +-MAX_TURN_DEG) and whether the page is seen square-on
    (a scan or a digital page, which that rotation straightens; False: its line families
    converge, as in a photo).

    line_map: (H, W) float, high on grid lines. The turn is measured on a map of
    WORK_SIDE_PX / 2 px, to within about 0.05 degree: good to start a finer search from
    (`pipeline.rectify.estimate_angle`'s near)."""
    if line_map.ndim != 2:
        raise ValueError(f"line_map must be (H, W); found shape {line_map.shape}")
    return _turn_and_square_on(_half(_reduced(line_map)[0]))


def grid_rectification(line_map: np.ndarray, region: np.ndarray | None = None,
                       *, min_keystone: float = MIN_KEYSTONE, turn: float | None = None
                       ) -> Rectification | None:
    """Rectification undoing perspective, rotation and shear from the line families.

    line_map: (H, W) float, high on grid lines (or traces when there is no grid).
    region: (H, W) bool or None, where the sheet is (the output canvas covers it; default:
    where line_map has mass). Returns None when fewer than 3 tiles per family show lines,
    the families are not a grid, or the scale changes across the sheet by less than
    `min_keystone` (relative; a plain rotation does then). The first estimate is refined
    once on the map it straightened (a tile's lines converge less there). The output keeps
    the scale at the sheet's centre, with square grid cells. turn: the page's turn from
    `page_turn` when it found the page not square-on (neither is measured again).
    """
    if line_map.ndim != 2:
        raise ValueError(f"line_map must be (H, W); found shape {line_map.shape}")
    small, f = _reduced(line_map)
    if turn is None:
        # The page's turn (the square-on check searches within 0.71 degree of it).
        turn, square_on = _turn_and_square_on(_half(small))
        if square_on:
            return None  # a scan or a digital page: a rotation does
    around = (turn, -turn)  # the families' angles on a page turned by `turn`, no keystone
    if region is None:
        sel = small > 0.5 * float(small.max())
    else:
        sel = cv2.resize(region.astype(np.uint8), (small.shape[1], small.shape[0]),
                         interpolation=cv2.INTER_NEAREST) > 0
    ys, xs = np.divmod(np.flatnonzero(sel), sel.shape[1])  # np.nonzero(sel), faster
    if ys.size < 4:
        return None
    pts = np.stack([xs, ys], axis=1).astype(np.float32)
    hull = cv2.convexHull(pts).reshape(-1, 2).astype(np.float64)
    centre = pts.mean(axis=0).astype(np.float64)
    longest = max(small.shape)
    hom = np.eye(3)
    current = small
    # The second pass, on a nearly straight map, must find a grid (small tiles agreeing).
    for tiles, max_tilt, scatter in ((TILES - 1, MAX_TILT_DEG, None),
                                     (TILES, 4.0, MAX_DIRECTION_SCATTER_DEG)):
        step = _step(current, max_tilt, tiles, around, scatter)
        around = (0.0, 0.0)  # the second pass measures what the first left
        if step is None:
            return None
        hom = step @ hom
        if max_tilt == MAX_TILT_DEG and _keystone(hom, hull) < 0.5 * min_keystone:
            return None
        jac = _jacobian(hom, centre)
        fitted = _fit_canvas(np.diag([1.0 / np.sqrt(abs(np.linalg.det(jac)))] * 2 + [1.0])
                             @ hom, hull, longest)
        if fitted is None:
            return None
        hom = fitted
        shape = _canvas_shape(hom, hull)
        current = cv2.warpPerspective(small, hom, (shape[1], shape[0]), flags=cv2.INTER_LINEAR)
    if _keystone(hom, hull) < min_keystone:
        return None
    aspect = _aspect(current)
    if aspect is None:
        aspect = 1.0  # lines but no measurable period (traces only, faint grid)
    fitted = _fit_canvas(np.diag([np.sqrt(aspect), 1.0 / np.sqrt(aspect), 1.0]) @ hom, hull,
                         longest)
    if fitted is None:
        return None
    hom = fitted
    # Back to full-resolution px.
    full = np.diag([1.0 / f, 1.0 / f, 1.0]) @ hom @ np.diag([f, f, 1.0])
    angle = float(np.degrees(np.arctan2(-full[1, 0], full[0, 0])))
    return Rectification(angle, full, _canvas_shape(full, hull / f))


def _square_on(small: np.ndarray, around: tuple[float, float]) -> bool:
    """Whether a map (h, w) looks square-on: in its four corner quarters each family's
    direction (searched within 0.71 degree of `around`, `_direction_near`) is the same
    within SQUARE_ON_SPREAD_DEG (a keystone of 2% turns lines by about 1 degree there). The
    answer is no as soon as a family's directions spread more, or too few quarters are
    left for it to be found in three. (`around` is the page's turn, which lies among the
    quarters' directions: quarters further from it than the search reaches spread at least
    as far as its edges.)"""
    h, w = small.shape
    th, tw = h // 2, w // 2
    found: tuple[list[float], list[float]] = ([], [])
    quarters = ((0, 0), (0, w - tw), (h - th, 0), (h - th, w - tw))
    for i, (y0, x0) in enumerate(quarters):
        tile = np.ascontiguousarray(small[y0:y0 + th, x0:x0 + tw], dtype=np.float32)
        if float(tile.sum()) <= 0:
            continue
        for k in (0, 1):
            angle, gain = _direction_near(tile, bool(k), around[k])
            if gain > 0.05:
                found[k].append(angle)
            left = len(quarters) - 1 - i
            if len(found[k]) + left < 3 or (
                    found[k] and max(found[k]) - min(found[k]) > SQUARE_ON_SPREAD_DEG):
                return False
    return all(len(a) >= 3 and max(a) - min(a) <= SQUARE_ON_SPREAD_DEG for a in found)


def maps_to_rectangle(rect: Rectification, corners: np.ndarray, tol_deg: float = 2.0) -> bool:
    """Whether `rect` turns a quadrilateral's corners (4, 2) px (tl, tr, br, bl) into a
    rectangle (every corner within tol_deg of 90 degrees). A sheet's outline that a good
    grid rectification does not square up is not the sheet (a shadow or a fold cut it)."""
    pts = cv2.perspectiveTransform(corners[None].astype(np.float64), rect.matrix)[0]
    for i in range(4):
        a, b = pts[i - 1] - pts[i], pts[(i + 1) % 4] - pts[i]
        cos = float(a @ b) / (float(np.linalg.norm(a) * np.linalg.norm(b)) or 1.0)
        if abs(90.0 - float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))) > tol_deg:
            return False
    return True


def _keystone(hom: np.ndarray, hull: np.ndarray) -> float:
    """Relative change of linear scale across the hull's points under `hom` (0 for affine)."""
    dets = [abs(np.linalg.det(_jacobian(hom, p))) for p in hull]
    return float(np.sqrt(max(dets) / max(min(dets), 1e-12)) - 1.0)


def _jacobian(hom: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(2, 2) derivative of the homography `hom` at point p (2,) px."""
    x = hom @ np.array([p[0], p[1], 1.0])
    jac = np.zeros((2, 2))
    for k in range(2):
        jac[:, k] = (hom[:2, k] * x[2] - x[:2] * hom[2, k]) / x[2] ** 2
    return jac


def _fit_canvas(hom: np.ndarray, hull: np.ndarray, longest: int) -> np.ndarray | None:
    """Translate `hom` so the warped hull starts at (0, 0) (the canvas is the sheet, or
    what has lines, and no more); None when the hull crosses the vanishing line or the
    canvas would exceed MAX_GROWTH x the input side."""
    pts = np.c_[hull, np.ones(len(hull))] @ hom.T
    if (pts[:, 2] <= 0).any():
        return None
    xy = pts[:, :2] / pts[:, 2:3]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    if (hi - lo).max() > MAX_GROWTH * longest:
        return None
    shift = np.array([[1.0, 0.0, -lo[0]], [0.0, 1.0, -lo[1]], [0.0, 0.0, 1.0]])
    return shift @ hom


def _canvas_shape(hom: np.ndarray, hull: np.ndarray) -> tuple[int, int]:
    """(H, W) px holding the warped hull (hom from `_fit_canvas`)."""
    hi = cv2.perspectiveTransform(hull[None].astype(np.float64), hom)[0].max(axis=0)
    return int(np.ceil(hi[1])) + 1, int(np.ceil(hi[0])) + 1
