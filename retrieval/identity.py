"""What makes two articles the same: canonical URLs and content hashes."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from retrieval.arabic import words


def canonical_url(url: str) -> str:
    """Return url with a lower-case host, no utm_* tracking, fragment or trailing slash."""
    url = url.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not k.startswith("utm_")
        ]
    )
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, query, ""))


def content_hash(text: str) -> str:
    """Hash text by its normalised words, so spacing and diacritics do not matter."""
    return hashlib.sha256(" ".join(words(text)).encode("utf-8")).hexdigest()
