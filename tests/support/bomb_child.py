"""Fetch a compression bomb in a child process and report its peak memory growth.

Usage: python bomb_child.py LAYERS. A local server sends 128 MB of zeros gzipped
LAYERS times (Content-Encoding "gzip" or "gzip, gzip"), once as a feed and once as
an article page, each fetched with the poller's cap. Prints one JSON object: the
error kind of each fetch and the growth of peak RSS (ru_maxrss) in MB over the
baseline taken once the bomb is built.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import zlib

from bot.news.poller import PollConfig
from bot.news.urlsafety import FetchError, fetch, make_client

INFLATED_MB = 128


def gzip_zeros(megabytes: int) -> bytes:
    """Return megabytes of zeros gzipped, built a piece at a time."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(megabytes)) + packer.flush()


def gzip_once(data: bytes) -> bytes:
    """Return data gzipped."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def peak_mb() -> float:
    """Return this process's peak resident memory in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(layers: int) -> dict[str, object]:
    body = gzip_zeros(INFLATED_MB)
    if layers == 2:
        body = gzip_once(body)
    coding = ", ".join(["gzip"] * layers)
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
        f"Content-Encoding: {coding}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(head + body)
        try:
            await writer.drain()
        except ConnectionError:
            pass  # the client hung up at its cap
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = PollConfig()
    baseline = peak_mb()
    kinds: dict[str, object] = {}
    async with make_client() as client:
        for name, cap in (("feed", config.max_feed_bytes), ("page", config.max_page_bytes)):
            try:
                res = await fetch(
                    f"http://127.0.0.1:{port}/{name}",
                    allow_private=True,
                    max_bytes=cap,
                    timeout=60,
                    client=client,
                )
                kinds[name] = f"read {len(res.content)} bytes"
            except FetchError as exc:
                kinds[name] = exc.kind
    server.close()
    return {**kinds, "growth_mb": round(peak_mb() - baseline, 1)}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(int(sys.argv[1])))))
