"""The admin audit log: who ran which admin command, when, with what result."""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.postgres import Database
from retrieval.store import utc_now

MAX_ARGS = 500  # characters of arguments kept; a pasted article does not belong here
MAX_RESULT = 500


@dataclass(frozen=True)
class AuditEntry:
    """One admin command as recorded."""

    id: int
    at: str
    user_id: int
    user_name: str
    chat_id: int | None
    command: str
    args: str
    allowed: bool
    result: str


async def record(
    db: Database,
    *,
    user_id: int,
    user_name: str,
    chat_id: int | None,
    command: str,
    args: str,
    allowed: bool,
    result: str,
) -> int:
    """Write one audit row and return its id."""
    async with db.execute(
        "INSERT INTO admin_audit (at, user_id, user_name, chat_id, command, args, allowed, result)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            utc_now(),
            user_id,
            user_name,
            chat_id,
            command,
            args[:MAX_ARGS],
            int(allowed),
            result[:MAX_RESULT],
        ),
    ) as cur:
        # Closed before the commit: SQLite holds a RETURNING statement open till then.
        (row,) = await cur.fetchall()
    await db.commit()
    return int(row[0])


async def set_result(db: Database, entry_id: int, result: str) -> None:
    """Replace a row's result, for commands (reindex) that finish after their reply."""
    await db.execute(
        "UPDATE admin_audit SET result = ? WHERE id = ?", (result[:MAX_RESULT], entry_id)
    )
    await db.commit()


async def last(db: Database, n: int = 20) -> list[AuditEntry]:
    """Return the newest n rows, newest first."""
    async with db.execute(
        "SELECT id, at, user_id, user_name, chat_id, command, args, allowed, result"
        " FROM admin_audit ORDER BY id DESC LIMIT ?",
        (n,),
    ) as cur:
        rows = await cur.fetchall()
    return [
        AuditEntry(
            int(r[0]),
            str(r[1]),
            int(r[2]),
            str(r[3]),
            None if r[4] is None else int(r[4]),
            str(r[5]),
            str(r[6]),
            bool(r[7]),
            str(r[8]),
        )
        for r in rows
    ]


async def count(db: Database) -> int:
    """Return how many rows the audit log holds."""
    async with db.execute("SELECT COUNT(*) FROM admin_audit") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


class AuditLog:
    """The admin audit log, on the bot's one connection."""

    def __init__(self, db: Database):
        self._db = db

    async def record(
        self,
        *,
        user_id: int,
        user_name: str,
        chat_id: int | None,
        command: str,
        args: str,
        allowed: bool,
        result: str,
    ) -> int:
        """Write one audit row and return its id."""
        return await record(
            self._db,
            user_id=user_id,
            user_name=user_name,
            chat_id=chat_id,
            command=command,
            args=args,
            allowed=allowed,
            result=result,
        )

    async def set_result(self, entry_id: int, result: str) -> None:
        """Replace the result of an entry; see `set_result`."""
        await set_result(self._db, entry_id, result)

    async def last(self, n: int = 20) -> list[AuditEntry]:
        """Return the last n entries, newest first."""
        return await last(self._db, n)

    async def count(self) -> int:
        """Return the number of entries."""
        return await count(self._db)
