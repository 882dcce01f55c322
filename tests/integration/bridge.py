"""Run `ecgbridge serve` as a real subprocess with a temp config; wait on it with deadlines.

Ports are 0 in the config (picked by the OS); the service writes the bound ones to
`<state_dir>/service.json`, which `start_bridge` polls for.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ecgbridge.jobs.store import Job, JobStore

START_DEADLINE_S = 90.0


@dataclass
class Bridge:
    """A running `ecgbridge serve`: its process, state folder and bound ports."""

    process: subprocess.Popen[bytes]
    state_dir: Path
    config_path: Path
    log_path: Path
    scp_port: int
    http_port: int
    ae_title: str = "ECGBRIDGE"

    def jobs(self) -> list[Job]:
        store = JobStore(self.state_dir / "jobs.sqlite3")
        try:
            return store.list(limit=10_000)
        finally:
            store.close()

    def wait_jobs(self, predicate: Callable[[list[Job]], bool], *, deadline_s: float = 60.0,
                  what: str = "jobs to settle") -> list[Job]:
        """Poll the job store until `predicate(jobs)`; TimeoutError with the states seen."""
        end = time.monotonic() + deadline_s
        jobs: list[Job] = []
        while time.monotonic() < end:
            jobs = self.jobs()
            if predicate(jobs):
                return jobs
            if self.process.poll() is not None:
                raise RuntimeError(f"bridge exited with {self.process.returncode}:\n{self.log_tail()}")
            time.sleep(0.1)
        seen = [(j.state, j.reason) for j in jobs]
        raise TimeoutError(f"waited {deadline_s} s for {what}; jobs: {seen}\n{self.log_tail()}")

    def log_tail(self, n_chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError as error:
            return f"(no log: {error})"

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def terminate(self, deadline_s: float = 60.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=deadline_s)


#: Review settings that send every result: these tests check delivery, not the review hold.
SEND_ALL_REVIEW: dict[str, Any] = {"min_quality": 0.0, "hold_when_layout_unknown": False}


def pacs_destination(ae_title: str, port: int) -> dict[str, Any]:
    """`destinations` with one entry "pacs": the test's Orthanc on loopback."""
    return {"pacs": {"ae_title": ae_title, "host": "127.0.0.1", "port": port}}


def bridge_config(state_dir: Path, **sections: Any) -> dict[str, Any]:
    """A config for tests: loopback, ports 0, JSON logs, fast polling; `sections` override."""
    config: dict[str, Any] = {
        "scp": {"host": "127.0.0.1", "port": 0},
        "storage": {"state_dir": str(state_dir)},
        "http": {"host": "127.0.0.1", "port": 0},
        # nice 0: on a shared CI box, a niced worker would wait behind everything else
        "workers": {"poll_interval_s": 0.1, "batch_size": 4, "device": "cpu", "nice": 0},
        "retry": {"base_delay_s": 0.2, "max_delay_s": 1.0, "max_attempts": 50},
        "logging": {"format": "json", "level": "INFO"},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def start_bridge(workdir: Path, config: Mapping[str, Any], *, name: str = "bridge") -> Bridge:
    """Start `python -m ecgbridge serve --config <workdir>/<name>.yaml` and wait until it listens."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / f"{name}.yaml"
    config_path.write_text(yaml.safe_dump(dict(config)))
    state_dir = Path(config["storage"]["state_dir"])
    info_path = state_dir / "service.json"
    info_path.unlink(missing_ok=True)
    log_path = workdir / f"{name}-{int(time.time() * 1000)}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECGBRIDGE__")}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ecgbridge", "serve", "--config", str(config_path),
             "--drain-s", "10"],
            stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env=env,
        )
    end = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"ecgbridge serve exited with {process.returncode}:\n"
                               + log_path.read_text(errors="replace")[-4000:])
        try:
            info = json.loads(info_path.read_text())
        except (OSError, ValueError):
            time.sleep(0.1)
            continue
        if info.get("pid") == process.pid:
            return Bridge(process, state_dir, config_path, log_path, int(info["scp_port"]),
                          int(info.get("http_port", 0)), str(info.get("ae_title", "ECGBRIDGE")))
        time.sleep(0.1)
    process.kill()
    raise TimeoutError(f"ecgbridge serve did not listen within {START_DEADLINE_S} s:\n"
                       + log_path.read_text(errors="replace")[-4000:])


@contextmanager
def running_bridge(workdir: Path, config: Mapping[str, Any], *, name: str = "bridge") -> Iterator[Bridge]:
    bridge = start_bridge(workdir, config, name=name)
    try:
        yield bridge
    finally:
        if bridge.process.poll() is None:
            bridge.process.kill()
            bridge.process.wait(timeout=30)


class TcpGate:
    """A port that refuses connections while down (bound, not listening) and forwards them to
    `target` while up: a destination that goes away and comes back."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self._closed = threading.Event()
        self.connections = 0

    def up(self) -> None:
        self._sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        self._sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(self.target, timeout=30)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass  # the other side closed: the association is over
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed by the other pipe
