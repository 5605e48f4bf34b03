"""Lexical search over chunks' normalised, stemmed terms: SQLite FTS5 or PostgreSQL full text.

Both index the same text (`arabic.index_text`): FTS5 with its unicode61 tokenizer,
PostgreSQL as a tsvector built here from the same tokens (its own parser would cut
`covid-19` and `1.5` differently), under a GIN index. Both rank by BM25 with FTS5's
constants and sign (lower is better), so fusion weights tuned on one serve the other.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Collection, Sequence
from typing import Any, Protocol

# FTS5's bm25() constants.
K1 = 1.2
B = 0.75

# unicode61 splits on anything but letters and digits (the underscore too).
_TOKEN = re.compile(r"[^\W_]+")


def tokens(norm: str) -> list[str]:
    """Split stored index text into the tokens FTS5's unicode61 tokenizer sees."""
    return _TOKEN.findall(norm)


def tsvector_text(norm: str) -> str:
    """Return a tsvector literal of norm's tokens with their positions (1-based)."""
    places: dict[str, list[int]] = {}
    for at, token in enumerate(tokens(norm), start=1):
        # A tsvector keeps positions up to 16383 and 256 per lexeme; a chunk has far fewer.
        places.setdefault(token, []).append(min(at, 16383))
    return " ".join(
        "'" + t.replace("\\", "\\\\").replace("'", "''") + "':" + ",".join(map(str, p[:256]))
        for t, p in places.items()
    )


def tsquery_text(terms: Sequence[str], joint: str = " | ") -> str:
    """Return a tsquery literal matching any (joint ' | ') or all (' & ') of the terms."""
    return joint.join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in terms)


