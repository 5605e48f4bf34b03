"""Copy an SQLite file's tables into PostgreSQL (`isnad migrate --to postgresql://…`).

Every table of the file goes, in an order that satisfies the foreign keys: articles,
chunks with their vectors, the lexical index (rebuilt as tsvectors from the stored
normalised text), feeds, subscriptions, the outbox, the admin tables, and any table a
later schema step adds. Rows keep their ids, so a chunk id in FAISS, an outbox row
and an audit entry mean the same thing on both sides. Rows already there are left
alone (the copy can be run again after a stop), and the counts are checked after.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from retrieval.fulltext import tokens, tsvector_text
from retrieval.postgres import PgConnection, redact

BATCH = 1000

# SQLite's own tables, FTS5's shadow tables and the version table are not copied.
_SKIP_PREFIXES = ("sqlite_", "chunks_fts_")
_SKIP = {"schema_version", "chunks_fts"}


class TransferError(Exception):
    """The copy cannot be made or does not check out; the message says why."""


@dataclass(frozen=True)
class TableCopy:
    """One table: rows in the file, rows there after the copy, rows this run added."""

    name: str
    source: int
    target: int
    added: int


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def tables_in_order(db: sqlite3.Connection) -> list[str]:
    """Return the file's ordinary tables, each after the tables its foreign keys name."""
    names = [
        str(r[0])
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'"
            " ORDER BY name"
        )
        if str(r[0]) not in _SKIP and not str(r[0]).startswith(_SKIP_PREFIXES)
    ]
    needs = {
        n: {str(r[2]) for r in db.execute(f"PRAGMA foreign_key_list({_quote(n)})")} for n in names
    }
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and needs[n] <= set(ordered) | {n}]
        if not ready:  # a cycle: keep the remaining order; PostgreSQL will say if it matters
            ready = [n for n in names if n not in ordered]
        ordered += ready
    return ordered


async def _count(db: PgConnection, table: str) -> int:
    async with db.execute(f"SELECT COUNT(*) FROM {_quote(table)}") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _copy_table(
    source: sqlite3.Connection, target: PgConnection, table: str
) -> tuple[int, int]:
    """Copy one table's rows that are not there yet; return (rows in the file, rows added)."""
    columns = [str(r[1]) for r in source.execute(f"PRAGMA table_info({_quote(table)})")]
    names = ", ".join(_quote(c) for c in columns)
    marks = ", ".join("?" * len(columns))
    before = await _count(target, table)
    total = 0
    cur = source.execute(f"SELECT {names} FROM {_quote(table)}")
    while rows := cur.fetchmany(BATCH):
        total += len(rows)
        await target.executemany(
            f"INSERT INTO {_quote(table)} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING",
            rows,
        )
        await target.commit()
    return total, await _count(target, table) - before


async def _copy_fulltext(source: sqlite3.Connection, target: PgConnection) -> tuple[int, int]:
    """Index the stored normalised text of every chunk as a tsvector."""
    before = await _count(target, "chunks_fts")
    total = 0
    cur = source.execute("SELECT rowid, norm FROM chunks_fts ORDER BY rowid")
    while rows := cur.fetchmany(BATCH):
        total += len(rows)
        await target.executemany(
            "INSERT INTO chunks_fts (chunk_id, norm, terms, length)"
            " VALUES (?, ?, ?::tsvector, ?) ON CONFLICT DO NOTHING",
            [(int(i), str(n), tsvector_text(str(n)), len(tokens(str(n)))) for i, n in rows],
        )
        await target.commit()
    return total, await _count(target, "chunks_fts") - before


async def _advance_identities(target: PgConnection, tables: list[str]) -> None:
    """Move each identity past the copied values, so new rows do not collide with them."""
    for table in tables:
        async with target.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = ? AND is_identity = 'YES'",
            (table,),
        ) as cur:
            columns = [str(r[0]) for r in await cur.fetchall()]
        for column in columns:
            await target.execute(
                f"SELECT setval(pg_get_serial_sequence(?, ?),"
                f" COALESCE((SELECT MAX({_quote(column)}) FROM {_quote(table)}), 0) + 1, false)",
                (_quote(table), column),
            )


async def _vector_bytes(target: PgConnection) -> int:
    async with target.execute("SELECT COALESCE(SUM(octet_length(vector)), 0) FROM chunks") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def copy_tables(
    path: Path, url: str, progress: Callable[[str], None] = lambda line: None
) -> list[TableCopy]:
    """Copy the SQLite file at path into the PostgreSQL database at url; check the counts.

    Both must be at the same schema versions already (the caller opens each side,
    which migrates it): the columns then match.
    """
    source = sqlite3.connect(path)
    target = await PgConnection.open(url)
    report: list[TableCopy] = []
    try:
        tables = tables_in_order(source)
        for table in tables:
            total, added = await _copy_table(source, target, table)
            report.append(TableCopy(table, total, await _count(target, table), added))
            progress(f"{table}: {total} rows, {added} copied")
            if table == "chunks":
                total, added = await _copy_fulltext(source, target)
                report.append(
                    TableCopy("chunks_fts", total, await _count(target, "chunks_fts"), added)
                )
                progress(f"chunks_fts: {total} rows, {added} indexed")
        await _advance_identities(target, tables)
        wrong = [t for t in report if t.target != t.source]
        if wrong:
            raise TransferError(
                "counts differ after the copy ("
                + ", ".join(
                    f"{t.name}: {t.source} in the file, {t.target} in {redact(url)}" for t in wrong
                )
                + "): the database held other rows; migrate into an empty database"
            )
        (stored,) = source.execute("SELECT COALESCE(SUM(length(vector)), 0) FROM chunks").fetchone()
        if int(stored) != await _vector_bytes(target):
            raise TransferError("the vectors copied differ in size from the file's: run again")
    finally:
        source.close()
        await target.close()
    return report
