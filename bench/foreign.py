"""Accuracy on pages drawn by other programs from PyPI (all MIT), not our renderer.

    pip install -e '.[bench]'
    python bench/foreign.py [--pages 4] [--styles NAME,...] [--out DIR]

The digitizer is built for ECG pictures from any program; this bench draws held-out PTB-XL
records in several styles and resolutions by
- ecg_plot 0.3: each lead in its own gridded panel, gaps between panels, the calibration
  pulse on 0 mV beside the trace, faint pink or grey grids; its style "blue" (ours) draws
  the traces in matplotlib's default blue (31, 119, 180), as a plotting script that sets
  no colour would; its default time mode, "simultaneous", draws each of its columns over
  the whole record (two panels of 10 s side by side), "sequential" one after another;
- dicom-ecg-plot 1.4 (module `ecg`), from a 12-lead ECG Waveform DICOM file the bench
  writes: one orange-red 5 mm grid (1 mm lines optional) under 3x4+II, 3x4, 6x2 or 12x1, lead
  labels and short tick marks at each cell's start, no calibration pulse, patient text
  around it; it low-passes the signals (40 Hz) before drawing;
- bemplt 0.0.7 (a fork of ecg_plot 0.2): one red grid of 0.2 s x 0.5 mV boxes (25.4 mm/s,
  10.16 mm/mV) under 2 or 1 columns that each draw every lead's whole 10 s, axis labels
  along the left and bottom, no calibration pulse;
- ECG-Image-Kit's conventions ("kit", not on PyPI: drawn by `bench/kit_page.py`, our code):
  a letter sheet filled edge to edge by a 5 mm / 1 mm grid in one of its colour pairs
  (dark ones among them: brown, navy, green, grey), 3x4 leads back to back with a bar
  across the baseline at each seam between them and a II strip, each row starting with a
  pulse whose strokes and baseline lie on grid lines;
digitizes them and scores each lead over the window the page draws (the truth is blank
elsewhere, and is the signal as the program drew it), as `bench/accuracy.py` does. Prints
one line per style: mean dB, pages refused, the layout read, and the 95th percentile of how
far the read leads sit from their time (the metric forgives up to 0.5 s). --out writes each
style's first page and every weak page (or refused one) with the digitizer's summary.
"""
from __future__ import annotations

import argparse
import importlib
import io
import statistics
import sys
import types
from pathlib import Path

import numpy as np

