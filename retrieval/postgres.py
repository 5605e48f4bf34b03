"""PostgreSQL behind the same calls as an aiosqlite connection, so the SQL callers stay one.

The rest of the code speaks aiosqlite: `execute` (awaited, or used as `async with`),
`executemany`, `executescript`, `commit`, `rollback`, `close`, cursors with `fetchone`,
`fetchall`, `fetchmany`, `rowcount` and `lastrowid`, `?` placeholders, and
`sqlite3.IntegrityError` on a broken unique key. `PgConnection` keeps that contract on
psycopg 3: placeholders and the few SQLite-only phrases are translated once per
statement text, and transactions open the way Python's sqlite3 opens them (at the
first write, not at a read), so a connection that only reads never sits idle in a
transaction holding locks.

Two differences are deliberate. A failed statement inside a transaction rolls the
whole transaction back (PostgreSQL refuses every later statement of an aborted
transaction; the callers roll back on errors anyway). And a connection lost to a
server restart or a network cut is opened again at the next statement, so a replica
heals by itself; the statement that met the cut fails, as any error would.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Generator, Iterable, Sequence
from functools import lru_cache
from types import TracebackType
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import aiosqlite

SCHEMES = ("postgresql", "postgres")


class DatabaseUrlError(Exception):
    """ISNAD_DATABASE_URL is not a PostgreSQL URL; the message says what is expected."""


class DatabaseUnreachableError(Exception):
    """The PostgreSQL server does not answer or refuses us; the message names it."""


def is_postgres_url(url: str) -> bool:
    """Tell whether url names a PostgreSQL database (postgresql:// or postgres://)."""
    return urlsplit(url).scheme in SCHEMES


def check_url(url: str) -> str:
    """Return url if it names a PostgreSQL database, else raise DatabaseUrlError."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise DatabaseUrlError(
            f"ISNAD_DATABASE_URL must start with postgresql:// (got {redact(url)!r});"
            " leave it empty for the SQLite file in ISNAD_DATA_DIR"
        )
    return url


def redact(url: str) -> str:
    """Return url with any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(":" + parts.password + "@", ":***@", 1)


# As Python's sqlite3: a transaction opens before a row is written, not before DDL or a read.
_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """Return sql in PostgreSQL's dialect: `%s` placeholders, `%` escaped, OR IGNORE gone."""
    out: list[str] = []
    quoted = False
    for ch in sql:
        if ch == "'":
            quoted = not quoted
            out.append(ch)
        elif ch == "?" and not quoted:
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    text = "".join(out)
    # SQLite's json_each over a JSON array of ids (one parameter, any number of ids).
    text = text.replace(
        "(SELECT value FROM json_each(%s))",
        "(SELECT value::bigint FROM json_array_elements_text(%s::json) AS value)",
    )
    text = re.sub(r"\bIFNULL\(", "COALESCE(", text, flags=re.IGNORECASE)
    text = _scalar_extremes(text)
    if re.match(r"^\s*INSERT\s+OR\s+IGNORE\b", text, re.IGNORECASE):
        text = re.sub(r"^\s*INSERT\s+OR\s+IGNORE", "INSERT", text, count=1, flags=re.IGNORECASE)
        text += " ON CONFLICT DO NOTHING"
    return text


def _scalar_extremes(sql: str) -> str:
    """Write SQLite's two-argument MAX(a, b) and MIN(a, b) as GREATEST and LEAST."""
    out = sql
    for found in reversed(list(re.finditer(r"\b(MAX|MIN)\(", sql, re.IGNORECASE))):
        depth, commas, at = 0, 0, found.end()
        while at < len(sql):
            ch = sql[at]
            if ch == "(":
                depth += 1
            elif ch == ")":
                if depth == 0:
                    break
                depth -= 1
            elif ch == "," and depth == 0:
                commas += 1
            at += 1
        if commas:
            name = "GREATEST" if found.group(1).upper() == "MAX" else "LEAST"
            out = out[: found.start()] + name + out[found.start() + 3 :]
    return out


def _params(params: Sequence[Any] | None) -> tuple[Any, ...]:
    # SQLite stores booleans as integers; PostgreSQL refuses a boolean in an integer column.
    return tuple(int(p) if isinstance(p, bool) else p for p in (params or ()))


class PgCursor:
    """The rows of one statement, fetched whole (as aiosqlite's cursors hand them out)."""

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int, lastrowid: int | None):
        self._rows = rows
        self._at = 0
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    async def fetchone(self) -> tuple[Any, ...] | None:
        """Return the next row, or None."""
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    async def fetchall(self) -> list[tuple[Any, ...]]:
        """Return the rows not yet fetched."""
        rows = self._rows[self._at :]
        self._at = len(self._rows)
        return rows

    async def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        """Return up to size more rows."""
        rows = self._rows[self._at : self._at + size]
        self._at += len(rows)
        return rows

    async def close(self) -> None:
        """Nothing to free: the rows are in memory."""


