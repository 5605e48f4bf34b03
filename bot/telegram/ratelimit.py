"""Per-user question limit: at most `count` questions in any `seconds` window."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

logger = logging.getLogger(__name__)


class HitBacking(Protocol):
    """Where question times are shared with other replicas (`sharing.HitTable`)."""

    async def record(self, key: int, at: float) -> None: ...

    async def recent(self, key: int, since: float) -> list[float]: ...


class RateLimiter:
    """A sliding-window limit per key, kept in memory.

    With a backing (several replicas), each question is also written there, and
    `refresh` reads a user's window back before a question is counted, so the limit
    holds across replicas (two questions in the same instant on two replicas may
    both pass: a limit, not a ledger).
    """

    def __init__(
        self,
        count: int,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        backing: HitBacking | None = None,
    ) -> None:
        self.count = count
        self.seconds = seconds
        self.clock = clock
        self.backing = backing
        self._hits: dict[int, deque[float]] = {}
        self._writes: set[asyncio.Task[None]] = set()

    async def refresh(self, key: int) -> None:
        """Take the user's window from the backing, where every replica writes it."""
        if self.backing is None:
            return
        now, wall = self.clock(), time.time()
        try:
            times = await self.backing.recent(key, wall - self.seconds)
        except Exception:
            logger.warning("could not read shared question counts", exc_info=True)
            return
        self._hits[key] = deque(now - (wall - t) for t in times)

    def wait(self, key: int) -> int:
        """Record a question and return 0, or return the whole seconds left to wait."""
        now = self.clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.seconds:
            hits.popleft()
        if len(hits) >= self.count:
            return max(1, math.ceil(hits[0] + self.seconds - now))
        hits.append(now)
        if self.backing is not None:
            task = asyncio.get_running_loop().create_task(self.backing.record(key, time.time()))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)
        if len(self._hits) > 10_000:
            self._forget(now)
        return 0

    def _forget(self, now: float) -> None:
        """Drop users with no question inside the window, so memory stays bounded."""
        for key in [k for k, h in self._hits.items() if not h or h[-1] <= now - self.seconds]:
            del self._hits[key]
