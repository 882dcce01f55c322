"""A real Orthanc PACS started by the tests, plus paths to dcmtk and dicom3tools binaries.

`start_orthanc(workdir)` runs `/usr/sbin/Orthanc cfg.json` as a child process with its own
temporary configuration (free loopback ports picked at runtime, storage under `workdir`, no
plugins, no remote access, no authentication), waits until its REST API answers (polling with
a deadline, no fixed sleeps) and stops it afterwards. The yielded `OrthancServer` knows its
DICOM port, HTTP URL and AE title, and wraps the few REST calls tests need.

dcmtk's real tools live in /usr/bin; pynetdicom installs same-named Python scripts earlier on
PATH, so tests always use `dcmtk_tool(name)` (an absolute /usr/bin path), never a bare name.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import FileDataset

ORTHANC_BINARY = Path("/usr/sbin/Orthanc")
DCIODVFY_BINARY = Path("/usr/bin/dciodvfy")
DCMTK_DIR = Path("/usr/bin")
#: Seconds allowed for Orthanc to answer its REST API after start.
START_DEADLINE_S = 30.0


def dcmtk_tool(name: str) -> Path:
    """Absolute path of a dcmtk tool (e.g. "storescu", "img2dcm", "dcmcjpeg").

    Raises FileNotFoundError when it is not installed (Debian package `dcmtk`).
    """
    path = DCMTK_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"dcmtk tool {path} not found; install the Debian package dcmtk")
    return path


def dciodvfy_tool() -> Path:
    """Absolute path of dicom3tools' `dciodvfy`; FileNotFoundError when not installed."""
    if not DCIODVFY_BINARY.is_file():
        raise FileNotFoundError(
            f"{DCIODVFY_BINARY} not found; install the Debian package dicom3tools"
        )
    return DCIODVFY_BINARY


def dciodvfy_errors(path: Path) -> list[str]:
    """Run dciodvfy on a DICOM file and return its "Error" lines (empty when it is valid).

    dciodvfy writes its findings to stderr as lines starting with "Error -" or "Warning -".
    """
    proc = subprocess.run(
        [str(dciodvfy_tool()), str(path)],
        check=False, capture_output=True, text=True, timeout=60,
    )
    lines = (proc.stdout + proc.stderr).splitlines()
    return [line for line in lines if line.startswith("Error")]


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Modality:
    """A DICOM peer Orthanc knows (its `DicomModalities` entry): AE title, host, port."""

    aet: str
    host: str = "127.0.0.1"
    port: int = 104


@dataclass
class OrthancServer:
    """A running Orthanc: `.aet`, `.dicom_port`, `.http_url` and REST helpers."""

    process: subprocess.Popen[bytes]
    workdir: Path
    http_port: int
    dicom_port: int
    aet: str = "ORTHANC"
    host: str = "127.0.0.1"
    log_path: Path = field(default=Path("orthanc.log"))

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    # -- REST -------------------------------------------------------------------------------
    def rest(self, method: str, path: str, body: Any = None, timeout_s: float = 10.0) -> bytes:
        """Call Orthanc's REST API and return the raw body; raises urllib errors on failure."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.http_url + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return bytes(response.read())

    def get_json(self, path: str) -> Any:
        return json.loads(self.rest("GET", path))

    def instances(self) -> list[str]:
        """Orthanc's ids of every stored instance."""
        return list(self.get_json("/instances"))

    def instance_tags(self, instance_id: str) -> dict[str, Any]:
        """The instance's main tags by keyword (Orthanc's "simplified-tags")."""
        return dict(self.get_json(f"/instances/{instance_id}/simplified-tags"))

    def instance_file(self, instance_id: str) -> bytes:
        """The stored DICOM file, byte for byte."""
        return self.rest("GET", f"/instances/{instance_id}/file")

    def instance_dataset(self, instance_id: str) -> FileDataset:
        """The stored DICOM file read with pydicom."""
        return pydicom.dcmread(io.BytesIO(self.instance_file(instance_id)))

    def datasets(self) -> list[FileDataset]:
        """Every stored instance, read with pydicom."""
        return [self.instance_dataset(i) for i in self.instances()]

    def find_instances(self, **tags: str) -> list[str]:
        """Ids of instances whose tags match exactly (e.g. SOPInstanceUID="1.2.3")."""
        found = self.rest(
            "POST", "/tools/find", {"Level": "Instance", "Query": tags, "Expand": False}
        )
        return list(json.loads(found))

    def clear(self) -> None:
        """Delete every stored patient (and so every study, series and instance)."""
        for patient in self.get_json("/patients"):
            self.rest("DELETE", f"/patients/{patient}")

    def register_modality(self, name: str, modality: Modality) -> None:
        """Add or replace a DICOM peer at runtime (PUT /modalities/{name})."""
        self.rest(
            "PUT",
            f"/modalities/{name}",
            {"AET": modality.aet, "Host": modality.host, "Port": modality.port},
        )

    def wait_for_instances(self, count: int, *, deadline_s: float = 20.0) -> list[str]:
        """Poll until at least `count` instances are stored; TimeoutError with what was seen."""
        end = time.monotonic() + deadline_s
        found: list[str] = []
        while time.monotonic() < end:
            found = self.instances()
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise TimeoutError(
            f"expected >= {count} instances in Orthanc within {deadline_s} s; found {len(found)}"
        )

    def log_tail(self, n_chars: int = 4000) -> str:
        """The end of Orthanc's log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError as error:
            return f"(no log: {error})"


def orthanc_config(
    workdir: Path,
    http_port: int,
    dicom_port: int,
    *,
    aet: str = "ORTHANC",
    modalities: Mapping[str, Modality] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Orthanc's configuration for a private, quick-starting test instance; `extra` keys
    (e.g. "DicomTlsEnabled") are added or override."""
    config: dict[str, Any] = {
        "Name": "ecgbridge-test",
        "StorageDirectory": str(workdir / "storage"),
        "IndexDirectory": str(workdir / "storage"),
        "StorageCompression": False,
        "Plugins": [],
        "ConcurrentJobs": 1,
        "SaveJobs": False,
        "HttpServerEnabled": True,
        "HttpPort": http_port,
        "HttpDescribeErrors": True,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomServerEnabled": True,
        "DicomAet": aet,
        "DicomPort": dicom_port,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomCheckModalityHost": False,
        "UnknownSopClassAccepted": False,
        "DicomScpTimeout": 30,
        "StableAge": 1,
        "LoadPrivateDictionary": False,
        "DicomModalities": {
            name: [m.aet, m.host, m.port] for name, m in (modalities or {}).items()
        },
    }
    config.update(extra or {})
    return config


