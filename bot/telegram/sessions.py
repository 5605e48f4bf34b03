"""What the answer buttons need: the question and the passages shown, by short id."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Session:
    """A question answered in a chat, and the chunk ids its messages have shown."""

    question: str
    shown: tuple[int, ...]
    articles: tuple[int, ...]  # article ids found so far, best first
    created: float


class SessionStore:
    """A bounded, expiring map from short ids (callback data) to sessions."""

    def __init__(
        self,
        size: int = 4096,
        ttl: float = 24 * 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = size
        self.ttl = ttl
        self.clock = clock
        self._items: OrderedDict[str, Session] = OrderedDict()

    def add(self, question: str, shown: tuple[int, ...], articles: tuple[int, ...]) -> str:
        """Remember a question and return its id: 8 URL-safe characters."""
        sid = secrets.token_urlsafe(6)
        while sid in self._items:
            sid = secrets.token_urlsafe(6)
        self._items[sid] = Session(question, shown, articles, self.clock())
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

    def __len__(self) -> int:
        return len(self._items)
