"""A local HTTP server on 127.0.0.1 serving feeds, article pages and bad inputs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

from bot.tools.localhttp import listen_local
from retrieval.models import ArticleDraft

if TYPE_CHECKING:  # aiohttp is imported when a server starts, not with the module
    from aiohttp import web


@dataclass
class Page:
    """What one path answers."""

    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    stream_bytes: int = 0  # stream this many bytes of filler instead of body
    etag: str = ""


class NewsServer:
    """Serves pages set by the test and records each request's path and headers."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.streamed = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        from aiohttp import web

        app = web.Application()
        app.router.add_route("GET", "/{path:.*}", self._handle)
        self._runner, self.port = await listen_local(app)

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str) -> str:
        """Return the full URL of a path."""
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def hits(self, path: str) -> int:
        """Return how many times a path was requested."""
        return sum(1 for p, _ in self.requests if p == "/" + path.lstrip("/"))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        self.requests.append((request.path, dict(request.headers)))
        page = self.pages.get(request.path.lstrip("/"))
        if page is None:
            return web.Response(status=404, text="not found")
        if page.delay:
            await asyncio.sleep(page.delay)
        if page.etag and request.headers.get("If-None-Match") == page.etag:
            return web.Response(status=304)
        headers = dict(page.headers)
        if page.etag:
            headers["ETag"] = page.etag
        if page.stream_bytes:
            resp = web.StreamResponse(status=200, headers={"Content-Type": page.content_type})
            await resp.prepare(request)
            piece = b"<rss>" + b"x" * 65531
            try:
                while self.streamed < page.stream_bytes:
                    await resp.write(piece)
                    self.streamed += len(piece)
            except (ConnectionError, RuntimeError):
                pass
            return resp
        return web.Response(
            status=page.status,
            body=page.body,
            headers={"Content-Type": page.content_type, **headers},
        )


@contextlib.asynccontextmanager
async def running_server() -> AsyncIterator[NewsServer]:
    """Start a local news server for the duration of the block."""
    server = NewsServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def article_page(
    draft: ArticleDraft, charset: str = "utf-8", meta_charset: str | None = None
) -> str:
    """Return an article page as a news site would serve it: nav, article, footer."""
    paras = "".join(f"<p>{escape(p)}</p>" for p in draft.body.split("\n\n"))
    return (
        f'<!DOCTYPE html><html lang="ar" dir="rtl"><head><meta charset="{meta_charset or charset}">'
        f"<title>{escape(draft.title)}</title>"
        f'<meta property="og:site_name" content="{escape(draft.source)}">'
        f'<meta name="author" content="{escape(draft.author)}">'
        f'<meta property="article:published_time" content="{draft.published}"></head>'
        '<body><nav><a href="/">الرئيسية</a> <a href="/s">سياسة</a> <a href="/e">اقتصاد</a></nav>'
        f"<article><h1>{escape(draft.title)}</h1>{paras}</article>"
        "<footer>جميع الحقوق محفوظة</footer></body></html>"
    )


def rss(items: list[dict[str, Any]], title: str = "أخبار محلية") -> bytes:
    """Return an RSS 2.0 document with these items (title, link, guid, summary, date)."""
    out = []
    for it in items:
        out.append(
            "<item>"
            f"<title>{escape(it.get('title', ''))}</title>"
            f"<link>{escape(it.get('link', ''))}</link>"
            f"<guid>{escape(it.get('guid', it.get('link', '')))}</guid>"
            f"<description>{escape(it.get('summary', ''))}</description>"
            f"<pubDate>{it.get('date', 'Mon, 02 Sep 2019 10:00:00 GMT')}</pubDate>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>http://example.com/</link>"
        f"<description>news</description>{''.join(out)}</channel></rss>"
    ).encode()


def atom(entries: list[dict[str, Any]], title: str = "وكالة أنباء") -> bytes:
    """Return an Atom document with these entries (title, link, id, summary)."""
    out = []
    for e in entries:
        out.append(
            f"<entry><title>{escape(e['title'])}</title>"
            f'<link href="{escape(e["link"])}"/><id>{escape(e.get("id", e["link"]))}</id>'
            f"<updated>2019-09-03T08:00:00Z</updated>"
            f"<summary>{escape(e.get('summary', ''))}</summary></entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title><id>urn:x</id><updated>2019-09-03T08:00:00Z</updated>"
        f"{''.join(out)}</feed>"
    ).encode()
