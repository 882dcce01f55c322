"""A digitization worker process never outlives the service that started it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="PR_SET_PDEATHSIG is Linux's")

_PROBE = """
import sys
from ecgbridge.jobs.process import _die_with_parent
_die_with_parent(int(sys.argv[1]))
print("alive")
"""


def _run(parent_pid: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _PROBE, parent_pid], capture_output=True,
                          text=True, timeout=60, check=False)


def test_a_worker_whose_parent_already_died_exits_at_once() -> None:
    """The service killed while the worker was still importing: the worker's parent is
    not the service any more (init adopted it), so no death signal would ever come."""
    done = _run(str(os.getpid() + 1))  # any pid but the probe's parent (this process)
    assert done.returncode == 0
    assert "alive" not in done.stdout


def test_a_worker_whose_parent_lives_goes_on() -> None:
    done = _run(str(os.getpid()))  # this test process is the probe's parent
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "alive"