class Connection(Protocol):
    """The calls of an aiosqlite connection that full text needs."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...

    async def executemany(self, sql: str, rows: Any) -> Any: ...


class FullText(Protocol):
    """The lexical index beside the chunks table, per backend."""

    async def add(self, db: Connection, chunk_id: int, norm: str) -> None:
        """Index one chunk's normalised text (in the caller's transaction)."""
        ...

    async def remove(self, db: Connection, chunk_ids: Sequence[int]) -> None:
        """Drop chunks from the index (in the caller's transaction)."""
        ...

    async def search(
        self,
        db: Connection,
        terms: Sequence[str],
        limit: int,
        within: Collection[int] | None = None,
    ) -> list[tuple[int, float]]:
        """Return (chunk id, bm25) best first for chunks holding any term (of within)."""
        ...

    def matching_all(self) -> str:
        """Return SQL selecting the ids of chunks holding every term (one `?` bound)."""
        ...

    def all_terms(self, terms: Sequence[str]) -> str:
        """Return the value bound to `matching_all`'s placeholder for these terms."""
        ...

    def forget(self) -> None:
        """Drop kept counts (after this process changed the corpus)."""
        ...

    async def documents(self, db: Connection, term: str) -> int:
        """Return how many chunks hold term."""
        ...

    async def documents_among(self, db: Connection, term: str, ids: Sequence[int]) -> int:
        """Return how many of the chunks with these ids hold term."""
        ...


def _quoted(terms: Sequence[str]) -> list[str]:
    return [t.replace('"', "") for t in terms if t.replace('"', "")]


class Fts5Text:
    """FTS5 (`chunks_fts`, rowid = chunk id) and its vocabulary table for term counts."""

    def __init__(self) -> None:
        self._vocab = False  # the TEMP fts5vocab table exists on the reading connection

    def forget(self) -> None:
        """Nothing kept here: the store keeps its counts."""

    async def add(self, db: Connection, chunk_id: int, norm: str) -> None:
        await db.execute("INSERT INTO chunks_fts (rowid, norm) VALUES (?, ?)", (chunk_id, norm))

    async def remove(self, db: Connection, chunk_ids: Sequence[int]) -> None:
        await db.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in chunk_ids])

    async def search(
        self,
        db: Connection,
        terms: Sequence[str],
        limit: int,
        within: Collection[int] | None = None,
    ) -> list[tuple[int, float]]:
        query = " OR ".join(f'"{t}"' for t in dict.fromkeys(_quoted(terms)))
        if not query:
            return []
        if within is not None:
            # One JSON parameter, however many chunks: no limit on bound variables.
            async with db.execute(
                "SELECT rowid, bm25(chunks_fts) AS s FROM chunks_fts WHERE chunks_fts MATCH ?"
                " AND rowid IN (SELECT value FROM json_each(?)) ORDER BY s LIMIT ?",
                (query, json.dumps(sorted(within)), limit),
            ) as cur:
                return [(int(r[0]), float(r[1])) for r in await cur.fetchall()]
        async with db.execute(
            "SELECT rowid, bm25(chunks_fts) AS s FROM chunks_fts WHERE chunks_fts MATCH ?"
            " ORDER BY s LIMIT ?",
            (query, limit),
        ) as cur:
            return [(int(r[0]), float(r[1])) for r in await cur.fetchall()]

    def matching_all(self) -> str:
        return "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?"

    def all_terms(self, terms: Sequence[str]) -> str:
        """Return the bound value for `matching_all`'s placeholder."""
        return " AND ".join(f'"{t}"' for t in _quoted(terms))

    async def documents(self, db: Connection, term: str) -> int:
        # fts5vocab reads FTS5's own term index: no table of ours to keep in step. A
        # TEMP table lives with the connection; IF NOT EXISTS, should a rollback drop it.
        if not self._vocab:
            await db.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab"
                " USING fts5vocab(main, chunks_fts, row)"
            )
            self._vocab = True
        async with db.execute("SELECT doc FROM temp.chunks_vocab WHERE term = ?", (term,)) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def documents_among(self, db: Connection, term: str, ids: Sequence[int]) -> int:
        marks = ",".join("?" * len(ids))
        async with db.execute(
            f"SELECT COUNT(*) FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid IN ({marks})",
            ('"' + term.replace('"', "") + '"', *ids),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0


class PgText:
    """PostgreSQL full text: `chunks_fts (chunk_id, norm, terms tsvector, length)`, GIN.

    BM25 is computed in SQL from each matching row's term frequencies and length,
    with document frequencies counted through the GIN index and kept a while
    (`documents`), as the FTS5 side keeps its counts.
    """

    # How long corpus-wide figures (chunks, mean length, a term's chunks) are reused.
    COUNT_SECONDS = 30.0

    def __init__(self) -> None:
        self._shape: tuple[float, int, float] | None = None  # (monotonic, chunks, mean length)
        self._documents: dict[str, tuple[float, int]] = {}

    def forget(self) -> None:
        """Drop the kept figures (after this process changed the corpus)."""
        self._shape = None
        self._documents.clear()

    async def add(self, db: Connection, chunk_id: int, norm: str) -> None:
        await db.execute(
            "INSERT INTO chunks_fts (chunk_id, norm, terms, length) VALUES (?, ?, ?::tsvector, ?)",
            (chunk_id, norm, tsvector_text(norm), len(tokens(norm))),
        )

    async def remove(self, db: Connection, chunk_ids: Sequence[int]) -> None:
        await db.executemany("DELETE FROM chunks_fts WHERE chunk_id = ?", [(i,) for i in chunk_ids])

    async def _corpus_shape(self, db: Connection) -> tuple[int, float]:
        now = time.monotonic()
        if self._shape is None or now - self._shape[0] > self.COUNT_SECONDS:
            async with db.execute(
                "SELECT COUNT(*), COALESCE(AVG(length), 0) FROM chunks_fts"
            ) as cur:
                row = await cur.fetchone()
            self._shape = (now, int(row[0]), float(row[1]))
        return self._shape[1], self._shape[2]

    async def search(
        self,
        db: Connection,
        terms: Sequence[str],
        limit: int,
        within: Collection[int] | None = None,
    ) -> list[tuple[int, float]]:
        unique = list(dict.fromkeys(t for term in terms for t in tokens(term)))
        if not unique:
            return []
        total, mean = await self._corpus_shape(db)
        if total == 0:
            return []
        # FTS5's idf: log((N - n + 0.5) / (n + 0.5)), floored at 1e-6.
        idf = []
        for term in unique:
            n = await self.documents(db, term)
            idf.append(max(math.log((total - n + 0.5) / (n + 0.5)), 1e-6))
        async with db.execute(
            "SELECT f.chunk_id, -SUM(q.idf * u.tf * ? / (u.tf + ? * (1 - ? + ? * f.length / ?)))"
            " AS s FROM chunks_fts f"
            " CROSS JOIN LATERAL (SELECT lexeme, array_length(positions, 1) AS tf"
            " FROM unnest(f.terms)) u"
            " JOIN unnest(?::text[], ?::float8[]) AS q (term, idf) ON q.term = u.lexeme"
            " WHERE f.terms @@ ?::tsquery AND (?::bigint[] IS NULL OR f.chunk_id = ANY(?))"
            " GROUP BY f.chunk_id ORDER BY s, f.chunk_id LIMIT ?",
            (
                *(K1 + 1, K1, B, B, mean or 1.0, unique, idf, tsquery_text(unique)),
                *([sorted(within)] * 2 if within is not None else [None, None]),
                limit,
            ),
        ) as cur:
            return [(int(r[0]), float(r[1])) for r in await cur.fetchall()]

    def matching_all(self) -> str:
        return "SELECT chunk_id FROM chunks_fts WHERE terms @@ ?::tsquery"

    def all_terms(self, terms: Sequence[str]) -> str:
        """Return the bound value for `matching_all`'s placeholder."""
        return tsquery_text([t for term in terms for t in tokens(term)], " & ")

    async def documents(self, db: Connection, term: str) -> int:
        now = time.monotonic()
        known = self._documents.get(term)
        if known is not None and now - known[0] <= self.COUNT_SECONDS:
            return known[1]
        async with db.execute(
            "SELECT COUNT(*) FROM chunks_fts WHERE terms @@ ?::tsquery", (tsquery_text([term]),)
        ) as cur:
            row = await cur.fetchone()
        if len(self._documents) > 20_000:
            self._documents.clear()
        self._documents[term] = (now, int(row[0]) if row else 0)
        return self._documents[term][1]

    async def documents_among(self, db: Connection, term: str, ids: Sequence[int]) -> int:
        async with db.execute(
            "SELECT COUNT(*) FROM chunks_fts WHERE terms @@ ?::tsquery AND chunk_id = ANY(?)",
            (tsquery_text([term]), list(ids)),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0
