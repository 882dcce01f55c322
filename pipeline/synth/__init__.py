"""Synthetic 12-lead ECG pages with exact ground truth (training set and test oracle).

    rec = load_record(path_without_ext)           # ((12, T) mV, fs Hz)
    spec = sample_spec(rng, preset="clean")       # RenderSpec
    page = render_page(signals_mv, fs_hz, spec, rng)
"""
from __future__ import annotations

from pipeline.signal_io import load_record
from pipeline.synth.render import Panel, RenderedPage, render_page
from pipeline.synth.spec import RenderSpec, sample_spec

__all__ = ["Panel", "RenderSpec", "RenderedPage", "load_record", "render_page", "sample_spec"]
