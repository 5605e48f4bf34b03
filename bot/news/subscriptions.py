"""Who wants alerts for what: subscriptions per chat, and matching articles to topics."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from retrieval.arabic import STOPWORDS, light_stem, words
from retrieval.engine import Engine
from retrieval.models import Article
from retrieval.postgres import Database
from retrieval.store import utc_now

logger = logging.getLogger(__name__)

# The topic is embedded as "news about <topic>": a bare word embeds poorly as a query.
TOPIC_TEMPLATE = "أخبار عن {topic}"
# Measured with EmbeddingGemma-300M (20 topics x 10 short Arabic news articles, 23
# related pairs, 177 unrelated; topics chosen so most related articles never name
# them): cosine of the templated topic query to the article's best chunk. Unrelated
# pairs: median 0.12, p95 0.23, max 0.339. Related: 0.20-0.55. At 0.36, 10 of 23
# related pairs match and 0 of 177 unrelated; 0.30 would catch 14 but falsely match
# 1. The bare topic as query was worse (0.30: 9/23, 0 false). Literal mentions are
# caught by the word match, so the embedding only has to add near misses, safely.
TOPIC_COSINE = 0.36
ALL_NEWS = ""


@dataclass(frozen=True)
class Subscription:
    """One chat's wish for alerts: all news (topic '') or one topic."""

    id: int
    chat_id: int
    topic: str
    topic_norm: str
    active: bool
    created_at: str


def topic_key(topic: str) -> str:
    """Return the normalised, stemmed content words of a topic ('' for all news)."""
    toks = words(topic)
    content = [w for w in toks if w not in STOPWORDS] or toks
    return " ".join(light_stem(w) for w in content)


def _row(r: Any) -> Subscription:
    return Subscription(int(r[0]), int(r[1]), str(r[2]), str(r[3]), bool(r[4]), str(r[5]))


_COLUMNS = "id, chat_id, topic, topic_norm, active, created_at"


async def subscribe(
    db: Database, chat_id: int, topic: str = ALL_NEWS, every: bool | None = None
) -> bool:
    """Subscribe a chat to a topic; return False when it already was.

    every True asks for an alert per article, False for one per story (the default
    of a new subscription); None keeps what an existing subscription has.
    """
    key = topic_key(topic)
    async with db.execute(
        "SELECT active, every_article FROM subscriptions WHERE chat_id = ? AND topic_norm = ?",
        (chat_id, key),
    ) as cur:
        row = await cur.fetchone()
    if row is not None and row[0] and (every is None or bool(row[1]) == every):
        return False
    await db.execute(
        "INSERT INTO subscriptions (chat_id, topic, topic_norm, active, created_at, every_article)"
        " VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT(chat_id, topic_norm)"
        " DO UPDATE SET active = 1, topic = excluded.topic, created_at = excluded.created_at,"
        " every_article = COALESCE(?, subscriptions.every_article)",
        (
            chat_id,
            " ".join(topic.split()),
            key,
            utc_now(),
            int(bool(every)),
            None if every is None else int(every),
        ),
    )
    await db.commit()
    return True


async def unsubscribe(db: Database, chat_id: int, topic: str = ALL_NEWS) -> bool:
    """Stop one of a chat's subscriptions; return False when there was none."""
    cur = await db.execute(
        "UPDATE subscriptions SET active = 0 WHERE chat_id = ? AND topic_norm = ? AND active = 1",
        (chat_id, topic_key(topic)),
    )
    await db.commit()
    return cur.rowcount > 0


async def unsubscribe_id(db: Database, chat_id: int, sub_id: int) -> Subscription | None:
    """Stop a subscription by id if it belongs to the chat; return it, or None."""
    cur = await db.execute(
        "UPDATE subscriptions SET active = 0 WHERE id = ? AND chat_id = ? AND active = 1",
        (sub_id, chat_id),
    )
    await db.commit()
    if cur.rowcount == 0:
        return None
    async with db.execute(f"SELECT {_COLUMNS} FROM subscriptions WHERE id = ?", (sub_id,)) as c:
        row = await c.fetchone()
    return _row(row) if row else None


async def deactivate_chat(db: Database, chat_id: int) -> int:
    """Stop every subscription of a chat (it blocked the bot or is gone); return how many."""
    cur = await db.execute(
        "UPDATE subscriptions SET active = 0 WHERE chat_id = ? AND active = 1", (chat_id,)
    )
    await db.commit()
    return cur.rowcount


