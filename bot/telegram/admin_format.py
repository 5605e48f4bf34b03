"""Admin replies as safe, right-to-left Telegram HTML; pure functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.admin.audit import AuditEntry
from bot.admin.corpus import AddOutcome
from bot.admin.feeds import FeedAdd
from bot.admin.reindex import duration
from bot.admin.stats import StatsReport
from bot.news.feedstore import Feed
from bot.telegram import texts
from bot.telegram.formatting import bold, finish, link, plain_messages, text
from retrieval.models import Article

MAX_ERROR = 200  # characters of a feed's last error shown


def size(n: int | None) -> str:
    """Return a byte count as B, KB, MB or GB."""
    if n is None:
        return texts.STATS_NA
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def millis(ms: float | None) -> str:
    """Return a latency in milliseconds."""
    return texts.STATS_NA if ms is None else f"{ms:.0f} ms"


def share(value: float | None) -> str:
    """Return a 0..1 share as a percentage."""
    return texts.STATS_NA if value is None else f"{value * 100:.1f}%"


def progress_message(body: str) -> str:
    """Return the reindex progress text as one HTML message."""
    return finish("\n".join(text(line) for line in body.split("\n")))[0]


def add_messages(outcome: AddOutcome) -> list[str]:
    """Reply to /add: the article added, or why not."""
    a = outcome.article
    if a is not None:
        line = texts.ADD_DONE.format(
            id=a.id,
            title=a.title or texts.UNTITLED,
            source=a.source or texts.UNKNOWN_SOURCE,
            chunks=outcome.chunks,
        )
        return finish(link(a.url, text(line)) if a.url else text(line))
    if outcome.reason == "duplicate":
        if outcome.duplicate_of:
            return plain_messages(texts.ADD_DUPLICATE.format(id=outcome.duplicate_of))
        return plain_messages(texts.ADD_DUPLICATE_UNKNOWN)
    fixed = {
        "no_text": texts.ADD_NO_TEXT,
        "too_large": texts.ADD_TOO_LARGE,
        "address": texts.ADD_ADDRESS,
    }
    if outcome.reason in fixed:
        return plain_messages(fixed[outcome.reason])
    return plain_messages(texts.ADD_FETCH_FAILED.format(detail=outcome.detail[:MAX_ERROR]))


def find_messages(
    query: str,
    articles: Sequence[Article],
    limit: int,
    stories: Mapping[int, int] | None = None,
    outlets: Mapping[int, Sequence[str]] | None = None,
) -> list[str]:
    """Reply to /find: matching articles with ids, titles, sources and dates, grouped by
    story (article id -> story id in stories), each story with its outlets."""
    if not articles:
        return plain_messages(texts.FIND_NONE.format(words=query))
    lines = [bold(texts.FIND_HEADING.format(words=query))]
    groups: dict[int | None, list[Article]] = {}
    for a in articles:
        groups.setdefault((stories or {}).get(a.id), []).append(a)
    for story, members in groups.items():
        if story is not None:
            names = list((outlets or {}).get(story, ()))
            lines.append(
                text(
                    texts.FIND_STORY.format(
                        story=story, n=len(names), outlets=texts.LIST_SEP.join(names)
                    )
                )
            )
        for a in members:
            line = texts.FIND_LINE.format(
                id=a.id,
                title=a.title or texts.UNTITLED,
                source=a.source or texts.UNKNOWN_SOURCE,
                date=a.published[:10] or texts.UNKNOWN_DATE,
            )
            lines.append(text(line))
    if len(articles) >= limit:
        lines += ["", text(texts.FIND_MORE.format(n=limit))]
    return finish("\n".join(lines))


def feed_lines(feed: Feed) -> list[str]:
    """Return the lines describing one feed."""
    lines = [
        text(texts.FEED_LINE.format(id=feed.id, url=feed.url)),
        text(
            texts.FEED_DETAILS.format(
                polled=(feed.last_polled or "")[:16].replace("T", " ") or texts.FEED_NEVER,
                articles=feed.articles,
            )
        ),
    ]
    if feed.last_error:
        lines.append(text(texts.FEED_ERROR.format(error=feed.last_error[:MAX_ERROR])))
    if feed.from_settings:
        lines.append(text(texts.FEED_FROM_SETTINGS))
    return lines


def feeds_messages(feeds: Sequence[Feed]) -> list[str]:
    """Reply to /feeds: every feed with last poll, last error and article count."""
    if not feeds:
        return plain_messages(texts.FEEDS_NONE)
    lines = [bold(texts.FEEDS_HEADING.format(n=len(feeds)))]
    for feed in feeds:
        lines += feed_lines(feed)
    return finish("\n".join(lines))


def feed_add_messages(result: FeedAdd) -> list[str]:
    """Reply to /feeds add."""
    if result.feed is None:
        detail = result.check.detail[:MAX_ERROR] or result.check.problem
        return plain_messages(texts.FEED_INVALID.format(detail=detail))
    if not result.new:
        return plain_messages(texts.FEED_EXISTS.format(id=result.feed.id))
    return plain_messages(texts.FEED_ADDED.format(id=result.feed.id, entries=result.check.entries))


def stats_messages(r: StatsReport) -> list[str]:
    """Reply to /stats."""
    q = r.questions
    unanswered = None if q.answered_share is None else 1 - q.answered_share
    lines = [
        bold(texts.STATS_HEADING),
        text(texts.STATS_CORPUS.format(articles=r.articles, chunks=r.chunks, sources=r.sources)),
        text(texts.STATS_STORIES.format(stories=r.stories)),
        text(texts.STATS_FEEDS.format(feeds=r.feeds, subscribers=r.subscribers)),
        text(
            texts.STATS_QUESTIONS.format(
                today=q.today, answered_today=q.answered_today, total=q.total, answered=q.answered
            )
        ),
        text(texts.STATS_SHARE.format(share=share(q.answered_share), unanswered=share(unanswered))),
        text(
            texts.STATS_LATENCY.format(n=q.window, p50=millis(q.p50_ms), p95=millis(q.p95_ms))
            if q.window
            else texts.STATS_NO_LATENCY
        ),
        text(
            texts.STATS_INDEX.format(
                vectors=r.vectors, disk=size(r.index_disk_bytes), memory=size(r.index_memory_bytes)
            )
        ),
        text(texts.STATS_MODEL.format(model=r.model)),
        text(texts.STATS_UPTIME.format(uptime=duration(r.uptime_seconds))),
    ]
    return finish("\n".join(lines))


def audit_messages(entries: Sequence[AuditEntry]) -> list[str]:
    """Reply to /audit: the newest admin commands, newest first."""
    if not entries:
        return plain_messages(texts.AUDIT_NONE)
    lines = [bold(texts.AUDIT_HEADING)]
    for e in entries:
        user = f"@{e.user_name}" if e.user_name else str(e.user_id)
        line = texts.AUDIT_LINE.format(
            at=e.at[:16].replace("T", " "),
            user=f"{user} ({e.user_id})" if e.user_name else user,
            command=f"/{e.command} {e.args[:60]}".strip(),
            result=e.result[:100],
        )
        lines.append(text(line))
    return finish("\n".join(lines))
