"""pipeline.rhythm: rhythm strips named by the grid panel they follow."""
from __future__ import annotations

import numpy as np

from pipeline.calibration import Scales
from pipeline.extract import RowTrace
from pipeline.layouts import LAYOUTS
from pipeline.rhythm import match_rhythm_leads
from pipeline.types import LEADS

PPM = 5.0  # px/mm
SCALES = Scales(px_per_mv=10 * PPM, px_per_s=25 * PPM, px_per_mm=PPM, mm_per_mv=10.0,
                mm_per_s=25.0, assumed=())
X0, X1 = 100.0, 100.0 + 10.0 * 25 * PPM  # the rows' first and last column, px


def lead_signals(seed: int) -> dict[str, np.ndarray]:
    """12 distinct smooth signals, uV, as functions of time t (s)."""
    rng = np.random.default_rng(seed)
    out = {}
    for lead in LEADS:
        freqs, phases = rng.uniform(0.5, 6.0, 6), rng.uniform(0, 2 * np.pi, 6)
        out[lead] = lambda t, f=freqs, p=phases: 300 * np.sin(
            2 * np.pi * f[:, None] * t[None, :] + p[:, None]).sum(axis=0)
    return out


def page_rows(cells: tuple[tuple[str, ...], ...], strips: tuple[str, ...],
              sig: dict | None = None) -> list[RowTrace]:
    """Row traces of a 3x4 grid drawn as `cells` plus rhythm strips `strips`, px."""
    sig = sig or lead_signals(3)
    x = np.arange(X0, X1 + 0.5, 0.5)
    t = (x - X0) / SCALES.px_per_s
    rows = []
    for r, row in enumerate([*cells, *((s,) for s in strips)]):
        n = len(row)
        col = np.minimum((t / (10.0 / n)).astype(int), n - 1)
        uv = np.choose(col, [sig[lead](t) for lead in row])
        y = 200.0 * (r + 1) - uv / 1000.0 * SCALES.px_per_mv
        rows.append(RowTrace(x, y, 2.0, np.ones(x.size, bool)))
    return rows


def match(strips: tuple[str, ...], template_name: str, sig: dict | None = None,
          late_row: int | None = None, late_px: float = 8.0) -> tuple[str, ...]:
    template = LAYOUTS[template_name]
    traces = page_rows(template.cells, strips, sig)
    if late_row is not None:  # that row's line read late_px late (8 px: 64 ms)
        tr = traces[late_row]
        traces[late_row] = RowTrace(tr.x_px + late_px, tr.y_px, tr.line_width_px,
                                    tr.confident)
    n = len(traces)
    baselines = [200.0 * (r + 1) for r in range(n)]
    out = match_rhythm_leads(template, traces, baselines, [X0] * n, [X1] * n, SCALES, 500.0,
                             5000)
    assert out.cells == template.cells and out.name == template.name
    return out.rhythm


def test_strips_are_named_by_the_panels_they_follow() -> None:
    assert match(("V1", "II", "V5"), "3x4+3") == ("V1", "II", "V5")  # GE's order
    assert match(("II", "V1", "V5"), "3x4+3") == ("II", "V1", "V5")  # the template's
    assert match(("V1", "II"), "3x4+2") == ("V1", "II")
    assert match(("V5",), "3x4+1") == ("V5",)
    assert match(("II",), "3x4+1") == ("II",)


def test_a_strip_keeps_its_name_when_its_panel_is_read_a_little_late() -> None:
    sig = lead_signals(4)
    # Lead I nearly equal to II (a common axis), and the II panel's row read late: the
    # strip follows I better at zero shift, but II once shifted.
    sig["I"] = lambda t, f=sig["II"]: 0.9 * f(t) + 20 * np.sin(40 * t)
    assert match(("II",), "3x4+1", sig, late_row=1) == ("II",)


def test_strips_in_another_order_are_named_though_a_neighbour_panel_is_alike() -> None:
    """GE's V1, II under a template of II, V1, on a page where V2 looks like V1 and V6 like
    II: no strip follows one panel by the margin over all others, but the template's two
    strip leads fit far better swapped (real picture ecg00004)."""
    sig = lead_signals(5)
    sig["V2"] = lambda t, f=sig["V1"]: 0.9 * f(t) + 150 * np.sin(9 * t)
    sig["V6"] = lambda t, f=sig["II"]: 0.9 * f(t) + 150 * np.sin(7 * t)
    assert match(("V1", "II"), "3x4+2", sig) == ("V1", "II")
    assert match(("II", "V1"), "3x4+2", sig) == ("II", "V1")


def test_strips_found_in_another_order_are_swapped_not_duplicated() -> None:
    from pipeline.rhythm import _swapped

    # The first strip (template II) was found to show V1; the second (template V1) was read
    # too poorly to match anything: it takes the II the first one left.
    assert _swapped(("II", "V1"), ["V1", "V1"]) == ("V1", "II")
    assert _swapped(("II", "V1", "V5"), ["V1", "II", "V5"]) == ("V1", "II", "V5")
    assert _swapped(("II",), ["V5"]) == ("V5",)


