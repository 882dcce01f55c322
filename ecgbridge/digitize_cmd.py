"""`ecgbridge digitize INPUT... --out DIR`: digitize ECG pictures to WFDB records.

For each input (PNG, JPEG, TIFF, BMP, or DICOM whose pixels are an ECG picture; folders
are walked) it writes `<stem>.hea` + `<stem>.dat` (12 leads, uV), `<stem>.json` (layout,
scales, quality, timings, assumptions) and `<stem>.png` (QA picture) into DIR; multi-frame
inputs get `<stem>_<frame>` names. Exit status 0 only when every input was digitized; each
failure prints one line `FAILED <file>: <reason>: <message>` and leaves no output behind.
"""
from __future__ import annotations

import argparse
import logging
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ecgbridge.errors import EcgBridgeError
from ecgbridge.output.sidecar import write_sidecar
from ecgbridge.output.wfdb_record import write_wfdb_record
from pipeline.digitizer import Digitizer
from pipeline.errors import DigitizerError
from pipeline.io import load_image
from pipeline.layout import TEMPLATES
from pipeline.qa import render_qa
from pipeline.types import DigitizationResult, DigitizeOptions

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})
DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ""})


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `digitize` on an argparse sub-command set."""
    p = subparsers.add_parser("digitize", help="digitize ECG images to WFDB records",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    configure_parser(p)
    p.set_defaults(func=run)


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Add the command's arguments to `p`."""
    p.add_argument("inputs", nargs="+", metavar="INPUT", type=Path,
                   help="image or DICOM files, or folders of them")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--fs", type=float, default=500.0, help="output sampling rate, Hz")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--batch", type=int, default=4, help="pages per segmentation batch")
    p.add_argument("--workers", type=int, default=1,
                   help="processes that read segmented pages side by side (worth raising "
                        "with a GPU, up to the number of CPU cores)")
    p.add_argument("--layout", default="auto", choices=("auto", *TEMPLATES),
                   help="force a layout template instead of detecting it")
    p.add_argument("--segmenter", default="auto", choices=("auto", "classic"),
                   help="auto: the shipped network (colour rule when no weights are shipped); "
                        "classic: the colour rule only")


#: Suffixes of files that sit beside ECG pictures in folders (notes, metadata, our own
#: WFDB output) and are skipped when a folder is walked; a file named on the command line is
#: always tried. DICOM files often have no suffix at all, so nothing else is skipped.
SIDECAR_SUFFIXES = frozenset({".txt", ".tsv", ".csv", ".json", ".md", ".xml", ".html", ".htm",
                              ".yaml", ".yml", ".ini", ".log", ".hea", ".dat"})


def iter_inputs(paths: Sequence[Path]) -> Iterator[Path]:
    """The files named, folders walked (sorted; hidden files and SIDECAR_SUFFIXES skipped)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if (child.is_file() and not child.name.startswith(".")
                        and child.suffix.lower() not in SIDECAR_SUFFIXES):
                    yield child
        else:
            yield path


def _is_dicom(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(132)
    return len(head) == 132 and head[128:132] == b"DICM"


def load_pages(path: Path) -> list[np.ndarray]:
    """Pages of one input: (H, W, 3) uint8 RGB each. Raises DigitizerError/EcgBridgeError."""
    if not path.is_file():
        raise DigitizerError(f"{path}: no such file")
    if _is_dicom(path):
        import pydicom
        from pydicom.errors import InvalidDicomError

        from ecgbridge.dicom.pixels import frames_from_dataset
        try:
            ds = pydicom.dcmread(path)
        except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
            raise DigitizerError(f"{path}: unreadable DICOM ({exc})") from exc
        return frames_from_dataset(ds)
    return [load_image(path)]


def record_name(stem: str) -> str:
    """A WFDB-safe record name from a file stem: letters, digits, _ . - (others become _)."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)
    return name if name and name[0] not in ".-" else f"_{name}"


def _record_names(stem: str, n: int) -> list[str]:
    base = record_name(stem)
    return [base] if n == 1 else [f"{base}_{k + 1}" for k in range(n)]


