"""C-STORE ingest benchmark: ecgbridge's SCP against dcmtk's storescp, in the same run.

For each target (storescp first, then `ecgbridge serve` as a subprocess, digitizing behind):
  1. rate: dcmtk `storescu` sends N SC files over one association; rate = N / wall time.
  2. ack latency: a pynetdicom SCU sends N other SC files one by one and times each C-STORE
     from request to response (p50, p99, ms). While this runs, the bridge's workers are still
     digitizing the images of step 1 (reported: jobs still waiting at the end).
Images: clean 3x4+1 pages rendered from PTB-XL at --dpi, wrapped as uncompressed RGB SC
objects, each with its own SOP Instance UID.

Usage: python bench/ingest.py [--n 200] [--dpi 100] [--workdir DIR]
Prints a table and one JSON line of figures. Targets: bridge rate >= 0.5x storescp's,
bridge ack p99 <= 100 ms.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, evt
from pynetdicom import _config as pynetdicom_config
from pynetdicom.sop_class import SecondaryCaptureImageStorage  # type: ignore[attr-defined]

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecgbridge.dicom.association import set_no_delay
from pipeline.synth.dataset import DEFAULT_RECORDS
from tests.integration.bridge import bridge_config, running_bridge
from tests.integration.sc_images import make_sc

STORESCP = "/usr/bin/storescp"
STORESCU = "/usr/bin/storescu"
PTBXL = DEFAULT_RECORDS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pages(count: int, dpi: float) -> list[np.ndarray]:
    """`count` rendered ECG pages (H, W, 3) uint8; random noise pages when PTB-XL is absent."""
    records = sorted(PTBXL.glob("*.hea"))
    if not records:
        rng = np.random.default_rng(0)
        return [rng.integers(0, 255, (827, 1169, 3), dtype=np.uint8) for _ in range(count)]
    from pipeline.signal_io import load_record
    from pipeline.synth.render import render_page
    from pipeline.synth.spec import RenderSpec

    out = []
    for i in range(count):
        signals, fs = load_record(records[i].with_suffix(""))
        out.append(render_page(signals, fs, RenderSpec(dpi=dpi), np.random.default_rng(i)).image)
    return out


def write_files(folder: Path, images: list[np.ndarray], n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        ds = make_sc(images[i % len(images)], sop_instance_uid=generate_uid())
        path = folder / f"sc{i:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files


def storescu_rate(port: int, aec: str, files: list[Path]) -> float:
    """Images per second sent by dcmtk storescu over one association."""
    started = time.perf_counter()
    subprocess.run([STORESCU, "-aet", "BENCH", "-aec", aec, "127.0.0.1", str(port),
                    *map(str, files)], check=True, capture_output=True, timeout=1800)
    return len(files) / (time.perf_counter() - started)


def ack_latencies(port: int, aec: str, files: list[Path]) -> np.ndarray:
    """Seconds from C-STORE request to response for each file (one association)."""
    pynetdicom_config.STORE_SEND_CHUNKED_DATASET = True  # send file bytes as they are
    ae = AE("BENCH")
    ae.add_requested_context(SecondaryCaptureImageStorage, ExplicitVRLittleEndian)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 120
    # the same client for both targets, with Nagle off as dcmtk does
    assoc = ae.associate("127.0.0.1", port, ae_title=aec,
                         evt_handlers=[(evt.EVT_CONN_OPEN, set_no_delay)])
    if not assoc.is_established:
        raise RuntimeError(f"association with {aec} at port {port} failed")
    out = []
    try:
        for path in files:
            started = time.perf_counter()
            status = assoc.send_c_store(path)
            out.append(time.perf_counter() - started)
            if status.Status != 0:
                raise RuntimeError(f"{path.name}: status 0x{status.Status:04X}")
    finally:
        assoc.release()
    return np.asarray(out)


def server_side_ms(log_path: Path, key: str = "ack_ms") -> np.ndarray:
    """The bridge's own times per accepted object, ms, from its "object received" log events:
    ack_ms (whole handler), spool_ms (file write + fsyncs), db_ms (job row commit)."""
    values = []
    for line in log_path.read_text(errors="replace").splitlines():
        if '"object received"' in line:
            try:
                values.append(float(json.loads(line)[key]))
            except (ValueError, KeyError):
                continue
    return np.asarray(values)


def summary(name: str, rate: float, lat: np.ndarray) -> dict[str, Any]:
    return {"target": name, "rate_img_s": round(rate, 2),
            "ack_p50_ms": round(float(np.percentile(lat, 50)) * 1e3, 1),
            "ack_p99_ms": round(float(np.percentile(lat, 99)) * 1e3, 1),
            "ack_max_ms": round(float(lat.max()) * 1e3, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="images per phase (default 200)")
    parser.add_argument("--dpi", type=float, default=100.0)
    parser.add_argument("--distinct-pages", type=int, default=4)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="ecgbridge-bench-"))
    images = pages(args.distinct_pages, args.dpi)
    size_mb = images[0].nbytes / 2**20
    sets = {name: write_files(work / "src" / name, images, args.n)
            for name in ("scp_rate", "scp_lat", "bridge_rate", "bridge_lat")}
    print(f"{args.n} SC images per phase, {images[0].shape[1]}x{images[0].shape[0]} RGB "
          f"({size_mb:.1f} MiB each), cpus={os.cpu_count()}, "
          f"load={os.getloadavg()[0]:.1f}", flush=True)

    results = []
    port = free_port()
    out_dir = work / "storescp"
    out_dir.mkdir(parents=True, exist_ok=True)
    scp = subprocess.Popen([STORESCP, "-aet", "STORESCP", "-od", str(out_dir), str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        rate = storescu_rate(port, "STORESCP", sets["scp_rate"])
        lat = ack_latencies(port, "STORESCP", sets["scp_lat"])
        results.append(summary("dcmtk storescp", rate, lat))
    finally:
        scp.terminate()
        scp.wait(timeout=30)

    config = bridge_config(work / "bridge" / "var")
    config["logging"] = {"format": "json", "level": "INFO"}
    with running_bridge(work / "bridge", config) as bridge:
        rate = storescu_rate(bridge.scp_port, bridge.ae_title, sets["bridge_rate"])
        lat = ack_latencies(bridge.scp_port, bridge.ae_title, sets["bridge_lat"])
        jobs = bridge.jobs()
        waiting = sum(j.state in ("received", "digitizing") for j in jobs)
        done = sum(j.state not in ("received", "digitizing") for j in jobs)
        row = summary("ecgbridge serve", rate, lat)
        for key, name in (("ack_ms", "handler"), ("spool_ms", "spool"), ("db_ms", "db")):
            values = server_side_ms(bridge.log_path, key)
            if values.size:
                row.update({f"{name}_p50_ms": round(float(np.percentile(values, 50)), 1),
                            f"{name}_p99_ms": round(float(np.percentile(values, 99)), 1)})
        row.update({"jobs": len(jobs), "digitized_during_run": done,
                    "still_waiting_at_end": waiting})
        results.append(row)
        bridge.terminate()

    print(f"{'target':18} {'img/s':>8} {'ack p50 ms':>11} {'ack p99 ms':>11} {'max ms':>8}")
    for r in results:
        print(f"{r['target']:18} {r['rate_img_s']:>8} {r['ack_p50_ms']:>11} "
              f"{r['ack_p99_ms']:>11} {r['ack_max_ms']:>8}")
    ratio = results[1]["rate_img_s"] / results[0]["rate_img_s"]
    if "handler_p50_ms" in results[1]:
        r = results[1]
        print(f"bridge handler time: p50 {r['handler_p50_ms']} ms, p99 {r['handler_p99_ms']} ms"
              f" (spool file+fsync p50/p99 {r.get('spool_p50_ms')}/{r.get('spool_p99_ms')} ms,"
              f" job row commit {r.get('db_p50_ms')}/{r.get('db_p99_ms')} ms)")
    print(f"bridge/storescp rate: {ratio:.2f}x (target >= 0.5); bridge ack p99 "
          f"{results[1]['ack_p99_ms']} ms (target <= 100); digitized while receiving: "
          f"{results[1]['digitized_during_run']} of {results[1]['jobs']}")
    print(json.dumps({"n": args.n, "dpi": args.dpi, "results": results,
                      "rate_ratio": round(ratio, 3)}))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
