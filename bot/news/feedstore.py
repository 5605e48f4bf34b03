"""The feeds table and the entries seen in each feed."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from retrieval.postgres import Database
from retrieval.store import utc_now

# A failing feed waits base * 2^(failures-1), at most MAX_BACKOFF; it is never dropped.
BACKOFF_BASE = 60.0
MAX_BACKOFF = 6 * 3600.0

_COLUMNS = (
    "id, url, etag, last_modified, last_polled, last_error, failures, next_attempt,"
    " first_polled, articles, from_settings"
)


@dataclass(frozen=True)
class Feed:
    """A feed to poll, with what the last polls left behind."""

    id: int
    url: str
    etag: str | None
    last_modified: str | None
    last_polled: str | None
    last_error: str
    failures: int
    next_attempt: float
    first_polled: bool
    articles: int
    from_settings: bool


def _feed(r: Any) -> Feed:
    return Feed(
        int(r[0]),
        str(r[1]),
        r[2],
        r[3],
        r[4],
        str(r[5]),
        int(r[6]),
        float(r[7]),
        bool(r[8]),
        int(r[9]),
        bool(r[10]),
    )


async def sync_settings_feeds(db: Database, urls: Iterable[str]) -> None:
    """Make sure every feed named in settings has a row (new ones start unpolled)."""
    now = utc_now()
    await db.executemany(
        "INSERT INTO feeds (url, from_settings, added_at) VALUES (?, 1, ?)"
        " ON CONFLICT(url) DO UPDATE SET from_settings = 1",
        [(u.strip(), now) for u in urls if u.strip()],
    )
    await db.commit()


async def add_feed(db: Database, url: str) -> tuple[Feed, bool]:
    """Add a feed by URL (an admin's: it stays when settings drop it); return it and if new."""
    url = url.strip()
    existing = await get_feed(db, url)
    await db.execute(
        "INSERT INTO feeds (url, added_at) VALUES (?, ?)"
        " ON CONFLICT(url) DO UPDATE SET from_settings = 0",
        (url, utc_now()),
    )
    await db.commit()
    feed = await get_feed(db, url)
    assert feed is not None
    return feed, existing is None


async def remove_feed(db: Database, url_or_id: str) -> bool:
    """Remove a feed (by URL or id) and its seen entries; articles stay."""
    key = url_or_id.strip()
    cur = await db.execute(
        # Ids are positive: -1 matches nothing when the key is no number.
        "DELETE FROM feeds WHERE url = ? OR id = ?",
        (key, int(key) if key.isdigit() else -1),
    )
    await db.commit()
    return cur.rowcount > 0


async def get_feed(db: Database, url: str) -> Feed | None:
    """Return one feed by URL, or None."""
    async with db.execute(f"SELECT {_COLUMNS} FROM feeds WHERE url = ?", (url,)) as cur:
        row = await cur.fetchone()
    return _feed(row) if row else None


async def list_feeds(db: Database) -> list[Feed]:
    """Return every feed, oldest first."""
    async with db.execute(f"SELECT {_COLUMNS} FROM feeds ORDER BY id") as cur:
        return [_feed(r) for r in await cur.fetchall()]


async def record_success(
    db: Database,
    feed_id: int,
    *,
    etag: str | None,
    last_modified: str | None,
    added: int,
    error: str = "",
) -> None:
    """Record a poll that reached the feed: validators, counts, and the end of any backoff."""
    await db.execute(
        "UPDATE feeds SET etag = ?, last_modified = ?, last_polled = ?, last_error = ?,"
        " failures = 0, next_attempt = 0, first_polled = 1, articles = articles + ?"
        " WHERE id = ?",
        (etag, last_modified, utc_now(), error, added, feed_id),
    )
    await db.commit()


async def record_failure(db: Database, feed: Feed, error: str) -> float:
    """Record a failed poll and back the feed off; return the delay in seconds."""
    delay = min(MAX_BACKOFF, BACKOFF_BASE * 2**feed.failures)
    await db.execute(
        "UPDATE feeds SET last_polled = ?, last_error = ?, failures = failures + 1,"
        " next_attempt = ? WHERE id = ?",
        (utc_now(), error[:500], time.time() + delay, feed.id),
    )
    await db.commit()
    return delay


# Outcome of an entry whose article is being ingested: it still counts as unseen, so an
# ingest cut short (the process stopped) is met again, and known as interrupted.
INGESTING = "ingesting"


async def _keys_by_outcome(
    db: Database, feed_id: int, keys: Sequence[str], ingesting: bool
) -> set[str]:
    """Return those keys of this feed whose outcome is (or, ingesting=False, is not)
    the being-ingested mark."""
    found: set[str] = set()
    for i in range(0, len(keys), 500):
        part = keys[i : i + 500]
        marks = ",".join("?" * len(part))
        # (outcome = ?) = ? would compare a boolean with an integer on PostgreSQL.
        async with db.execute(
            "SELECT entry_key FROM feed_entries WHERE feed_id = ?"
            " AND CASE WHEN outcome = ? THEN 1 ELSE 0 END = ?"
            f" AND entry_key IN ({marks})",
            (feed_id, INGESTING, int(ingesting), *part),
        ) as cur:
            found.update(str(r[0]) for r in await cur.fetchall())
    return found


async def unseen(db: Database, feed_id: int, keys: Sequence[str]) -> set[str]:
    """Return the entry keys of this feed not seen before (being ingested counts as unseen)."""
    return set(keys) - await _keys_by_outcome(db, feed_id, keys, ingesting=False)


async def mark_seen(
    db: Database, feed_id: int, rows: Iterable[tuple[str, str, int | None]]
) -> None:
    """Record entries as seen: (entry key, outcome, article id or None).

    A seen entry keeps its first outcome, except one marked as being ingested.
    """
    now = utc_now()
    await db.executemany(
        "INSERT INTO feed_entries (feed_id, entry_key, outcome, article_id, seen_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (feed_id, entry_key) DO UPDATE SET"
        " outcome = excluded.outcome, article_id = excluded.article_id, seen_at = excluded.seen_at"
        " WHERE feed_entries.outcome = ?",
        [(feed_id, key, outcome, article_id, now, INGESTING) for key, outcome, article_id in rows],
    )
    await db.commit()


async def interrupted(db: Database, feed_id: int, keys: Sequence[str]) -> set[str]:
    """Return the entry keys of this feed whose ingest was cut short before."""
    return await _keys_by_outcome(db, feed_id, keys, ingesting=True)


async def recent_hashes(db: Database, limit: int = 5000) -> list[tuple[int, int]]:
    """Return (article id, signed simhash) of the newest articles the bot noted."""
    async with db.execute(
        "SELECT article_id, simhash FROM news_articles ORDER BY article_id DESC LIMIT ?", (limit,)
    ) as cur:
        return [(int(a), int(h)) for a, h in await cur.fetchall()]


class FeedStore:
    """The feeds and what each has shown us, on the bot's one connection."""

    def __init__(self, db: Database):
        self._db = db

    async def sync_settings_feeds(self, urls: Iterable[str]) -> None:
        """Add the feeds listed in settings; see `sync_settings_feeds`."""
        await sync_settings_feeds(self._db, urls)

    async def add(self, url: str) -> tuple[Feed, bool]:
        """Add a feed; see `add_feed`."""
        return await add_feed(self._db, url)

    async def remove(self, url_or_id: str) -> bool:
        """Remove a feed; see `remove_feed`."""
        return await remove_feed(self._db, url_or_id)

    async def get(self, url: str) -> Feed | None:
        """Return the feed with this URL, if any."""
        return await get_feed(self._db, url)

    async def all(self) -> list[Feed]:
        """Return every feed, oldest first."""
        return await list_feeds(self._db)

    async def record_success(
        self,
        feed_id: int,
        *,
        etag: str | None,
        last_modified: str | None,
        added: int,
        error: str = "",
    ) -> None:
        """Record a poll that reached the feed; see `record_success`."""
        await record_success(
            self._db, feed_id, etag=etag, last_modified=last_modified, added=added, error=error
        )

    async def record_failure(self, feed: Feed, error: str) -> float:
        """Record a failed poll and return the backoff; see `record_failure`."""
        return await record_failure(self._db, feed, error)

    async def unseen(self, feed_id: int, keys: Sequence[str]) -> set[str]:
        """Return the entry keys this feed has not shown before."""
        return await unseen(self._db, feed_id, keys)

    async def mark_seen(self, feed_id: int, rows: Iterable[tuple[str, str, int | None]]) -> None:
        """Record entries with their outcome; see `mark_seen`."""
        await mark_seen(self._db, feed_id, rows)

    async def interrupted(self, feed_id: int, keys: Sequence[str]) -> set[str]:
        """Return the keys whose ingest was cut short; see `interrupted`."""
        return await interrupted(self._db, feed_id, keys)

    async def recent_hashes(self, limit: int = 5000) -> list[tuple[int, int]]:
        """Return recent (article id, simhash) pairs, newest first."""
        return await recent_hashes(self._db, limit)
