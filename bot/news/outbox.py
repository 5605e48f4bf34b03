"""The alert outbox: every alert is a row before it is sent, so none is lost or doubled."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from retrieval.models import Article
from retrieval.neardup import simhash, to_signed
from retrieval.postgres import Database, PgConnection, is_postgres
from retrieval.store import utc_now

logger = logging.getLogger(__name__)

Matcher = Callable[[Article], Awaitable[list[int]]]
# Looks an article up by id (the engine's store does); None when it was deleted.
ArticleLookup = Callable[[int], Awaitable[Article | None]]
# A story's outlets, in the order they told it (the engine's store knows them).
OutletLookup = Callable[[int], Awaitable[list[str]]]

# Later articles of a story update the alert already sent for this long after it.
STORY_WINDOW = 72 * 3600.0

_COLUMNS = "id, chat_id, article_id, attempts, story_id, message_id, seen, shown"


@dataclass(frozen=True)
class OutboxRow:
    """One alert to deliver (or edit): which chat, which article, how many tries so far.

    A story alert has story_id; once sent, message_id names the message, seen counts
    the story's articles noted for the chat and shown those the message counts.
    """

    id: int
    chat_id: int
    article_id: int
    attempts: int
    story_id: int | None = None
    message_id: int | None = None
    seen: int = 1
    shown: int = 0


def _maybe(value: Any) -> int | None:
    return None if value is None else int(value)


def _outbox_row(r: Sequence[Any]) -> OutboxRow:
    return OutboxRow(
        int(r[0]), int(r[1]), int(r[2]), int(r[3]), _maybe(r[4]), _maybe(r[5]), int(r[6]), int(r[7])
    )


async def record_articles(
    db: Database,
    articles: Sequence[Article],
    *,
    alert: bool,
    origin: str = "",
    hashes: Sequence[int] | None = None,
) -> None:
    """Note new articles with their simhash and whether subscribers are to be alerted."""
    now = utc_now()
    await db.executemany(
        "INSERT OR IGNORE INTO news_articles (article_id, simhash, alert, origin, added_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [
            (
                a.id,
                to_signed(hashes[i] if hashes else simhash(a.body)),
                int(alert),
                origin,
                now,
            )
            for i, a in enumerate(articles)
        ],
    )
    await db.commit()


async def unnoted(db: Database, article_ids: Sequence[int]) -> set[int]:
    """Return which of the articles have no news row (never noted for alerts)."""
    ids = sorted(set(article_ids))
    if not ids:
        return set()
    marks = ",".join("?" * len(ids))
    async with db.execute(
        f"SELECT article_id FROM news_articles WHERE article_id IN ({marks})", ids
    ) as cur:
        noted = {int(r[0]) for r in await cur.fetchall()}
    return set(ids) - noted


async def fan_out(
    db: Database,
    article: ArticleLookup,
    match: Matcher,
    window: float = STORY_WINDOW,
    now: float | None = None,
) -> int:
    """Queue alerts for noted articles not yet fanned out; return how many rows were queued.

    A chat gets one alert per story: a later article of a story the chat was alerted
    to within window seconds counts towards that alert's update instead. A chat with
    an every-article subscription gets one alert per article. The outbox rows, the
    counts and the article's fanned_out flag land in one transaction, and the unique
    (chat, article) and (chat, story) keys make a repeat harmless: after a crash the
    next run picks up exactly the articles that were not done.
    """
    async with db.execute(
        "SELECT n.article_id, n.alert, s.story_id FROM news_articles n LEFT JOIN"
        " article_stories s ON s.article_id = n.article_id WHERE n.fanned_out = 0"
        " ORDER BY n.article_id"
    ) as cur:
        todo = [
            (int(r[0]), bool(r[1]), int(r[2]) if r[2] is not None else None)
            for r in await cur.fetchall()
        ]
    if not todo:
        return 0
    async with db.execute(
        "SELECT DISTINCT chat_id FROM subscriptions WHERE active = 1 AND every_article = 1"
    ) as cur:
        every = {int(r[0]) for r in await cur.fetchall()}
    queued = 0
    for article_id, alert, story in todo:
        chats: list[int] = []
        if alert:
            found = await article(article_id)
            chats = await match(found) if found is not None else []
        stamp = utc_now()
        since = (time.time() if now is None else now) - window
        for chat in chats:
            if story is None or chat in every:
                cur = await db.execute(
                    "INSERT OR IGNORE INTO outbox (chat_id, article_id, created_at)"
                    " VALUES (?, ?, ?)",
                    (chat, article_id, stamp),
                )
                queued += max(cur.rowcount, 0)
                continue
            cur = await db.execute(
                "INSERT OR IGNORE INTO outbox (chat_id, article_id, story_id, created_at)"
                " VALUES (?, ?, ?, ?)",
                (chat, article_id, story, stamp),
            )
            if cur.rowcount > 0:
                queued += 1
                continue
            # The chat has this story's alert: one more article for it to count.
            await db.execute(
                "UPDATE outbox SET seen = seen + 1 WHERE chat_id = ? AND story_id = ?"
                " AND status IN ('pending', 'sent') AND (sent_unix IS NULL OR sent_unix >= ?)",
                (chat, story, since),
            )
        await db.execute(
            "UPDATE news_articles SET fanned_out = 1 WHERE article_id = ?", (article_id,)
        )
        await db.commit()
    return queued


async def due(db: Database, limit: int = 500, now: float | None = None) -> list[OutboxRow]:
    """Return the oldest due pending alert of each chat, oldest first."""
    # One row per chat: a chat with a long queue must not starve the others.
    async with db.execute(
        f"SELECT {_COLUMNS} FROM outbox WHERE id IN"
        " (SELECT MIN(id) FROM outbox WHERE status = 'pending' AND next_attempt <= ?"
        " GROUP BY chat_id) ORDER BY id LIMIT ?",
        (time.time() if now is None else now, limit),
    ) as cur:
        return [_outbox_row(r) for r in await cur.fetchall()]


async def due_updates(
    db: Database, interval: float, limit: int = 500, now: float | None = None
) -> list[OutboxRow]:
    """Return sent story alerts that lag behind their story and were last sent or edited
    at least interval seconds ago, oldest first."""
    async with db.execute(
        f"SELECT {_COLUMNS} FROM outbox WHERE status = 'sent' AND story_id IS NOT NULL"
        " AND message_id IS NOT NULL AND seen > shown"
        " AND COALESCE(edited_unix, sent_unix, 0) <= ? ORDER BY id LIMIT ?",
        ((time.time() if now is None else now) - interval, limit),
    ) as cur:
        return [_outbox_row(r) for r in await cur.fetchall()]


async def mark_edited(db: Database, row_id: int, shown: int) -> None:
    """Record that a story alert now shows shown articles (or gives up on the rest)."""
    await db.execute(
        "UPDATE outbox SET shown = MAX(shown, ?), edited_unix = ? WHERE id = ?",
        (shown, time.time(), row_id),
    )
    await db.commit()


CLAIM_LOCK = 0x15AD_0B0C


def _claim_sql(db: Database) -> str:
    # The oldest due row of each chat with nothing in flight, so a chat gets one alert
    # at a time however many senders run. On PostgreSQL, rows another sender is
    # claiming this instant are skipped rather than waited for; the outer WHERE is
    # checked again on the row as committed, so a row is never claimed twice.
    return (
        "UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE id IN"
        " (SELECT id FROM outbox WHERE id IN"
        " (SELECT MIN(id) FROM outbox WHERE status = 'pending' AND next_attempt <= ?"
        " AND chat_id NOT IN (SELECT chat_id FROM outbox WHERE status = 'pending'"
        " AND claimed_until >= ?) GROUP BY chat_id)"
        " ORDER BY id LIMIT ?"
        + (" FOR UPDATE SKIP LOCKED" if is_postgres(db) else "")
        + ") AND status = 'pending' AND claimed_until < ?"
        " RETURNING " + _COLUMNS
    )


async def claim(
    db: Database, holder: str, lease: float, limit: int = 500, now: float | None = None
) -> list[OutboxRow]:
    """Claim the due rows (one per chat) for holder until lease seconds from now.

    A claim that is not settled (sent, postponed, given up, released) lapses with
    its lease, so the rows of a sender that died go to another within lease seconds.
    """
    at = time.time() if now is None else now
    if isinstance(db, PgConnection):
        # Claims take turns (a statement each, so nothing waits long): each one then
        # sees every claim committed before it, whatever the plan does with the subquery.
        await db.begin()
        await db.execute("SELECT pg_advisory_xact_lock(?)", (CLAIM_LOCK,))
    async with db.execute(_claim_sql(db), (holder, at + lease, at, at, limit, at)) as cur:
        rows = sorted((_outbox_row(r) for r in await cur.fetchall()), key=lambda r: r.id)
    await db.commit()
    return rows


async def confirm(
    db: Database, row_id: int, holder: str, lease: float, now: float | None = None
) -> bool:
    """Renew holder's claim on a row just before sending it; False if it is no longer theirs.

    A sender slowed past its lease (a loaded machine) may have lost the row to
    another: it then must not send it too.
    """
    at = time.time() if now is None else now
    async with db.execute(
        "UPDATE outbox SET claimed_until = ? WHERE id = ? AND claimed_by = ?"
        " AND status = 'pending' RETURNING id",
        (at + lease, row_id, holder),
    ) as cur:
        # fetchall: an SQLite statement half read would hold off the next commit on
        # this connection, whoever makes it.
        kept = bool(await cur.fetchall())
    await db.commit()
    return kept


async def release(db: Database, row_ids: Sequence[int]) -> None:
    """Give claimed rows back untouched (their chat's turn had not come)."""
    await db.executemany(
        "UPDATE outbox SET claimed_until = 0 WHERE id = ?", [(i,) for i in row_ids]
    )
    await db.commit()


async def space_chat(db: Database, chat_id: int, until: float) -> None:
    """Hold a chat's pending alerts until a unix time (its pacing, for every sender)."""
    await db.execute(
        "UPDATE outbox SET next_attempt = ? WHERE chat_id = ? AND status = 'pending'"
        " AND next_attempt < ?",
        (until, chat_id, until),
    )
    await db.commit()


async def take_slot(db: Database, interval: float, now: float | None = None) -> float:
    """Reserve the next sending slot of all senders together; return its unix time.

    One row holds when the next message may go: each sender moves it on by interval
    and waits for the slot it got, so the bot stays within Telegram's overall rate
    however many replicas send.
    """
    at = time.time() if now is None else now
    async with db.execute(
        "UPDATE send_pace SET next_at = CASE WHEN next_at > ? THEN next_at ELSE ? END + ?"
        " WHERE name = 'alerts' RETURNING next_at",
        (at, at, interval),
    ) as cur:
        rows = list(await cur.fetchall())
    await db.commit()
    return float(rows[0][0]) - interval if rows else at


async def hold_all(db: Database, until: float) -> None:
    """Hold every sender until a unix time (Telegram's flood control is per bot)."""
    await db.execute(
        "UPDATE send_pace SET next_at = ? WHERE name = 'alerts' AND next_at < ?", (until, until)
    )
    await db.commit()


async def next_due_time(db: Database) -> float | None:
    """Return when the earliest pending alert falls due (unix time), or None."""
    async with db.execute("SELECT MIN(next_attempt) FROM outbox WHERE status = 'pending'") as cur:
        row = await cur.fetchone()
    return float(row[0]) if row and row[0] is not None else None


async def mark_sent(
    db: Database, row_id: int, message_id: int | None = None, shown: int = 0
) -> None:
    """Record a delivered alert, its message id and how many story articles it counts."""
    await db.execute(
        "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = ?,"
        " message_id = ?, sent_unix = ?, shown = ? WHERE id = ?",
        (utc_now(), message_id, time.time(), shown, row_id),
    )
    await db.commit()


async def postpone(
    db: Database, row_id: int, delay: float, error: str, *, count: bool = True
) -> None:
    """Try an alert again after delay seconds; count the attempt unless told not to."""
    await db.execute(
        "UPDATE outbox SET next_attempt = ?, last_error = ?, attempts = attempts + ?,"
        " claimed_until = 0 WHERE id = ?",
        (time.time() + delay, error[:500], int(count), row_id),
    )
    await db.commit()


async def give_up(db: Database, row_id: int, status: str, error: str) -> None:
    """Mark an alert failed or dropped; it will not be tried again."""
    await db.execute(
        "UPDATE outbox SET status = ?, last_error = ?, attempts = attempts + 1 WHERE id = ?",
        (status, error[:500], row_id),
    )
    await db.commit()


async def drop_chat(db: Database, chat_id: int, error: str) -> int:
    """Drop every pending alert of a chat; return how many."""
    cur = await db.execute(
        "UPDATE outbox SET status = 'dropped', last_error = ? WHERE chat_id = ?"
        " AND status = 'pending'",
        (error[:500], chat_id),
    )
    await db.commit()
    return cur.rowcount


async def move_chat(db: Database, old: int, new: int) -> int:
    """Readdress a chat's pending alerts to its new id; return how many were moved.

    An article already queued for the new id stays queued once: the old row is dropped.
    """
    cur = await db.execute(
        "UPDATE outbox SET chat_id = ?, next_attempt = 0, claimed_until = 0 WHERE chat_id = ?"
        " AND status = 'pending'"
        " AND article_id NOT IN (SELECT article_id FROM outbox WHERE chat_id = ?)",
        (new, old, new),
    )
    moved = cur.rowcount
    await db.execute(
        "UPDATE outbox SET status = 'dropped', last_error = ? WHERE chat_id = ?"
        " AND status = 'pending'",
        (f"chat moved to {new}, already queued there", old),
    )
    await db.commit()
    return moved


async def status_counts(db: Database) -> dict[str, int]:
    """Return how many alerts are in each status."""
    async with db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status") as cur:
        return {str(s): int(n) for s, n in await cur.fetchall()}


class Outbox:
    """The noted news articles and the alerts queued for chats, on the bot's one connection."""

    def __init__(self, db: Database):
        self._db = db

    async def record_articles(
        self,
        articles: Sequence[Article],
        *,
        alert: bool,
        origin: str = "",
        hashes: Sequence[int] | None = None,
    ) -> None:
        """Note new articles; see `record_articles`."""
        await record_articles(self._db, articles, alert=alert, origin=origin, hashes=hashes)

    async def unnoted(self, article_ids: Sequence[int]) -> set[int]:
        """Return the ids not noted yet; see `unnoted`."""
        return await unnoted(self._db, article_ids)

    async def fan_out(
        self, article: ArticleLookup, match: Matcher, window: float = STORY_WINDOW
    ) -> int:
        """Queue alerts for the articles not fanned out yet; see `fan_out`."""
        return await fan_out(self._db, article, match, window)

    async def due(self, limit: int = 500, now: float | None = None) -> list[OutboxRow]:
        """Return the rows due now; see `due`."""
        return await due(self._db, limit, now)

    async def claim(
        self, holder: str, lease: float, limit: int = 500, now: float | None = None
    ) -> list[OutboxRow]:
        """Claim due rows for a lease; see `claim`."""
        return await claim(self._db, holder, lease, limit, now)

    async def confirm(self, row_id: int, holder: str, lease: float) -> bool:
        """Renew a claim before sending; see `confirm`."""
        return await confirm(self._db, row_id, holder, lease)

    async def release(self, row_ids: Sequence[int]) -> None:
        """Give claimed rows back; see `release`."""
        await release(self._db, row_ids)

    async def space_chat(self, chat_id: int, until: float) -> None:
        """Hold a chat's pending rows until a unix time; see `space_chat`."""
        await space_chat(self._db, chat_id, until)

    async def take_slot(self, interval: float, now: float | None = None) -> float:
        """Reserve the next sending slot of all senders; see `take_slot`."""
        return await take_slot(self._db, interval, now)

    async def hold_all(self, until: float) -> None:
        """Hold every sender until a unix time; see `hold_all`."""
        await hold_all(self._db, until)

    async def due_updates(self, interval: float, limit: int = 500) -> list[OutboxRow]:
        """Return the story alerts to edit now; see `due_updates`."""
        return await due_updates(self._db, interval, limit)

    async def mark_edited(self, row_id: int, shown: int) -> None:
        """Record an edited story alert; see `mark_edited`."""
        await mark_edited(self._db, row_id, shown)

    async def next_due_time(self) -> float | None:
        """Return when the next pending row is due, if any."""
        return await next_due_time(self._db)

    async def mark_sent(self, row_id: int, message_id: int | None = None, shown: int = 0) -> None:
        """Mark a row sent; see `mark_sent`."""
        await mark_sent(self._db, row_id, message_id, shown)

    async def postpone(self, row_id: int, delay: float, error: str, *, count: bool = True) -> None:
        """Try a row again later; see `postpone`."""
        await postpone(self._db, row_id, delay, error, count=count)

    async def give_up(self, row_id: int, status: str, error: str) -> None:
        """Stop trying a row; see `give_up`."""
        await give_up(self._db, row_id, status, error)

    async def drop_chat(self, chat_id: int, error: str) -> int:
        """Drop a chat's pending rows; see `drop_chat`."""
        return await drop_chat(self._db, chat_id, error)

    async def move_chat(self, old: int, new: int) -> int:
        """Carry a chat's pending rows to its new id; see `move_chat`."""
        return await move_chat(self._db, old, new)

    async def status_counts(self) -> dict[str, int]:
        """Return the number of rows per status."""
        return await status_counts(self._db)
