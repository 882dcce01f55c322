"""Which lead each rhythm strip shows: the grid panel it matches.

Vendors put different leads in the rhythm strips under a 3x4 grid (II; V1, II, V5; II, V1,
V5; ...), usually labelled only by printed text. A rhythm strip shows 10 s of one lead, and
the grid shows 2.5 s of the same lead at the same time, so the strip is matched against
every grid panel over their common time: the panel it follows best names it.
"""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from pipeline.calibration import Scales
from pipeline.extract import RowTrace
from pipeline.layouts import LayoutTemplate
from pipeline.leads import WindowMemo, assemble_signals, correlation, shifted_correlation
from pipeline.types import LEADS

#: A strip is renamed only when it follows another panel at least this well (Pearson r;
#: a strip and its own panel are the same ink, 0.99 when read well; a poorly read page's
#: strip follows many panels at 0.6-0.85 through shared baseline wander) ...
MIN_MATCH_R = 0.9
#: ... better than any third panel by this margin ...
MIN_MARGIN_R = 0.05
#: ... and the template's own lead at most this well: leads I and II, or V4 and V5, often
#: correlate at 0.9, so a strip that follows its own panel passably keeps its name.
MAX_OWN_R = 0.6
#: Strips printed in another order than the template's (GE's V1, II for II, V1): each
#: strip whose template lead another strip's order gives follows that panel at least this
#: well (and its own at most MAX_OWN_R). Looser than MIN_MATCH_R, and without its margin
#: over third panels: only the template's own strip leads compete. (Real picture ecg00004:
#: its V1 strip follows V1 at 1.00 and V2 at 0.96, its II strip II at 0.98 and V6 at 0.87,
#: and its template lead at -0.01 / -0.12.)
MIN_ORDER_R = 0.8


def match_rhythm_leads(template: LayoutTemplate, traces: list[RowTrace], baselines: list[float],
                       starts: list[float], ends: list[float], scales: Scales, fs_hz: float,
                       n_samples: int, memo: WindowMemo | None = None) -> LayoutTemplate:
    """`template` with each rhythm strip's lead set to the grid panel it matches best.

    traces, baselines, starts, ends: per drawn row, rhythm strips last (px), as for
    `assemble_signals` (and memo). The template's strip leads are first put in the order the
    strips follow best (`_strip_order`); a strip that order leaves in place keeps its lead
    unless that panel follows it with r <= MAX_OWN_R and another with r >= MIN_MATCH_R, by
    MIN_MARGIN_R more than any other (each r at the best small shift).
    """
    n_grid = len(template.cells)
    if not template.rhythm or len(traces) != template.n_rows:
        return template
    grid_only = LayoutTemplate(template.name, template.cells)
    panels, _, _ = assemble_signals(grid_only, traces[:n_grid], baselines[:n_grid],
                                    starts[:n_grid], ends[:n_grid], scales, fs_hz, n_samples,
                                    memo)
    strips, scores = [], []
    for k, lead in enumerate(template.rhythm):
        r = n_grid + k
        strip_template = LayoutTemplate("strip", ((lead,),))
        strip, _, _ = assemble_signals(strip_template, [traces[r]], [baselines[r]],
                                       [starts[r]], [ends[r]], scales, fs_hz, n_samples,
                                       memo)
        strips.append(strip[LEADS.index(lead)])
        scores.append(_panel_correlations(strips[-1], panels, fs_hz))
    order = _strip_order(template.rhythm, scores)
    leads = list(order)
    for k, lead in enumerate(order):
        if lead != template.rhythm[k] or not scores[k]:
            continue  # placed by the order
        ranked = sorted(scores[k], key=lambda name: scores[k][name], reverse=True)
        best = ranked[0]
        runner_up = scores[k][ranked[1]] if len(ranked) > 1 else -1.0
        if (best == lead or scores[k][best] < MIN_MATCH_R
                or scores[k].get(lead, -1.0) > MAX_OWN_R
                or scores[k][best] - runner_up < MIN_MARGIN_R):
            continue
        leads[k] = best
    return dataclasses.replace(template, rhythm=_swapped(order, leads))


def _strip_order(template_leads: tuple[str, ...], scores: list[dict[str, float]]
                 ) -> tuple[str, ...]:
    """The template's strip leads in the order the strips follow best: the permutation
    with the highest summed r (`scores`: per strip, r with each panel) when every strip it
    moves follows its new panel at least MIN_ORDER_R and its template one at most
    MAX_OWN_R; else the template's order."""
    best, best_sum = template_leads, -np.inf
    for order in itertools.permutations(template_leads):
        total = sum(sc.get(lead, -1.0) for sc, lead in zip(scores, order, strict=True))
        if total > best_sum:
            best, best_sum = order, total
    moved = [k for k, (was, now) in enumerate(zip(template_leads, best, strict=True))
             if was != now]
    if all(scores[k].get(best[k], -1.0) >= MIN_ORDER_R
           and scores[k].get(template_leads[k], -1.0) <= MAX_OWN_R for k in moved):
        return tuple(best)
    return template_leads


def _swapped(template_leads: tuple[str, ...], found: list[str]) -> tuple[str, ...]:
    """Strip leads with the template's order permuted rather than duplicated: a strip whose
    template lead another strip was found to show takes that strip's template lead (vendors
    print the same strips in another order: GE's V1, II for II, V1)."""
    leads = list(found)
    for k, (was, now) in enumerate(zip(template_leads, found)):
        if now == was:
            continue
        for j, lead in enumerate(leads):
            if j != k and lead == now and template_leads[j] == now:
                leads[j] = was
    return tuple(leads)


def _panel_correlations(strip: np.ndarray, panels: np.ndarray, fs_hz: float
                        ) -> dict[str, float]:
    """Pearson r of a strip ((T,) uV) with each lead of `panels` ((12, T) uV) over their
    common finite samples, at the best shift within +-MAX_SHIFT_S (`shifted_correlation`):
    a strip and its panel are read a few px apart when their rows' starts are (real
    picture ecg00006: its V1 strip starts 4 px before the V1 panel's row, 31 ms, and
    follows that panel at r 0.10 unshifted, 1.00 shifted). Leads with too little time in
    common are left out."""
    out: dict[str, float] = {}
    for i, name in enumerate(LEADS):
        if correlation(strip, panels[i], fs_hz) is not None:
            out[name] = shifted_correlation(strip, panels[i], fs_hz)
    return out
