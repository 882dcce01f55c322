"""Pages in ECG-Image-Kit's conventions, drawn by our own code for `bench/foreign.py`.

ECG-Image-Kit (alphanumericslab, BSD-3) drew the PhysioNet Challenge 2024 images, the most
used public set of ECG pictures. It is not on PyPI, so the bench cannot install it; this
module draws a page the way its documented standard page looks, with matplotlib:
- a US-letter landscape sheet (11 x 8.5 in) whose plot fills it edge to edge, so the axes'
  black frame lies on the picture's edges;
- a grid of 0.2 s x 0.5 mV boxes (5 mm at 25 mm/s, 10 mm/mV) and 1 mm minor lines, both
  0.5 pt wide, in one of its five standard colour pairs (major / minor) or black-and-white;
- traces in near-black grey, 0.75 pt; a calibration pulse (0.2 s, 1 mV, 1.5 x as wide) at
  the start of each row, the row's first lead starting where the pulse falls;
- 3x4 (I/aVR/V1/V4 on top, 2.5 s each, leads back to back with no gap, a short thick
  vertical bar across the baseline at each seam between them) and a 10 s lead II
  strip at the bottom, rows 1/6 of the sheet's height apart, the top third of the sheet
  blank; lead names 7 mm under each lead's start; "25mm/s" and "10mm/mV" along the bottom;
- optionally (its --print_header and --pad_inches) lines of patient and recording text at
  the top, 3 s apart across and 0.5 mV down, and a white margin around the sheet.
Rows and pulses lie on grid lines, as its layout places them (its baselines are multiples
of 0.1 mV, its left margin of 0.2 s).
"""
from __future__ import annotations

import io

import numpy as np

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
#: Grid colours (major, minor) as RGB in [0, 1]: its five standard pairs and its
#: black-and-white style.
GRID_COLOURS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "brown": ((0.4274, 0.196, 0.1843), (0.5882, 0.4196, 0.3960)),
    "pink": ((1.0, 0.796, 0.866), (0.996, 0.9294, 0.9725)),
    "blue": ((0.0, 0.0, 0.4), (0.0, 0.0, 0.7)),
    "green": ((0.0, 0.3, 0.0), (0.0, 0.8, 0.3)),
    "red": ((1.0, 0.0, 0.0), (0.996, 0.8745, 0.8588)),
    "bw": ((0.4, 0.4, 0.4), (0.75, 0.75, 0.75)),
}
#: Rows of the 3x4 part, top to bottom: lead indices (into LEADS) per column.
ROWS_3X4 = ((0, 3, 6, 9), (1, 4, 7, 10), (2, 5, 8, 11))
SHEET_IN = (11.0, 8.5)
MM_PER_S, MM_PER_MV = 25.0, 10.0
PULSE_S, PULSE_MV = 0.2, 1.0
TRACE_PT, GRID_PT = 0.75, 0.5
#: The bar at a seam between columns: 3 x the trace's width, and as tall (mV) as
#: SEAM_BAR_MV_PER_DOT x the picture's dots per 5 mm grid square (the program's tick length
#: 8 x step 0.002), so its height follows the resolution: 6.3 mm at 200 dpi, 3.1 mm at 100.
SEAM_BAR_WIDTH = 3.0
SEAM_BAR_MV_PER_DOT = 8 * 0.002
#: Trace grey level (0 black .. 1 white): the program picks one in [0, 0.2] per page.
TRACE_GREY = 0.1


#: Header lines (--print_header): made-up patient and recording fields.
HEADER = (("ID: 0042", "Name: DOE^JANE", "Date: 2024-01-01", "Time: 12:00:00"),
          ("Sex: F", "Age: 64", "Height: 165", "Weight: 70"),
          ("Sampling frequency: 500Hz", "Signal length: 10s"))


