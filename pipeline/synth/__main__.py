"""Command line: `python -m pipeline.synth make --preset scan --n 1000 --out DIR`."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from pipeline.synth.dataset import DEFAULT_RECORDS, MakeJob, make_dataset
from pipeline.synth.layouts import LAYOUTS
from pipeline.synth.spec import PRESETS
from pipeline.synth.splits import SPLITS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.synth")
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make", help="render a dataset of ECG pages with truth files")
    make.add_argument("--preset", choices=PRESETS, default="mixed")
    make.add_argument("--n", type=int, required=True, help="number of pages")
    make.add_argument("--out", type=Path, required=True)
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--split", choices=SPLITS, default="train")
    make.add_argument("--records", type=Path, default=DEFAULT_RECORDS,
                      help="folder of WFDB records (PTB-XL)")
    make.add_argument("--dpi", type=float, help="fix the resolution (px per inch)")
    make.add_argument("--layout", choices=sorted(LAYOUTS), help="fix the layout")
    make.add_argument("--trace-width-mm", type=float, help="fix the trace width")
    make.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.n < 1:
        parser.error(f"--n must be >= 1; found {args.n}")
    overrides = {k: v for k, v in (("dpi", args.dpi), ("layout", args.layout),
                                   ("trace_width_mm", args.trace_width_mm)) if v is not None}
    job = MakeJob(out=args.out, n=args.n, preset=args.preset, seed=args.seed, split=args.split,
                  records=args.records, overrides=tuple(sorted(overrides.items())))
    start = time.perf_counter()
    stems = make_dataset(job, workers=max(1, args.workers))
    elapsed = time.perf_counter() - start
    print(f"wrote {len(stems)} pages to {args.out / args.split} in {elapsed:.1f} s "
          f"({elapsed / len(stems):.3f} s/page)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
