"""What the answer buttons need: the question and the passages shown, by short id."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Session:
    """A question answered in a chat, and the chunk ids its messages have shown."""

    question: str
    shown: tuple[int, ...]
    articles: tuple[int, ...]  # article ids found so far, best first
    created: float


class SessionBacking(Protocol):
    """Where sessions are shared with other replicas (`sharing.SessionTable`)."""

    async def save(self, sid: str, session: Session, created_at: float) -> None: ...

    async def load(self, sid: str) -> tuple[Session, float] | None: ...


class SessionStore:
    """A bounded, expiring map from short ids (callback data) to sessions.

    With a backing (several replicas), every session is also written there, and
    `fetch` brings in one another replica made before a press is handled.
    """

    def __init__(
        self,
        size: int = 4096,
        ttl: float = 24 * 3600,
        clock: Callable[[], float] = time.monotonic,
        backing: SessionBacking | None = None,
    ) -> None:
        self.size = size
        self.ttl = ttl
        self.clock = clock
        self.backing = backing
        self._items: OrderedDict[str, Session] = OrderedDict()
        self._writes: set[asyncio.Task[None]] = set()

    def _write(self, sid: str, session: Session) -> None:
        if self.backing is None:
            return
        created_at = time.time() - (self.clock() - session.created)
        task = asyncio.get_running_loop().create_task(self.backing.save(sid, session, created_at))
        self._writes.add(task)
        task.add_done_callback(self._written)

    def _written(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("could not share a session", exc_info=task.exception())

    async def shared(self) -> None:
        """Wait until the sessions made or moved on so far are in the backing.

        Called before the message carrying their buttons goes out: a press that lands
        on another replica the moment the message arrives then finds the session.
        """
        if self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    async def fetch(self, sid: str) -> None:
        """Bring in the session as stored: another replica may have made or moved it on."""
        if self.backing is None:
            return
        found = await self.backing.load(sid)
        if found is None:
            return
        session, created_at = found
        created = self.clock() - (time.time() - created_at)
        self._items[sid] = Session(session.question, session.shown, session.articles, created)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def add(self, question: str, shown: tuple[int, ...], articles: tuple[int, ...]) -> str:
        """Remember a question and return its id: 8 URL-safe characters."""
        sid = secrets.token_urlsafe(6)
        while sid in self._items:
            sid = secrets.token_urlsafe(6)
        self._items[sid] = Session(question, shown, articles, self.clock())
        self._write(sid, self._items[sid])
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return sid

    def get(self, sid: str) -> Session | None:
        """Return a live session, or None when unknown or expired."""
        session = self._items.get(sid)
        if session is None:
            return None
        if self.clock() - session.created > self.ttl:
            del self._items[sid]
            return None
        self._items.move_to_end(sid)
        return session

    def update(self, sid: str, session: Session) -> None:
        """Replace a session's state, keeping its id."""
        if sid in self._items:
            self._items[sid] = session
            self._items.move_to_end(sid)
            self._write(sid, session)

    def __len__(self) -> int:
        return len(self._items)
