"""Poll RSS/Atom feeds: fetch, parse, extract, dedupe, ingest, and queue alerts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.database import BotRepository
from bot.news import feedstore, outbox
from bot.news.entries import EntryDraft, entry_draft, entry_key
from bot.news.feedstore import Feed
from bot.news.urlsafety import FetchError, FetchResult, fetch, make_client
from bot.settings import Settings
from retrieval.engine import Engine
from retrieval.extract import MIN_WORDS
from retrieval.models import Article, ArticleDraft
from retrieval.neardup import nearest, simhash, to_unsigned

logger = logging.getLogger(__name__)

# What is recorded of a seen entry: its key, the outcome, the article it gave (if any).
Seen = tuple[str, str, int | None]


class FeedProblem(FetchError):
    """The feed answered, but with no entries to read (malformed, not a feed)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class PollConfig:
    """Limits of one poll cycle."""

    feeds: tuple[str, ...] = ()
    allow_private: bool = False
    max_feed_bytes: int = 5_000_000
    max_page_bytes: int = 3_000_000
    fetch_timeout: float = 20.0
    feed_timeout: float = 180.0  # one feed with all its pages; others go on meanwhile
    max_entries: int = 30  # new entries taken per feed and poll; the rest wait a poll
    min_words: int = MIN_WORDS
    fallback_min_words: int = 12

    @classmethod
    def from_settings(cls, settings: Settings) -> PollConfig:
        """Return the poll limits for these settings."""
        return cls(feeds=tuple(settings.feeds), allow_private=settings.allow_private_urls)


