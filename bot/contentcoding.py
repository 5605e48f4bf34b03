"""Decode a response's Content-Encoding ourselves, its output bounded as bytes arrive.

httpx inflates each network piece in one call, so a few kilobytes of stacked gzip
can become gigabytes before a size cap looks at them. Here every inflate step is
given the room left under the cap as its output limit, and only identity, gzip and
deflate are accepted, one layer at most.
"""

from __future__ import annotations

import zlib

# What the client asks for; anything else (br, zstd, compress) is refused.
ACCEPTED = ("gzip", "deflate")


class EncodingRefused(ValueError):
    """The response is encoded in a way the bot does not decode."""


class BodyTooLarge(ValueError):
    """The decoded body would be larger than the cap."""


def _layers(header: str) -> list[str]:
    """Return the content codings of a Content-Encoding header, identity left out."""
    codings = [c.strip().lower() for c in header.split(",")]
    return [c for c in codings if c and c != "identity"]


class BoundedBody:
    """Collect a body from raw network bytes, decoding at most one gzip/deflate layer.

    The decoded body never grows past max_bytes: the inflater is asked for at most
    the room left (plus one byte, to notice an overflow), whatever the input holds.
    """

    def __init__(self, content_encoding: str, max_bytes: int):
        layers = _layers(content_encoding)
        if len(layers) > 1:
            raise EncodingRefused(f"more than one content encoding ({content_encoding})")
        if layers and layers[0] not in ACCEPTED:
            raise EncodingRefused(f"content encoding {layers[0]!r} is not accepted")
        self.coding = layers[0] if layers else "identity"
        self.max_bytes = max_bytes
        self.raw = 0
        self._body = bytearray()
        self._inflater: zlib._Decompress | None = None
        if self.coding == "gzip":
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> None:
        """Add raw bytes from the network; raise BodyTooLarge past the cap."""
        self.raw += len(data)
        # Compressed input larger than the cap is too large whatever it inflates to.
        if self.raw > self.max_bytes:
            raise BodyTooLarge(f"more than {self.max_bytes} bytes")
        if self.coding == "identity":
            self._append(data)
            return
        if self._inflater is None:
            # "deflate" is meant to be zlib-wrapped, but some servers send it raw.
            wrapped = len(data) >= 2 and (data[0] * 256 + data[1]) % 31 == 0
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        inflater = self._inflater
        while data:
            room = self.max_bytes - len(self._body) + 1
            try:
                self._append(inflater.decompress(data, room))
            except zlib.error as exc:
                raise EncodingRefused(f"cannot decode the {self.coding} body ({exc})") from exc
            data = inflater.unconsumed_tail
            if inflater.eof:
                break  # trailing bytes after the stream (or further gzip members) are ignored

    def _append(self, data: bytes) -> None:
        self._body += data
        if len(self._body) > self.max_bytes:
            raise BodyTooLarge(f"more than {self.max_bytes} bytes")

    def finish(self) -> bytes:
        """Return the decoded body once the raw bytes are all in."""
        if self._inflater is not None:
            try:
                self._append(self._inflater.flush())
            except zlib.error as exc:
                raise EncodingRefused(f"cannot decode the {self.coding} body ({exc})") from exc
        return bytes(self._body)