def test_templates_without_strips_are_unchanged() -> None:
    template = LAYOUTS["6x2"]
    traces = page_rows(template.cells, ())
    assert match_rhythm_leads(template, traces, [0.0] * 6, [X0] * 6, [X1] * 6, SCALES,
                              500.0, 5000) is template


def test_a_memo_reads_each_lead_window_once(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Candidate templates of a page read through one memo get the signals they get
    alone, and a window read once (strip matching, then the signals) is not read again."""
    import pipeline.leads as leads_module
    from pipeline.leads import WindowMemo, assemble_signals

    calls = []
    read = leads_module.window_to_samples

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs["t0_s"])
        return read(*args, **kwargs)

    monkeypatch.setattr(leads_module, "window_to_samples", counted)
    memo = WindowMemo()
    traces = page_rows(LAYOUTS["3x4+1"].cells, ("II",))
    n = len(traces)
    args = (traces, [200.0 * (r + 1) for r in range(n)], [X0] * n, [X1] * n, SCALES, 500.0,
            5000)
    # Windows read: all 13, then only Cabrera's inverted aVR (same places), then none.
    for name, most in (("3x4+1", 13), ("cabrera-3x4+1", 1), ("3x4+1", 0)):
        template = LAYOUTS[name]
        alone = assemble_signals(template, *args)
        calls.clear()
        shared = assemble_signals(template, *args, memo=memo)
        assert len(calls) <= most
        assert np.array_equal(alone[0], shared[0], equal_nan=True)
        assert alone[1] == shared[1] and alone[2] == shared[2]
        calls.clear()
        again = assemble_signals(template, *args, memo=memo)
        assert not calls and np.array_equal(again[0], alone[0], equal_nan=True)


def test_strips_agree_with_their_panels_when_rows_are_read_a_little_apart() -> None:
    from pipeline.leads import assemble_signals

    template = LAYOUTS["3x4+3"]
    traces = page_rows(template.cells, template.rhythm)
    n = len(traces)
    strip = traces[n - 1]  # the last strip's line read 4 px (32 ms) late
    traces[n - 1] = RowTrace(strip.x_px + 4.0, strip.y_px, strip.line_width_px,
                             strip.confident)
    baselines = [200.0 * (r + 1) for r in range(n)]
    _, _, agreement = assemble_signals(template, traces, baselines, [X0] * n, [X1] * n,
                                       SCALES, 500.0, 5000)
    assert agreement is not None and agreement > 0.95


def test_shifted_correlation_equals_correlation_at_the_best_shift() -> None:
    from pipeline.leads import MAX_SHIFT_S, correlation, shifted_correlation

    rng = np.random.default_rng(7)
    lags = range(-round(MAX_SHIFT_S * 500), round(MAX_SHIFT_S * 500) + 1)
    for case in range(40):
        a, b = np.full(3000, np.nan), np.full(3000, np.nan)
        s0, s1 = rng.integers(0, 2000, 2)
        a[s0:s0 + 1000] = np.cumsum(rng.standard_normal(1000))[:3000 - s0]
        b[s1:s1 + 1500] = np.cumsum(rng.standard_normal(1500))[:3000 - s1]
        if case % 4 == 0:
            b[s1 + 50:s1 + 90] = np.nan
        rs = [correlation(a[max(0, k):a.size + min(0, k)], b[max(0, -k):b.size + min(0, -k)],
                          500.0) for k in lags]
        expected = max((r for r in rs if r is not None), default=-1.0)
        assert abs(shifted_correlation(a, b, 500.0) - expected) < 1e-9


def spiky_signals(seed: int) -> dict[str, np.ndarray]:
    """12 leads of one heart: narrow QRS-like spikes (20 ms wide, each lead its own height
    and sign) every 0.8 s over a slow wander of its own, uV as functions of t (s)."""
    rng = np.random.default_rng(seed)
    out = {}
    for lead in LEADS:
        height, freq, phase = rng.uniform(-1500, 1500), rng.uniform(0.2, 0.5), rng.uniform(0, 6)
        out[lead] = lambda t, h=height, f=freq, p=phase: (
            h * np.exp(-0.5 * (((t - 0.3) % 0.8) / 0.01) ** 2)
            + 100 * np.sin(2 * np.pi * f * t + p))
    return out


def test_strips_are_named_though_read_a_little_apart_from_their_panels() -> None:
    """Narrow QRS spikes decorrelate within tens of ms: a strip row read 4 px (32 ms at 125
    px/s) late follows its own panel poorly unshifted (real picture ecg00006: its V1
    strip 31 ms late, r 0.10 with the V1 panel), yet is named by it."""
    sig = spiky_signals(6)
    for row in (3, 4):  # the first or the second strip read late
        assert match(("V1", "II", "V5"), "3x4+3", sig, row, 4.0) == ("V1", "II", "V5")
