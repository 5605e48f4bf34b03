"""One feed entry to an article draft: fetch its page and extract, or fall back to the entry."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from bot.news.urlsafety import FetchError, FetchResult, FetchTimeoutError
from retrieval.arabic import words
from retrieval.extract import NoTextError, decode_html, extract_article
from retrieval.models import ArticleDraft

Fetcher = Callable[[str], Awaitable[FetchResult]]


@dataclass(frozen=True)
class EntryDraft:
    """What became of one entry: a draft, or the reason there is none."""

    key: str
    draft: ArticleDraft | None
    outcome: str  # "page", "summary", or the counter name of the failure
    counters: tuple[str, ...] = ()
    retry: bool = False  # a passing failure: leave the entry unseen and try next poll
    duplicate_of: int | None = None  # the stored article with the entry's URL


def entry_key(entry: Any) -> str:
    """Return a stable key for a feed entry: its id, else its link, else a text hash."""
    key = str(entry.get("id") or entry.get("link") or "").strip()
    if key:
        return key[:1000]
    text = f"{entry.get('title', '')}\n{entry.get('summary', '')}"
    return "sha1:" + hashlib.sha1(text.encode("utf-8")).hexdigest()


def entry_date(entry: Any) -> str:
    """Return the entry's date as ISO 8601 UTC, or '' when feedparser could not read it."""
    for field in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(field)
        if isinstance(value, time.struct_time):
            return datetime(*value[:6], tzinfo=UTC).isoformat(timespec="seconds")
    return ""


# An entity a parser left unexpanded (`&lol9;` from an entity-expansion attack).
_ENTITY = re.compile(r"&#?\w+;")


def has_letters(text: str) -> bool:
    """Tell whether text holds letters besides unexpanded entities."""
    return any(ch.isalpha() for ch in _ENTITY.sub("", text))


def real_title(title: str) -> str:
    """Return the title, or '' when it is only unexpanded entities and punctuation."""
    return title if has_letters(title) else ""


def html_text(fragment: str) -> str:
    """Return the visible text of an HTML fragment, paragraphs kept."""
    import lxml.html

    if not fragment.strip():
        return ""
    try:
        root = lxml.html.fromstring(fragment)
    except (ValueError, lxml.etree.ParserError):
        return fragment
    for br in root.iter("br", "p", "div", "li"):
        br.tail = "\n" + (br.tail or "")
    lines = (" ".join(ln.split()) for ln in root.text_content().split("\n"))
    return "\n\n".join(ln for ln in lines if ln)


def _entry_body(entry: Any) -> str:
    """Return the longest text the entry carries itself: full content, else summary."""
    bodies = [html_text(str(c.get("value", ""))) for c in entry.get("content") or []]
    bodies.append(html_text(str(entry.get("summary", ""))))
    return max(bodies, key=len, default="")


@dataclass(frozen=True)
class PageResult:
    """What fetching an entry's page gave: an extracted draft or none, and why."""

    draft: ArticleDraft | None
    url: str  # where the page ended up, after redirects
    counters: tuple[str, ...] = ()
    retry: bool = False


async def fetch_page_draft(link: str, fetch_page: Fetcher, min_words: int) -> PageResult:
    """Fetch an entry's page and extract its article; a failure is counted, not raised."""
    if not link:
        return PageResult(None, link)
    counters: list[str] = []
    try:
        res = await fetch_page(link)
        decoded = decode_html(res.content, res.charset)
        if decoded.declared_wrong:
            counters.append("encoding")
        page = await asyncio.to_thread(extract_article, decoded.text, res.url, min_words=min_words)
        return PageResult(page, res.url, tuple(counters))
    except NoTextError:
        return PageResult(None, res.url, (*counters, "no_text"))
    except FetchError as exc:
        retry = isinstance(exc, FetchTimeoutError) or exc.kind == "fetch_error"
        return PageResult(None, link, (f"page_{exc.kind}",), retry)


async def entry_draft(
    entry: Any,
    fetch_page: Fetcher,
    *,
    feed_title: str,
    min_words: int,
    fallback_min_words: int,
) -> EntryDraft:
    """Turn an entry into a draft from its page; fall back to its own content or summary."""
    key = entry_key(entry)
    link = str(entry.get("link") or "").strip()
    if link and urlsplit(link).scheme.lower() not in ("http", "https"):
        # javascript:, file:, data: ... are never fetched, nor stored as a source link.
        return EntryDraft(key, None, "not_article", ("entry_bad_link",))
    title = real_title(" ".join(str(entry.get("title") or "").split()))
    page = await fetch_page_draft(link, fetch_page, min_words)
    # The feed's date, else the page's; else the ingest time, marked as such.
    published = entry_date(entry) or (page.draft.published if page.draft else "")
    source = feed_title or urlsplit(page.url).hostname or ""
    if page.draft is not None:
        draft = replace(
            page.draft,
            title=title or page.draft.title,
            source=page.draft.source or source,
            url=page.url,
            published=published,
            dated_at_ingest=not published,
        )
        return EntryDraft(key, draft, "page", page.counters)
    body = _entry_body(entry)
    if not has_letters(body) or len(words(_ENTITY.sub("", body))) < fallback_min_words:
        return EntryDraft(key, None, "no_text", (*page.counters, "entry_no_text"), page.retry)
    draft = ArticleDraft(
        title=title or body.split("\n", 1)[0][:120],
        body=body,
        source=source,
        url=page.url,
        published=published,
        author=str(entry.get("author") or ""),
        dated_at_ingest=not published,
    )
    return EntryDraft(key, draft, "summary", (*page.counters, "summary_fallback"))
