"""Geometric degradations: rotation, camera tilt (perspective), margin crops.

One homography H (3, 3) maps page px to image px; the image is warped with bilinear
interpolation and the masks with nearest neighbour, so masks move exactly with the ink.
"""
from __future__ import annotations

import cv2
import numpy as np


def _rotation_about(cx: float, cy: float, deg: float) -> np.ndarray:
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    to_origin = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], dtype=np.float64)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=np.float64)
    back = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]], dtype=np.float64)
    return back @ rot @ to_origin


def tilt_homography(w: int, h: int, tilt_deg: float, axis_deg: float,
                    distance: float) -> np.ndarray:
    """Homography of a camera looking at the page tilted by `tilt_deg` about an in-plane
    axis at `axis_deg`, from `distance` page diagonals away (pinhole, principal point at
    the page centre). Returns (3, 3) page px -> projected px (page centre stays put)."""
    diag = float(np.hypot(w, h))
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64) - [w / 2, h / 2]
    a, t = np.radians(axis_deg), np.radians(tilt_deg)
    u = np.array([np.cos(a), np.sin(a), 0.0])
    k = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    rot = np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * (k @ k)
    pts = np.concatenate([src, np.zeros((4, 1))], axis=1) @ rot.T
    depth = distance * diag
    proj = pts[:, :2] * depth / (depth + pts[:, 2:3])
    return cv2.getPerspectiveTransform(
        (src + [w / 2, h / 2]).astype(np.float32), (proj + [w / 2, h / 2]).astype(np.float32)
    ).astype(np.float64)


def build_homography(page_w: int, page_h: int, rotation_deg: float, tilt_deg: float,
                     crop_px: tuple[float, float, float, float], photo: bool,
                     rng: np.random.Generator
                     ) -> tuple[np.ndarray, tuple[int, int], dict[str, float]]:
    """H (page px -> image px) and the output size (W, H).

    Scan (photo=False): rotation about the page centre on a canvas of the page's size,
    then crops (left, top, right, bottom px) removed. Photo: tilt and rotation, then the
    whole sheet fitted into a canvas with a random border of background.
    """
    details: dict[str, float] = {}
    hom = _rotation_about(page_w / 2, page_h / 2, rotation_deg)
    if not photo:
        left, top, right, bottom = crop_px
        shift = np.array([[1, 0, -left], [0, 1, -top], [0, 0, 1]], dtype=np.float64)
        size = (round(page_w - left - right), round(page_h - top - bottom))
        return shift @ hom, size, details
    axis = float(rng.uniform(0, 180))
    distance = float(rng.uniform(0.9, 2.0))
    tilt = tilt_homography(page_w, page_h, tilt_deg, axis, distance)
    hom = hom @ tilt
    # Crop the sheet's margins first (in page px), then fit into the canvas.
    left, top, right, bottom = crop_px
    corners = np.array([[left, top], [page_w - right, top], [page_w - right, page_h - bottom],
                        [left, page_h - bottom]], dtype=np.float64)
    warped = cv2.perspectiveTransform(corners[None].astype(np.float64), hom)[0]
    border = float(rng.uniform(0.02, 0.15))
    span = warped.max(axis=0) - warped.min(axis=0)
    out_w, out_h = (page_w, page_h) if span[0] >= span[1] else (page_h, page_w)
    scale = min(out_w * (1 - 2 * border) / span[0], out_h * (1 - 2 * border) / span[1])
    centre = (warped.max(axis=0) + warped.min(axis=0)) / 2
    offset = np.array([out_w / 2, out_h / 2]) + rng.uniform(-1, 1, 2) * border * 0.5 * np.array(
        [out_w, out_h])
    fit = np.array([[scale, 0, offset[0] - scale * centre[0]],
                    [0, scale, offset[1] - scale * centre[1]], [0, 0, 1]], dtype=np.float64)
    details.update({"tilt_axis_deg": axis, "camera_distance_diag": distance, "border": border,
                    "fit_scale": scale})
    return fit @ hom, (int(out_w), int(out_h)), details


def warp_page(image: np.ndarray, classes: np.ndarray, instances: np.ndarray, hom: np.ndarray,
              size: tuple[int, int], background: np.ndarray | None,
              sheet_crop: tuple[float, float, float, float] = (0, 0, 0, 0),
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Warp image planes (bilinear) and masks (nearest) by `hom` into `size` (W, H).

    image: (3, H, W) float32 planes; returns (3, H', W') planes and (H', W') masks.
    Outside the sheet the image shows `background` ((3, H', W') float32) or white.
    `sheet_crop` (left, top, right, bottom px) removes the sheet's edges (photo crops).
    """
    # OpenCV's warps, like our page coordinates, put pixel centres on integers.
    h_page, w_page = classes.shape
    out = np.stack([cv2.warpPerspective(plane, hom, size, flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_CONSTANT, borderValue=255)
                    for plane in image])
    cls = cv2.warpPerspective(classes, hom, size, flags=cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    inst = cv2.warpPerspective(instances, hom, size, flags=cv2.INTER_NEAREST,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if background is not None:
        sheet = np.zeros((h_page, w_page), np.float32)
        left, top, right, bottom = (round(v) for v in sheet_crop)
        sheet[top:h_page - bottom, left:w_page - right] = 1.0
        alpha = cv2.warpPerspective(sheet, hom, size, flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        for channel in range(3):
            out[channel] = background[channel] + (out[channel] - background[channel]) * alpha
        outside = alpha < 0.5
        cls[outside] = 0
        inst[outside] = 0
    return out, cls, inst
