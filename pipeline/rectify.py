"""Straightening the page: rotation from the grid's (or the traces') line families.

Rotation: the angle at which the row and column projections of the line map are sharpest
(sum of squared differences), searched coarse to fine on a reduced map. With a grid, both
line families vote; with no grid, the trace baselines do. Perspective (photos) is undone
before this by `pipeline.perspective` (from the grid's vanishing points) or, on a page with
no grid, from the sheet's corners (`unwarp_quad`); a `Rectification` holds the homography.
Upside-down pages are turned by the digitizer once rows and calibration pulses are known
(`pipeline.calibration.pulses_on_right`); `rotate_180` is the helper it uses.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Largest rotation searched, degrees.
MAX_ANGLE_DEG = 20.0
#: Long side of the reduced map the angle search runs on, px.
SEARCH_SIDE_PX = 900


@dataclass(frozen=True)
class Rectification:
    """How an image was straightened.

    angle_deg: counter-clockwise rotation applied, degrees.
    matrix: (3, 3) float64 homography mapping input px to rectified px.
    shape: (H, W) of the rectified image, px.
    """

    angle_deg: float
    matrix: np.ndarray
    shape: tuple[int, int]


def _sharpness(small: np.ndarray, angle: float) -> float:
    """Projection sharpness of `small` (h, w) float32 rotated by `angle` degrees (not
    turned at 0 degrees: the warp would return the map as it is)."""
    h, w = small.shape
    rot = small
    if angle != 0.0:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        rot = cv2.warpAffine(small, m, (w, h), flags=cv2.INTER_LINEAR)
    rows, cols = rot.sum(axis=1), rot.sum(axis=0)
    return float(np.square(np.diff(rows)).sum() + np.square(np.diff(cols)).sum())


def estimate_angle(line_map: np.ndarray, max_angle: float = MAX_ANGLE_DEG,
                   near: float | None = None, rough: bool = False) -> float:
    """Rotation (degrees, counter-clockwise positive as in cv2) that makes lines axis-aligned.

    line_map: (H, W) float, high on grid lines or traces. Returns the angle to apply with
    `rotate` to straighten the page, in [-max_angle, max_angle], to 0.01 degree. near: an
    estimate already known to within ~0.2 degree (from a smaller map): only the fine search
    runs, about it. rough: to 0.05 degree only (a start for a finer search elsewhere).
    """
    small = _search_map(line_map)
    if near is not None:
        return _climb(small, float(np.clip(near, -max_angle, max_angle)), first_steps=2)
    g = 0.5
    # Blur first: at ~1.5 px per mm a dense 1 mm grid aliases into moire whose sharpness
    # peaks at wrong angles (black grids on scans read 5-10 degrees off); blurred, the
    # coarse search sees the 5 mm lines, and the fine search below the full map.
    blurred = cv2.GaussianBlur(small, (0, 0), 1.0)
    tiny = cv2.resize(blurred, (max(8, int(small.shape[1] * g)), max(8, int(small.shape[0] * g))),
                      interpolation=cv2.INTER_AREA)
    angles = np.arange(-max_angle, max_angle + 1e-9, 0.25)
    scores = _spectral_sharpness(tiny, angles)
    return _refine(small, _sharpest_peak(small, angles, scores),
                   REFINE_ROUNDS[:1] if rough else REFINE_ROUNDS)


#: Coarse-search peaks checked on the search map (`_sharpest_peak`): at most this many,
#: each scoring at least MIN_PEAK_SHARE of the best; one replaces the best when it is
#: MIN_SHARPER times as sharp there (a photo's families, converging, leave their peaks
#: close in sharpness, and its turn seeds the perspective search: left as it was).
MAX_PEAKS = 3
MIN_PEAK_SHARE = 0.5
MIN_SHARPER = 2.0


def _sharpest_peak(small: np.ndarray, angles: np.ndarray, scores: np.ndarray) -> float:
    """The coarse search's answer (deg): its highest peak (`scores` over `angles`, on the
    half-size map), or another high one MIN_SHARPER times as sharp on `small` itself. A
    dark 1 mm grid, 2 px apart on the half-size map, aliases into moire that may peak
    higher than the page's turn there (kit brown grid turned 3 degrees: its peak at -1.5
    scored 1.0, the turn's at -3.0 0.69, and -1.5 was 20 x less sharp on the search
    map; the page was read at 7.64 px/mm for 7.87, at -0.2 dB)."""
    inner = np.r_[False, (scores[1:-1] >= scores[:-2]) & (scores[1:-1] >= scores[2:]), False]
    peaks = np.flatnonzero(inner | (scores == scores.max()))
    peaks = peaks[scores[peaks] >= MIN_PEAK_SHARE * scores.max()]
    peaks = peaks[np.argsort(scores[peaks])[::-1][:MAX_PEAKS]]
    best = float(angles[peaks[0]])
    if peaks.size == 1:
        return best
    sharpness = {float(angles[k]): _sharpness(small, float(angles[k])) for k in peaks}
    sharpest = max(sharpness, key=lambda a: sharpness[a])
    return sharpest if sharpness[sharpest] >= MIN_SHARPER * sharpness[best] else best


def finish_rough_angle(line_map: np.ndarray, rough_deg: float) -> float:
    """What `estimate_angle(line_map)` returns, from `estimate_angle(line_map, rough=True)`'s
    answer `rough_deg`: the last round of its search (0.01 degree steps), which that
    answer leaves out."""
    return _refine(_search_map(line_map), rough_deg, REFINE_ROUNDS[1:])


def _search_map(line_map: np.ndarray) -> np.ndarray:
    """line_map (H, W) reduced to SEARCH_SIDE_PX on its long side (never enlarged), float32."""
    h, w = line_map.shape
    f = min(1.0, SEARCH_SIDE_PX / max(h, w))
    return cv2.resize(line_map.astype(np.float32, copy=False),
                      (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA)


def _spectral_sharpness(image: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Projection sharpness (as `_sharpness`: squared differences of the row and column
    sums) of `image` (h, w) float32 turned by each of `angles` (A,) deg -> (A,), from one
    2-D power spectrum instead of a warp per angle (about 4x faster for 161 angles).

    By the projection-slice theorem the spectrum of the image's projection across a
    direction is its 2-D spectrum along the central line in that direction; squared
    differences weigh a sequence's power by 4 sin^2(pi f). The spectrum is zero-padded to
    twice the long side, which samples it finely enough to interpolate along the lines.
    Unlike a warp it keeps the whole image at every angle (nothing is cut at the corners),
    so the scores differ a little; it serves the coarse search, which `_refine` follows.
    """
    h, w = image.shape
    n = cv2.getOptimalDFTSize(2 * max(h, w))
    # Taper the map's edges: a zero-padded box has a spectrum of its own, along the axes.
    taper = np.outer(_tukey(h), _tukey(w)).astype(np.float32)
    power = np.fft.fftshift(np.abs(np.fft.fft2(image * taper, s=(n, n))) ** 2).astype(
        np.float32)
    radius = np.arange(1, n // 2, dtype=np.float32)  # frequency radius / n cycle/px
    weight = (4.0 * np.sin(np.pi * radius / n) ** 2).astype(np.float32)
    theta = -np.radians(angles).astype(np.float32)[:, None]
    centre = n // 2
    scores = np.zeros(len(angles))
    # Row sums of the turned image: frequencies across its rows; column sums: along them.
    for fx, fy in ((np.sin(theta), np.cos(theta)), (np.cos(theta), -np.sin(theta))):
        xs = (centre + radius[None] * fx).astype(np.float32)
        ys = (centre + radius[None] * fy).astype(np.float32)
        line = cv2.remap(power, xs, ys, cv2.INTER_LINEAR)
        scores += (line * weight).sum(axis=1)
    return scores


def _tukey(n: int, edge: float = 0.1) -> np.ndarray:
    """(n,) window: 1 in the middle, a half cosine over `edge` of n at each end."""
    ramp = max(1, round(edge * n))
    window = np.ones(n)
    rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)
    window[:ramp], window[n - ramp:] = rise, rise[::-1]
    return window


