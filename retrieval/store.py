"""The corpus store: articles, chunks, vectors and a lexical index, in SQLite or PostgreSQL."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
import numpy as np

from retrieval.arabic import index_text
from retrieval.dbhealth import DamagedDatabaseError, is_damage
from retrieval.fulltext import Fts5Text, FullText, PgText
from retrieval.identity import canonical_url, content_hash
from retrieval.models import Article, ArticleDraft, Chunk, ChunkSpan
from retrieval.postgres import CHANGES_CHANNEL, Database, PgConnection, is_postgres
from retrieval.schema import migrate
from retrieval.stories import StoryDecision
from retrieval.storystore import ARTICLE_COLUMNS, StoryRows, article_row

logger = logging.getLogger(__name__)

_ARTICLE_COLUMNS = ARTICLE_COLUMNS


# Corpus writers on PostgreSQL take turns on this lock, so the change log's sequence
# numbers are handed out in commit order and a follower never skips past a change
# that commits late.
CHANGE_LOCK = 0x15AD_C0DE

# The change log keeps about this many of its newest rows (`CorpusStore.keep_changes`);
# how far it was cut is the meta row PRUNED_KEY, since sequence numbers on PostgreSQL
# have gaps (a rolled-back insert spends its number) and MIN(seq) would not tell.
KEEP_CHANGES = 100_000
PRUNED_KEY = "changes_pruned_through"


def utc_now() -> str:
    """Return the current UTC time as ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class CorpusStats:
    """Counts that describe the corpus."""

    articles: int
    chunks: int
    sources: tuple[tuple[str, int], ...]
    newest_published: str
    newest_added: str
    stories: int = 0


_article = article_row


def _checked_keep(keep_changes: int) -> int:
    """Return keep_changes, refused below one: the newest change always stays."""
    if keep_changes < 1:
        raise ValueError(f"keep_changes must be at least 1, not {keep_changes}")
    return keep_changes


async def connect(path: Path) -> Database:
    """Open a connection in WAL mode that waits for a busy writer instead of failing."""
    db = await aiosqlite.connect(path)
    try:
        await db.execute("PRAGMA busy_timeout=30000")
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        # An open connection's worker thread would keep the process alive.
        await db.close()
        raise
    return db


