"""Degradations of a rendered page, seeded and composable, in physical order:

1. on the paper (page px): tint, texture, folds, stamps, handwriting;
2. geometry: rotation, camera tilt over a background, margin crops (one homography);
3. capture: uneven light, shadow, blur, sensor noise, binarisation, JPEG.

Masks follow step 2 exactly (nearest neighbour); photometric steps leave them unchanged.
Everything drawn at random is recorded in `page.conditions["degradations"]`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from pipeline.synth import marks
from pipeline.synth.warp import build_homography, warp_page

if TYPE_CHECKING:
    from pipeline.synth.render import RenderedPage
    from pipeline.synth.spec import RenderSpec


#: Background colours of photos (RGB): wood, grey desk, dark table, white table, blue cloth.
_BACKGROUNDS = ((150, 105, 70), (120, 120, 125), (45, 42, 40), (225, 225, 220), (70, 85, 110),
                (180, 170, 150))


def _smooth_field(size: tuple[int, int], fn, factor: int = 8) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Evaluate fn(yy, xx) (coordinates in [-1, 1]) on a grid `factor` times coarser than
    `size` (W, H) and resize it up: smooth fields at a fraction of the cost."""
    w, h = size
    sw, sh = max(w // factor, 2), max(h // factor, 2)
    yy = np.linspace(-1, 1, sh, dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, sw, dtype=np.float32)[None, :]
    small = np.broadcast_to(fn(yy, xx), (sh, sw)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _background(size: tuple[int, int], kind: str, rng: np.random.Generator) -> np.ndarray:
    """(3, H, W) float32 background of a photo: a desk, a cloth, a dark table."""
    w, h = size
    base = np.asarray(_BACKGROUNDS[int(rng.integers(len(_BACKGROUNDS)))], np.float32)
    base = base * float(rng.uniform(0.7, 1.15)) + rng.uniform(-12, 12, 3).astype(np.float32)
    shade = np.ones((h, w), np.float32)
    if kind == "texture":
        lum = cv2.resize(rng.standard_normal((6, 9)).astype(np.float32), (w, h),
                         interpolation=cv2.INTER_CUBIC)
        grain = cv2.resize(rng.standard_normal((max(h // 3, 2), max(w // 3, 2))).astype(
            np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        shade += 0.15 * lum + 0.04 * grain
        if rng.random() < 0.5:  # wood-like grain stripes
            period = float(rng.uniform(0.02, 0.08))
            shade += 0.08 * _smooth_field(
                size, lambda yy, xx: np.sin((yy + 0.1 * xx) / period + np.sin(xx * 5) * 3), 2)
    return np.stack([shade * np.float32(b) for b in base])


def _light(image: np.ndarray, gradient: float, shadow: float,
           rng: np.random.Generator) -> dict[str, float]:
    """Multiply by a smooth illumination field: a linear ramp plus vignette, and a soft
    shadow edge (a dark half-plane with blurred border)."""
    h, w = image.shape[1:]
    angle = float(rng.uniform(0, 2 * np.pi))
    s_angle = float(rng.uniform(0, 2 * np.pi))
    offset = float(rng.uniform(-0.6, 0.6))
    softness = float(rng.uniform(0.02, 0.3))

    def field(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        ramp = (np.cos(angle) * xx + np.sin(angle) * yy) * 0.5 + 0.5
        out = 1.0 - gradient * ramp - 0.25 * gradient * (xx ** 2 + yy ** 2)
        if shadow > 0:
            dist = np.cos(s_angle) * xx + np.sin(s_angle) * yy - offset
            out = out * (1.0 - shadow / (1.0 + np.exp(-dist / softness)))
        return out

    light = _smooth_field((w, h), field)
    for channel in range(3):
        image[channel] *= light
    details = {"light_angle_rad": angle}
    if shadow > 0:
        details.update({"shadow_angle_rad": s_angle, "shadow_offset": offset,
                        "shadow_softness": softness})
    return details


def _glare(image: np.ndarray, strength: float, rng: np.random.Generator) -> dict[str, float]:
    """A specular highlight: an elliptical blob that washes the page towards white."""
    h, w = image.shape[1:]
    cy, cx = float(rng.uniform(-0.7, 0.7)), float(rng.uniform(-0.7, 0.7))
    ry, rx = float(rng.uniform(0.1, 0.4)), float(rng.uniform(0.1, 0.4))
    blob = _smooth_field((w, h), lambda yy, xx: strength * np.exp(
        -0.5 * (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)))
    for channel in range(3):
        image[channel] += (np.float32(255.0) - image[channel]) * blob
    return {"glare_centre": cx, "glare_centre_y": cy, "glare_rx": rx, "glare_ry": ry}


def _motion_blur(image: np.ndarray, length_px: float, rng: np.random.Generator) -> float:
    """Blur along a random direction over `length_px` (a shaken camera); returns the angle."""
    angle = float(rng.uniform(0, 180))
    size = int(np.ceil(length_px)) | 1
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    dx = float(np.cos(np.radians(angle))) * length_px / 2
    dy = float(np.sin(np.radians(angle))) * length_px / 2
    cv2.line(kernel, (round((c - dx) * 16), round((c - dy) * 16)),
             (round((c + dx) * 16), round((c + dy) * 16)), 1.0, 1, cv2.LINE_AA, shift=4)
    kernel /= max(float(kernel.sum()), 1e-6)
    for channel in range(3):
        image[channel] = cv2.filter2D(image[channel], -1, kernel, borderType=cv2.BORDER_REFLECT)
    return angle


def _noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> None:
    """Sensor noise of std `sigma`: luminance noise at full resolution (triangular, the sum
    of two uniform bytes: cheap and close to Gaussian) plus chroma noise at half resolution."""
    h, w = image.shape[1:]
    pair = np.frombuffer(rng.bytes(2 * h * w), np.uint8).reshape(2, h, w)
    lum = cv2.add(pair[0], pair[1], dtype=cv2.CV_32F)
    cv2.addWeighted(lum, sigma / 104.2, lum, 0.0, -255.0 * sigma / 104.2, dst=lum)
    small = (max(w // 2, 1), max(h // 2, 1))
    for channel in range(3):
        coarse = np.frombuffer(rng.bytes(small[0] * small[1]), np.uint8).reshape(small[1], small[0])
        chroma = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_NEAREST)
        # uniform bytes have std 73.9; chroma noise is 0.4 sigma
        cv2.add(image[channel], lum, dst=image[channel])
        cv2.scaleAdd(chroma.astype(np.float32), 0.4 * sigma / 73.9, image[channel],
                     dst=image[channel])
        image[channel] -= np.float32(0.4 * sigma / 73.9 * 127.5)


def apply(page: RenderedPage, spec: RenderSpec, rng: np.random.Generator) -> RenderedPage:
    """Apply the spec's degradations to `page` (float image in, uint8 RGB image out)."""
    image = page.image
    classes, instances = page.class_mask, page.instance_mask
    ppm = page.px_per_mm
    done: dict[str, Any] = {}
    # 1. On the paper.
    if spec.paper_tint > 0 or spec.paper_texture > 0:
        done["paper"] = marks.tint_and_texture(image, spec.paper_tint, spec.paper_texture, rng)
    if spec.folds:
        done["folds"] = marks.folds(image, spec.folds, rng)
    if spec.stamps:
        done["stamps"] = marks.stamps(image, classes, spec.stamps, ppm, rng)
    if spec.handwriting:
        done["handwriting"] = marks.handwriting(image, classes, spec.handwriting, ppm, rng)
    # 2. Geometry.
    photo = spec.perspective_deg > 0 or spec.background != "none"
    # Crops cut margins only: never more than the margin (the header counts as margin).
    left, top, right, bottom = spec.margin_mm
    limits = (left - 0.3, top + spec.header_mm - 0.3, right - 0.3, bottom - 0.3)
    crop_px = tuple(max(0.0, min(c, lim)) * ppm for c, lim in zip(spec.crop_mm, limits))
    if photo or spec.rotation_deg != 0 or any(c > 0 for c in crop_px):
        h, w = classes.shape
        hom, size, details = build_homography(w, h, spec.rotation_deg, spec.perspective_deg,
                                              crop_px, photo, rng)  # type: ignore[arg-type]
        background = _background(size, spec.background if photo else "solid", rng) \
            if photo else None
        sheet_crop = crop_px if photo else (0.0, 0.0, 0.0, 0.0)
        image, classes, instances = warp_page(image, classes, instances, hom, size,
                                              background, sheet_crop)  # type: ignore[arg-type]
        page.homography = hom
        done["geometry"] = {**details, "crop_px": list(crop_px), "output_size_px": list(size)}
    # 3. Capture.
    if spec.light_gradient > 0 or spec.shadow > 0:
        done["light"] = _light(image, spec.light_gradient, spec.shadow, rng)
    if spec.glare > 0:
        done["glare"] = _glare(image, spec.glare, rng)
    if spec.motion_blur_px > 0:
        done["motion_blur_angle_deg"] = _motion_blur(image, spec.motion_blur_px, rng)
    if spec.blur_sigma_px > 0:
        for channel in range(3):
            image[channel] = cv2.GaussianBlur(image[channel], (0, 0), spec.blur_sigma_px)
    if spec.noise_sigma > 0:
        _noise(image, spec.noise_sigma, rng)
    # Round and saturate each plane to uint8 (max with 0 first: convertScaleAbs takes |x|).
    out = cv2.merge([cv2.convertScaleAbs(np.maximum(plane, 0.0, out=plane)) for plane in image])
    if spec.binarize:
        grey = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
        _, binary = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        out = np.repeat(binary[..., None], 3, axis=2)
    if spec.jpeg_quality > 0:
        ok, buf = cv2.imencode(".jpg", out[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY,
                                                          int(spec.jpeg_quality)])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed at quality {spec.jpeg_quality}")
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if decoded is None:
            raise RuntimeError(f"JPEG decoding failed at quality {spec.jpeg_quality}")
        out = decoded[:, :, ::-1].copy()
    page.image = np.ascontiguousarray(out)
    page.class_mask = classes
    page.instance_mask = instances
    page.conditions["degradations"] = done
    return page