from pipeline.digitizer import Digitizer
from pipeline.errors import DigitizerError
from pipeline.evaluate import score_record
from pipeline.synth import load_record
from pipeline.synth.dataset import DEFAULT_RECORDS
from pipeline.synth.splits import split_of
from pipeline.types import DigitizationResult, DigitizeOptions

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
#: name -> (program, layout, style, dpi). Layouts and styles are each program's own words:
#: ecg_plot "12lead" / "columns" (time mode "sequential") / "columns-simultaneous" /
#: "12lead-simultaneous" (its default time mode: every column the whole record) and style
#: None / "bw" / "blue" (not its own: its traces recoloured); dicom-ecg-plot "3x4_1" /
#: "3x4" / "6x2" / "12x1" and style None / "minor" (its --minor-grid); bemplt the column
#: count "2" / "1" and style None / "bw"; kit "12lead" (3x4 and a II strip, as ecg_plot's)
#: and its grid colour (`kit_page.GRID_COLOURS`, or "random": its random-colour mode),
#: "+header" adding its header text and a half-inch margin, "+scanned" turning the page 3
#: degrees with noise and JPEG (`scanned`).
STYLES: dict[str, tuple[str, str, str | None, int]] = {
    "3x4+II 200 dpi": ("ecg_plot", "12lead", None, 200),
    "3x4+II 100 dpi": ("ecg_plot", "12lead", None, 100),
    "3x4+II 300 dpi": ("ecg_plot", "12lead", None, 300),
    "3x4+II bw 150 dpi": ("ecg_plot", "12lead", "bw", 150),
    "3x4+II blue 200 dpi": ("ecg_plot", "12lead", "blue", 200),
    "6x2 blue 150 dpi": ("ecg_plot", "columns", "blue", 150),
    "6x2 200 dpi": ("ecg_plot", "columns", None, 200),
    "6x2 simultaneous 200 dpi": ("ecg_plot", "columns-simultaneous", None, 200),
    "6x2 simultaneous 100 dpi": ("ecg_plot", "columns-simultaneous", None, 100),
    "6x2 simultaneous bw 150 dpi": ("ecg_plot", "columns-simultaneous", "bw", 150),
    "3x4 simultaneous 150 dpi": ("ecg_plot", "12lead-simultaneous", None, 150),
    "dicom 3x4+II 200 dpi": ("dicom-ecg-plot", "3x4_1", None, 200),
    "dicom 3x4+II 100 dpi": ("dicom-ecg-plot", "3x4_1", None, 100),
    "dicom 3x4+II minor 300 dpi": ("dicom-ecg-plot", "3x4_1", "minor", 300),
    "dicom 3x4 minor 150 dpi": ("dicom-ecg-plot", "3x4", "minor", 150),
    "dicom 6x2 200 dpi": ("dicom-ecg-plot", "6x2", None, 200),
    "dicom 12x1 minor 200 dpi": ("dicom-ecg-plot", "12x1", "minor", 200),
    "bemplt 6x2 200 dpi": ("bemplt", "2", None, 200),
    "bemplt 6x2 bw 100 dpi": ("bemplt", "2", "bw", 100),
    "bemplt 6x2 300 dpi": ("bemplt", "2", None, 300),
    "bemplt 12x1 150 dpi": ("bemplt", "1", None, 150),
    "kit 3x4+II red 200 dpi": ("kit", "12lead", "red", 200),
    "kit 3x4+II pink 100 dpi": ("kit", "12lead", "pink", 100),
    "kit 3x4+II brown 200 dpi": ("kit", "12lead", "brown", 200),
    "kit 3x4+II blue 200 dpi": ("kit", "12lead", "blue", 200),
    "kit 3x4+II green 300 dpi": ("kit", "12lead", "green", 300),
    "kit 3x4+II bw 200 dpi": ("kit", "12lead", "bw", 200),
    "kit 3x4+II red header margin 200 dpi": ("kit", "12lead", "red+header", 200),
    "kit 3x4+II red scanned 200 dpi": ("kit", "12lead", "red+scanned", 200),
    "kit 3x4+II brown scanned 200 dpi": ("kit", "12lead", "brown+scanned", 200),
    "kit 3x4+II bw scanned 200 dpi": ("kit", "12lead", "bw+scanned", 200),
    "kit 3x4+II random colours 200 dpi": ("kit", "12lead", "random", 200),
}


