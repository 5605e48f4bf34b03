"""The bot's own tables (news, feeds, subscriptions, outbox, audit, questions, threads).

They live in the corpus file beside the engine's tables, but never on the engine's
connections: the store runs multi-statement transactions across awaits, and a
commit from here in between would commit half an article.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path

from bot.admin.audit import AuditLog
from bot.admin.questionlog import QuestionTable
from bot.admin.schema import ADMIN_STEPS
from bot.admin.schema import COMPONENT as ADMIN
from bot.conversation.threads import ThreadBook
from bot.news.feedstore import FeedStore
from bot.news.outbox import Outbox
from bot.news.schema import BOT_STEPS, NewsCounters
from bot.news.schema import COMPONENT as NEWS
from bot.news.subscriptions import SubscriptionBook
from bot.telegram.sharing import HitTable, SessionTable
from retrieval.postgres import Database, PgConnection
from retrieval.schema import migrate
from retrieval.store import connect

logger = logging.getLogger(__name__)


async def migrate_bot_tables(db: Database) -> None:
    """Create or upgrade every table of the bot's (news and admin) in the corpus file."""
    await migrate(db, BOT_STEPS, NEWS)
    await migrate(db, ADMIN_STEPS, ADMIN)


class Leadership:
    """Whether this replica holds a job only one may do at a time (the feed poller).

    On PostgreSQL a session advisory lock on a connection of its own: held until
    that connection ends, so when the holder dies the server frees it and the next
    replica to ask (at its next poll tick) takes over. On SQLite there is one machine
    and one bot, which always holds it.
    """

    def __init__(self, url: str, name: str):
        self.url = url
        self.name = name
        self._key = zlib.crc32(b"isnad leader " + name.encode())
        self._conn: PgConnection | None = None
        self._taken = False  # by `take`, until `release`

    async def held(self) -> bool:
        """Take the job if nobody holds it; tell whether this replica holds it now."""
        if not self.url:
            return True
        try:
            if self._conn is None:
                self._conn = await PgConnection.open(self.url)
            # Asked again while held, the lock is granted again (the server counts).
            async with self._conn.execute("SELECT pg_try_advisory_lock(?)", (self._key,)) as cur:
                row = await cur.fetchone()
        except Exception:
            logger.warning("cannot ask who runs the %s", self.name, exc_info=True)
            return False
        return bool(row and row[0])

    async def take(self) -> bool:
        """Take the job for one run (a reindex): False while anyone, this replica too, has it."""
        if self._taken:
            return False
        self._taken = await self.held()
        return self._taken

    async def release(self) -> None:
        """Give the job up now (the connection stays open for the next time)."""
        self._taken = False
        if self._conn is not None:
            try:
                await self._conn.execute("SELECT pg_advisory_unlock_all()")
            except Exception:
                logger.warning("cannot give up the %s; closing instead", self.name, exc_info=True)
                await self.close()

    async def close(self) -> None:
        """Let another replica have the job."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()


class BotRepository:
    """The bot's tables on one connection to the corpus file, migrated once when opened.

    The rest of the bot reaches them through one object per concern (feeds, outbox,
    subscriptions, counters, audit, questions, threads); the SQL stays in each concern's module.
    """

    def __init__(self, conn: Database, path: Path | None = None, url: str = ""):
        self.conn = conn
        self.path = path
        self.url = url  # the PostgreSQL database, or "" for the file at path
        self.feeds = FeedStore(conn)
        self.outbox = Outbox(conn)
        self.subscriptions = SubscriptionBook(conn)
        self.counters = NewsCounters(conn)
        self.audit = AuditLog(conn)
        self.questions = QuestionTable(conn)
        self.threads = ThreadBook(conn)
        self.poller = Leadership(url, "feed poller")
        self.reindexing = Leadership(url, "reindex")

    @classmethod
    async def open(cls, path: Path) -> BotRepository:
        """Connect (WAL, waiting on a busy writer) and bring the bot's tables up to date."""
        conn = await connect(path)
        try:
            # One commit per question or alert: in WAL, NORMAL skips the fsync, never corrupts.
            await conn.execute("PRAGMA synchronous=NORMAL")
            await migrate_bot_tables(conn)
        except BaseException:
            await conn.close()
            raise
        return cls(conn, path)

    @classmethod
    async def open_url(cls, url: str) -> BotRepository:
        """Connect to the PostgreSQL database at url and bring the bot's tables up to date."""
        conn = await PgConnection.open(url)
        try:
            # The bot's tables refer to articles: PostgreSQL wants that table first.
            await migrate(conn)
            await migrate_bot_tables(conn)
        except BaseException:
            await conn.close()
            raise
        return cls(conn, None, url)

    @classmethod
    async def open_location(cls, url: str, path: Path) -> BotRepository:
        """Open the PostgreSQL database at url, or the SQLite file at path when url is ""."""
        return await (cls.open_url(url) if url else cls.open(path))

    def session_table(self, ttl: float) -> SessionTable:
        """Return the answer-button sessions shared by replicas."""
        return SessionTable(self.conn, ttl)

    def hit_table(self, seconds: float) -> HitTable:
        """Return the question times shared by replicas, for the rate limit."""
        return HitTable(self.conn, seconds)

    async def commit(self) -> None:
        """Commit what the concerns left pending (the poller's counters)."""
        await self.conn.commit()

    async def close(self) -> None:
        """Close the connection, and give up the poller if held."""
        await self.poller.close()
        await self.reindexing.close()
        await self.conn.close()
