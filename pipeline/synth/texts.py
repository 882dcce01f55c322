"""Made-up printed text for headers and footers (no real patient data)."""
from __future__ import annotations

import numpy as np

from pipeline.synth.spec import RenderSpec

_STATEMENTS = (
    "Sinus rhythm", "Normal ECG", "Sinus bradycardia", "Sinus tachycardia",
    "Left axis deviation", "Nonspecific T wave abnormality", "Borderline ECG",
    "Possible inferior infarct, age undetermined", "Atrial fibrillation",
    "Right bundle branch block", "Abnormal ECG", "Unconfirmed report",
    "Prolonged QT", "Low voltage QRS", "Left ventricular hypertrophy",
)


def header_lines(rng: np.random.Generator) -> list[str]:
    """Header text lines: measurements, an ID, a date, interpretation statements."""
    rate = int(rng.integers(45, 130))
    lines = [
        (f"ID: {int(rng.integers(10**6, 10**7))}   "
         f"{int(rng.integers(1, 29)):02d}-{int(rng.integers(1, 13)):02d}-"
         f"{int(rng.integers(1990, 2026))} {int(rng.integers(0, 24)):02d}:"
         f"{int(rng.integers(0, 60)):02d}"),
        f"Vent. rate {rate} BPM",
        f"PR interval {int(rng.integers(110, 240))} ms",
        f"QRS duration {int(rng.integers(70, 150))} ms",
        f"QT/QTc {int(rng.integers(320, 460))}/{int(rng.integers(380, 500))} ms",
        (f"P-R-T axes {int(rng.integers(-30, 90))} {int(rng.integers(-60, 120))} "
         f"{int(rng.integers(-40, 100))}"),
    ]
    picks = rng.choice(len(_STATEMENTS), size=int(rng.integers(1, 4)), replace=False)
    lines += [_STATEMENTS[int(i)] for i in picks]
    return lines


def footer_text(spec: RenderSpec, rng: np.random.Generator) -> str:
    """Footer line stating speed, gain and filter, as ECG printers do."""
    low = ["0.05", "0.15", "0.5"][int(rng.integers(0, 3))]
    high = ["40", "100", "150"][int(rng.integers(0, 3))]
    return (f"{spec.mm_per_s:g} mm/s   {spec.mm_per_mv:g} mm/mV   {low}-{high} Hz   "
            f"{['~50 Hz', '~60 Hz', ''][int(rng.integers(0, 3))]}")
