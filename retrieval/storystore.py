"""Story rows of the corpus store: which story each article tells, and what it copies.

CorpusStore inherits these; they run on its reading connection and its writer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np

from retrieval.models import Article
from retrieval.neardup import to_signed, to_unsigned
from retrieval.postgres import Database
from retrieval.stories import StoryDecision, StoryMember, parse_time

ARTICLE_COLUMNS = (
    "id, title, body, source, url, published, content_hash, added_at, author, dated_at_ingest"
)


def article_row(row: Sequence[object]) -> Article:
    """Return the Article of a row of ARTICLE_COLUMNS."""
    return Article(*row[:-1], dated_at_ingest=bool(row[-1]))  # type: ignore[arg-type, misc]


class StoryRows:
    """Reads and writes of the stories and article_stories tables."""

    db: Database
    _writer: Database
    _member_cache: dict[int, StoryMember]  # lead vectors, keys, hashes by article id

    async def _place(self, article_id: int, story: StoryDecision, now: str) -> None:
        """Write an article's story row on the writer (the caller commits)."""
        story_id = story.story_id
        if story_id is not None:
            async with self._writer.execute(
                "SELECT 1 FROM stories WHERE id = ?", (story_id,)
            ) as cur:
                if await cur.fetchone() is None:
                    story_id = None  # its articles were deleted since the decision
        if story_id is None:
            async with self._writer.execute(
                "INSERT INTO stories (created_at) VALUES (?) RETURNING id", (now,)
            ) as cur:
                # Read whole and closed: SQLite holds a RETURNING statement open till then.
                (row,) = await cur.fetchall()
            story_id = int(row[0])
        await self._writer.execute(
            "INSERT INTO article_stories"
            " (article_id, story_id, copy_of, simhash, words, keys, cosine)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(article_id) DO UPDATE SET"
            " story_id = excluded.story_id, copy_of = excluded.copy_of,"
            " simhash = excluded.simhash, words = excluded.words, keys = excluded.keys,"
            " cosine = excluded.cosine",
            (
                article_id,
                story_id,
                story.copy_of if story.story_id == story_id else None,
                to_signed(story.simhash),
                story.words,
                " ".join(sorted(story.keys)),
                story.cosine,
            ),
        )

    async def place_in_story(self, article_id: int, story: StoryDecision) -> None:
        """Give a stored article its story (for articles stored before stories existed)."""
        try:
            await self._place(article_id, story, datetime.now(UTC).isoformat(timespec="seconds"))
            await self._writer.commit()
        except BaseException:
            await self._writer.rollback()
            raise

    async def story_members(self, start: datetime, end: datetime) -> list[StoryMember]:
        """Return the articles in stories published from start to end, with lead vectors.

        Dates are compared as text on their day first (stored dates come in several
        ISO forms), then exactly. Lead vectors, keys and hashes are kept in memory
        between calls (reading thousands of vectors per ingested article would cost as
        much as embedding it); story and original are read afresh each time.
        """
        first = start.date().isoformat()
        last = (end.date() + timedelta(days=1)).isoformat()
        async with self.db.execute(
            "SELECT s.article_id, s.story_id, s.copy_of, a.published FROM article_stories s"
            " JOIN articles a ON a.id = s.article_id WHERE a.published >= ? AND a.published < ?",
            (first, last),
        ) as cur:
            rows = [
                (int(a), int(st), int(c) if c is not None else None, when)
                for a, st, c, p in await cur.fetchall()
                if start <= (when := parse_time(str(p), start - timedelta(days=1))) <= end
            ]
        cache = self._members()
        missing = [a for a, _, _, _ in rows if a not in cache]
        for n in range(0, len(missing), 500):
            await self._cache_members(missing[n : n + 500], cache)
        out = []
        for article_id, story_id, copy_of, when in rows:
            member = cache.get(article_id)
            if member is None:
                continue  # no chunk: nothing to compare with
            if (member.story_id, member.copy_of, member.published) != (story_id, copy_of, when):
                member = replace(member, story_id=story_id, copy_of=copy_of, published=when)
                cache[article_id] = member
            out.append(member)
        if len(cache) > 4 * len(out) + 10_000:
            keep = {m.article_id for m in out}
            for article_id in [a for a in cache if a not in keep]:
                del cache[article_id]
        return out

    def _members(self) -> dict[int, StoryMember]:
        try:
            return self._member_cache
        except AttributeError:
            self._member_cache = {}
            return self._member_cache

    def forget_lead_vectors(self) -> None:
        """Drop the lead vectors kept in memory (the chunks were re-embedded)."""
        self._members().clear()

    async def _cache_members(self, ids: list[int], cache: dict[int, StoryMember]) -> None:
        marks = ",".join("?" * len(ids))
        async with self.db.execute(
            "SELECT s.article_id, s.story_id, s.copy_of, a.published, s.simhash, s.words,"
            " s.keys, c.vector FROM article_stories s JOIN articles a ON a.id = s.article_id"
            " JOIN chunks c ON c.article_id = s.article_id AND c.ord = 0"
            f" WHERE s.article_id IN ({marks})",
            ids,
        ) as cur:
            for r in await cur.fetchall():
                cache[int(r[0])] = StoryMember(
                    int(r[0]),
                    int(r[1]),
                    int(r[2]) if r[2] is not None else None,
                    parse_time(str(r[3])),
                    to_unsigned(int(r[4])),
                    int(r[5]),
                    frozenset(str(r[6]).split()),
                    np.frombuffer(r[7], dtype=np.float32),
                )

    async def article_stories(self, ids: Iterable[int]) -> dict[int, int]:
        """Return the story id of each of these articles that has one."""
        rows = await self._story_rows(ids)
        return {a: s for a, s, _ in rows}

    async def article_copies(self, ids: Iterable[int]) -> dict[int, int]:
        """Return, for each of these articles that reprints another's text, the original's id."""
        rows = await self._story_rows(ids)
        return {a: c for a, _, c in rows if c is not None}

    async def _story_rows(self, ids: Iterable[int]) -> list[tuple[int, int, int | None]]:
        ids = sorted(set(ids))
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        async with self.db.execute(
            f"SELECT article_id, story_id, copy_of FROM article_stories"
            f" WHERE article_id IN ({marks})",
            ids,
        ) as cur:
            return [
                (int(a), int(s), int(c) if c is not None else None)
                for a, s, c in await cur.fetchall()
            ]

    async def story_articles(self, story_id: int) -> list[Article]:
        """Return a story's articles, oldest first."""
        cols = ", ".join("a." + c.strip() for c in ARTICLE_COLUMNS.split(","))
        async with self.db.execute(
            f"SELECT {cols} FROM article_stories s JOIN articles a ON a.id = s.article_id"
            " WHERE s.story_id = ? ORDER BY a.published, a.id",
            (story_id,),
        ) as cur:
            return [article_row(r) for r in await cur.fetchall()]

    async def story_sources(self, story_ids: Iterable[int]) -> dict[int, list[str]]:
        """Return each story's outlets, in the order they first told it."""
        ids = sorted(set(story_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        async with self.db.execute(
            "SELECT s.story_id, a.source FROM article_stories s JOIN articles a"
            f" ON a.id = s.article_id WHERE s.story_id IN ({marks}) ORDER BY a.published, a.id",
            ids,
        ) as cur:
            out: dict[int, list[str]] = {i: [] for i in ids}
            for story, source in await cur.fetchall():
                if source not in out[int(story)]:
                    out[int(story)].append(str(source))
        return out

    async def story_outlets(self, story_id: int) -> list[str]:
        """Return one story's outlets, in the order they first told it."""
        return (await self.story_sources([story_id])).get(story_id, [])

    async def unplaced_articles(self) -> list[Article]:
        """Return the articles with no story yet, in publication order."""
        cols = ", ".join("a." + c.strip() for c in ARTICLE_COLUMNS.split(","))
        async with self.db.execute(
            f"SELECT {cols} FROM articles a LEFT JOIN article_stories s"
            " ON s.article_id = a.id WHERE s.article_id IS NULL ORDER BY a.published, a.id"
        ) as cur:
            return [article_row(r) for r in await cur.fetchall()]
