"""The bot's own tables (news, feeds, subscriptions, outbox, audit, questions) on one connection.

They live in the corpus file beside the engine's tables, but never on the engine's
connections: the store runs multi-statement transactions across awaits, and a
commit from here in between would commit half an article.
"""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from bot.admin.schema import ADMIN_STEPS
from bot.admin.schema import COMPONENT as ADMIN
from bot.news.schema import BOT_STEPS
from bot.news.schema import COMPONENT as NEWS
from retrieval.schema import migrate
from retrieval.store import connect


async def migrate_bot_tables(db: aiosqlite.Connection) -> None:
    """Create or upgrade every table of the bot's (news and admin) in the corpus file."""
    await migrate(db, BOT_STEPS, NEWS)
    await migrate(db, ADMIN_STEPS, ADMIN)


class BotDatabase:
    """One connection to the corpus file for the bot's tables, migrated once when opened."""

    def __init__(self, conn: aiosqlite.Connection, path: Path):
        self.conn = conn
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> BotDatabase:
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

    async def close(self) -> None:
        """Close the connection."""
        await self.conn.close()
