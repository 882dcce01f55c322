"""HTTP endpoint for operators: `/healthz` (process alive), `/readyz` (accepting and working),
`/metrics` (Prometheus text format)."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ecgbridge.logging import get_logger
from ecgbridge.metrics import Metrics

#: Returns (ready, details): details are shown as JSON by /readyz.
ReadinessFn = Callable[[], tuple[bool, dict[str, Any]]]


class HealthServer:
    """A small threaded HTTP server; `start()` returns the bound (host, port)."""

    def __init__(self, host: str, port: int, metrics: Metrics, readiness: ReadinessFn) -> None:
        self.metrics = metrics
        self.readiness = readiness
        self.log = get_logger(__name__)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    self._reply(200, "application/json", b'{"status": "ok"}')
                elif path == "/readyz":
                    try:
                        ready, details = outer.readiness()
                    except Exception as exc:  # noqa: BLE001 - a failing check means not ready, with why
                        ready, details = False, {"error": f"{type(exc).__name__}: {exc}"}
                    body = json.dumps({"ready": ready, **details}, default=str).encode()
                    self._reply(200 if ready else 503, "application/json", body)
                elif path == "/metrics":
                    self._reply(200, CONTENT_TYPE_LATEST, generate_latest(outer.metrics.registry))
                else:
                    self._reply(404, "text/plain", b"not found\n")

            def _reply(self, code: int, content_type: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # request lines are not worth a log event each

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> tuple[str, int]:
        self._thread = threading.Thread(target=self._server.serve_forever, name="http",
                                        daemon=True)
        self._thread.start()
        self.log.info("http listening", address=self.address)
        return self.address

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
