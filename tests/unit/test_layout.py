"""pipeline.layout and pipeline.leads: rows, templates, lead identity."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.errors import LayoutNotFoundError, NoTraceFoundError
from pipeline.layout import TEMPLATES, choose_template, find_rows, get_template
from pipeline.layouts import parse_lead
from pipeline.leads import NEUTRAL_RESIDUAL, limb_relation_residual
from pipeline.types import LEADS

PPM = 6.0


def rows_page(n_rows: int, gaps: tuple[float, ...] = ()) -> np.ndarray:
    """(H, W) trace probability with n_rows wavy rows 40 mm apart; gaps at fractions."""
    h, w = int((40 * n_rows + 30) * PPM), int(260 * PPM)
    img = np.zeros((h, w), np.uint8)
    x = np.arange(int(10 * PPM), int(250 * PPM))
    for r in range(n_rows):
        y = (30 + 40 * r) * PPM + 4 * PPM * np.sin(x / (3 * PPM)) * (np.sin(x / 40) > 0.8)
        pts = np.stack([x, y], 1).astype(np.int32)
        cv2.polylines(img, [pts], False, 255, 2)
        for f in gaps:
            xc = int(x[0] + f * (x[-1] - x[0]))
            img[int((15 + 40 * r) * PPM):int((45 + 40 * r) * PPM), xc - 4:xc + 4] = 0
    return img.astype(np.float32) / 255.0


def test_rows_found_at_their_baselines() -> None:
    rows = find_rows(rows_page(4), PPM)
    assert len(rows) == 4
    for r, row in enumerate(rows):
        assert row.y_px == pytest.approx((30 + 40 * r) * PPM, abs=2)
        assert row.top_px < row.y_px < row.bottom_px


def test_empty_page() -> None:
    with pytest.raises(NoTraceFoundError, match="no ECG trace"):
        find_rows(np.zeros((300, 400), np.float32), PPM)


def test_gaps_choose_6x2_over_6x1() -> None:
    page = rows_page(6, gaps=(0.5,))
    rows = find_rows(page, PPM)
    ranked = choose_template(rows, page > 0.5, page > 0.5, PPM)
    assert ranked[0][0].name == "6x2"
    continuous = rows_page(6)
    ranked = choose_template(find_rows(continuous, PPM), continuous > 0.5, continuous > 0.5, PPM)
    assert ranked[0][0].name in ("limb-6x1", "precordial-6x1")


def test_forced_layout_must_fit() -> None:
    page = rows_page(4)
    rows = find_rows(page, PPM)
    assert choose_template(rows, page > 0.5, page > 0.5, PPM, "3x4+1")[0][0].name == "3x4+1"
    with pytest.raises(LayoutNotFoundError, match="12 rows"):
        choose_template(rows, page > 0.5, page > 0.5, PPM, "12x1")
    with pytest.raises(LayoutNotFoundError, match="unknown layout"):
        get_template("5x5")


def test_templates_cover_every_lead() -> None:
    for t in TEMPLATES.values():
        leads = {parse_lead(c)[0] for row in t.cells for c in row} | set(t.rhythm)
        if not t.name.startswith(("limb", "precordial")):
            assert leads == set(LEADS), t.name
    assert parse_lead("-aVR") == ("aVR", -1)


def test_limb_relations_tell_standard_from_cabrera() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(5000) / 500.0
    lead_i = 300 * np.sin(2 * np.pi * 1.1 * t) + rng.normal(0, 5, t.size)
    lead_ii = 500 * np.sin(2 * np.pi * 1.1 * t + 0.7) + rng.normal(0, 5, t.size)
    truth = {"I": lead_i, "II": lead_ii, "III": lead_ii - lead_i,
             "aVR": -(lead_i + lead_ii) / 2, "aVL": lead_i - lead_ii / 2,
             "aVF": lead_ii - lead_i / 2}
    sig = np.full((12, 5000), np.nan, np.float32)
    for k, lead in enumerate(("I", "II", "III", "aVR", "aVL", "aVF")):
        sig[LEADS.index(lead), :2500] = truth[lead][:2500]
    std = get_template("3x4")
    assert limb_relation_residual(std, sig, 500.0) < 0.05
    # the same rows read in Cabrera order: I, II, III rows hold aVL, I, -aVR
    cab = sig.copy()
    cab[LEADS.index("I"), :2500] = truth["aVL"][:2500]
    cab[LEADS.index("II"), :2500] = truth["I"][:2500]
    cab[LEADS.index("III"), :2500] = -truth["aVR"][:2500]
    assert limb_relation_residual(std, cab, 500.0) > 0.1
    assert limb_relation_residual(std, np.full((12, 5000), np.nan), 500.0) == NEUTRAL_RESIDUAL


def test_trim_joins_leaves_the_lead_change_unread() -> None:
    from pipeline.leads import _trim_joins

    sig = np.full(100, np.nan)
    sig[20:80] = 1.0
    _trim_joins(sig, True, False, 5)
    assert np.isnan(sig[:25]).all() and np.isfinite(sig[25:80]).all()
    _trim_joins(sig, False, True, 5)
    assert np.isnan(sig[75:]).all() and np.isfinite(sig[25:75]).all()
