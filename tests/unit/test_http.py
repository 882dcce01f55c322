"""Health endpoint: /healthz, /readyz (200 or 503 with details), /metrics, 404."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from ecgbridge.http import HealthServer
from ecgbridge.metrics import Metrics


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.parametrize("ready", [True, False])
def test_endpoints(ready: bool) -> None:
    counts = {"received": 3, "built": 1}
    metrics = Metrics(lambda: counts, lambda: {("failed", "corrupt_object"): 2})
    metrics.received.labels(calling_ae="MOD1").inc()

    def readiness() -> tuple[bool, dict[str, Any]]:
        return ready, {"threads": {"outbox": ready}}

    server = HealthServer("127.0.0.1", 0, metrics, readiness)
    port = server.start()[1]
    try:
        assert _get(port, "/healthz") == (200, '{"status": "ok"}')
        code, body = _get(port, "/readyz")
        assert code == (200 if ready else 503)
        assert json.loads(body) == {"ready": ready, "threads": {"outbox": ready}}
        code, text = _get(port, "/metrics")
        assert code == 200
        assert 'ecgbridge_received_total{calling_ae="MOD1"} 1.0' in text
        assert 'ecgbridge_queue_depth{queue="digitize"} 3.0' in text
        assert 'ecgbridge_jobs_by_reason{reason="corrupt_object",state="failed"} 2.0' in text
        assert _get(port, "/nope")[0] == 404
    finally:
        server.stop()
