"""What /add, /find and /delete do to the corpus, without Telegram: fetch, dedupe, ingest."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

import httpx

from bot.news import outbox
from bot.news.feedstore import FeedStore
from bot.news.outbox import Outbox
from bot.news.urlsafety import (
    FetchError,
    FetchResult,
    TooLargeError,
    UnsafeURLError,
    fetch,
    make_client,
)
from retrieval.arabic import search_terms, words
from retrieval.engine import Engine
from retrieval.extract import NoTextError, extract_page
from retrieval.models import Article, ArticleDraft
from retrieval.neardup import nearest, simhash, to_unsigned

logger = logging.getLogger(__name__)

# A forwarded post shorter than this is a comment or a link, not a news item.
MIN_TEXT_WORDS = 12
TITLE_CHARS = 120
ORIGIN = "admin"  # news_articles.origin of articles added by hand

# Told about articles just added, so subscribers get alerts as for feed articles.
Announce = Callable[[Sequence[Article], Sequence[int]], Awaitable[None]]


@dataclass(frozen=True)
class FetchLimits:
    """How far /add and /feeds add may go to fetch a URL."""

    allow_private: bool = False
    max_bytes: int = 3_000_000
    timeout: float = 20.0


@dataclass(frozen=True)
class AddOutcome:
    """What /add did: the stored article, or why it was refused."""

    article: Article | None
    chunks: int = 0
    reason: str = ""  # "", duplicate, no_text, too_large, address, fetch
    detail: str = ""
    duplicate_of: int | None = None


def text_draft(
    text: str, *, source: str, url: str = "", published: str = "", min_words: int = MIN_TEXT_WORDS
) -> ArticleDraft | None:
    """Make a draft of a message's text (first line as title), or None if it is too short."""
    lines = [" ".join(ln.split()) for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if len(words(" ".join(lines))) < min_words:
        return None
    title = lines[0] if len(lines[0]) <= TITLE_CHARS else lines[0][:TITLE_CHARS].rsplit(" ", 1)[0]
    # A one-paragraph post keeps its first line in the body too: it is content, not a headline.
    body_lines = lines[1:] if len(lines) > 1 and lines[0] == title else lines
    return ArticleDraft(
        title=title,
        body="\n\n".join(body_lines),
        source=source,
        url=url,
        published=published,
        dated_at_ingest=not published,  # the store dates it with the ingest time
    )


class Announcer:
    """Notes new articles for alerts and queues them for subscribers at once."""

    def __init__(
        self,
        engine: Engine,
        alerts: Outbox,
        match: outbox.Matcher | None = None,
        wake: Callable[[], None] | None = None,
    ):
        self.engine = engine
        self.alerts = alerts
        self.match = match
        self.wake = wake

    async def __call__(self, articles: Sequence[Article], hashes: Sequence[int]) -> None:
        """Record the articles as alert-worthy and fan them out to matching chats."""
        await self.alerts.record_articles(articles, alert=True, origin=ORIGIN, hashes=hashes)
        if self.match is not None:
            queued = await self.alerts.fan_out(self.engine.store.get_article, self.match)
            logger.info("%d alerts queued for %d added articles", queued, len(articles))
        if self.wake is not None:
            self.wake()


async def ingest_one(
    engine: Engine, feeds: FeedStore, draft: ArticleDraft, announce: Announce | None
) -> AddOutcome:
    """Dedupe a draft (URL, text hash, near-duplicate) and ingest it; alert if added."""
    h = simhash(draft.body)
    recent = [(a, to_unsigned(v)) for a, v in await feeds.recent_hashes()]
    near = nearest(h, recent)
    if near is not None:
        return AddOutcome(None, reason="duplicate", detail="near", duplicate_of=near[0])
    (result,) = await engine.ingest([draft])
    if result.article is None:
        # Besides empty and duplicate, the engine refuses an article over the chunk limit.
        reason = {"empty": "no_text", "duplicate": "duplicate"}.get(result.reason, "too_large")
        return AddOutcome(
            None, reason=reason, detail=result.reason, duplicate_of=result.duplicate_of
        )
    if announce is not None:
        await announce([result.article], [h])
    logger.info("admin added article %d: %s", result.article.id, result.article.title[:80])
    return AddOutcome(result.article, chunks=result.chunks)


async def add_url(
    engine: Engine,
    feeds: FeedStore,
    url: str,
    limits: FetchLimits,
    announce: Announce | None = None,
    client: httpx.AsyncClient | None = None,
) -> AddOutcome:
    """Fetch a page within the limits, extract its article and ingest it."""
    dup = await engine.store.find_duplicate(ArticleDraft("", "", url=url))
    if dup is not None:
        return AddOutcome(None, reason="duplicate", duplicate_of=dup)
    try:
        res = await fetch_within(url, limits, client)
    except UnsafeURLError as exc:
        return AddOutcome(None, reason="address", detail=str(exc))
    except TooLargeError as exc:
        return AddOutcome(None, reason="too_large", detail=str(exc))
    except FetchError as exc:
        return AddOutcome(None, reason="fetch", detail=str(exc))
    try:
        draft = await asyncio.to_thread(extract_page, res.content, res.charset, res.url)
    except NoTextError as exc:
        return AddOutcome(None, reason="no_text", detail=str(exc))
    # Arabic dates often fail to parse: the ingest time is the last resort, marked.
    return await ingest_one(
        engine, feeds, replace(draft, dated_at_ingest=not draft.published), announce
    )


async def fetch_within(
    url: str, limits: FetchLimits, client: httpx.AsyncClient | None = None
) -> FetchResult:
    """Fetch url within the limits, on client or on a client of its own."""
    if client is None:
        async with make_client(limits.timeout) as own:
            return await fetch_within(url, limits, own)
    return await fetch(
        url,
        allow_private=limits.allow_private,
        max_bytes=limits.max_bytes,
        timeout=limits.timeout,
        client=client,
    )


async def find(engine: Engine, query: str, limit: int = 10) -> list[Article]:
    """Return articles matching every content word of the query, newest id first."""
    terms = search_terms(query) or search_terms(query, drop_stopwords=False)
    terms = [t.replace('"', "") for t in terms if t.replace('"', "")]
    return await engine.store.find_articles(terms, limit)


async def delete(engine: Engine, article_id: int) -> Article | None:
    """Delete an article from the database, FTS5 and the vector index; return it, or None."""
    article = await engine.store.get_article(article_id)
    if article is None or not await engine.delete_article(article_id):
        return None
    return article
