"""When is a file complete? When its size and mtime did not change across two looks >= N s apart.

Writers that copy a file slowly (SMB shares, scanners) keep changing its size or mtime; once
two looks `stable_s` seconds apart agree, the file is taken. The clock is injected for tests.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class FileLook:
    """One look at a file: size in bytes, mtime in ns, and when we looked (s, tracker clock)."""

    size: int
    mtime_ns: int
    seen_at: float


@dataclass
class StabilityTracker:
    """Remembers the last look at each path; `is_stable` says whether a file may be taken.

    stable_s: seconds two agreeing looks must be apart.
    clock: returns the current time in seconds (monotonic by default).
    """

    stable_s: float
    clock: Callable[[], float] = time.monotonic
    _looks: dict[Path, FileLook] = field(default_factory=dict)

    def look(self, path: Path) -> bool:
        """Look at `path` now; True when an earlier look >= stable_s ago saw the same size and
        mtime. A changed or first-seen file starts a new wait. Missing files are forgotten."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._looks.pop(path, None)
            return False
        now = self.clock()
        previous = self._looks.get(path)
        if previous is not None and (previous.size, previous.mtime_ns) == (st.st_size, st.st_mtime_ns):
            return now - previous.seen_at >= self.stable_s
        self._looks[path] = FileLook(st.st_size, st.st_mtime_ns, now)
        return False

    def forget(self, path: Path) -> None:
        """Drop what is known about `path` (after it was moved away)."""
        self._looks.pop(path, None)

    def prune(self, existing: set[Path]) -> None:
        """Forget paths that are no longer present."""
        for path in list(self._looks):
            if path not in existing:
                del self._looks[path]

    def wait_left(self, path: Path) -> float | None:
        """Seconds until `path` could be stable (0 if now), None if never looked at."""
        previous = self._looks.get(path)
        if previous is None:
            return None
        return max(0.0, self.stable_s - (self.clock() - previous.seen_at))
