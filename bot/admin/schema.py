"""The admin tables (audit log, question log) and a connection of their own to the corpus file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite

from retrieval.schema import migrate

COMPONENT = "admin"

# Each step moves the admin schema up one version; never edit a shipped step.
ADMIN_STEPS: tuple[str, ...] = (
    """
    CREATE TABLE admin_audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,  -- UTC, ISO 8601
        user_id INTEGER NOT NULL,
        user_name TEXT NOT NULL DEFAULT '',
        chat_id INTEGER,
        command TEXT NOT NULL,
        args TEXT NOT NULL DEFAULT '',
        allowed INTEGER NOT NULL,
        result TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE questions (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,  -- UTC, ISO 8601
        chat_kind TEXT NOT NULL,
        answered INTEGER NOT NULL,
        latency_ms REAL NOT NULL,
        question TEXT  -- NULL unless ISNAD_LOG_QUESTIONS=true
    );
    CREATE INDEX questions_at ON questions (at);
    """,
)


class AdminDb:
    """A second connection to the corpus file, opened on first use, for the admin tables.

    Not the store's connection: the store runs multi-statement transactions across
    awaits, and a commit from here in between would commit half an article.
    """

    def __init__(self, path: Path):
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._opening = asyncio.Lock()

    async def connection(self) -> aiosqlite.Connection:
        """Return the open connection, opening and migrating it the first time."""
        if self._db is not None:
            return self._db
        async with self._opening:
            if self._db is None:
                db = await aiosqlite.connect(self.path)
                await db.execute("PRAGMA journal_mode=WAL")
                # The store may hold the write lock for a moment; wait rather than fail.
                await db.execute("PRAGMA busy_timeout=10000")
                # One commit per question: in WAL, NORMAL skips the fsync and cannot corrupt.
                await db.execute("PRAGMA synchronous=NORMAL")
                await migrate(db, ADMIN_STEPS, COMPONENT)
                self._db = db
        return self._db

    async def close(self) -> None:
        """Close the connection if it was opened."""
        if self._db is not None:
            await self._db.close()
            self._db = None
