"""pipeline.layout and pipeline.leads: rows, templates, lead identity."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.errors import LayoutNotFoundError, NoTraceFoundError
from pipeline.extract import RowTrace
from pipeline.layout import (
    FAR_REACH_MM,
    FULL_COLUMNS_MIN_OVERRUN,
    READ_REACH_MM,
    SPECKLE_AREA_PX,
    TEMPLATES,
    _speckled,
    change_evidence,
    choose_template,
    component_sizes,
    consensus,
    extend_lattice_rows,
    find_rows,
    fit_record_length,
    get_template,
    half_lattice_rows,
    long_trace_mask,
    rows_and_long_ink,
    snap_to_lattice,
    span_lattice_rows,
    turned_fit_gain,
    wide_components,
)
from pipeline.layouts import parse_lead
from pipeline.leads import NEUTRAL_RESIDUAL, limb_relation_residual, shifted_correlation
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


def test_a_plot_frames_top_line_is_no_row() -> None:
    # A black-and-white plot: its frame (matplotlib's spines) as dark as the traces, the
    # top line broken where grid lines cross it, 12 mm above the first row.
    page = rows_page(4)
    top, bottom = int(18 * PPM), int(160 * PPM)
    left, right = int(8 * PPM), int(252 * PPM)
    page[top:bottom + 1, left] = 1.0
    page[top:bottom + 1, right] = 1.0
    page[top, left:right + 1] = (np.arange(left, right + 1) // 20 % 3 != 0).astype(np.float32)
    page[bottom, left:right + 1] = 1.0
    rows = find_rows(page, PPM)
    assert [round(r.y_px / PPM) for r in rows] == [30, 70, 110, 150]
    # Without its side lines the same line is read as a row: the frame is what tells.
    page[top + 1:bottom, left] = 0.0
    page[top + 1:bottom, right] = 0.0
    assert len(find_rows(page, PPM)) == 5


def _busy_rows_page(n_rows: int) -> np.ndarray:
    """rows_page's geometry, each row a 10 mm wave 4 mm high, flat for 3 mm of every 40:
    few flat stretches, as noisy high-resolution traces have."""
    h, w = int((40 * n_rows + 30) * PPM), int(260 * PPM)
    img = np.zeros((h, w), np.uint8)
    x = np.arange(int(10 * PPM), int(250 * PPM))
    mm = (x - x[0]) / PPM
    wave = 4 * PPM * np.sin(2 * np.pi * mm / 10) * (mm % 40 >= 3)
    for r in range(n_rows):
        pts = np.stack([x, (30 + 40 * r) * PPM + wave], 1).astype(np.int32)
        cv2.polylines(img, [pts], False, 255, 2)
    return img.astype(np.float32) / 255.0


def test_lines_along_the_pictures_edges_are_no_rows() -> None:
    # A figure whose axes fill it (ECG-Image-Kit's pages): the frame runs along the
    # picture's top and bottom edges, page-long and straight, far more "flat line" than
    # any row of busy traces; it must not set the bar the rows' peaks are held to.
    page = _busy_rows_page(4)
    assert [round(r.y_px / PPM) for r in find_rows(page, PPM)] == [30, 70, 110, 150]
    page[:3] = 1.0
    page[-3:] = 1.0
    assert [round(r.y_px / PPM) for r in find_rows(page, PPM)] == [30, 70, 110, 150]


def test_a_line_squeezed_between_two_rows_is_no_row() -> None:
    page = rows_page(4)
    # Handwriting-like: a long wavy line 45% of the way from row 3 to row 4.
    x = np.arange(int(40 * PPM), int(200 * PPM))
    y = (30 + 40 * 2 + 18) * PPM + 2 * PPM * np.sin(x / (4 * PPM))
    img = (page * 255).astype(np.uint8)
    cv2.polylines(img, [np.stack([x, y], 1).astype(np.int32)], False, 255, 2)
    rows = find_rows(img.astype(np.float32) / 255.0, PPM)
    assert [round(r.y_px / PPM) for r in rows] == [30, 70, 110, 150]


def _page_with_row_3(left_mm: float, right_mm: float, full_width_both: bool = False
                     ) -> np.ndarray:
    """rows_page(4) with its third row redrawn: at left_mm on the page's left half and at
    right_mm on its right half (a row that drifts down), or, full_width_both, two whole
    lines at those heights."""
    img = (rows_page(4) * 255).astype(np.uint8)
    img[int(95 * PPM):int(128 * PPM)] = 0
    x0, xm, x1 = int(10 * PPM), int(130 * PPM), int(250 * PPM)
    if full_width_both:
        for y_mm in (left_mm, right_mm):
            cv2.line(img, (x0, int(y_mm * PPM)), (x1, int(y_mm * PPM)), 255, 2)
    else:
        pts = [(x0, int(left_mm * PPM)), (xm, int(left_mm * PPM)),
               (xm + 3, int(right_mm * PPM)), (x1, int(right_mm * PPM))]
        cv2.polylines(img, [np.array(pts, np.int32)], False, 255, 2)
    return img.astype(np.float32) / 255.0


def test_a_row_that_drifts_down_is_one_row() -> None:
    # Photo bench page 25: a row whose line sank 8 mm across the page showed as two
    # peaks of the projection and was read as 3x4+2.
    rows = find_rows(_page_with_row_3(108.0, 116.0), PPM)
    assert len(rows) == 4
    assert 108.0 * PPM < rows[2].y_px < 116.0 * PPM


def test_two_lines_across_the_page_stay_two_rows() -> None:
    rows = find_rows(_page_with_row_3(108.0, 116.0, full_width_both=True), PPM)
    assert len(rows) == 5


def test_a_short_line_half_a_spacing_under_the_last_row_is_no_row() -> None:
    # Photo bench page 21: a handwritten ellipse under the rhythm strip read as a fifth row.
    img = (rows_page(4) * 255).astype(np.uint8)
    cv2.ellipse(img, (int(150 * PPM), int(170 * PPM)), (int(28 * PPM), int(3 * PPM)), 0, 0,
                360, 255, 2)
    rows = find_rows(img.astype(np.float32) / 255.0, PPM)
    assert [round(r.y_px / PPM) for r in rows] == [30, 70, 110, 150]


def test_a_full_row_half_a_spacing_under_the_last_is_kept() -> None:
    # The same place, a line as long as the rows': a real (if oddly placed) row.
    img = (rows_page(4) * 255).astype(np.uint8)
    img = np.pad(img, ((0, int(20 * PPM)), (0, 0)))
    cv2.line(img, (int(10 * PPM), int(170 * PPM)), (int(250 * PPM), int(170 * PPM)), 255, 2)
    rows = find_rows(img.astype(np.float32) / 255.0, PPM)
    assert len(rows) == 5


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


@pytest.mark.parametrize(("col_s", "kept"), [
    (5.0, ["6x2", "limb-6x1"]),  # 2 x 5 s: one after another, the 10 s record
    (10.0, ["6x2-full"]),  # 2 x 10 s: each column the whole record; 20 s rows fit nothing else
    (6.4, ["6x2-full"]),   # 12.8 s one after another: over the limit
])
def test_columns_that_overrun_the_record_each_show_all_of_it(col_s: float,
                                                             kept: list[str]) -> None:
    candidates = [(get_template(name), 0.0) for name in ("6x2", "limb-6x1", "6x2-full")]
    # limb-6x1's one column: as long as the others' two
    fits = fit_record_length(candidates, lambda t: col_s * 2 / t.n_cols, 10.0)
    assert (col_s * 2 > FULL_COLUMNS_MIN_OVERRUN * 10.0) == ("6x2-full" in kept)
    assert [t.name for t, _ in fits] == kept
    forced = [(get_template("6x2-full"), 0.0)]  # a layout asked for is kept
    assert fit_record_length(forced, lambda t: 5.0, 10.0) == forced


def test_full_columns_that_overrun_leave_no_template_read_one_after_another() -> None:
    # ecg_plot's 3x4 of four 10 s columns: Cabrera's cells differ from 3x4-full's, but
    # read one after another its 40 s rows would overrun the 10 s record as well.
    candidates = [(get_template(name), 0.0) for name in ("cabrera-3x4", "3x4", "3x4-full")]
    fits = fit_record_length(candidates, lambda t: 10.0, 10.0)
    assert [t.name for t, _ in fits] == ["3x4-full"]


def test_rhythm_strip_above_the_leads_fits_better_turned() -> None:
    from pipeline.upside_down import TURNED_FIT_MARGIN

    page = rows_page(4, gaps=(0.25, 0.5, 0.75))
    strip_from = int((15 + 40 * 3) * PPM)
    page[strip_from:] = rows_page(4)[strip_from:]  # the last row: one long rhythm strip
    upright = turned_fit_gain(find_rows(page, PPM), page > 0.5, page > 0.5, PPM)
    turned = np.ascontiguousarray(page[::-1, ::-1])
    upside_down = turned_fit_gain(find_rows(turned, PPM), turned > 0.5, turned > 0.5, PPM)
    assert upright < -TURNED_FIT_MARGIN
    assert upside_down > TURNED_FIT_MARGIN
    grid_only = rows_page(3, gaps=(0.25, 0.5, 0.75))  # 3x4: the same either way up
    assert turned_fit_gain(find_rows(grid_only, PPM), grid_only > 0.5, grid_only > 0.5,
                           PPM) == 0.0


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


def test_rows_snap_to_their_lattice() -> None:
    # A busy row's projection peak can sit far off its baseline: equally spaced rows win.
    assert snap_to_lattice([100, 212, 300, 400]) == [100, 200, 300, 400]
    # A row half-way between lattice places (a rhythm strip set apart) stays as found.
    assert snap_to_lattice([100, 200, 300, 450]) == [100, 200, 300, 450]
    assert snap_to_lattice([100, 180]) == [100, 180]
    # A row missed by the projection (a faint, broken line) is added where ink says so.
    assert snap_to_lattice([100, 200, 400, 500], lambda y, d: True) == [100, 200, 300, 400, 500]
    assert snap_to_lattice([100, 200, 400, 500], lambda y, d: False) == [100, 200, 400, 500]


def test_rows_pulled_off_their_lattice_span_it_from_the_first_row_to_the_last() -> None:
    # dicom-ecg-plot's 12x1 page of record 00180_hr: 5 mV S waves pull five chest rows'
    # peaks a quarter spacing up, and row III is missed; the lattice fit takes 129 px.
    found = [278, 390, 631, 750, 864, 942, 1051, 1168, 1292, 1422, 1548]
    assert len(snap_to_lattice(found, lambda y, d: True)) == 11
    rows = span_lattice_rows(found, [3, 4, 5, 6, 7, 12], lambda y, d: True)
    assert rows is not None and len(rows) == 12
    places = 278 + np.arange(12) * (1548 - 278) / 11
    assert np.all(np.abs(np.asarray(rows) - places) <= 0.07 * 115.45)  # each on its place
    assert rows[1] == 390 and rows[6] == round(places[6])  # near kept, far moved
    assert abs(rows[2] - 509) <= 1  # the missed row, where ink is
    # No ink at the missed place, or rows too far off any count's lattice: None.
    assert span_lattice_rows(found, [3, 4, 5, 6, 7, 12], lambda y, d: False) is None
    assert span_lattice_rows([100, 180, 300, 330, 500], [6, 12], lambda y, d: True) is None
    # Faint ink at the one place left between found rows is evidence enough.
    assert span_lattice_rows(found, [3, 4, 5, 6, 7, 12], lambda y, d: False,
                             lambda y, d: True) == rows


def test_a_row_inked_on_a_seventh_of_its_place_completes_a_12_row_lattice() -> None:
    """Twelve rows 20 mm apart whose row 6 holds its line at its place over 14 % of the
    width only (bench clean 12x1 upside down no pulses page 7: V4 wanders along V5): 11
    rows, a count no layout has, and one lattice place between them. It is row 6's, on
    ink under the 18 % a row's line must span to be found, and the page was refused."""
    h, w = int(260 * PPM), int(260 * PPM)
    img = np.zeros((h, w), np.uint8)
    x = np.arange(int(10 * PPM), int(250 * PPM))
    for r in range(12):
        y = (20 + 20 * r) * PPM + 3 * PPM * np.sin(x / (3 * PPM)) * (np.sin(x / 40) > 0.8)
        keep = slice(None) if r != 6 else slice(0, int(0.14 * x.size))
        pts = np.stack([x[keep], y[keep]], 1).astype(np.int32)
        cv2.polylines(img, [pts], False, 255, 2)
    rows = find_rows(img.astype(np.float32) / 255.0, PPM)
    assert len(rows) == 12
    assert rows[6].y_px == pytest.approx(140 * PPM, abs=0.1 * 20 * PPM)
    # No ink at all there: still refused rather than made up.
    blank = img.copy()
    blank[int(130 * PPM):int(150 * PPM)] = 0
    assert len(find_rows(blank.astype(np.float32) / 255.0, PPM)) == 11