class _Pending:
    """What `execute` returns: awaited for a cursor, or entered with `async with`."""

    def __init__(self, conn: PgConnection, sql: str, params: Sequence[Any] | None):
        self._conn = conn
        self._sql = sql
        self._params = params
        self._cursor: PgCursor | None = None

    def __await__(self) -> Generator[Any, None, PgCursor]:
        return self._conn._run(self._sql, self._params).__await__()

    async def __aenter__(self) -> PgCursor:
        self._cursor = await self._conn._run(self._sql, self._params)
        return self._cursor

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class PgConnection:
    """One psycopg connection with aiosqlite's calls; see the module docstring."""

    def __init__(self, conn: Any, url: str):
        self.raw = conn  # psycopg.AsyncConnection, in autocommit: we say BEGIN ourselves
        self.url = url
        self._in_transaction = False

    @classmethod
    async def open(cls, url: str) -> PgConnection:
        """Connect to url; DatabaseUnreachableError in one line when that fails."""
        import psycopg

        check_url(url)
        try:
            conn = await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DatabaseUnreachableError(
                f"cannot reach the database at {redact(url)}: {detail}"
            ) from exc
        except psycopg.ProgrammingError as exc:
            raise DatabaseUrlError(f"ISNAD_DATABASE_URL is not usable: {exc}") from exc
        return cls(conn, url)

    @property
    def in_transaction(self) -> bool:
        """Tell whether a transaction is open (as sqlite3's attribute of that name)."""
        return self._in_transaction

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> _Pending:
        """Run one statement; await the result or use it with `async with`."""
        return _Pending(self, sql, params)

    async def _ready(self, write: bool) -> None:
        """Reconnect after a lost connection; open a transaction before a write."""
        if self.raw.closed or self.raw.broken:
            import psycopg

            self._in_transaction = False
            self.raw = await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, connect_timeout=10
            )
        if write and not self._in_transaction:
            await self.raw.execute("BEGIN")
            self._in_transaction = True

    async def _failed(self, exc: Exception) -> None:
        """Leave no aborted transaction behind; raise IntegrityError as sqlite3 does."""
        import psycopg

        if self._in_transaction:
            self._in_transaction = False
            if not (self.raw.closed or self.raw.broken):
                await self.raw.execute("ROLLBACK")
        if isinstance(exc, psycopg.errors.IntegrityError):
            raise sqlite3.IntegrityError(str(exc)) from exc
        raise exc

    async def _run(self, sql: str, params: Sequence[Any] | None) -> PgCursor:
        import psycopg

        text = translate(sql)
        try:
            await self._ready(bool(_WRITE.match(text)))
            cur = await self.raw.execute(text, _params(params))
            rows = await cur.fetchall() if cur.description is not None else []
            lastrowid = int(rows[0][0]) if rows and "RETURNING" in text.upper() else None
            return PgCursor(rows, cur.rowcount, lastrowid)
        except psycopg.Error as exc:
            await self._failed(exc)
            raise  # unreachable: _failed raises

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> PgCursor:
        """Run one statement for each row of parameters; rowcount is the total."""
        import psycopg

        batch = [_params(r) for r in rows]
        text = translate(sql)
        if not batch:
            return PgCursor([], 0, None)
        try:
            await self._ready(True)
            async with self.raw.cursor() as cur:
                await cur.executemany(text, batch)
                return PgCursor([], cur.rowcount, None)
        except psycopg.Error as exc:
            await self._failed(exc)
            raise

    async def begin(self) -> None:
        """Open a transaction now (before a read or a lock that must be inside it)."""
        await self._ready(True)

    async def executescript(self, script: str) -> None:
        """Run statements separated by semicolons, as given (no placeholders)."""
        import psycopg

        await self.commit()
        await self._ready(False)
        try:
            await self.raw.execute(script.encode())
        except psycopg.Error:
            # A script's own BEGIN leaves the transaction aborted on an error: end it.
            if not (self.raw.closed or self.raw.broken):
                await self.raw.execute("ROLLBACK")
            raise

    async def commit(self) -> None:
        """Commit the open transaction, if any."""
        if self._in_transaction:
            self._in_transaction = False
            await self.raw.execute("COMMIT")

    async def rollback(self) -> None:
        """Roll the open transaction back, if any."""
        if self._in_transaction:
            self._in_transaction = False
            await self.raw.execute("ROLLBACK")

    async def close(self) -> None:
        """Close the connection (an open transaction is rolled back by the server)."""
        await self.raw.close()


# What the table modules are handed: either backend's connection, the same calls on both.
Database: TypeAlias = "aiosqlite.Connection | PgConnection"


# The channel on which corpus writers announce a commit to the chunks.
CHANGES_CHANNEL = "isnad_chunks"


def is_postgres(conn: object) -> bool:
    """Tell whether conn is a PostgreSQL connection (else an aiosqlite one)."""
    return isinstance(conn, PgConnection)


class DialectError(Exception):
    """A schema step uses SQLite that has no automatic PostgreSQL form."""


_SQLITE_ONLY = re.compile(
    r"\b(VIRTUAL\s+TABLE|CREATE\s+TRIGGER|AUTOINCREMENT|WITHOUT\s+ROWID|strftime|julianday"
    r"|datetime\s*\()",
    re.IGNORECASE,
)


def pg_ddl(step: str) -> str:
    """Return an SQLite schema step in PostgreSQL's dialect, for plain tables and indexes.

    An `id INTEGER PRIMARY KEY` becomes an identity that still accepts given values (as
    SQLite's rowid alias does, and `isnad migrate` copies ids); every other INTEGER a
    BIGINT (chat ids and simhashes pass 2**31); REAL a double; BLOB bytea. A step using
    what has no such form (FTS tables, AUTOINCREMENT) raises DialectError: write its
    PostgreSQL counterpart by hand.
    """
    found = _SQLITE_ONLY.search(step)
    if found:
        raise DialectError(f"no automatic PostgreSQL form for {found.group(0)!r}: {step[:80]}")
    text = re.sub(
        r"\bid\s+INTEGER\s+PRIMARY\s+KEY\b",
        "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        step,
        flags=re.IGNORECASE,
    )
    text = re.sub(r"\bINTEGER\b", "BIGINT", text, flags=re.IGNORECASE)
    text = re.sub(r"\bREAL\b", "DOUBLE PRECISION", text, flags=re.IGNORECASE)
    return re.sub(r"\bBLOB\b", "BYTEA", text, flags=re.IGNORECASE)