def write_outputs(result: DigitizationResult, page: np.ndarray, out: Path, name: str,
                  extra: dict[str, object]) -> list[Path]:
    """Write `<name>.hea/.dat/.json/.png` into `out`, all or nothing. Returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out))
    try:
        files = write_wfdb_record(result, staging, name,
                                  comments=[f"digitized by {extra['digitizer_version']}"])
        files.append(write_sidecar(result, staging / f"{name}.json", extra=extra))
        qa = render_qa(page, result)
        qa_path = staging / f"{name}.png"
        if not cv2.imwrite(str(qa_path), cv2.cvtColor(qa, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {qa_path}")
        files.append(qa_path)
        final = []
        for f in files:
            target = out / f.name
            f.replace(target)
            final.append(target)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@dataclass
class _Tally:
    done: int = 0
    failed: int = 0

    def fail(self, path: Path, reason: str, message: object) -> None:
        self.failed += 1
        print(f"FAILED {path}: {reason}: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Digitize every input; 0 when all succeeded, 1 otherwise.

    Pages of several inputs share a network batch (`--batch`) and the page-reading worker
    processes (`--workers`); outputs and messages stay per input.
    """
    if args.batch < 1 or args.fs <= 0 or args.workers < 1:
        print(f"ecgbridge digitize: --batch and --workers must be >= 1 and --fs > 0; found "
              f"{args.batch}, {args.workers}, {args.fs}", file=sys.stderr)
        return 2
    options = DigitizeOptions(fs_hz=args.fs, device=args.device, batch_size=args.batch,
                              layout=args.layout, workers=args.workers)
    group_pages = max(args.batch, 2 * args.workers)
    tally = _Tally()
    with Digitizer(options, segmenter="classic" if args.segmenter == "classic" else None
                   ) as digitizer:
        group: list[tuple[Path, list[np.ndarray]]] = []
        for path in iter_inputs(args.inputs):
            try:
                group.append((path, load_pages(path)))
            except (DigitizerError, EcgBridgeError) as exc:
                tally.fail(path, getattr(exc, "reason", "error"), exc)
                continue
            except (OSError, ValueError) as exc:
                tally.fail(path, "input_error", exc)
                continue
            if sum(len(pages) for _, pages in group) >= group_pages:
                _digitize_group(digitizer, group, args.out, tally)
                group = []
        _digitize_group(digitizer, group, args.out, tally)
    if tally.done + tally.failed == 0:
        print("ecgbridge digitize: no input files found", file=sys.stderr)
        return 1
    return 0 if tally.failed == 0 else 1


def _digitize_group(digitizer: Digitizer, group: list[tuple[Path, list[np.ndarray]]],
                    out: Path, tally: _Tally) -> None:
    """Digitize the pages of several inputs in one batch, then write each input's outputs
    (all its frames or none)."""
    if not group:
        return
    results = digitizer.digitize_batch([page for _, pages in group for page in pages])
    first = 0
    for path, pages in group:
        mine = results[first:first + len(pages)]
        first += len(pages)
        try:
            for res in mine:
                if isinstance(res, DigitizerError):
                    raise res
            names = _record_names(path.stem, len(pages))
            written: list[Path] = []
            try:
                for k, (page, res) in enumerate(zip(pages, mine)):
                    if not isinstance(res, DigitizationResult):
                        raise DigitizerError(f"unexpected result {res!r}")
                    written += write_outputs(res, page, out, names[k], {
                        "source_file": str(path), "frame": k + 1,
                        "digitizer_version": digitizer.version})
            except BaseException:
                for f in written:  # all frames or none
                    f.unlink(missing_ok=True)
                raise
            tally.done += 1
            print(f"ok {path} -> {', '.join(names)}")
        except (DigitizerError, EcgBridgeError) as exc:
            tally.fail(path, getattr(exc, "reason", "error"), exc)
        except (OSError, ValueError) as exc:
            tally.fail(path, "output_error", exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for `python -m ecgbridge.digitize_cmd`."""
    parser = argparse.ArgumentParser(prog="ecgbridge digitize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    configure_parser(parser)
    logging.basicConfig(level=logging.WARNING)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