def test_rows_missed_past_the_last_extend_the_lattice_to_a_known_count() -> None:
    # A gridless 12x1 photo (bench photo 12x1 page 8): V5 and V6 step at every beat and
    # made no projection peak; the 10 rows found, on their lattice, are no layout's count.
    found = [224, 297, 368, 441, 519, 590, 665, 739, 813, 886]
    counts = [3, 4, 5, 6, 7, 12]
    below_only = extend_lattice_rows(found, counts, lambda y, d: 200 < y < 1100)
    assert below_only == [*found, 959, 1032]
    # Ink at every place (above and below: two ways) or at none: no rows are made up.
    assert extend_lattice_rows(found, counts, lambda y, d: True) is None
    assert extend_lattice_rows(found, counts, lambda y, d: False) is None
    # Above and one below: the one way that holds ink.
    assert extend_lattice_rows(found, counts, lambda y, d: 100 < y < 1000) == [
        151, *found, 959]
    assert extend_lattice_rows(found[:2], counts, lambda y, d: True) is None


def test_consensus_takes_the_largest_cluster() -> None:
    assert consensus([55.0, 61.0, 61.5, 62.0, 130.0], 5.0) == pytest.approx(61.5)
    # Half the rows start late (a break at their start): the earlier cluster wins the tie.
    assert consensus([61.0, 133.0, 61.0, 133.0], 10.0) == pytest.approx(61.0)