def draw(program: str, signals_mv: np.ndarray, fs: float, layout: str, style: str | None,
         dpi: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 page of (12, T) mV signals drawn by `program`, and the (12, T) mV
    signals as the page draws them (after the program's own filtering)."""
    drawer = {"ecg_plot": draw_ecg_plot, "dicom-ecg-plot": draw_dicom_ecg_plot,
              "bemplt": draw_bemplt, "kit": draw_kit}[program]
    return drawer(signals_mv, fs, layout, style, dpi)


def _png_rgb(png: bytes) -> np.ndarray:
    """(H, W, 3) uint8 RGB pixels of a PNG file's bytes."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


#: Lines of ecg_plot's pages with more points than this are traces (grid lines have 2).
BLUE_MIN_POINTS = 4


def draw_ecg_plot(signals_mv: np.ndarray, fs: float, layout: str, style: str | None,
                  dpi: int) -> tuple[np.ndarray, np.ndarray]:
    """ecg_plot 0.3: each lead in its own gridded panel, 25 mm/s, 10 mm/mV, unfiltered.
    Style "blue": its own default style, with the traces and pulses (its lines of over
    BLUE_MIN_POINTS points) recoloured to matplotlib's default blue."""
    import ecg_plot

    layout_args = ({"layout": "12lead", "time_mode": "sequential", "rhythm_lead": "II"}
                   if layout == "12lead" else
                   {"layout": "columns", "columns": 2, "time_mode": "simultaneous"}
                   if layout == "columns-simultaneous" else
                   {"layout": "12lead", "time_mode": "simultaneous"}
                   if layout == "12lead-simultaneous" else
                   {"layout": "columns", "columns": 2, "time_mode": "sequential"})
    chart = ecg_plot.plot(signals_mv, sample_rate=fs, lead_names=list(LEADS),
                          style=None if style == "blue" else style, **layout_args)
    figure = chart.to_matplotlib()[0]
    if style == "blue":
        for axes in figure.axes:
            for line in axes.get_lines():
                if len(line.get_xdata()) > BLUE_MIN_POINTS:
                    line.set_color("#1f77b4")
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=dpi, format="png")
    return _png_rgb(buffer.getvalue()), signals_mv


#: MDC lead codes as dicom-ecg-plot 1.4 labels them ("2:1".."2:12" = I..V6). CID 3001 has
#: V1-V6 at 2:3-2:8 and III, aVR, aVL, aVF at 2:61-2:64, which it would draw mislabelled.
DICOM_ECG_PLOT_CODES = {lead: f"2:{i + 1}" for i, lead in enumerate(LEADS)}


def dicom_ecg_file(signals_mv: np.ndarray, fs: float) -> bytes:
    """A minimal 12-lead ECG Waveform Storage file of (12, T) mV signals: one multiplex
    group, SS 16-bit samples of 1 uV, baseline 0, and the patient fields the page prints."""
    import pydicom
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import UID, ExplicitVRLittleEndian

    def code(value: str, scheme: str, meaning: str) -> Dataset:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
        return item

    channels = []
    for lead in LEADS:
        channel = Dataset()
        channel.ChannelSourceSequence = Sequence(
            [code(DICOM_ECG_PLOT_CODES[lead], "MDC", f"Lead {lead}")])
        channel.ChannelSensitivity = "1"
        channel.ChannelSensitivityUnitsSequence = Sequence([code("uV", "UCUM", "microvolt")])
        channel.ChannelSensitivityCorrectionFactor = "1"
        channel.ChannelBaseline = "0"
        channel.WaveformBitsStored = 16
        channels.append(channel)
    samples = np.clip(np.rint(signals_mv * 1000.0), -32767, 32767).astype("<i2")
    group = Dataset()
    group.WaveformOriginality = "ORIGINAL"
    group.NumberOfWaveformChannels = len(LEADS)
    group.NumberOfWaveformSamples = samples.shape[1]
    group.SamplingFrequency = f"{fs:g}"
    group.ChannelDefinitionSequence = Sequence(channels)
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    group.add(DataElement(0x54001010, "OW", np.ascontiguousarray(samples.T).tobytes()))

    sop_class = UID("1.2.840.10008.5.1.4.1.1.9.1.1")  # 12-Lead ECG Waveform Storage
    sop_instance = UID("2.25.1")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = sop_class, sop_instance, "ECG"
    ds.PatientName, ds.PatientID, ds.PatientSex = "DOE^JANE", "0000042", "F"
    ds.PatientBirthDate, ds.PatientAge = "19600101", "064Y"
    ds.AcquisitionDateTime, ds.InstitutionName = "20240101120000", "Bench Hospital"
    ds.WaveformSequence = Sequence([group])
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def draw_dicom_ecg_plot(signals_mv: np.ndarray, fs: float, layout: str, style: str | None,
                        dpi: int) -> tuple[np.ndarray, np.ndarray]:
    """dicom-ecg-plot 1.4: one 250 x 170 mm plot area on an A4 page, 5 mm grid (1 mm too
    with style "minor"), 250 mm for the whole record (25 mm/s for 10 s), 10 mm/mV, no
    calibration pulse; rows' baselines snapped to 5 mm (so 6x2 and 12x1 rows are unevenly
    spaced), traces not clipped. It low-passes each lead (causal 2nd-order Butterworth,
    40 Hz, zero initial state) before drawing, which the returned signals are."""
    import matplotlib.pyplot as plt
    from ecg import ECG
    from ecg.processor import extract_signals
    from ecg.reader import DicomECGReader

    dicom = dicom_ecg_file(signals_mv, fs)
    chart = ECG(io.BytesIO(dicom))
    try:
        chart.draw(layout, 10.0, minor_axis=style == "minor")
        buffer = io.BytesIO()  # its save() is ECG.save at a fixed 300 dpi; same call, our dpi
        plt.savefig(buffer, dpi=dpi, format="png", orientation="landscape")
    finally:
        chart.close()
    drawn = extract_signals(DicomECGReader(io.BytesIO(dicom)))
    return _png_rgb(buffer.getvalue()), np.asarray(drawn, dtype=np.float64)


def _bemplt_module() -> types.ModuleType:
    """bemplt, imported. It imports treefiles (undeclared, and not on PyPI) for one helper,
    `none(value, default)`; a stand-in takes its place when it is missing."""
    try:
        import treefiles  # noqa: F401
    except ImportError:
        stand_in = types.ModuleType("treefiles")
        stand_in.none = lambda value, default: default if value is None else value  # type: ignore[attr-defined]
        sys.modules["treefiles"] = stand_in
    import bemplt

    return bemplt


def draw_bemplt(signals_mv: np.ndarray, fs: float, layout: str, style: str | None,
                dpi: int) -> tuple[np.ndarray, np.ndarray]:
    """bemplt 0.0.7 `plot` (dy1901's ecg_plot 0.2): one axes filling a figure of 1 inch per
    second (25.4 mm/s) and 0.4 inch per mV (10.16 mm/mV), grid of 0.2 s x 0.5 mV with minor
    lines 0.04 s x 0.1 mV, `layout` columns side by side each drawing every lead's whole
    record, unfiltered, no calibration pulse; saved by its `save_as_png` (tight bounding box,
    so the tick labels outside the axes come in)."""
    import tempfile

    bemplt = _bemplt_module()
    bemplt.plot(signals_mv, sample_rate=fs, title="ECG 12", columns=int(layout),
                     style=style)
    with tempfile.TemporaryDirectory() as folder:
        bemplt.save_as_png("page", path=folder + "/", dpi=dpi)
        png = Path(folder, "page.png").read_bytes()
    return _png_rgb(png), signals_mv


def draw_kit(signals_mv: np.ndarray, fs: float, layout: str, style: str | None,
             dpi: int) -> tuple[np.ndarray, np.ndarray]:
    """A page in ECG-Image-Kit's conventions (`kit_page`), grid colour `style` ("COLOUR",
    "COLOUR+header": its header text and a margin of 0.5 in, or "COLOUR+scanned": turned
    3 degrees, with noise and JPEG, `scanned`); `layout` is "12lead" (its 3x4 and II
    strip, the only one drawn). Unfiltered."""
    from kit_page import draw_kit_page

    if layout != "12lead" or style is None:
        raise ValueError(f"kit pages are 3x4 + II in a grid colour; found {layout!r}, {style!r}")
    grid, _, extra = style.partition("+")
    header = extra == "header"
    page = draw_kit_page(signals_mv, fs, grid, dpi, header, 0.5 if header else 0.0)
    return (scanned(page) if extra == "scanned" else page), signals_mv


def scanned(page: np.ndarray, turn_deg: float = 3.0, noise: float = 8.0,
            quality: int = 50, seed: int = 0) -> np.ndarray:
    """An (H, W, 3) uint8 page as a scanner might give it back: turned by turn_deg about
    its centre (white where the turn uncovers the canvas), Gaussian noise of sd `noise`
    (grey levels, seeded), then JPEG at `quality`."""
    import cv2

    h, w = page.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), turn_deg, 1.0)
    out = cv2.warpAffine(page, turn, (w, h), flags=cv2.INTER_LINEAR,
                         borderValue=(255, 255, 255))
    noisy = out.astype(np.float32) + np.random.default_rng(seed).normal(0, noise, out.shape)
    ok, jpeg = cv2.imencode(".jpg", np.clip(noisy, 0, 255).astype(np.uint8)[:, :, ::-1],
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return np.ascontiguousarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[:, :, ::-1])


