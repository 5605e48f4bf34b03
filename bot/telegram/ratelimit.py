"""Per-user question limit: at most `count` questions in any `seconds` window."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """A sliding-window limit per key, kept in memory."""

    def __init__(
        self, count: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.count = count
        self.seconds = seconds
        self.clock = clock
        self._hits: dict[int, deque[float]] = {}

    def wait(self, key: int) -> int:
        """Record a question and return 0, or return the whole seconds left to wait."""
        now = self.clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.seconds:
            hits.popleft()
        if len(hits) >= self.count:
            return max(1, math.ceil(hits[0] + self.seconds - now))
        hits.append(now)
        if len(self._hits) > 10_000:
            self._forget(now)
        return 0

    def _forget(self, now: float) -> None:
        """Drop users with no question inside the window, so memory stays bounded."""
        for key in [k for k, h in self._hits.items() if not h or h[-1] <= now - self.seconds]:
            del self._hits[key]