def test_row_starts_where_its_line_starts_despite_a_break() -> None:
    """A line whose first 10 mm are cut off by a break (a QRS stroke lost on a black grid
    line) still starts at its first ink, as the other rows do."""
    page = rows_page(4)
    x_break = int(20 * PPM)
    page[int(50 * PPM):int(90 * PPM), x_break - 3:x_break + 3] = 0.0  # row 1 only
    rows = find_rows(page, PPM)
    assert len(rows) == 4
    for row in rows:
        assert row.x0_px == pytest.approx(10 * PPM, abs=2)
        assert row.x1_px == pytest.approx(250 * PPM, abs=2)


def test_a_line_faint_in_pieces_runs_on_to_the_rows_end() -> None:
    """Rows whose last 40-80 mm are faint (a photo's glare): the line falls into 2-4 mm
    pieces 4 mm apart there, and each row loses its long line at a different column. Every
    row still runs to where its ink ends (with breaks of 2 mm, the rows ended where their
    faint stretch began, the earliest end was taken for the page's and a row lost 80 mm)."""
    page = rows_page(4)
    end = int(250 * PPM)
    for r, faint_from_mm in enumerate((170, 190, 210, 230)):
        band = slice(int((15 + 40 * r) * PPM), int((45 + 40 * r) * PPM))
        for x_mm in np.arange(faint_from_mm, 250, 6.0 + r % 2):
            a = int(x_mm * PPM)
            page[band, a:min(end, a + int(4 * PPM))] = 0.0
    rows = find_rows(page, PPM)
    assert len(rows) == 4
    for row in rows:  # the last piece may be a speck under 1 mm: within one period
        assert row.x1_px >= end - 7 * PPM


