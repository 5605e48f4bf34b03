"""Conversation threads: per chat, the last question's subject and the story it cited.

Kept in the bot's tables so a restart does not lose them, and forgotten ten
minutes after the chat's last question: an expired thread is dropped when read,
and every write clears the expired threads of all chats.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from retrieval.postgres import Database
from retrieval.store import CorpusStore

THREAD_SECONDS = 600.0  # a follow-up must come within 10 minutes
MAX_ARTICLES = 12  # article ids kept per thread


@dataclass(frozen=True)
class Thread:
    """A chat's thread: the question it began with, its subject and its story's articles."""

    chat_id: int
    question: str
    subject: str
    articles: tuple[int, ...]
    title: str
    pinned: bool = False  # begun by a button: the next question is read against it
    story_id: int | None = None
    updated_at: float = 0.0


async def scope(thread: Thread, store: CorpusStore) -> frozenset[int]:
    """Return the articles a follow-up is searched in: the thread's story.

    That is every article of the stories the thread's cited articles tell (an
    article without a story stands for itself), so an outlet that told the story
    after the first answer is searched too.
    """
    kept = set(thread.articles)
    for story in set((await store.article_stories(thread.articles)).values()):
        kept.update(a.id for a in await store.story_articles(story))
    return frozenset(kept)


class ThreadBook:
    """The conversation_threads table on the bot's connection; one thread per chat."""

    def __init__(
        self,
        db: Database,
        ttl: float = THREAD_SECONDS,
        clock: Callable[[], float] = time.time,
    ):
        self._db = db
        self.ttl = ttl
        self.clock = clock

    async def live(self, chat_id: int) -> Thread | None:
        """Return the chat's thread if its last question is recent enough; else forget it."""
        async with self._db.execute(
            "SELECT question, subject, articles, title, pinned, story_id, updated_at"
            " FROM conversation_threads WHERE chat_id = ?",
            (chat_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        if self.clock() - float(row[6]) > self.ttl:
            await self._db.execute("DELETE FROM conversation_threads WHERE chat_id = ?", (chat_id,))
            await self._db.commit()
            return None
        articles = tuple(int(a) for a in str(row[2]).split(",") if a)
        story = int(row[5]) if row[5] is not None else None
        return Thread(
            chat_id, str(row[0]), str(row[1]), articles, str(row[3]), bool(row[4]), story, row[6]
        )

    async def keep(
        self,
        chat_id: int,
        *,
        question: str,
        subject: Sequence[str],
        articles: Sequence[int],
        title: str,
        pinned: bool = False,
        story_id: int | None = None,
    ) -> Thread:
        """Start or carry on the chat's thread, and clear every expired one."""
        now = self.clock()
        ids = tuple(dict.fromkeys(articles))[:MAX_ARTICLES]
        thread = Thread(chat_id, question, " ".join(subject), ids, title, pinned, story_id, now)
        await self._db.execute(
            "DELETE FROM conversation_threads WHERE updated_at < ?", (now - self.ttl,)
        )
        await self._db.execute(
            "INSERT INTO conversation_threads"
            " (chat_id, question, subject, articles, story_id, title, pinned, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(chat_id) DO UPDATE SET"
            " question = excluded.question, subject = excluded.subject,"
            " articles = excluded.articles, story_id = excluded.story_id,"
            " title = excluded.title, pinned = excluded.pinned, updated_at = excluded.updated_at",
            (
                chat_id,
                question,
                thread.subject,
                ",".join(map(str, ids)),
                story_id,
                title,
                int(pinned),
                now,
            ),
        )
        await self._db.commit()
        return thread

    async def forget(self, chat_id: int) -> None:
        """Drop the chat's thread."""
        await self._db.execute("DELETE FROM conversation_threads WHERE chat_id = ?", (chat_id,))
        await self._db.commit()
