"""Answer-button sessions and question counts in the database, for several replicas.

With one bot they live in memory (`SessionStore`, `RateLimiter`). Behind a load
balancer, a button pressed under one replica's answer may land on another, and a
user's questions spread over all of them: there both write through to these tables
and read back what they lack.
"""

from __future__ import annotations

from bot.telegram.sessions import Session
from retrieval.postgres import Database


def _ids(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x)


class SessionTable:
    """`answer_sessions`: a session by its short id, with its wall-clock creation time."""

    PRUNE_EVERY = 500  # saves between deletions of expired rows

    def __init__(self, db: Database, ttl: float):
        self._db = db
        self.ttl = ttl
        self._saves = 0

    async def save(self, sid: str, session: Session, created_at: float) -> None:
        """Store or replace a session."""
        await self._db.execute(
            "INSERT INTO answer_sessions (sid, question, shown, articles, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT(sid) DO UPDATE SET shown = excluded.shown,"
            " articles = excluded.articles",
            (
                sid,
                session.question,
                ",".join(map(str, session.shown)),
                ",".join(map(str, session.articles)),
                created_at,
            ),
        )
        self._saves += 1
        if self._saves % self.PRUNE_EVERY == 0:
            await self._db.execute(
                "DELETE FROM answer_sessions WHERE created_at < ?", (created_at - self.ttl,)
            )
        await self._db.commit()

    async def load(self, sid: str) -> tuple[Session, float] | None:
        """Return a stored session and its wall-clock creation time, or None."""
        async with self._db.execute(
            "SELECT question, shown, articles, created_at FROM answer_sessions WHERE sid = ?",
            (sid,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return Session(str(row[0]), _ids(str(row[1])), _ids(str(row[2])), 0.0), float(row[3])


class HitTable:
    """`question_hits`: when each user asked, inside the rate-limit window."""

    def __init__(self, db: Database, seconds: float):
        self._db = db
        self.seconds = seconds

    async def record(self, key: int, at: float) -> None:
        """Note a question at a unix time, and forget the user's hits past the window."""
        await self._db.execute("INSERT INTO question_hits (user_id, at) VALUES (?, ?)", (key, at))
        await self._db.execute(
            "DELETE FROM question_hits WHERE user_id = ? AND at <= ?", (key, at - self.seconds)
        )
        await self._db.commit()

    async def recent(self, key: int, since: float) -> list[float]:
        """Return the unix times of the user's questions after since, oldest first."""
        async with self._db.execute(
            "SELECT at FROM question_hits WHERE user_id = ? AND at > ? ORDER BY at", (key, since)
        ) as cur:
            return [float(r[0]) for r in await cur.fetchall()]