#: The fine search's rounds after the coarse one: (step deg, steps each side). The first
#: covers 0.3 degree about the coarse search's best (its steps are 0.25 degree).
REFINE_ROUNDS: tuple[tuple[float, int], ...] = ((0.05, 6), (0.01, 5))


def _refine(small: np.ndarray, best: float,
            rounds: tuple[tuple[float, int], ...] = REFINE_ROUNDS) -> float:
    """The sharpest angle (deg) of `small` (h, w) float32 near `best`, searched in `rounds`:
    each (step deg, n) turns the map to the round's centre +- k * step, k <= n, and the
    next round is centred on its best. A round's centre, the last round's best, is not
    turned and measured again."""
    known: dict[float, float] = {}  # angle (deg) -> sharpness
    for step, n in rounds:
        fine = best + np.arange(-n, n + 1) * step
        for a in fine:
            if float(a) not in known:
                known[float(a)] = _sharpness(small, a)
        scores = [known[float(a)] for a in fine]
        best = float(fine[int(np.argmax(scores))])
    return best


def _climb(small: np.ndarray, best: float, first_steps: int) -> float:
    """`_refine`'s answer by climbing: steps of 0.05 degree from `best` towards the
    sharper neighbour (within first_steps of it), then of 0.01 (within 5).

    For a start near the answer (`estimate_angle`'s near: a page seen square-on, whose
    grid gives one peak, about a pixel's turn across the map wide: 0.06 degree at 900
    px), the climb stops where `_refine` would, turning the map 5 times instead of 14 on
    each of the GPU bench's 15 such pages (a test holds the two equal). A photo's first estimate, whose sharpness can have
    several peaks, is searched in full."""
    known: dict[int, float] = {}  # steps of 0.01 degree from `best` -> sharpness

    def score(k: int) -> float:
        if k not in known:
            known[k] = _sharpness(small, best + 0.01 * k)
        return known[k]

    at = 0
    for step, n in ((5, first_steps), (1, 5)):
        centre = at
        for _ in range(2 * n):
            here, up, down = score(at), score(at + step), score(at - step)
            if here >= up and here >= down:
                break
            nxt = at + step if up > down else at - step
            if abs(nxt - centre) > n * step:
                break
            at = nxt
    return best + 0.01 * at