def random_grid_colours(signals_mv: np.ndarray
                        ) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(major, minor) RGB in [0, 1] as its random-colour mode draws them: major red below
    0.8, green and blue below 0.5; minor the major red plus an offset below 0.2, and green
    and blue drawn again below 0.5 plus the offset. Seeded by the page's signals ((12, T)
    mV), so a record always gets the same colours."""
    rng = np.random.default_rng(int(np.abs(signals_mv[:, :100]).sum() * 1e6) % 2**32)
    offset = rng.uniform(0.0, 0.2)
    major = (rng.uniform(0.0, 0.8), rng.uniform(0.0, 0.5), rng.uniform(0.0, 0.5))
    minor = (major[0] + offset, rng.uniform(0.0, 0.5) + offset, rng.uniform(0.0, 0.5) + offset)
    return major, minor


def draw_kit_page(signals_mv: np.ndarray, fs: float, grid: str, dpi: int,
                  header: bool = False, margin_in: float = 0.0) -> np.ndarray:
    """(H, W, 3) uint8 page of (12, T) mV signals (10 s) in grid colour `grid` (a key of
    GRID_COLOURS, or "random": `random_grid_colours`) at `dpi`, with HEADER's text when
    `header`, and a white margin of `margin_in` inches around it. Lead k of column c draws
    samples [c T / 4, (c + 1) T / 4) (integer division); the strip draws lead II whole."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import AutoMinorLocator, MultipleLocator
    from PIL import Image

    width_in, height_in = SHEET_IN
    x_max = width_in * 25.4 / MM_PER_S  # s across the sheet
    y_max = height_in * 25.4 / MM_PER_MV  # mV up the sheet
    n = signals_mv.shape[1]
    cell = n // 4
    cell_s = cell / fs
    row_pitch = y_max / 6  # 4 rows and a row's room above and below
    left = np.floor((x_max - 4 * cell_s) / 2 / 0.2) * 0.2  # margin on the 0.2 s grid
    major, minor = random_grid_colours(signals_mv) if grid == "random" else GRID_COLOURS[grid]
    ink = (0.0, 0.0, 0.0) if grid == "bw" else (TRACE_GREY,) * 3

    fig, ax = plt.subplots(figsize=(width_in, height_in))
    try:
        fig.subplots_adjust(left=0, right=1, bottom=0, top=1, hspace=0, wspace=0)
        ax.xaxis.set_major_locator(MultipleLocator(0.2))
        ax.yaxis.set_major_locator(MultipleLocator(0.5))
        ax.xaxis.set_minor_locator(AutoMinorLocator(5))
        ax.yaxis.set_minor_locator(AutoMinorLocator(5))
        ax.grid(which="major", linestyle="-", linewidth=GRID_PT, color=major)
        ax.grid(which="minor", linestyle="-", linewidth=GRID_PT, color=minor)
        ax.set_xlim(0, x_max)
        ax.set_ylim(0, y_max)
        ax.tick_params(which="both", colors="white")
        t_pulse = np.arange(0, PULSE_S + 4 / fs, 1 / fs)
        pulse = np.full(t_pulse.size, PULSE_MV)
        pulse[:2] = pulse[-2:] = 0.0
        baselines = [row_pitch * (k + 0.5) for k in (3, 2, 1)]  # mV up from the bottom
        for leads, base in zip(ROWS_3X4, baselines, strict=True):
            ax.plot(left + t_pulse, base + pulse, linewidth=1.5 * TRACE_PT, color=ink)
            for c, k in enumerate(leads):
                x0 = left + PULSE_S + c * cell_s
                ax.text(x0, base - 0.7, LEADS[k], fontsize=11)
                part = signals_mv[k, c * cell:(c + 1) * cell]
                ax.plot(x0 + np.arange(part.size) / fs, base + part, linewidth=TRACE_PT,
                        color=ink)
                if c < len(leads) - 1:
                    x_seam = x0 + part.size / fs
                    half = 0.5 * SEAM_BAR_MV_PER_DOT * dpi * 5.0 / 25.4
                    ax.plot([x_seam, x_seam], [base - half, base + half],
                            linewidth=SEAM_BAR_WIDTH * TRACE_PT, color=ink)
        strip = row_pitch / 2 + 0.3
        ax.text(left, strip - 0.8, "II", fontsize=11)
        ax.plot(left + t_pulse, strip + pulse, linewidth=1.5 * TRACE_PT, color=ink)
        ax.plot(left + PULSE_S + np.arange(n) / fs, strip + signals_mv[1],
                linewidth=TRACE_PT, color=ink)
        ax.text(2.0, 0.5, "25mm/s", fontsize=11)
        ax.text(4.0, 0.5, "10mm/mV", fontsize=11)
        if header:
            for i, fields in enumerate(HEADER):
                for j, field in enumerate(fields):
                    ax.text(0.05 + 3.0 * j, int(y_max) - 0.5 * i, field, fontsize=11)
        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    page = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    pad = round(margin_in * dpi)
    return np.pad(page, ((pad, pad), (pad, pad), (0, 0)), constant_values=255) if pad else page
