"""Back-conversion end to end against Orthanc on loopback: images per second, and where the time
goes (C-FIND, C-GET transfer in, digitization, C-STORE of the results back).

    python bench/backfill.py [--n 12] [--dpi 100] [--workers 1] [--batch 4]

Orthanc (Debian package) is started privately with N rendered PTB-XL ECG pages as SC images;
an in-process ecgbridge Service (real digitizer, CPU) receives the jobs that the backfill makes
with C-GET, digitizes them and sends 12-lead ECG waveforms back to the same Orthanc. The
clock runs from the start of the backfill until the last result is delivered.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecgbridge.backfill.ledger import BackfillLedger
from ecgbridge.backfill.query import PacsPeer, find_candidates
from ecgbridge.backfill.retrieve import GetRetriever
from ecgbridge.backfill.runner import BackfillRunner
from ecgbridge.backfill.selection import Selection
from ecgbridge.config import load_settings
from ecgbridge.inputs.wrap import secondary_capture, to_bytes
from ecgbridge.logging import configure_logging
from ecgbridge.service import Service
from ecgbridge.sweeps.submit import StoreSink
from pipeline.signal_io import load_record
from pipeline.synth.dataset import DEFAULT_RECORDS
from pipeline.synth.render import render_page
from pipeline.synth.spec import RenderSpec
from tests.integration.orthanc import Modality, start_orthanc

PTBXL = DEFAULT_RECORDS


class TimedGet(GetRetriever):
    """GetRetriever that adds up the seconds spent in C-GET (association + transfer + spool)."""

    seconds = 0.0

    def retrieve(self, candidate):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return super().retrieve(candidate)
        finally:
            self.seconds += time.perf_counter() - start


def _hist_sum(registry, name: str) -> float:  # type: ignore[no-untyped-def]
    value = registry.get_sample_value(f"{name}_sum")
    return float(value or 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=12, help="ECG pages in the archive")
    parser.add_argument("--dpi", type=float, default=100.0, help="render resolution of pages")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--isolation", choices=("thread", "process"), default="thread",
                        help="workers as threads (default: their stage times are measured) or "
                             "processes (the service's default; wall time only)")
    args = parser.parse_args()
    records = sorted(PTBXL.glob("*.hea"))[: args.n]
    if len(records) < args.n:
        print(f"need {args.n} PTB-XL records under {PTBXL}; found {len(records)}")
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-backfill-"))
    with start_orthanc(work / "orthanc",
                       modalities={"ECGBRIDGE": Modality("ECGBRIDGE", "127.0.0.1", 11112)}) as pacs:
        render_start = time.perf_counter()
        for i, rec in enumerate(records):
            signals, fs = load_record(rec.with_suffix(""))
            page = render_page(signals, fs, RenderSpec(dpi=args.dpi), np.random.default_rng(i)).image
            ds = secondary_capture(
                page, attributes={"PatientID": f"B{i}", "StudyInstanceUID": f"1.2.826.0.1.3680043.10.1.{i}",
                                  "SeriesInstanceUID": f"1.2.826.0.1.3680043.10.1.{i}.1",
                                  "StudyDate": "20200102"},
                sop_instance_uid=f"1.2.826.0.1.3680043.10.1.{i}.1.1", page_index=0, page_count=1,
                conversion_type="WSD")
            ds.SeriesDescription = "ECG 12 lead"
            request = urllib.request.Request(pacs.http_url + "/instances", data=to_bytes(ds),
                                             method="POST")
            urllib.request.urlopen(request, timeout=60).read()
        page_shape = page.shape
        print(f"archive: {args.n} SC pages {page_shape[1]}x{page_shape[0]} px "
              f"({args.dpi:g} dpi), rendered and stored in {time.perf_counter() - render_start:.1f} s")

        config = {
            "scp": {"host": "127.0.0.1", "port": 0},
            "storage": {"state_dir": str(work / "var")},
            "http": {"enabled": False},
            "workers": {"count": args.workers, "batch_size": args.batch, "device": "cpu",
                        "poll_interval_s": 0.05, "isolation": args.isolation},
            "destinations": {"pacs": {"ae_title": pacs.aet, "host": "127.0.0.1",
                                      "port": pacs.dicom_port}},
            "review": {"min_quality": 0.0, "hold_when_layout_unknown": False},
            "logging": {"level": "WARNING", "format": "console"},
        }
        (work / "bridge.yaml").write_text(yaml.safe_dump(config))
        settings = load_settings(work / "bridge.yaml", environ={})
        configure_logging(settings.logging)
        service = Service(settings)
        service.start()
        try:
            peer = PacsPeer(pacs.aet, "127.0.0.1", pacs.dicom_port, "ECGBRIDGE")
            t0 = time.perf_counter()
            candidates = list(find_candidates(peer, dt.date(2020, 1, 1), dt.date(2020, 12, 31)))
            t_find = time.perf_counter() - t0
            retriever = TimedGet(peer, StoreSink(service.store, service.spool), destination="pacs")
            ledger = BackfillLedger(work / "var" / "backfill.sqlite3")
            summary = BackfillRunner("pacs", Selection(), ledger, retriever).run(candidates)
            service.work_ready.set()
            t_queued = time.perf_counter() - t0
            while True:
                counts = service.store.counts()
                finished = sum(counts.get(s, 0) for s in ("delivered", "held", "failed", "dead"))
                if finished >= summary.queued:
                    break
                time.sleep(0.05)
            wall = time.perf_counter() - t0
        finally:
            service.stop(drain_s=10)
        registry = service.metrics.registry
        digitize = _hist_sum(registry, "ecgbridge_digitize_seconds")
        send = _hist_sum(registry, "ecgbridge_send_seconds")
        delivered = service.store.counts().get("delivered", 0)
        total = t_find + retriever.seconds + digitize + send
        print(f"backfill: {summary.found} found, {summary.queued} queued, {delivered} delivered")
        print(f"end to end: {wall:.1f} s for {summary.queued} images = "
              f"{summary.queued / wall:.3f} images/s (all queued after {t_queued:.1f} s)")
        if args.isolation == "process":
            print(f"stages: C-FIND {t_find:.2f} s, C-GET {retriever.seconds:.2f} s, C-STORE "
                  f"{send:.2f} s; digitization runs in worker processes (use --isolation thread)")
            return 0
        print("time by stage (s, share of their sum):")
        for name, seconds in (("C-FIND", t_find), ("C-GET in + spool", retriever.seconds),
                              ("digitize (worker: decode, digitize, build)", digitize),
                              ("C-STORE results out", send)):
            print(f"  {name:44} {seconds:8.2f}  {seconds / total:6.1%}")
        print(f"  DICOM transfer (find+get+store) vs digitization: "
              f"{(t_find + retriever.seconds + send) / total:.1%} vs {digitize / total:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