@dataclass(frozen=True)
class FeedReport:
    """What one feed gave in a poll."""

    url: str
    status: str  # ok, not_modified, empty, failed, backing_off
    added: tuple[Article, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class PollReport:
    """What a poll cycle did: per feed, the new articles, alerts queued, counters."""

    feeds: tuple[FeedReport, ...]
    alerts_queued: int
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def added(self) -> list[Article]:
        """Return every article added in this poll."""
        return [a for f in self.feeds for a in f.added]


def classify_empty(content: bytes, parsed: Any) -> str:
    """Tell why a parse gave no entries: empty feed, malformed XML, or not a feed at all."""
    head = content[:2048].lstrip().lower()
    if parsed.get("version") and not parsed.get("bozo"):
        return "empty"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "not_a_feed"
    if head.startswith((b"<?xml", b"<rss", b"<feed", b"<rdf")):
        return "malformed"
    return "not_a_feed"


class FeedPoller:
    """One poll cycle over every due feed; feeds run side by side, one request per host."""

    def __init__(
        self,
        engine: Engine,
        repo: BotRepository,
        config: PollConfig,
        client: httpx.AsyncClient,
        match: outbox.Matcher | None = None,
    ):
        self.engine = engine
        self.repo = repo
        self.config = config
        self.client = client
        self.match = match
        self.counts: Counter[str] = Counter()
        self._hosts: dict[str, asyncio.Lock] = {}
        # Dedupe and ingest one feed at a time, so each sees the previous one's articles.
        self._ingest = asyncio.Lock()

    async def _get(self, url: str, feed: Feed | None = None, max_bytes: int = 0) -> FetchResult:
        host = urlsplit(url).hostname or ""
        async with self._hosts.setdefault(host, asyncio.Lock()):
            return await fetch(
                url,
                allow_private=self.config.allow_private,
                max_bytes=max_bytes or self.config.max_page_bytes,
                timeout=self.config.fetch_timeout,
                etag=feed.etag if feed else None,
                last_modified=feed.last_modified if feed else None,
                client=self.client,
            )

    async def run(self) -> PollReport:
        """Poll every due feed once and queue alerts for the new articles."""
        await self.repo.feeds.sync_settings_feeds(self.config.feeds)
        now = time.time()
        # A feed dropped from ISNAD_FEEDS stops; one an admin added stays until removed.
        listed = set(self.config.feeds)
        feeds = [f for f in await self.repo.feeds.all() if not f.from_settings or f.url in listed]
        due = [f for f in feeds if f.next_attempt <= now]
        waiting = [
            FeedReport(f.url, "backing_off", error=f.last_error) for f in feeds if f not in due
        ]
        self.counts["backing_off"] += len(waiting)
        reports = await asyncio.gather(*(self.poll_feed(f) for f in due))
        queued = (
            await self.repo.outbox.fan_out(self.engine.store.get_article, self.match)
            if self.match
            else 0
        )
        await self.repo.counters.bump(dict(self.counts))
        await self.repo.commit()
        return PollReport((*reports, *waiting), queued, dict(self.counts))

    async def poll_feed(self, feed: Feed) -> FeedReport:
        """Poll one feed; any failure is recorded and backs the feed off."""
        try:
            async with asyncio.timeout(self.config.feed_timeout):
                res = await self._get(feed.url, feed, self.config.max_feed_bytes)
                if res.not_modified:
                    self.counts["not_modified"] += 1
                    await self.repo.feeds.record_success(
                        feed.id, etag=feed.etag, last_modified=feed.last_modified, added=0
                    )
                    return FeedReport(feed.url, "not_modified")
                entries, title, problem = await self._parse(res)
                if problem == "empty":
                    self.counts["empty"] += 1
                elif problem:
                    raise FeedProblem(problem, f"{problem.replace('_', ' ')}: {feed.url}")
                drafts = await self._drafts(feed, entries, title)
            added = await self._ingest_drafts(feed, drafts)
        except (TimeoutError, FetchError) as exc:
            self.counts[getattr(exc, "kind", "timeout")] += 1
            error = str(exc) or f"no answer within {self.config.feed_timeout:g} s"
            delay = await self.repo.feeds.record_failure(feed, error)
            logger.warning("feed %s failed (%s); next try in %.0f s", feed.url, error, delay)
            return FeedReport(feed.url, "failed", error=error)
        except Exception as exc:
            logger.exception("feed %s failed", feed.url)
            await self.repo.feeds.record_failure(feed, f"{type(exc).__name__}: {exc}")
            self.counts["feed_error"] += 1
            return FeedReport(feed.url, "failed", error=str(exc))
        await self.repo.feeds.record_success(
            feed.id,
            etag=res.etag,
            last_modified=res.last_modified,
            added=len(added),
            error="empty feed" if problem else "",
        )
        return FeedReport(feed.url, "empty" if problem else "ok", tuple(added))

    async def _parse(self, res: FetchResult) -> tuple[list[Any], str, str]:
        """Parse feed bytes; return (entries, feed title, problem or '')."""
        import feedparser

        headers = {"content-type": res.content_type} if res.content_type else {}
        parsed = await asyncio.to_thread(feedparser.parse, res.content, response_headers=headers)
        # Judged by its entries: many real feeds are not well-formed XML.
        entries = list(parsed.get("entries") or [])
        title = str(parsed.get("feed", {}).get("title") or "").strip()
        if entries:
            if parsed.get("bozo"):
                self.counts["malformed_but_read"] += 1
            return entries, title, ""
        return [], title, classify_empty(res.content, parsed)

    async def _drafts(self, feed: Feed, entries: list[Any], title: str) -> list[EntryDraft]:
        """Make drafts of the new entries, at most max_entries of them."""
        keys = [entry_key(e) for e in entries]
        fresh = await self.repo.feeds.unseen(feed.id, keys)
        new = [(k, e) for k, e in zip(keys, entries, strict=True) if k in fresh]
        new = list({k: e for k, e in new}.items())  # a feed may repeat an entry
        cap = self.config.max_entries
        if len(new) > cap:
            self.counts["entries_capped"] += len(new) - cap
            if not feed.first_polled:
                # Old entries past the cap on first sight are history, not news to fetch later.
                await self.repo.feeds.mark_seen(
                    feed.id, [(k, "skipped_first_poll", None) for k, _ in new[cap:]]
                )
            new = new[:cap]
        out = []
        for _key, entry in new:
            link = str(entry.get("link") or "")
            if link and (
                dup := await self.engine.store.find_duplicate(ArticleDraft("", "", url=link))
            ):
                out.append(EntryDraft(_key, None, "duplicate", ("duplicate",), duplicate_of=dup))
                continue
            made = await entry_draft(
                entry,
                lambda url: self._get(url),
                feed_title=title,
                min_words=self.config.min_words,
                fallback_min_words=self.config.fallback_min_words,
            )
            out.append(made)
        return out

    async def _unnoted(self, article_ids: Sequence[int]) -> list[Article]:
        """Return the stored articles among these that were never noted for alerts."""
        ids = await self.repo.outbox.unnoted(article_ids)
        found = await self.engine.store.get_articles(ids)
        return [found[i] for i in sorted(found)]

    async def _ingest_drafts(self, feed: Feed, made: Sequence[EntryDraft]) -> list[Article]:
        """Drop near-duplicates, ingest the rest in one batch, note them for alerts."""
        for m in made:
            self.counts.update(m.counters)
        seen: list[Seen] = [
            (m.key, m.outcome, m.duplicate_of) for m in made if m.draft is None and not m.retry
        ]
        async with self._ingest:
            # Entries whose ingest a stop cut short in an earlier poll (see _recover).
            cut_short = await self.repo.feeds.interrupted(feed.id, [m.key for m in made])
            todo = await self._drop_near_duplicates(made, seen)
            # Marked before the ingest commits, replaced by the outcome after the note.
            ingesting = [(m.key, feedstore.INGESTING, None) for m, _ in todo]
            await self.repo.feeds.mark_seen(feed.id, ingesting)
            added, hashes = await self._ingest_batch(todo, seen)
            seen = await self._recover(cut_short, seen, added, hashes)
            # First sight of a feed: its backlog goes in quietly, without alerts.
            await self.repo.outbox.record_articles(
                added, alert=feed.first_polled, origin=feed.url, hashes=hashes
            )
            await self.repo.feeds.mark_seen(feed.id, seen)
        self.counts["added"] += len(added)
        for a in added:
            logger.info("added article %d from %s: %s", a.id, feed.url, a.title[:80])
        return added

    async def _drop_near_duplicates(
        self, made: Sequence[EntryDraft], seen: list[Seen]
    ) -> list[tuple[EntryDraft, int]]:
        """Return the drafts (with their simhash) that are no wire copy of a known article
        nor of another draft; the copies go to seen."""
        recent = [(a, to_unsigned(h)) for a, h in await self.repo.feeds.recent_hashes()]
        todo: list[tuple[EntryDraft, int]] = []
        for m in made:
            if m.draft is None:
                continue
            h = simhash(m.draft.body)
            near = nearest(h, recent + [(-1, t) for _, t in todo])
            if near is not None:
                logger.info("near-duplicate (%d bits) skipped: %s", near[1], m.draft.url)
                self.counts["near_duplicate"] += 1
                seen.append((m.key, "near_duplicate", near[0] if near[0] > 0 else None))
                continue
            todo.append((m, h))
        return todo

    async def _ingest_batch(
        self, todo: Sequence[tuple[EntryDraft, int]], seen: list[Seen]
    ) -> tuple[list[Article], list[int]]:
        """Ingest the drafts in one batch; return the articles added and their simhashes."""
        results = await self.engine.ingest([m.draft for m, _ in todo if m.draft])
        added: list[Article] = []
        hashes: list[int] = []
        for (m, h), r in zip(todo, results, strict=True):
            if r.article is None:
                self.counts[r.reason or "duplicate"] += 1
                seen.append((m.key, r.reason or "duplicate", r.duplicate_of))
                continue
            added.append(r.article)
            hashes.append(h)
            seen.append((m.key, "added", r.article.id))
        return added, hashes

    async def _recover(
        self, cut_short: set[str], seen: list[Seen], added: list[Article], hashes: list[int]
    ) -> list[Seen]:
        """Note the articles an earlier, interrupted ingest stored but never noted.

        The process stopped between that ingest's commit and its note: the entry,
        still marked as being ingested, comes back as a duplicate of an article never
        noted for alerts. It is noted now, once; returns seen with those entries added.
        """
        stored = [
            d for key, outcome, d in seen if d and outcome == "duplicate" and key in cut_short
        ]
        recovered = await self._unnoted(stored)
        for article in recovered:
            logger.info("article %d was stored but not noted: noting it", article.id)
            added.append(article)
            hashes.append(simhash(article.body))
        if not recovered:
            return seen
        ids = {a.id for a in recovered}
        self.counts["duplicate"] -= len(recovered)
        self.counts["recovered"] += len(recovered)
        return [(k, "added" if d in ids and k in cut_short else o, d) for k, o, d in seen]


async def poll_once(
    engine: Engine,
    repo: BotRepository,
    config: PollConfig,
    *,
    client: httpx.AsyncClient | None = None,
    match: outbox.Matcher | None = None,
) -> PollReport:
    """Run one poll cycle over the feeds in settings and in the database."""
    if client is not None:
        return await FeedPoller(engine, repo, config, client, match).run()
    async with make_client(config.fetch_timeout) as own:
        return await FeedPoller(engine, repo, config, own, match).run()


async def cmd_poll(settings: Settings) -> None:
    """Run one poll cycle from the command line and print what it added."""
    from bot.factory import load_embedder, open_engine
    from bot.news.subscriptions import TopicMatcher

    embedder = await asyncio.to_thread(load_embedder, settings)
    engine = await open_engine(settings, embedder)
    try:
        db = await BotRepository.open_location(settings.database_url, settings.db_path)
        try:
            match = TopicMatcher(engine, db.subscriptions).chats_for
            report = await poll_once(engine, db, PollConfig.from_settings(settings), match=match)
        finally:
            await db.close()
    finally:
        await engine.close()
    for f in report.feeds:
        print(f"{f.status:12} {len(f.added):3} {f.url}" + (f"  ({f.error})" if f.error else ""))
        for a in f.added:
            print(f"    + [{a.id}] {a.title} — {a.source} — {a.published[:10]}")
    print(f"added {len(report.added)} articles; {report.alerts_queued} alerts queued")
