"""Fetch outside URLs safely: http(s) only, public addresses only, bounded in size and time."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from bot.contentcoding import ACCEPTED, BodyTooLarge, BoundedBody, EncodingRefused

logger = logging.getLogger(__name__)

USER_AGENT = "isnad-bot/0.1 (Arabic news QA Telegram bot; +https://github.com/isnad-bot)"
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class FetchError(Exception):
    """A URL that could not be fetched; kind names it for stats."""

    kind = "fetch_error"


class UnsafeURLError(FetchError):
    """The URL's scheme or address is not allowed."""

    kind = "address_refused"


class TooLargeError(FetchError):
    """The response is larger than the cap."""

    kind = "too_large"


class ContentEncodingError(FetchError):
    """The body is encoded in a way the bot does not decode (stacked, br, broken)."""

    kind = "bad_encoding"


class RedirectError(FetchError):
    """Redirects loop or go on too long."""

    kind = "redirect_loop"


class FetchTimeoutError(FetchError):
    """The server took too long."""

    kind = "timeout"


class HTTPStatusError(FetchError):
    """The server answered with an error status."""

    kind = "http_error"


@dataclass(frozen=True)
class FetchResult:
    """A fetched response: final URL, status, body and the validators for the next GET."""

    url: str
    status: int
    content: bytes
    content_type: str = ""
    charset: str | None = None
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        """Tell whether the server said the resource is unchanged (304)."""
        return self.status == 304


def make_client(timeout: float = 20.0) -> httpx.AsyncClient:
    """Return an HTTP client that names the bot and never follows redirects by itself."""
    return httpx.AsyncClient(
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": ", ".join(ACCEPTED)},
        follow_redirects=False,
        timeout=httpx.Timeout(timeout),
    )


def is_public(address: str) -> bool:
    """Tell whether an IP address is a public unicast one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )


async def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse non-http(s) URLs and, unless allowed, hosts that resolve to non-public addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURLError(f"only http and https URLs are fetched: {url[:200]}")
    if allow_private:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, port, type=socket.SOCK_STREAM
        )
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve {parts.hostname}: {exc}") from exc
    # Every address must be public: the client may connect to any of them.
    for info in infos:
        address = str(info[4][0])
        if not is_public(address):
            raise UnsafeURLError(
                f"{parts.hostname} resolves to {address}, which is not a public address"
                " (set ISNAD_ALLOW_PRIVATE_URLS=true to allow it)"
            )


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip("\"' ")
    return None


async def fetch(
    url: str,
    *,
    allow_private: bool,
    max_bytes: int,
    timeout: float,
    etag: str | None = None,
    last_modified: str | None = None,
    client: httpx.AsyncClient,
) -> FetchResult:
    """GET url within max_bytes and timeout seconds, checking the address at every redirect."""
    try:
        # One deadline for the whole exchange: a slow drip of bytes cannot stall a poll.
        async with asyncio.timeout(timeout):
            return await _fetch(url, allow_private, max_bytes, etag, last_modified, client)
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise FetchTimeoutError(f"no complete answer within {timeout:g} s: {url[:200]}") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc} ({url[:200]})") from exc


async def _fetch(
    url: str,
    allow_private: bool,
    max_bytes: int,
    etag: str | None,
    last_modified: str | None,
    client: httpx.AsyncClient,
) -> FetchResult:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    seen: set[str] = set()
    for _ in range(MAX_REDIRECTS + 1):
        if url in seen:
            raise RedirectError(f"redirect loop at {url[:200]}")
        seen.add(url)
        # Checked before each request: a public page may redirect to 127.0.0.1.
        # (A host that resolves differently a moment later is not caught; the
        # address is not pinned because TLS needs the host name.)
        await check_url(url, allow_private=allow_private)
        async with client.stream("GET", url, headers=headers, follow_redirects=False) as resp:
            if resp.status_code in _REDIRECTS:
                location = resp.headers.get("location")
                if not location:
                    raise HTTPStatusError(f"redirect without a location from {url[:200]}")
                url = urljoin(url, location)
                continue
            if resp.status_code == 304:
                return FetchResult(url, 304, b"", etag=etag, last_modified=last_modified)
            if resp.status_code >= 400:
                raise HTTPStatusError(f"HTTP {resp.status_code} from {url[:200]}")
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise TooLargeError(f"{url[:200]} declares {declared} bytes, over {max_bytes}")
            try:
                # Raw bytes, decoded here with every inflate step bounded (contentcoding).
                body = BoundedBody(resp.headers.get("content-encoding", ""), max_bytes)
                async for piece in resp.aiter_raw():
                    body.feed(piece)
                content = body.finish()
            except BodyTooLarge as exc:
                raise TooLargeError(f"{url[:200]} sent more than {max_bytes} bytes") from exc
            except EncodingRefused as exc:
                raise ContentEncodingError(f"{exc}: {url[:200]}") from exc
            content_type = resp.headers.get("content-type", "")
            return FetchResult(
                url=url,
                status=resp.status_code,
                content=content,
                content_type=content_type,
                charset=_charset(content_type),
                etag=resp.headers.get("etag"),
                last_modified=resp.headers.get("last-modified"),
            )
    raise RedirectError(f"more than {MAX_REDIRECTS} redirects from {url[:200]}")
