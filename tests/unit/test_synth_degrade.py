"""Degradations: masks follow geometry exactly, photometric steps leave them unchanged."""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from pipeline.synth import RenderSpec, load_record, render_page, sample_spec
from pipeline.types import LEADS
from tests.paths import ptbxl_record

RECORD = ptbxl_record("00009_hr")


@pytest.fixture(scope="module")
def record() -> tuple[np.ndarray, float]:
    return load_record(RECORD)


def _photo_spec(**kw: object) -> RenderSpec:
    spec = sample_spec(np.random.default_rng(11), "photo", layout="3x4+1", dpi=150.0,
                       trace_width_mm=0.3, rotation_deg=9.0, perspective_deg=25.0,
                       noise_sigma=0.0, blur_sigma_px=0.0, jpeg_quality=0, stamps=0,
                       handwriting=0, folds=0, crop_mm=(0.0, 0.0, 0.0, 0.0))
    return dataclasses.replace(spec, **kw)


def test_warped_instance_mask_follows_the_homography(record) -> None:
    signals, fs = record
    page = render_page(signals, fs, _photo_spec(), np.random.default_rng(3))
    assert not np.allclose(page.homography, np.eye(3))
    hits = []
    for k, panel in enumerate(page.panels, start=1):
        n0, n1 = round(panel.t0_s * fs), round(panel.t1_s * fs)
        uv = page.truth_uv[LEADS.index(panel.lead), n0:n1]
        x = panel.x0_px + np.arange(n1 - n0) / fs * page.mm_per_s * page.px_per_mm
        y = panel.baseline_y_px - panel.polarity * uv / 1000 * page.mm_per_mv * page.px_per_mm
        pts = cv2.perspectiveTransform(np.stack([x, y], 1)[None].astype(np.float64),
                                       page.homography)[0]
        cols = np.clip(np.rint(pts[:, 0]).astype(int), 1, page.image.shape[1] - 2)
        rows = np.clip(np.rint(pts[:, 1]).astype(int), 1, page.image.shape[0] - 2)
        near = np.zeros(cols.size, bool)
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                near |= page.instance_mask[rows + dr, cols + dc] == k
        hits.append(near.mean())
    assert min(hits) > 0.97, hits


def test_trace_pixels_are_ink(record) -> None:
    signals, fs = record
    page = render_page(signals, fs, _photo_spec(), np.random.default_rng(3))
    grey = page.image.mean(axis=2)
    w, h = page.page_size_px
    sheet = cv2.warpPerspective(np.ones((h, w), np.uint8), page.homography,
                                (page.image.shape[1], page.image.shape[0]),
                                flags=cv2.INTER_NEAREST) > 0
    paper = (page.class_mask == 0) & sheet
    assert grey[page.class_mask == 3].mean() < grey[paper].mean() - 60


def test_photometric_steps_leave_masks_unchanged(record) -> None:
    signals, fs = record
    base = sample_spec(np.random.default_rng(2), "scan", dpi=100.0, jpeg_quality=0,
                       noise_sigma=0.0, blur_sigma_px=0.0)
    plain = render_page(signals, fs, base, np.random.default_rng(9))
    spoilt = render_page(signals, fs, dataclasses.replace(base, jpeg_quality=15,
                                                         blur_sigma_px=1.5, binarize=True,
                                                         glare=0.5, motion_blur_px=4.0),
                         np.random.default_rng(9))
    assert np.array_equal(plain.class_mask, spoilt.class_mask)
    assert np.array_equal(plain.instance_mask, spoilt.instance_mask)
    assert not np.array_equal(plain.image, spoilt.image)


@pytest.mark.parametrize("preset", ["clean", "scan", "photo", "mixed"])
def test_presets_render_valid_pages(record, preset: str) -> None:
    signals, fs = record
    for seed in range(3):
        rng = np.random.default_rng(seed)
        spec = sample_spec(rng, preset, dpi=72.0)
        page = render_page(signals, fs, spec, rng)
        h, w = page.class_mask.shape
        assert page.image.shape == (h, w, 3) and page.image.dtype == np.uint8
        assert page.instance_mask.shape == (h, w) and page.class_mask.max() <= 3
        assert page.homography.shape == (3, 3)
        assert page.conditions["preset"] in ("clean", "scan", "photo")
        if preset == "clean":
            assert np.allclose(page.homography, np.eye(3))