async def move_chat(db: Database, old: int, new: int) -> int:
    """Carry a chat's subscriptions to the id Telegram gave it (group -> supergroup).

    A topic the new id already has (say, subscribed again after the upgrade) is kept
    once, active. Each step can be repeated: a move cut short is finished by the next.
    Returns how many subscriptions now belong to the new id because of the move.
    """
    await db.execute(
        "UPDATE subscriptions SET active = 1 WHERE chat_id = ? AND active = 0 AND topic_norm IN"
        " (SELECT topic_norm FROM subscriptions WHERE chat_id = ? AND active = 1)",
        (new, old),
    )
    cur = await db.execute(
        "UPDATE subscriptions SET chat_id = ? WHERE chat_id = ? AND active = 1"
        " AND topic_norm NOT IN (SELECT topic_norm FROM subscriptions WHERE chat_id = ?)",
        (new, old, new),
    )
    moved = cur.rowcount
    await db.execute("UPDATE subscriptions SET active = 0 WHERE chat_id = ?", (old,))
    await db.commit()
    return moved


async def list_subscriptions(db: Database, chat_id: int) -> list[Subscription]:
    """Return a chat's active subscriptions, oldest first."""
    async with db.execute(
        f"SELECT {_COLUMNS} FROM subscriptions WHERE chat_id = ? AND active = 1 ORDER BY id",
        (chat_id,),
    ) as cur:
        return [_row(r) for r in await cur.fetchall()]


async def active_subscriptions(db: Database) -> list[Subscription]:
    """Return every active subscription."""
    async with db.execute(
        f"SELECT {_COLUMNS} FROM subscriptions WHERE active = 1 ORDER BY id"
    ) as cur:
        return [_row(r) for r in await cur.fetchall()]


async def count_subscribers(db: Database) -> int:
    """Return how many chats have at least one active subscription."""
    async with db.execute(
        "SELECT COUNT(DISTINCT chat_id) FROM subscriptions WHERE active = 1"
    ) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


class SubscriptionBook:
    """The chats' topic subscriptions, on the bot's one connection."""

    def __init__(self, db: Database):
        self._db = db

    async def subscribe(
        self, chat_id: int, topic: str = ALL_NEWS, every: bool | None = None
    ) -> bool:
        """Subscribe a chat to a topic; see `subscribe`."""
        return await subscribe(self._db, chat_id, topic, every)

    async def unsubscribe(self, chat_id: int, topic: str = ALL_NEWS) -> bool:
        """End a chat's subscription to a topic; see `unsubscribe`."""
        return await unsubscribe(self._db, chat_id, topic)

    async def unsubscribe_id(self, chat_id: int, sub_id: int) -> Subscription | None:
        """End one subscription of a chat by id; see `unsubscribe_id`."""
        return await unsubscribe_id(self._db, chat_id, sub_id)

    async def deactivate_chat(self, chat_id: int) -> int:
        """End every subscription of a chat; see `deactivate_chat`."""
        return await deactivate_chat(self._db, chat_id)

    async def move_chat(self, old: int, new: int) -> int:
        """Carry a chat's subscriptions to its new id; see `move_chat`."""
        return await move_chat(self._db, old, new)

    async def of_chat(self, chat_id: int) -> list[Subscription]:
        """Return a chat's active subscriptions."""
        return await list_subscriptions(self._db, chat_id)

    async def active(self) -> list[Subscription]:
        """Return every active subscription."""
        return await active_subscriptions(self._db)

    async def count_subscribers(self) -> int:
        """Return how many chats have an active subscription."""
        return await count_subscribers(self._db)


class TopicMatcher:
    """Decides which subscribed chats an article is for: by topic words, then by meaning."""

    def __init__(self, engine: Engine, book: SubscriptionBook, threshold: float = TOPIC_COSINE):
        self.engine = engine
        self.book = book
        self.threshold = threshold

    async def chats_for(self, article: Article) -> list[int]:
        """Return the chats with an active subscription that the article matches."""
        subs = await self.book.active()
        stems = {light_stem(w) for w in words(f"{article.title}\n{article.body}")}
        vectors: np.ndarray | None = None
        chats: set[int] = set()
        for sub in subs:
            if sub.chat_id in chats:
                continue
            if not sub.topic_norm or all(t in stems for t in sub.topic_norm.split()):
                chats.add(sub.chat_id)
                continue
            if vectors is None:
                vectors = await self.engine.article_vectors(article.id)
            if len(vectors) and await self._cosine(sub.topic, vectors) >= self.threshold:
                chats.add(sub.chat_id)
        return sorted(chats)

    async def _cosine(self, topic: str, vectors: np.ndarray) -> float:
        # Engine.embed_query caches, so a topic is embedded once per process.
        query = TOPIC_TEMPLATE.format(topic=topic)
        qvec = await asyncio.to_thread(self.engine.embed_query, query)
        return float(np.max(vectors @ qvec))
