"""pipeline.digitizer on photographed pages: perspective undone from the grid (real peers:
pipeline.synth renders the photo, pipeline.evaluate scores it)."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.digitizer import Digitizer
from pipeline.evaluate import score_record
from pipeline.synth import load_record, render_page, sample_spec
from tests.paths import ptbxl_record

RECORD = ptbxl_record("00009_hr")
needs_data = pytest.mark.skipif(not RECORD.with_suffix(".hea").exists(),
                                reason="PTB-XL sample records not available")


def render(seed: int, **overrides: object):
    """A clean 3x4+1 page photographed at an angle over a background; only the geometry
    is degraded, so what is measured is the rectification."""
    rng = np.random.default_rng(seed)
    signals, fs = load_record(str(RECORD))
    spec = sample_spec(rng, "clean", **{"layout": "3x4+1", "dpi": 200.0, "grid": "red",
                                        "grid_style": "lines", "calibration": "start",
                                        "mm_per_mv": 10.0, "orientation": "landscape",
                                        "trace_width_mm": 0.25, "header_mm": 0.0,
                                        **overrides})
    return render_page(signals, fs, spec, rng)


def mean_score(truth: np.ndarray, est: np.ndarray) -> float:
    scores = score_record(truth, est, 500.0)
    return float(np.mean([s["score_db"] for s in scores.values()]))


@pytest.fixture(scope="module")
def digitizer() -> Digitizer:
    return Digitizer(segmenter="classic")


@needs_data
@pytest.mark.parametrize("background", ["texture", "solid"])
def test_tilted_photo_is_read(digitizer: Digitizer, background: str) -> None:
    page = render(3, perspective_deg=25.0, rotation_deg=6.0, background=background)
    res = digitizer.digitize(page.image)
    assert res.layout == "3x4+1"
    score = mean_score(page.truth_uv, res.signals_uv)
    # A wrong time scale (cells not square, a keystone left) costs most of this.
    assert score > 8.0, f"mean SNR {score:.1f} dB on a {background} photo"


@needs_data
def test_photo_without_the_sheets_corners(digitizer: Digitizer) -> None:
    # The picture cut to its middle: no sheet outline to unwarp, only the grid tells the
    # perspective (the rotation-only reading scored about -1 dB here).
    page = render(3, perspective_deg=25.0, rotation_deg=6.0, background="solid")
    h, w = page.image.shape[:2]
    cut = np.ascontiguousarray(page.image[int(0.12 * h):int(0.88 * h),
                                          int(0.12 * w):int(0.88 * w)])
    res = digitizer.digitize(cut)
    assert res.layout == "3x4+1"
    score = mean_score(page.truth_uv, res.signals_uv)
    assert score > 8.0, f"mean SNR {score:.1f} dB without the sheet's corners"


def test_ink_at_a_sheets_edge_is_kept_and_the_background_blanked() -> None:
    from pipeline.digitizer import _blank_outside

    image = np.full((400, 600, 3), 90, np.uint8)  # a dark table ...
    image[100:300, 150:450] = 240  # ... under a sheet cut close to its pulses
    image[150:250, 152:154] = 0  # a pulse's upstroke 2 px inside the sheet's edge
    corners = np.array([[150.0, 100.0], [449.0, 100.0], [449.0, 299.0], [150.0, 299.0]])
    out = _blank_outside(image, corners)
    assert (out[150:250, 152:154] == 0).all()
    assert (out[:95] == 255).all() and (out[:, :145] == 255).all()
    assert (out[100:300, 155:445] == 240).all()


def _grid_map(h: int, w: int, ppm_x: float, ppm_y_at) -> np.ndarray:
    """(h, w) grid probability: 2-px lines every ppm_x px across, and down the page at a
    spacing ppm_y_at(y) px, every fifth line a major one."""
    g = np.zeros((h, w), np.float32)
    for k in range(int(w / ppm_x) + 1):
        x = round(k * ppm_x)
        g[:, x:x + 2] = 1.0 if k % 5 == 0 else 0.5
    y, k = 0.0, 0
    while y < h:
        g[round(y):round(y) + 2, :] = 1.0 if k % 5 == 0 else 0.5
        y, k = y + ppm_y_at(y), k + 1
    return g


def _page_with_grid(grid_map: np.ndarray, n_rows: int):
    from pipeline.grid import measure_grid
    from pipeline.layout import TraceRow
    from pipeline.read_page import ReadPage

    h, w = grid_map.shape
    step = h // n_rows
    rows = [TraceRow(r * step + step / 2, 0, w - 1, r * step, (r + 1) * step)
            for r in range(n_rows)]
    page = ReadPage(None, None, None, rows, [], [], [], [], measure_grid(grid_map), 5.6, None, 0)
    page.grid_map = grid_map
    return page


def test_a_photos_rows_are_read_at_their_grids_own_scale_along_and_across() -> None:
    from pipeline.calibration import page_scales
    from pipeline.digitizer import _row_grid_scales

    # Straightened with its aspect 3 % off: 5.6 px/mm along the rows, 5.77 across.
    page = _page_with_grid(_grid_map(1000, 1400, 5.6, lambda y: 5.77), 4)
    scales = page_scales([], page.grid.px_per_mm, grid_measured=True)
    for row in _row_grid_scales(page, scales):
        assert row.px_per_s == pytest.approx(25.0 * 5.6, rel=0.003)
        assert row.px_per_mv == pytest.approx(10.0 * 5.77, rel=0.003)
    # A keystone left over: 3 % more px/mm at the bottom than at the top.
    page = _page_with_grid(_grid_map(1000, 1400, 5.6, lambda y: 5.6 * (1 + 0.03 * y / 1000)), 4)
    across = [row.px_per_mv / 10.0 for row in _row_grid_scales(page, scales)]
    truth = [5.6 * (1 + 0.03 * row.y_px / 1000) for row in page.rows]
    # The level is the whole page's measure (a chirped grid's is a little off its mean);
    # the trend from row to row is the rows' own.
    assert across == pytest.approx(truth, rel=0.01)
    assert across[-1] / across[0] == pytest.approx(truth[-1] / truth[0], rel=0.002)