def _wait_until_ready(server: OrthancServer, deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    last_error: Exception | None = None
    while time.monotonic() < end:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"Orthanc exited with code {server.process.returncode} while starting; "
                f"log:\n{server.log_tail()}"
            )
        try:
            system = server.get_json("/system")
            if system.get("DicomPort") == server.dicom_port:  # ours, not another server
                return
            raise RuntimeError(
                f"port {server.http_port} is answered by another server: {system}"
            )
        except (urllib.error.URLError, ConnectionError, OSError) as error:
            last_error = error
            time.sleep(0.05)
    raise TimeoutError(
        f"Orthanc's REST API did not answer within {deadline_s} s (last error: {last_error}); "
        f"log:\n{server.log_tail()}"
    )


@contextlib.contextmanager
def start_orthanc(
    workdir: Path,
    *,
    aet: str = "ORTHANC",
    modalities: Mapping[str, Modality] | None = None,
    extra_config: Mapping[str, Any] | None = None,
    attempts: int = 3,
) -> Iterator[OrthancServer]:
    """Run a private Orthanc under `workdir` and stop it (SIGTERM, then SIGKILL) on exit.

    `extra_config` adds or overrides Orthanc configuration keys (e.g. DICOM TLS).
    Ports are picked free at runtime; if Orthanc fails to bind one (another process took it
    in between), it is retried with new ports up to `attempts` times.
    Raises FileNotFoundError when /usr/sbin/Orthanc is absent.
    """
    if not ORTHANC_BINARY.is_file():
        raise FileNotFoundError(f"{ORTHANC_BINARY} not found; install the Debian package orthanc")
    workdir.mkdir(parents=True, exist_ok=True)
    server: OrthancServer | None = None
    for attempt in range(1, attempts + 1):
        http_port, dicom_port = free_tcp_port(), free_tcp_port()
        while dicom_port == http_port:
            dicom_port = free_tcp_port()
        config_path = workdir / "orthanc.json"
        config_path.write_text(
            json.dumps(
                orthanc_config(
                    workdir, http_port, dicom_port, aet=aet, modalities=modalities,
                    extra=extra_config,
                ),
                indent=2,
            )
        )
        log_path = workdir / f"orthanc-{attempt}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [str(ORTHANC_BINARY), str(config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env={**os.environ, "LANG": "C"},
            )
        server = OrthancServer(
            process, workdir, http_port, dicom_port, aet=aet, log_path=log_path
        )
        try:
            _wait_until_ready(server, START_DEADLINE_S)
            break
        except RuntimeError:
            _stop(process)
            if attempt == attempts:
                raise
        except BaseException:
            _stop(process)
            raise
    if server is None:
        raise ValueError(f"attempts must be >= 1; found {attempts}")
    try:
        yield server
    finally:
        _stop(server.process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
