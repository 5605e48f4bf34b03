"""What /feeds does, without Telegram: list feeds, add one after fetching it once, remove one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from bot.admin.corpus import FetchLimits, fetch_within
from bot.news.feedstore import Feed, FeedStore
from bot.news.poller import classify_empty
from bot.news.urlsafety import FetchError


@dataclass(frozen=True)
class FeedCheck:
    """The result of fetching a feed once: entries found, or the problem."""

    entries: int = 0
    title: str = ""
    problem: str = ""  # "", or a fetch error kind / "malformed" / "not_a_feed"
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Tell whether the URL gave a feed (an empty but valid feed counts)."""
        return not self.problem


@dataclass(frozen=True)
class FeedAdd:
    """What /feeds add did: the feed row (new or existing), or the failed check."""

    feed: Feed | None
    new: bool
    check: FeedCheck


async def check_feed(
    url: str, limits: FetchLimits, client: httpx.AsyncClient | None = None
) -> FeedCheck:
    """Fetch url once within the limits and tell whether it is a feed with entries."""
    import feedparser

    try:
        res = await fetch_within(url, limits, client)
    except FetchError as exc:
        return FeedCheck(problem=exc.kind, detail=str(exc))
    headers = {"content-type": res.content_type} if res.content_type else {}
    parsed = await asyncio.to_thread(feedparser.parse, res.content, response_headers=headers)
    entries = list(parsed.get("entries") or [])
    title = str(parsed.get("feed", {}).get("title") or "").strip()
    # Judged by its entries, as the poller does: many real feeds are not well-formed XML.
    if entries:
        return FeedCheck(len(entries), title)
    problem = classify_empty(res.content, parsed)
    if problem == "empty":
        return FeedCheck(0, title)
    return FeedCheck(problem=problem, detail=problem.replace("_", " "))


async def list_feeds(feeds: FeedStore) -> list[Feed]:
    """Return every feed with its last poll, last error and article count."""
    return await feeds.all()


async def add_feed(
    feeds: FeedStore,
    url: str,
    limits: FetchLimits,
    client: httpx.AsyncClient | None = None,
) -> FeedAdd:
    """Add a feed after fetching it once; its backlog is ingested later without alerts."""
    url = url.strip()
    existing = await feeds.get(url)
    if existing is not None:
        return FeedAdd(existing, False, FeedCheck())
    check = await check_feed(url, limits, client)
    if not check.ok:
        return FeedAdd(None, False, check)
    feed, new = await feeds.add(url)
    return FeedAdd(feed, new, check)


async def remove_feed(feeds: FeedStore, url_or_id: str) -> Feed | None:
    """Remove a feed by URL or id; return the removed feed, or None when there was none."""
    key = url_or_id.strip()
    listed = await feeds.all()
    found = next((f for f in listed if f.url == key or (key.isdigit() and f.id == int(key))), None)
    if found is None or not await feeds.remove(str(found.id)):
        return None
    return found
