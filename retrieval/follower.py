"""Keep an engine's vector index in step with a database other processes write to.

Each replica holds its own FAISS index in memory. Writers log every change to the
chunks (`chunk_changes`, a sequence number in commit order); the follower applies
what is new to its engine, woken by PostgreSQL's NOTIFY at each commit, and looks
anyway every few seconds (SQLite has no NOTIFY, and a lost notice costs one period).
The log keeps only its newest changes: an engine behind them rebuilds its index.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from retrieval.engine import Engine
from retrieval.postgres import CHANGES_CHANNEL, is_postgres_url

logger = logging.getLogger(__name__)


class IndexFollower:
    """Applies committed changes to engine's index until cancelled."""

    def __init__(self, engine: Engine, url: str = "", period: float = 5.0):
        self.engine = engine
        self.url = url if is_postgres_url(url) else ""
        self.period = period
        self.applied_at: list[float] = []  # monotonic times of the passes that applied changes
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look at the change log now."""
        self._wake.set()

    async def run(self) -> None:
        """Follow the change log (and NOTIFY on PostgreSQL) until cancelled."""
        listener = asyncio.create_task(self._listen()) if self.url else None
        try:
            while True:
                self._wake.clear()
                try:
                    while await self.engine.follow_changes():
                        self.applied_at.append(time.monotonic())
                        del self.applied_at[:-1000]
                except Exception:
                    logger.exception("could not follow the corpus changes; trying again")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.period)
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    async def _listen(self) -> None:
        """Wake the follower on every NOTIFY; reconnect after a lost connection."""
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANGES_CHANNEL}")
                    self.wake()  # changes made while not listening
                    async for _ in conn.notifies():
                        self.wake()
            except psycopg.Error as exc:
                logger.warning("listening for corpus changes failed (%s); again in 5 s", exc)
                await asyncio.sleep(5.0)