class CorpusStore(StoryRows):
    """Articles, chunks with their float32 vectors, and lexical search over chunks.

    `db` is shared: other parts of the bot keep their tables in the same file
    and commit on it. Corpus writes therefore go through a connection of their
    own, so that nobody's commit can land in the middle of adding an article.
    Both are aiosqlite connections to a file, or `PgConnection`s to one PostgreSQL
    database (`open_url`); the SQL is the same but for the lexical index (`fulltext`).
    The change log followers read keeps about keep_changes rows (see `_prune_changes`).
    """

    # How long a chunk count serves term statistics: a count a few seconds old (another
    # process ingesting) moves idf weights by nothing that matters, and counting 100k
    # chunks per question costs more than the rest of the decision.
    COUNT_SECONDS = 30.0

    def __init__(
        self,
        db: Database,
        path: Path,
        writer: Database,
        url: str = "",
        keep_changes: int = KEEP_CHANGES,
    ):
        self.db = db
        self.keep_changes = _checked_keep(keep_changes)
        self.path = path
        self.url = url  # the PostgreSQL database, or "" for the file at path
        self._writer = writer
        self._text: FullText = PgText() if is_postgres(db) else Fts5Text()
        self._count: tuple[float, int] | None = None  # (monotonic time, chunks)
        # Chunks holding each term, as counted at a monotonic time; the same freshness.
        self._documents: OrderedDict[str, tuple[float, int]] = OrderedDict()

    @classmethod
    async def open(cls, path: Path, keep_changes: int = KEEP_CHANGES) -> CorpusStore:
        """Open (and create or migrate) the database at path; a corrupt file is refused."""
        _checked_keep(keep_changes)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = await connect(path)
            try:
                await migrate(db)
                writer = await connect(path)
            except BaseException:
                await db.close()
                raise
        except sqlite3.DatabaseError as exc:
            if is_damage(exc):
                raise DamagedDatabaseError(path, str(exc)) from exc
            raise
        return cls(db, path, writer, keep_changes=keep_changes)

    @classmethod
    async def open_url(cls, url: str, keep_changes: int = KEEP_CHANGES) -> CorpusStore:
        """Open (and create or migrate) the corpus in the PostgreSQL database at url."""
        _checked_keep(keep_changes)
        db = await PgConnection.open(url)
        try:
            await migrate(db)
            writer = await PgConnection.open(url)
        except BaseException:
            await db.close()
            raise
        return cls(db, Path(), writer, url, keep_changes)

    @classmethod
    async def open_location(
        cls, url: str, path: Path, keep_changes: int = KEEP_CHANGES
    ) -> CorpusStore:
        """Open the PostgreSQL database at url, or the SQLite file at path when url is ""."""
        if url:
            return await cls.open_url(url, keep_changes)
        return await cls.open(path, keep_changes)

    async def close(self) -> None:
        """Close both connections."""
        await self._writer.close()
        await self.db.close()

    # -- articles -----------------------------------------------------------

    async def find_duplicate(self, draft: ArticleDraft) -> int | None:
        """Return the id of a stored article with the same canonical URL or text."""
        url = canonical_url(draft.url)
        if url:
            async with self.db.execute(
                "SELECT id FROM articles WHERE canonical_url = ?", (url,)
            ) as cur:
                row = await cur.fetchone()
            if row:
                return int(row[0])
        async with self.db.execute(
            "SELECT id FROM articles WHERE content_hash = ?", (content_hash(draft.body),)
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else None

    async def add_article(
        self,
        draft: ArticleDraft,
        spans: Sequence[ChunkSpan],
        vectors: np.ndarray,
        model: str,
        story: StoryDecision | None = None,
    ) -> tuple[Article, list[Chunk]]:
        """Store an article with its chunks, vectors and FTS rows in one transaction;
        with story, its place in a story too."""
        if len(spans) != len(vectors):
            raise ValueError("one vector per chunk is needed")
        now = utc_now()
        # A stated date wins; with none, a draft marked so is dated now, and says so.
        dated_at_ingest = draft.dated_at_ingest and not draft.published
        published = now if dated_at_ingest else draft.published
        try:
            await self._begin_change()
            async with self._writer.execute(
                "INSERT INTO articles (title, body, source, url, canonical_url, published,"
                " content_hash, added_at, author, dated_at_ingest)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    draft.title,
                    draft.body,
                    draft.source,
                    draft.url,
                    canonical_url(draft.url) or None,
                    published,
                    content_hash(draft.body),
                    now,
                    draft.author,
                    int(dated_at_ingest),
                ),
            ) as cur:
                # Closed at once: SQLite holds a RETURNING statement open till then.
                (row,) = await cur.fetchall()
            article_id = int(row[0])
            chunks = []
            for span, vec in zip(spans, vectors, strict=True):
                async with self._writer.execute(
                    'INSERT INTO chunks (article_id, ord, start, "end", text, vector, model)'
                    " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        article_id,
                        span.order,
                        span.start,
                        span.end,
                        span.text,
                        np.asarray(vec, dtype=np.float32).tobytes(),
                        model,
                    ),
                ) as cur:
                    (row,) = await cur.fetchall()
                chunk_id = int(row[0])
                await self._text.add(
                    self._writer,
                    chunk_id,
                    index_text(draft.title if span.order == 0 else "")
                    + " "
                    + index_text(span.text),
                )
                chunks.append(
                    Chunk(chunk_id, article_id, span.order, span.start, span.end, span.text)
                )
            if story is not None:
                await self._place(article_id, story, now)
            await self._log_changes([(c.id, "add") for c in chunks])
            await self._writer.commit()
            self._count = None  # chunks added or removed: count again
            self._documents.clear()
            self._text.forget()
        except BaseException:
            await self._writer.rollback()
            raise
        article = Article(
            article_id,
            draft.title,
            draft.body,
            draft.source,
            draft.url,
            published,
            content_hash(draft.body),
            now,
            draft.author,
            dated_at_ingest,
        )
        return article, chunks

    async def delete_article(self, article_id: int) -> list[int]:
        """Delete an article, its chunks and FTS rows; return the removed chunk ids.

        Its story stays with the other articles (and goes when it was the last one);
        its copies then name the oldest of them as the original.
        """
        async with self._writer.execute(
            "SELECT id FROM chunks WHERE article_id = ?", (article_id,)
        ) as cur:
            ids = [int(r[0]) for r in await cur.fetchall()]
        try:
            await self._begin_change()
            async with self._writer.execute(
                "SELECT MIN(article_id) FROM article_stories WHERE copy_of = ?", (article_id,)
            ) as cur:
                row = await cur.fetchone()
            if row and row[0] is not None:
                await self._writer.execute(
                    "UPDATE article_stories SET copy_of = CASE WHEN article_id = ? THEN NULL"
                    " ELSE ? END WHERE copy_of = ?",
                    (int(row[0]), int(row[0]), article_id),
                )
            await self._text.remove(self._writer, ids)
            await self._writer.execute("DELETE FROM chunks WHERE article_id = ?", (article_id,))
            await self._writer.execute("DELETE FROM articles WHERE id = ?", (article_id,))
            await self._log_changes([(i, "remove") for i in ids])
            await self._writer.commit()
            self._count = None  # chunks added or removed: count again
            self._documents.clear()
            self._text.forget()
        except BaseException:
            await self._writer.rollback()
            raise
        return ids

    async def get_article(self, article_id: int) -> Article | None:
        """Return one article, or None."""
        async with self.db.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id = ?", (article_id,)
        ) as cur:
            row = await cur.fetchone()
        return _article(row) if row else None

    async def get_articles(self, ids: Iterable[int]) -> dict[int, Article]:
        """Return the articles with these ids, keyed by id."""
        ids = list(set(ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        async with self.db.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id IN ({marks})", ids
        ) as cur:
            return {int(r[0]): _article(r) for r in await cur.fetchall()}

    async def latest_articles(self, limit: int = 5) -> list[Article]:
        """Return the newest articles by publication date, then by insertion."""
        async with self.db.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles ORDER BY published DESC, id DESC LIMIT ?",
            (limit,),
        ) as cur:
            return [_article(r) for r in await cur.fetchall()]

    async def find_articles(self, terms: Sequence[str], limit: int = 10) -> list[Article]:
        """Return articles whose chunks match all the given search terms."""
        if not terms:
            return []
        async with self.db.execute(
            f"SELECT {', '.join('a.' + c.strip() for c in _ARTICLE_COLUMNS.split(','))}"
            " FROM articles a WHERE a.id IN (SELECT c.article_id FROM chunks c WHERE c.id IN"
            f" ({self._text.matching_all()})) ORDER BY a.id DESC LIMIT ?",
            (self._text.all_terms(terms), limit),
        ) as cur:
            return [_article(r) for r in await cur.fetchall()]

    # -- chunks -------------------------------------------------------------

    async def get_chunks(self, ids: Iterable[int]) -> dict[int, Chunk]:
        """Return the chunks with these ids, keyed by id."""
        ids = list(set(ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        async with self.db.execute(
            f'SELECT id, article_id, ord, start, "end", text FROM chunks WHERE id IN ({marks})', ids
        ) as cur:
            return {int(r[0]): Chunk(*r) for r in await cur.fetchall()}

    async def chunk_ids(self) -> list[int]:
        """Return every chunk id in ascending order."""
        async with self.db.execute("SELECT id FROM chunks ORDER BY id") as cur:
            return [int(r[0]) for r in await cur.fetchall()]

    async def article_chunk_ids(self, article_ids: Iterable[int]) -> set[int]:
        """Return the ids of every chunk of the given articles."""
        ids = list(article_ids)
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        async with self.db.execute(
            f"SELECT id FROM chunks WHERE article_id IN ({marks})", ids
        ) as cur:
            return {int(r[0]) for r in await cur.fetchall()}

    async def source_chunk_ids(self, sources: Iterable[str]) -> set[int]:
        """Return the ids of every chunk of the articles from these sources (exact names)."""
        names = sorted(set(sources))
        if not names:
            return set()
        marks = ",".join("?" * len(names))
        async with self.db.execute(
            "SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id"
            f" WHERE a.source IN ({marks})",
            names,
        ) as cur:
            return {int(r[0]) for r in await cur.fetchall()}

    async def vectors(self, batch: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
        """Return (ids, vectors) of every chunk, as stored."""
        ids: list[int] = []
        rows: list[np.ndarray] = []
        async with self.db.execute("SELECT id, vector FROM chunks ORDER BY id") as cur:
            while chunk := await cur.fetchmany(batch):
                for cid, blob in chunk:
                    ids.append(int(cid))
                    rows.append(np.frombuffer(blob, dtype=np.float32))
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        return np.asarray(ids, dtype=np.int64), np.vstack(rows)

    async def chunk_texts(self, after_id: int = 0, limit: int = 256) -> list[tuple[int, str]]:
        """Return (id, text) of chunks with id > after_id, in id order, for re-embedding."""
        async with self.db.execute(
            "SELECT id, text FROM chunks WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        ) as cur:
            return [(int(r[0]), str(r[1])) for r in await cur.fetchall()]

    async def chunk_vector(self, chunk_id: int) -> np.ndarray:
        """Return one chunk's stored vector."""
        async with self.db.execute("SELECT vector FROM chunks WHERE id = ?", (chunk_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            raise KeyError(chunk_id)
        return np.frombuffer(row[0], dtype=np.float32)

    async def article_vectors(self, article_id: int) -> list[np.ndarray]:
        """Return the stored vectors of an article's chunks, in text order."""
        async with self.db.execute(
            "SELECT vector FROM chunks WHERE article_id = ? ORDER BY ord", (article_id,)
        ) as cur:
            return [np.frombuffer(r[0], dtype=np.float32) for r in await cur.fetchall()]

    async def replace_vectors(self, ids: Sequence[int], vectors: np.ndarray, model: str) -> None:
        """Store new vectors for these chunks and record the model, in one transaction.

        The change log gets one 'reindex' row: followers rebuild their index from the
        stored vectors and swap it in whole when they see it.
        """
        try:
            await self._begin_change()
            await self._writer.executemany(
                "UPDATE chunks SET vector = ?, model = ? WHERE id = ?",
                [
                    (np.asarray(v, dtype=np.float32).tobytes(), model, int(i))
                    for i, v in zip(ids, vectors, strict=True)
                ],
            )
            await self._put_meta("model", model)
            await self._log_changes([(0, "reindex")])
            await self._writer.commit()
            self.forget_lead_vectors()  # stories compare the new vectors from now on
        except BaseException:
            await self._writer.rollback()
            raise

    async def lexical_search(
        self, terms: Sequence[str], limit: int, within: Collection[int] | None = None
    ) -> list[tuple[int, float]]:
        """Return (chunk id, bm25) best first for any of the terms; bm25 is lower-better.

        With within, only those chunks are searched (say, the articles of a time window).
        """
        return await self._text.search(self.db, terms, limit, within)

    async def published_between(self, low: str, high: str) -> list[tuple[int, str]]:
        """Return (article id, published) of articles whose stored date string lies in
        [low, high); the caller reads the times, this only narrows by the index."""
        async with self.db.execute(
            "SELECT id, published FROM articles WHERE published >= ? AND published < ?",
            (low, high),
        ) as cur:
            return [(int(r[0]), str(r[1])) for r in await cur.fetchall()]

    async def dated_span(self) -> tuple[str, str] | None:
        """Return the oldest and newest published date strings, or None when no article
        is dated."""
        async with self.db.execute(
            "SELECT MIN(published), MAX(published) FROM articles WHERE published != ''"
        ) as cur:
            row = await cur.fetchone()
        return (str(row[0]), str(row[1])) if row and row[0] is not None else None

    async def chunks_of(self, article_ids: Collection[int]) -> set[int]:
        """Return the chunk ids of these articles (any number of them)."""
        async with self.db.execute(
            "SELECT id FROM chunks WHERE article_id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(article_ids)),),
        ) as cur:
            return {int(r[0]) for r in await cur.fetchall()}

    async def term_counts(
        self, terms: Sequence[str], hidden: Collection[int] = ()
    ) -> tuple[dict[str, int], int]:
        """Return how many chunks hold each term, and how many chunks there are, leaving
        the hidden chunks out of both."""
        hidden_ids = sorted(hidden)
        counts: dict[str, int] = {}
        for term in dict.fromkeys(t for t in terms if t):
            counts[term] = await self._term_documents(term)
            if hidden_ids and counts[term]:
                counts[term] -= await self._text.documents_among(self.db, term, hidden_ids)
        return counts, await self._chunk_count() - len(hidden_ids)

    async def _term_documents(self, term: str) -> int:
        now = time.monotonic()
        known = self._documents.get(term)
        if known is not None and now - known[0] <= self.COUNT_SECONDS:
            self._documents.move_to_end(term)
            return known[1]
        # Counting reads the term's whole posting list: a common term in a big corpus
        # costs milliseconds, so counts are kept a while.
        self._documents[term] = (now, await self._text.documents(self.db, term))
        if len(self._documents) > 20_000:
            self._documents.popitem(last=False)
        return self._documents[term][1]

    async def _chunk_count(self) -> int:
        now = time.monotonic()
        if self._count is None or now - self._count[0] > self.COUNT_SECONDS:
            async with self.db.execute("SELECT COUNT(*) FROM chunks") as cur:
                row = await cur.fetchone()
            self._count = (now, int(row[0]) if row else 0)
        return self._count[1]

    # -- the change log -------------------------------------------------------

    async def _begin_change(self) -> None:
        if isinstance(self._writer, PgConnection):
            await self._writer.begin()
            await self._writer.execute("SELECT pg_advisory_xact_lock(?)", (CHANGE_LOCK,))

    async def _log_changes(self, rows: Sequence[tuple[int, str]]) -> None:
        await self._writer.executemany(
            "INSERT INTO chunk_changes (chunk_id, op) VALUES (?, ?)", list(rows)
        )
        await self._prune_changes()
        if isinstance(self._writer, PgConnection):
            # Delivered at commit: followers wake without polling.
            await self._writer.execute("SELECT pg_notify(?, '')", (CHANGES_CHANNEL,))

    async def _prune_changes(self) -> None:
        """Drop the oldest changes, in the transaction that logged new ones, once the log
        holds a tenth more than it keeps; record the newest sequence number dropped.

        Two cheap lookups per write; the delete runs once every keep_changes / 10
        changes. The newest row always stays, so SQLite never hands out a number again.
        """
        async with self._writer.execute(
            "SELECT COALESCE(MAX(seq), 0), (SELECT value FROM meta WHERE key = ?)"
            " FROM chunk_changes",
            (PRUNED_KEY,),
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        newest, through = int(row[0]), int(row[1] or 0)
        if newest - through <= self.keep_changes + max(1, self.keep_changes // 10):
            return
        through = newest - self.keep_changes
        await self._writer.execute("DELETE FROM chunk_changes WHERE seq <= ?", (through,))
        await self._put_meta(PRUNED_KEY, str(through))

    async def changes_pruned_through(self) -> int:
        """Return the newest sequence number dropped from the change log (0 if none).

        A follower that applied less than this has missed changes: it rebuilds instead.
        """
        value = await self.get_meta(PRUNED_KEY)
        return int(value) if value else 0

    async def last_change(self) -> int:
        """Return the sequence number of the newest change to the chunks (0 if none)."""
        async with self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM chunk_changes") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def changes_since(self, seq: int, limit: int = 5000) -> list[tuple[int, int, str]]:
        """Return (seq, chunk id, op) of the changes after seq, oldest first."""
        async with self.db.execute(
            "SELECT seq, chunk_id, op FROM chunk_changes WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        ) as cur:
            return [(int(s), int(c), str(o)) for s, c, o in await cur.fetchall()]

    async def vectors_of(self, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Return (ids, vectors) of those of these chunks still stored, by id."""
        found: list[tuple[int, bytes]] = []
        for first in range(0, len(ids), 500):
            part = list(ids[first : first + 500])
            marks = ",".join("?" * len(part))
            async with self.db.execute(
                f"SELECT id, vector FROM chunks WHERE id IN ({marks}) ORDER BY id", part
            ) as cur:
                found += [(int(i), bytes(v)) for i, v in await cur.fetchall()]
        if not found:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        return (
            np.asarray([i for i, _ in found], dtype=np.int64),
            np.vstack([np.frombuffer(v, dtype=np.float32) for _, v in found]),
        )

    # -- meta ---------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        """Return a stored setting of the corpus, such as the embedding model name."""
        async with self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        """Store a setting of the corpus."""
        try:
            await self._put_meta(key, value)
            await self._writer.commit()
        except BaseException:
            await self._writer.rollback()
            raise

    async def _put_meta(self, key: str, value: str) -> None:
        """Store a setting in the writer's open transaction."""
        await self._writer.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def stats(self) -> CorpusStats:
        """Count articles, chunks and sources."""
        async with self.db.execute(
            "SELECT (SELECT COUNT(*) FROM articles), (SELECT COUNT(*) FROM chunks),"
            " (SELECT COALESCE(MAX(published), '') FROM articles),"
            " (SELECT COALESCE(MAX(added_at), '') FROM articles),"
            " (SELECT COUNT(*) FROM stories)"
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        async with self.db.execute(
            "SELECT source, COUNT(*) FROM articles GROUP BY source ORDER BY COUNT(*) DESC, source"
        ) as cur:
            sources = tuple((str(s), int(n)) for s, n in await cur.fetchall())
        return CorpusStats(int(row[0]), int(row[1]), sources, str(row[2]), str(row[3]), int(row[4]))
