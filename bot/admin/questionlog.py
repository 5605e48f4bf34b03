"""The question log: when, where, answered or not, and how fast; the text only if allowed."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from retrieval.postgres import Database
from retrieval.store import utc_now

logger = logging.getLogger(__name__)

LATENCY_WINDOW = 1000  # p50/p95 are over the newest this many questions


@dataclass(frozen=True)
class QuestionStats:
    """Aggregates of the question log for /stats."""

    total: int
    today: int
    answered: int
    answered_today: int
    p50_ms: float | None
    p95_ms: float | None
    window: int  # how many questions the percentiles are over

    @property
    def answered_share(self) -> float | None:
        """Return the share of questions answered (0..1), None with no questions."""
        return self.answered / self.total if self.total else None


def percentile(values: Sequence[float], q: float) -> float:
    """Return the q-th percentile (0..100) by nearest rank (a value seen); NaN for none.

    The one percentile of the project: /stats and the benchmarks report the same kind.
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


async def record(
    db: Database,
    *,
    chat_kind: str,
    answered: bool,
    latency_ms: float,
    question: str,
    keep_text: bool,
) -> None:
    """Write one question row; its text only when keep_text (ISNAD_LOG_QUESTIONS) is set."""
    await db.execute(
        "INSERT INTO questions (at, chat_kind, answered, latency_ms, question)"
        " VALUES (?, ?, ?, ?, ?)",
        (utc_now(), chat_kind, int(answered), float(latency_ms), question if keep_text else None),
    )
    await db.commit()


async def stats(
    db: Database, now: datetime | None = None, window: int = LATENCY_WINDOW
) -> QuestionStats:
    """Count questions today (UTC) and in total, and the latency percentiles of the newest."""
    midnight = (
        (now or datetime.now(UTC))
        .astimezone(UTC)
        .replace(hour=0, minute=0, second=0, microsecond=0)
    )
    async with db.execute(
        "SELECT COUNT(*), COALESCE(SUM(answered), 0),"
        " COALESCE(SUM(CASE WHEN at >= ? THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN answered = 1 AND at >= ? THEN 1 ELSE 0 END), 0)"
        " FROM questions",
        (midnight.isoformat(timespec="seconds"),) * 2,
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    async with db.execute(
        "SELECT latency_ms FROM questions ORDER BY id DESC LIMIT ?", (window,)
    ) as cur:
        latencies = [float(r[0]) for r in await cur.fetchall()]
    return QuestionStats(
        total=int(row[0]),
        answered=int(row[1]),
        today=int(row[2]),
        answered_today=int(row[3]),
        p50_ms=percentile(latencies, 50) if latencies else None,
        p95_ms=percentile(latencies, 95) if latencies else None,
        window=len(latencies),
    )


class QuestionTable:
    """The question log's table, on the bot's one connection."""

    def __init__(self, db: Database):
        self._db = db

    async def record(
        self, *, chat_kind: str, answered: bool, latency_ms: float, question: str, keep_text: bool
    ) -> None:
        """Write one question row; see `record`."""
        await record(
            self._db,
            chat_kind=chat_kind,
            answered=answered,
            latency_ms=latency_ms,
            question=question,
            keep_text=keep_text,
        )

    async def stats(self, now: datetime | None = None) -> QuestionStats:
        """Return the aggregates for /stats."""
        return await stats(self._db, now)


class QuestionLog:
    """The question log of one running bot: where to write, and whether text is kept."""

    def __init__(self, table: QuestionTable, keep_text: bool):
        self.table = table
        self.keep_text = keep_text

    async def record(
        self, *, chat_kind: str, answered: bool, latency_ms: float, question: str
    ) -> None:
        """Write one question row."""
        await self.table.record(
            chat_kind=chat_kind,
            answered=answered,
            latency_ms=latency_ms,
            question=question,
            keep_text=self.keep_text,
        )

    async def stats(self, now: datetime | None = None) -> QuestionStats:
        """Return the aggregates for /stats."""
        return await self.table.stats(now)


async def record_question(
    log: QuestionLog,
    *,
    chat_kind: str,
    answered: bool,
    latency_ms: float,
    question: str,
) -> None:
    """Log a question the bot answered (or could not); never fails the answer itself."""
    try:
        await log.record(
            chat_kind=chat_kind, answered=answered, latency_ms=latency_ms, question=question
        )
    except Exception:
        # A busy or broken log must not cost the user their answer.
        logger.warning("could not log a question", exc_info=True)
