"""Pacing of a long back-conversion: a token bucket (N objects per second) and a daily window.

Both take an injected clock and sleep, so tests run instantly. Times of day are local wall
clock (the hospital's night), durations are seconds (s).
"""
from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

_WINDOW_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class TokenBucket:
    """At most `rate_per_s` acquisitions per second on average, bursts of `burst`.

    clock: monotonic seconds; sleep: blocks for the given seconds.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate must be > 0 per second; found {rate_per_s}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1; found {burst}")
        self.rate = rate_per_s
        self.burst = burst
        self.clock = clock
        self.sleep = sleep
        self._tokens = burst
        self._last = clock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is available; returns the seconds slept."""
        self._refill()
        waited = 0.0
        if self._tokens < 1.0:
            waited = (1.0 - self._tokens) / self.rate
            self.sleep(waited)
            self._refill()
            self._tokens = max(self._tokens, 1.0)  # the sleep paid for exactly one token
        self._tokens -= 1.0
        return waited

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now


@dataclass(frozen=True)
class TimeWindow:
    """A daily window [start, end) of local time; may cross midnight (19:00-06:00)."""

    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        """Parse "HH:MM-HH:MM"; ValueError naming what was found otherwise."""
        match = _WINDOW_RE.match(text)
        if not match:
            raise ValueError(f"time window must look like 19:00-06:00; found {text!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(f"time window has an invalid time of day; found {text!r}")
        if (h1, m1) == (h2, m2):
            raise ValueError(f"time window start and end are equal; found {text!r}")
        return cls(dt.time(h1, m1), dt.time(h2, m2))

    def is_open(self, now: dt.datetime) -> bool:
        t = now.time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def seconds_until_open(self, now: dt.datetime) -> float:
        """0 when open, else seconds until the next start."""
        if self.is_open(now):
            return 0.0
        start = now.replace(hour=self.start.hour, minute=self.start.minute, second=0,
                            microsecond=0)
        if start <= now:
            start += dt.timedelta(days=1)
        return (start - now).total_seconds()

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


class WindowGate:
    """Blocks while outside the window. now: local wall-clock datetime; sleep: seconds.

    `max_sleep_s` caps one sleep so a stop request is noticed (the caller loops).
    """

    def __init__(
        self,
        window: TimeWindow | None,
        *,
        now: Callable[[], dt.datetime] = dt.datetime.now,
        sleep: Callable[[float], None] = time.sleep,
        max_sleep_s: float = 60.0,
    ) -> None:
        self.window = window
        self.now = now
        self.sleep = sleep
        self.max_sleep_s = max_sleep_s

    def wait_open(self, on_pause: Callable[[float], None] = lambda s: None) -> float:
        """Sleep until the window is open; returns the seconds slept (0 when open or no
        window). `on_pause(seconds_left)` is called before each sleep."""
        if self.window is None:
            return 0.0
        slept = 0.0
        while True:
            left = self.window.seconds_until_open(self.now())
            if left <= 0:
                return slept
            on_pause(left)
            step = min(left, self.max_sleep_s)
            self.sleep(step)
            slept += step