def test_closely_spaced_rows_are_read_beyond_the_half_way_line() -> None:
    """12 rows 14 mm apart: each row is read at least READ_REACH_MM from its baseline (tall
    waves cross the neighbours), while the half-way band stays for the layout's evidence."""
    ppm, pitch = 6.0, 14.0
    h, w = int((12 * pitch + 30) * ppm), int(260 * ppm)
    img = np.zeros((h, w), np.uint8)
    for r in range(12):
        y = int((20 + pitch * r) * ppm)
        img[y:y + 2, int(10 * ppm):int(250 * ppm)] = 255
    rows = find_rows(img.astype(np.float32) / 255.0, ppm)
    assert len(rows) == 12
    for row in rows[1:-1]:
        own_top, own_bottom = row.own_band
        assert own_bottom - own_top == pytest.approx(pitch * ppm, abs=2)
        assert row.top_px <= row.y_px - READ_REACH_MM * ppm + 1
        assert row.bottom_px >= row.y_px + READ_REACH_MM * ppm - 1
        far_top, far_bottom = row.far_band  # a deep wave's own ink, further still
        assert far_top == max(0, round(row.y_px - FAR_REACH_MM * ppm))
        assert far_bottom == min(h, round(row.y_px + FAR_REACH_MM * ppm))