def drawn_truth(signals_mv: np.ndarray, program: str, layout: str) -> np.ndarray:
    """(12, T) uV truth, NaN outside the window each lead is drawn for."""
    uv = signals_mv * 1000.0
    if program == "bemplt" or layout.endswith("-simultaneous"):
        return uv  # every column draws every lead's whole record
    out = np.full_like(uv, np.nan)
    n = uv.shape[1]
    if program == "dicom-ecg-plot":  # its layout rows; a row's c-th cell of int(n / k)
        from ecg.constants import DEFAULT_LAYOUT

        for row in DEFAULT_LAYOUT[layout]:
            chunk = int(n / len(row))
            for c, lead in enumerate(row):
                out[lead, c * chunk:(c + 1) * chunk] = uv[lead, c * chunk:(c + 1) * chunk]
        return out
    if layout == "12lead":  # columns of 2.5 s: I-III, aVR-aVF, V1-V3, V4-V6; II whole
        for i in range(12):
            c = i // 3
            out[i, c * n // 4:(c + 1) * n // 4] = uv[i, c * n // 4:(c + 1) * n // 4]
        out[1] = uv[1]
    else:  # two columns of 5 s: the limb leads, then the chest leads
        for i in range(12):
            c = i // 6
            out[i, c * n // 2:(c + 1) * n // 2] = uv[i, c * n // 2:(c + 1) * n // 2]
    return out


def page_summary(name: str, record: str, result: DigitizationResult | None,
                 per_lead: dict[str, dict[str, float]] | None, refusal: str | None) -> str:
    """Text report of one page: the digitizer's scale and layout and each lead's score, or
    why it refused."""
    lines = [f"style {name} ({', '.join(map(str, STYLES[name]))}); record {record}"]
    if result is None or per_lead is None:
        return "\n".join(lines + [f"refused: {refusal}"]) + "\n"
    mean_db = np.mean([v["score_db"] for v in per_lead.values()])
    lines += [(f"mean {mean_db:.2f} dB; layout {result.layout}; px_per_mm "
               f"{result.px_per_mm:.3f}; mm_per_mv {result.mm_per_mv:.3f}; mm_per_s "
               f"{result.mm_per_s:.3f}; rotation {result.rotation_deg:g} deg; assumed "
               f"{', '.join(result.assumed) or 'nothing'}"),
              "lead  score_db  snr_db      r  coverage  shift_ms  offset_uv  quality"]
    for i, lead in enumerate(LEADS):
        v = per_lead.get(lead)
        if v is None:
            continue
        lines.append(f"{lead:4s} {v['score_db']:9.2f} {v['snr_db']:7.2f} {v['r']:6.3f} "
                     f"{v['coverage']:9.3f} {v['shift_samples'] / result.fs_hz * 1000:9.0f} "
                     f"{v['offset_uv']:10.0f} {result.quality[i]:8.2f}")
    return "\n".join(lines) + "\n"


def save_page(out: Path, name: str, i: int, image: np.ndarray, summary: str) -> None:
    """Write page `i` of style `name` as out/<name>_<i>.png with its summary beside it."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{name.replace(' ', '_')}_{i}"
    Image.fromarray(image).save(stem.with_suffix(".png"))
    stem.with_suffix(".txt").write_text(summary)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=4, help="records per style")
    ap.add_argument("--styles", default=",".join(STYLES), help="comma-separated names")
    ap.add_argument("--out", type=Path, default=None,
                    help="folder for each style's first page and every page under --weak-db "
                         "or refused: <style>_<i>.png and a .txt summary")
    ap.add_argument("--weak-db", type=float, default=15.0, help="see --out")
    args = ap.parse_args(argv)
    names = args.styles.split(",")
    unknown = [name for name in names if name not in STYLES]
    if unknown:
        print(f"unknown styles {unknown}; known: {list(STYLES)}", file=sys.stderr)
        return 2
    for program in sorted({STYLES[name][0] for name in names}):
        try:
            if program == "bemplt":
                _bemplt_module()
            else:
                importlib.import_module({"ecg_plot": "ecg_plot", "dicom-ecg-plot": "ecg",
                                         "kit": "matplotlib"}[program])
        except ImportError:
            print(f"{program} is not installed: pip install -e '.[bench]'", file=sys.stderr)
            return 2
    records = [p.with_suffix("") for p in sorted(Path(DEFAULT_RECORDS).glob("*.hea"))
               if split_of(p.stem) == "test"]
    if not records:
        print(f"no test records under {DEFAULT_RECORDS}", file=sys.stderr)
        return 2
    digitizer = Digitizer(DigitizeOptions(device="cpu"))
    width = max(20, *(len(name) for name in names))
    for name in names:
        program, layout, style, dpi = STYLES[name]
        scores, refused, layouts, shifts_ms = [], 0, [], []
        for i in range(args.pages):
            record = records[(5 * i + 3) % len(records)]
            signals, fs = load_record(str(record))
            signals = signals[:, :round(10 * fs)]
            image, drawn = draw(program, signals, fs, layout, style, dpi)
            result, per_lead, refusal = None, None, None
            try:
                result = digitizer.digitize(image)
            except DigitizerError as exc:
                refused += 1
                refusal = f"{exc.__class__.__name__}: {exc}"
                layouts.append(f"refused ({exc.__class__.__name__})")
                scores.append(0.0)
            if result is not None:
                per_lead = score_record(drawn_truth(drawn, program, layout),
                                        result.signals_uv, fs)
                scores.append(float(np.mean([v["score_db"] for v in per_lead.values()])))
                shifts_ms += [abs(v["shift_samples"]) / fs * 1000.0
                              for v in per_lead.values() if np.isfinite(v["r"])]
                layouts.append(result.layout)
            if args.out is not None and (i == 0 or scores[-1] < args.weak_db):
                save_page(args.out, name, i, image,
                          page_summary(name, record.name, result, per_lead, refusal))
        print(f"{name:{width}s} mean {statistics.mean(scores):5.1f} dB over {args.pages} pages "
              f"(per page {', '.join(f'{s:.1f}' for s in scores)}); refused {refused}; "
              f"layouts {', '.join(sorted(set(layouts)))}; lead shift p95 "
              f"{np.percentile(shifts_ms, 95) if shifts_ms else float('nan'):.0f} ms",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
