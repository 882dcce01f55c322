"""Degradations of a rendered page (scan and photo effects). Filled in by later steps."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pipeline.synth.render import RenderedPage
    from pipeline.synth.spec import RenderSpec


def apply(page: "RenderedPage", spec: "RenderSpec", rng: np.random.Generator) -> "RenderedPage":
    """Apply the spec's degradations; converts the float image to uint8."""
    page.image = np.clip(np.rint(page.image), 0, 255).astype(np.uint8)
    return page