def test_noisy_rows_of_a_12x1_page_complete_their_lattice() -> None:
    """Busy precordial rows put projection peaks up to half a spacing off their baselines
    and one row was missed (measured on a rendered 12x1 page; truth 250 + 113 k)."""
    found = [252, 376, 466, 585, 707, 808, 932, 1138, 1286, 1380, 1553]
    rows = snap_to_lattice(found, lambda y, d: True)
    assert len(rows) == 12
    assert np.abs(np.array(rows[:11]) - (250 + 113 * np.arange(11))).max() <= 8


def test_faint_rows_are_found_below_the_usual_threshold() -> None:
    """Thin grey lines of a low-resolution page have trace probability under 0.5."""
    faint = rows_page(4) * 0.4
    rows = find_rows(faint, PPM)
    assert len(rows) == 4


def test_half_the_row_spacing_is_not_the_lattice() -> None:
    """A second projection peak in a busy row sits half-way between lattice places: it is
    dropped, not taken for a lattice of half the spacing (measured on a 12x1 page)."""
    found = [448, 542, 630, 723, 820, 912, 1004, 1095, 1240, 1385, 1470]
    rows = snap_to_lattice(found, lambda y, d: True)
    assert len(rows) == 12
    assert np.abs(np.diff(rows) - 93).max() <= 10


def test_every_other_row_lost_is_the_half_spacing_lattice() -> None:
    """6x2 page whose rows 2 and 4 ran along printed grid lines and lost their projection
    peaks (measured on a rendered page; truth 383 + 212 k): the found rows look like three
    rows and a strip set apart, but ink at the half places makes them six rows."""
    found = [383, 803, 1237, 1443]
    rows = half_lattice_rows(found, lambda y, d: True)
    assert rows is not None and len(rows) == 6
    assert np.abs(np.array(rows) - (383 + 212 * np.arange(6))).max() <= 12
    # No ink at the half places: three rows and a strip set apart, as found.
    assert half_lattice_rows(found, lambda y, d: False) is None
    # A strip set apart by a whole spacing is no half lattice.
    assert half_lattice_rows([100, 200, 300, 500], lambda y, d: True) is None


