"""URL safety: schemes, private addresses, redirects, size and time caps, conditional GET."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.contentcoding import BodyTooLarge, BoundedBody, EncodingRefused
from bot.news.urlsafety import (
    USER_AGENT,
    ContentEncodingError,
    FetchTimeoutError,
    HTTPStatusError,
    RedirectError,
    TooLargeError,
    UnsafeURLError,
    check_url,
    fetch,
    is_public,
    make_client,
)
from bot.tools.newssite import NewsServer, Page, running_server

MB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]
BOMB_CHILD = ROOT / "tests" / "support" / "bomb_child.py"


@pytest.fixture
async def news_server() -> AsyncIterator[NewsServer]:
    """A local HTTP server for feeds and pages."""
    async with running_server() as server:
        yield server


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("192.168.0.10", False),
        ("172.16.5.4", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(address) is public


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/x", "javascript:1", "http://"]
)
async def test_only_http_and_https(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        await check_url(url, allow_private=True)


async def test_loopback_refused_unless_allowed(news_server: NewsServer) -> None:
    news_server.pages["a"] = Page(b"hello")
    async with make_client() as client:
        with pytest.raises(UnsafeURLError, match="not a public address"):
            await fetch(
                news_server.url("a"), allow_private=False, max_bytes=MB, timeout=5, client=client
            )
        with pytest.raises(UnsafeURLError):
            await check_url("http://localhost:1/x", allow_private=False)
        res = await fetch(
            news_server.url("a"), allow_private=True, max_bytes=MB, timeout=5, client=client
        )
    assert (res.status, res.content, res.charset) == (200, b"hello", "utf-8")
    assert news_server.hits("a") == 1  # the refused fetch never reached the server
    assert news_server.requests[0][1]["User-Agent"] == USER_AGENT


async def test_address_checked_again_after_redirect(news_server: NewsServer) -> None:
    news_server.pages["jump"] = Page(status=302, headers={"Location": "file:///etc/passwd"})
    news_server.pages["r1"] = Page(status=301, headers={"Location": "/final"})
    news_server.pages["final"] = Page(b"ok")
    async with make_client() as client:
        with pytest.raises(UnsafeURLError):
            await fetch(
                news_server.url("jump"), allow_private=True, max_bytes=MB, timeout=5, client=client
            )
        res = await fetch(
            news_server.url("r1"), allow_private=True, max_bytes=MB, timeout=5, client=client
        )
    assert (res.url, res.content) == (news_server.url("final"), b"ok")


async def test_redirect_loop_and_long_chain(news_server: NewsServer) -> None:
    news_server.pages["loop-a"] = Page(status=302, headers={"Location": "/loop-b"})
    news_server.pages["loop-b"] = Page(status=302, headers={"Location": "/loop-a"})
    for i in range(10):
        news_server.pages[f"c{i}"] = Page(status=307, headers={"Location": f"/c{i + 1}"})
    async with make_client() as client:
        with pytest.raises(RedirectError, match="loop"):
            await fetch(
                news_server.url("loop-a"),
                allow_private=True,
                max_bytes=MB,
                timeout=5,
                client=client,
            )
        with pytest.raises(RedirectError, match="more than 5"):
            await fetch(
                news_server.url("c0"), allow_private=True, max_bytes=MB, timeout=5, client=client
            )
    assert news_server.hits("loop-a") == 1


async def test_size_cap_stops_a_50mb_stream(news_server: NewsServer) -> None:
    news_server.pages["huge"] = Page(stream_bytes=50 * MB)
    news_server.pages["declared"] = Page(b"x" * (2 * MB))
    async with make_client() as client:
        with pytest.raises(TooLargeError, match="more than 1048576"):
            await fetch(
                news_server.url("huge"), allow_private=True, max_bytes=MB, timeout=20, client=client
            )
        with pytest.raises(TooLargeError, match="declares 2097152"):
            await fetch(
                news_server.url("declared"),
                allow_private=True,
                max_bytes=MB,
                timeout=5,
                client=client,
            )
    assert news_server.streamed < 20 * MB  # the client hung up long before 50 MB


async def test_timeout_and_http_errors(news_server: NewsServer) -> None:
    news_server.pages["slow"] = Page(b"late", delay=3)
    async with make_client() as client:
        with pytest.raises(FetchTimeoutError):  # after 0.5 s of a page 3 s late
            await fetch(
                news_server.url("slow"),
                allow_private=True,
                max_bytes=MB,
                timeout=0.5,
                client=client,
            )
        with pytest.raises(HTTPStatusError, match="404"):
            await fetch(
                news_server.url("nothing"),
                allow_private=True,
                max_bytes=MB,
                timeout=5,
                client=client,
            )


async def test_conditional_get(news_server: NewsServer) -> None:
    news_server.pages["feed"] = Page(
        b"<rss/>", etag='"v1"', headers={"Last-Modified": "Mon, 02 Sep 2019 10:00:00 GMT"}
    )
    async with make_client() as client:
        first = await fetch(
            news_server.url("feed"), allow_private=True, max_bytes=MB, timeout=5, client=client
        )
        again = await fetch(
            news_server.url("feed"),
            allow_private=True,
            max_bytes=MB,
            timeout=5,
            etag=first.etag,
            last_modified=first.last_modified,
            client=client,
        )
    assert (first.status, first.etag, first.last_modified) == (
        200,
        '"v1"',
        "Mon, 02 Sep 2019 10:00:00 GMT",
    )
    assert again.not_modified and again.content == b""
    assert news_server.requests[1][1]["If-None-Match"] == '"v1"'
    assert news_server.requests[1][1]["If-Modified-Since"] == "Mon, 02 Sep 2019 10:00:00 GMT"


@pytest.mark.parametrize(
    ("layers", "kind"), [(1, "too_large"), (2, "bad_encoding")], ids=["one-layer", "two-layers"]
)
def test_compression_bomb_keeps_memory_flat(layers: int, kind: str) -> None:
    # 128 MB of zeros in about 570 KB (one layer) or 2 KB (two layers), fetched as a feed
    # and as a page; before bounded inflation, the two-layer bomb grew the peak by 273 MB.
    out = subprocess.run(
        [sys.executable, str(BOMB_CHILD), str(layers)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    report = json.loads(out.stdout)
    assert (report["feed"], report["page"]) == (kind, kind)
    assert report["growth_mb"] < 100


def _gzip(data: bytes, wbits: int = 16 + zlib.MAX_WBITS) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("coding", "wbits"),
    [("gzip", 16 + zlib.MAX_WBITS), ("deflate", zlib.MAX_WBITS), ("deflate", -zlib.MAX_WBITS)],
)
def test_bounded_body_decodes_gzip_and_both_deflates(coding: str, wbits: int) -> None:
    text = "خبر عاجل ".encode() * 2000
    packed = _gzip(text, wbits)
    body = BoundedBody(coding, len(text))
    for start in range(0, len(packed), 100):
        body.feed(packed[start : start + 100])
    assert body.finish() == text
    over = BoundedBody(coding, len(text) - 1)
    with pytest.raises(BodyTooLarge, match=f"more than {len(text) - 1} bytes"):
        over.feed(packed)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("gzip, gzip", "more than one content encoding (gzip, gzip)"),
        ("br", "content encoding 'br' is not accepted"),
        ("deflate, identity, gzip", "more than one content encoding (deflate, identity, gzip)"),
    ],
)
def test_bounded_body_refuses_stacked_and_unknown_codings(header: str, message: str) -> None:
    with pytest.raises(EncodingRefused) as caught:
        BoundedBody(header, MB)
    assert str(caught.value) == message
    assert BoundedBody("identity", MB).coding == "identity"


async def test_stacked_encoding_is_a_fetch_error(news_server: NewsServer) -> None:
    news_server.pages["stacked"] = Page(
        _gzip(_gzip(b"<rss></rss>")), headers={"Content-Encoding": "gzip, gzip"}
    )
    async with make_client() as client:
        with pytest.raises(ContentEncodingError) as caught:
            await fetch(
                news_server.url("stacked"),
                allow_private=True,
                max_bytes=MB,
                timeout=5,
                client=client,
            )
    assert caught.value.kind == "bad_encoding"
    assert str(caught.value) == (
        f"more than one content encoding (gzip, gzip): {news_server.url('stacked')}"
    )