def rotation_matrix(shape: tuple[int, int], angle_deg: float) -> tuple[np.ndarray, tuple[int, int]]:
    """Homography (3, 3) rotating an (H, W) image by angle_deg about its centre, expanding the
    canvas so nothing is cut; returns (matrix, (H', W'))."""
    h, w = shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle_deg, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(np.ceil(h * sin + w * cos)), int(np.ceil(h * cos + w * sin))
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return np.vstack([m, [0.0, 0.0, 1.0]]), (nh, nw)


def warp(array: np.ndarray, rect: Rectification, *, fill: float | tuple[float, ...] = 0,
         nearest: bool = False) -> np.ndarray:
    """Apply a rectification to an image (H, W, C) or map (H, W); returns rect.shape sized."""
    h, w = rect.shape
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    if np.allclose(rect.matrix, np.eye(3)) and array.shape[:2] == (h, w):
        return array
    if np.allclose(rect.matrix[2], [0, 0, 1]):
        return cv2.warpAffine(array, rect.matrix[:2], (w, h), flags=flags,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
    return cv2.warpPerspective(array, rect.matrix, (w, h), flags=flags,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=fill)


def rectify_from_map(line_map: np.ndarray, *, min_angle_deg: float = 0.05,
                     near: float | None = None) -> Rectification:
    """Rectification of a page from its line map (grid probability, or trace probability
    when there is no grid). line_map: (H, W) float. Angles under min_angle_deg are ignored.
    near: the page's angle when already estimated on a smaller map (`estimate_angle`)."""
    h, w = line_map.shape
    angle = estimate_angle(line_map, near=near)
    if abs(angle) < min_angle_deg:
        return Rectification(0.0, np.eye(3), (h, w))
    matrix, shape = rotation_matrix((h, w), angle)
    return Rectification(angle, matrix, shape)


def rotate_180(shape: tuple[int, int]) -> Rectification:
    """Rectification turning an (H, W) image upside down."""
    h, w = shape
    m = np.array([[-1.0, 0.0, w - 1.0], [0.0, -1.0, h - 1.0], [0.0, 0.0, 1.0]])
    return Rectification(180.0, m, (h, w))


def rotate_90(shape: tuple[int, int]) -> Rectification:
    """Rectification turning an (H, W) image a quarter turn counter-clockwise (as
    `np.rot90`): the result is (W, H), input (x, y) lands on (y, W - 1 - x)."""
    h, w = shape
    m = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, w - 1.0], [0.0, 0.0, 1.0]])
    return Rectification(90.0, m, (w, h))


def compose(first: Rectification, then: Rectification) -> Rectification:
    """The rectification applying `first`, then `then`."""
    angle = first.angle_deg + then.angle_deg
    if angle > 180.0:
        angle -= 360.0
    return Rectification(angle, then.matrix @ first.matrix, then.shape)


def unwarp_quad(corners: np.ndarray) -> Rectification:
    """Homography taking a photographed quadrilateral (4, 2) px (top-left, top-right,
    bottom-right, bottom-left) onto an upright rectangle whose sides are the longer of each
    pair of opposite edges (landscape if the quadrilateral is wider than tall)."""
    tl, tr, br, bl = corners
    width = max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))
    height = max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))
    dst = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]])
    m = cv2.getPerspectiveTransform(corners.astype(np.float32), dst.astype(np.float32))
    return Rectification(0.0, m.astype(np.float64), (round(height), round(width)))