def _row_line(amplitudes: list[float]) -> RowTrace:
    """A row's line (px, y down) of spikes every 100 px, of the given heights per quarter."""
    x = np.arange(0, 2000, 2.0)
    y = np.full(x.size, 100.0)
    for k in range(20):
        y[(x >= 100 * k + 40) & (x < 100 * k + 50)] -= amplitudes[k * len(amplitudes) // 20]
    return RowTrace(x, y, 1.0, np.ones(x.size, bool))


def test_a_line_that_changes_reach_changes_lead() -> None:
    grows = _row_line([20.0, 20.0, 160.0, 160.0])
    assert change_evidence(grows, 1000.0, 500.0, PPM) == pytest.approx(1.0)
    assert change_evidence(grows, 500.0, 500.0, PPM) == pytest.approx(0.0)
    same = _row_line([40.0, 40.0, 44.0, 40.0])
    assert change_evidence(same, 1000.0, 500.0, PPM) == pytest.approx(0.0)
    # A pause (no QRS complex on one side) is no change of lead.
    pause = _row_line([40.0, 40.0, 0.0, 0.0])
    assert change_evidence(pause, 1000.0, 500.0, PPM) == pytest.approx(0.0)


def test_two_reads_of_a_lead_agree_a_little_apart_in_time() -> None:
    rng = np.random.default_rng(0)
    a = np.convolve(rng.normal(size=3000), np.ones(9) / 9, "same")
    assert shifted_correlation(a, np.roll(a, 20), 500.0) == pytest.approx(1.0, abs=0.02)
    assert shifted_correlation(a, np.roll(a, 200), 500.0) < 0.5
    assert shifted_correlation(a[:100], a[:100], 500.0) == -1.0


def test_a_row_broken_into_short_pieces_fills_its_lattice_place() -> None:
    """A rhythm strip run along a printed grid line breaks into pieces shorter than a long
    trace: five rows are found (as many as 3x4+2 has), but no layout leaves a place empty
    between its rows, and ink is there."""
    page = rows_page(6)
    band = slice(int((30 + 40 * 4 - 10) * PPM), int((30 + 40 * 4 + 10) * PPM))
    for x in range(int(10 * PPM), int(250 * PPM), int(10 * PPM)):
        page[band, x:x + int(2 * PPM)] = 0.0
    rows = find_rows(page, PPM)
    assert len(rows) == 6
    assert rows[4].y_px == pytest.approx((30 + 40 * 4) * PPM, abs=0.2 * 40 * PPM)


@pytest.mark.parametrize("density", [0.002, 0.02, 0.3])
def test_component_sizes_are_opencvs_statistics(density: float) -> None:
    """Labels and bounding-box sizes as OpenCV's, from borders (sparse ink), and from
    its statistics (speckle): with rings holding pieces inside their holes."""
    rng = np.random.default_rng(1)
    img = (rng.random((300, 400)) < density).astype(np.uint8)
    img = cv2.dilate(img, np.ones((3, 5), np.uint8)) if density < 0.01 else img
    cv2.circle(img, (200, 150), 60, 1, 3)
    img[148:152, 195:205] = 1  # inside the ring's hole
    n, labels, stats, _ = cv2.connectedComponentsWithStats(img, connectivity=8)
    got_labels, sizes = component_sizes(img)
    assert np.array_equal(got_labels, labels)
    assert sizes.shape == (n, 2)
    assert np.array_equal(sizes[1:], stats[1:, [cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT]])


def test_long_trace_mask_keeps_the_long_lines_where_they_are() -> None:
    """Only the ink's box is labelled: the same mask as the components of the whole page."""
    page = rows_page(3)
    page[10:14, 20:30] = 1.0  # a speck: dropped
    got = long_trace_mask(page, 12 * PPM)
    raw = page > 0.5
    closed = cv2.morphologyEx(raw.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    keep = stats[:, cv2.CC_STAT_WIDTH] >= 12 * PPM
    keep[0] = False
    assert np.array_equal(got, keep[labels] & raw)
    assert not got[10:14, 20:30].any() and got.any()
    assert not long_trace_mask(np.zeros((50, 60), np.float32), 10.0).any()


def test_rows_come_with_the_long_traces_they_were_found_in() -> None:
    page = rows_page(4, gaps=(0.5,))
    rows, long_ink = rows_and_long_ink(page, PPM)
    assert rows == find_rows(page, PPM)
    assert np.array_equal(long_ink, long_trace_mask(page, 12 * PPM))


@pytest.mark.parametrize("density", [0.002, 0.3])
@pytest.mark.parametrize("min_width", [3.0, 40.0])
def test_wide_components_are_those_opencv_measures_wide(density: float, min_width: float
                                                        ) -> None:
    """Filled from their borders (sparse ink) or looked up by label (speckle): the same
    pixels as OpenCV's labels and widths give, with pieces inside a ring's hole."""
    rng = np.random.default_rng(4)
    img = (rng.random((300, 400)) < density).astype(np.uint8)
    img = cv2.dilate(img, np.ones((3, 25), np.uint8)) if density < 0.01 else img
    cv2.circle(img, (200, 150), 60, 1, 3)
    img[148:152, 195:205] = 1  # inside the ring's hole: narrow
    img[100:102, 170:230] = 1  # inside the ring's hole: wide
    _, labels, stats, _ = cv2.connectedComponentsWithStats(img, connectivity=8)
    keep = stats[:, cv2.CC_STAT_WIDTH] >= min_width
    keep[0] = False
    got = wide_components(img, min_width)
    assert got.dtype == bool and np.array_equal(got, keep[labels])
    assert not wide_components(np.zeros((20, 30), np.uint8), 1.0).any()


def test_speckled_is_the_component_count_rule() -> None:
    """Settled by the pixels that start a component where they are few: the same answer
    as counting OpenCV's components, on both sides of the limit."""
    rng = np.random.default_rng(7)
    for _ in range(60):
        h, w = (int(n) for n in rng.integers(20, 200, 2))
        img = (rng.random((h, w)) < rng.random() * 0.5).astype(np.uint8)
        if rng.random() < 0.5:
            img = cv2.dilate(img, np.ones((1, int(rng.integers(1, 30))), np.uint8))
        count = cv2.connectedComponents(img, connectivity=8)[0]
        assert _speckled(img) == (count * SPECKLE_AREA_PX > img.size)
    assert _speckled(np.tile(np.array([[1, 0], [0, 0]], np.uint8), (100, 100)))


def _page_with_busy_top_row() -> np.ndarray:
    """(H, W) trace probability: a top row busy all along (flutter: a 4 mm period, +-4 mm),
    two wavy rows and a flat rhythm strip under them, 40 mm apart (real picture ecg00028)."""
    img = (rows_page(4) * 255).astype(np.uint8)
    img[: int(50 * PPM)] = 0
    x = np.arange(int(10 * PPM), int(250 * PPM))
    y = 30 * PPM + 4 * PPM * np.sin(2 * np.pi * x / (4 * PPM))
    cv2.polylines(img, [np.stack([x, y], 1).astype(np.int32)], False, 255, 2)
    img[int(135 * PPM):] = 0
    cv2.line(img, (int(10 * PPM), int(150 * PPM)), (int(250 * PPM), int(150 * PPM)), 255, 2)
    return img.astype(np.float32) / 255.0


def test_a_busy_row_above_the_found_rows_is_not_missed() -> None:
    rows = find_rows(_page_with_busy_top_row(), PPM)
    assert [r.y_px / PPM for r in rows] == pytest.approx([30, 70, 110, 150], abs=2)


def test_no_row_is_added_above_where_no_long_line_runs() -> None:
    page = _page_with_busy_top_row()
    page[: int(50 * PPM)] = 0
    # short strokes where a row would be (a header's text): no row
    for x0 in range(int(20 * PPM), int(240 * PPM), int(30 * PPM)):
        page[int(29 * PPM):int(31 * PPM), x0:x0 + int(8 * PPM)] = 1.0
    rows = find_rows(page, PPM)
    assert [round(r.y_px / PPM) for r in rows] == [70, 110, 150]


def test_three_rows_with_one_missed_between_are_four() -> None:
    """Photo bench page 7's second row (glare) made no projection peak: rows found at
    362, 718 and 896 px (truth 362 + 178 k). Their median gap is 1.5 spacings; the
    lattice of the smallest gap holds all three and leaves one place, where ink is."""
    found = [362, 718, 896]
    assert snap_to_lattice(found, lambda y, d: True) == [362, 540, 718, 896]
    # No ink at the empty place: the rows as found.
    assert snap_to_lattice(found, lambda y, d: False) == found


def test_a_strip_set_apart_does_not_make_a_half_lattice() -> None:
    """Three rows and a rhythm strip 1.5 spacings below them fit the lattice of half the
    spacing, with three empty places: that is not one missed row, and nothing is added."""
    found = [300, 500, 700, 1000]
    assert snap_to_lattice(found, lambda y, d: True) == found


def _broken(page: np.ndarray, rows: tuple[int, ...], every_mm: float = 8.0) -> np.ndarray:
    """`rows_page`'s page with the given rows (0-based) cut every `every_mm` by a 1 mm gap:
    pieces shorter than the long lines rows are found from (12 mm), as a thin trace whose
    pixels on heavy grid lines the lines' mask took out."""
    out = page.copy()
    for r in rows:
        band = slice(int((15 + 40 * r) * PPM), int((45 + 40 * r) * PPM))
        for x0 in np.arange(10 * PPM, 250 * PPM, every_mm * PPM).astype(int):
            out[band, x0:x0 + int(PPM)] = 0
    return out


def test_rows_of_broken_lines_below_the_found_rows_are_added() -> None:
    """Clean black-grid bench page 7: two rows of whole lines found, the two below in
    pieces: 4 rows, not a refusal for 2."""
    rows = find_rows(_broken(rows_page(4), (2, 3)), PPM)
    assert [r.y_px / PPM for r in rows] == pytest.approx([30, 70, 110, 150], abs=2)


def test_a_broken_row_between_two_found_rows_halves_their_spacing() -> None:
    rows = find_rows(_broken(rows_page(4), (1, 3)), PPM)
    assert [r.y_px / PPM for r in rows] == pytest.approx([30, 70, 110, 150], abs=2)


def test_two_rows_and_text_below_stay_two_rows() -> None:
    """Short strokes (text) where a third row would be are no row: 2 rows are left (and
    no layout has 2: the page is refused)."""
    page = rows_page(2)
    img = np.zeros((int(200 * PPM), page.shape[1]), np.float32)
    img[: page.shape[0]] = page
    for x0 in range(int(20 * PPM), int(240 * PPM), int(6 * PPM)):
        img[int(108 * PPM):int(112 * PPM), x0:x0 + int(PPM)] = 1.0
    rows = find_rows(img, PPM)
    assert [round(r.y_px / PPM) for r in rows] == [30, 70]


def test_a_row_split_in_two_is_merged_when_no_two_gaps_agree() -> None:
    """Scan black-grid bench page 3: a row drawn at two heights (its first lead with a DC
    offset) made two peaks 9 mm apart, and no two of the rows' gaps agreed within 10%:
    the spacing taken was the smallest gap, the split's own, and the page read as 3x4+2."""
    h, w = int(190 * PPM), int(260 * PPM)
    img = np.zeros((h, w), np.uint8)
    x0, xm, x1 = int(10 * PPM), int(130 * PPM), int(250 * PPM)
    for y_left, y_right in ((30, 30), (76, 76), (112, 121), (162, 162)):
        pts = [(x0, int(y_left * PPM)), (xm, int(y_left * PPM)), (xm, int(y_right * PPM)),
               (x1, int(y_right * PPM))]
        cv2.polylines(img, [np.array(pts, np.int32)], False, 255, 2)
    rows = find_rows(img.astype(np.float32) / 255.0, PPM)
    assert [r.y_px / PPM for r in rows] == pytest.approx([30, 76, 116.5, 162], abs=2)
