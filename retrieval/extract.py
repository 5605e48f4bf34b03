"""Article pages to drafts: decode the bytes, then extract main text and metadata."""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from retrieval.arabic import normalize, words
from retrieval.models import ArticleDraft

logger = logging.getLogger(__name__)

# Fewer words than this is a teaser, a paywall stub or a navigation page, not an article.
MIN_WORDS = 25
# Above this share of "messy" characters a decoding is mojibake (charset_normalizer's measure).
_MAX_MESS = 0.2
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


class ExtractError(Exception):
    """An article page that cannot be turned into an article."""


class NoTextError(ExtractError):
    """The page has too little main text to be an article."""


@dataclass(frozen=True)
class Decoded:
    """Page text with the encoding used and whether the declared one was wrong."""

    text: str
    encoding: str
    declared_wrong: bool


def _codec(name: str | None) -> str | None:
    """Return Python's name for a charset label, or None when unknown."""
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def _clean_decode(data: bytes, encoding: str) -> str | None:
    """Decode strictly and return the text only if it does not look like mojibake."""
    from charset_normalizer.md import mess_ratio

    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None
    # Single-byte charsets decode any bytes; the mess measure catches wrong ones.
    return text if mess_ratio(text[:20_000], _MAX_MESS) < _MAX_MESS else None


def decode_html(data: bytes, declared: str | None = None) -> Decoded:
    """Decode a page: valid UTF-8 first, then the declared and meta charsets, then detection."""
    declared_codec = _codec(declared)
    match = _META_CHARSET.search(data[:4096])
    meta_codec = _codec(match.group(1).decode("ascii", "ignore")) if match else None
    claimed = declared_codec or meta_codec
    # Valid UTF-8 holding non-ASCII text is almost never another charset by accident.
    try:
        text = data.decode("utf-8-sig")
        wrong = not data.isascii() and claimed not in (None, "utf-8")
        return Decoded(text, "utf-8", wrong)
    except UnicodeDecodeError:
        pass
    for name in (declared_codec, meta_codec):
        if name and name != "utf-8" and (text2 := _clean_decode(data, name)) is not None:
            return Decoded(text2, name, name != claimed)
    from charset_normalizer import from_bytes

    best = from_bytes(data[:200_000]).best()
    if best is not None and (text3 := _clean_decode(data, best.encoding)) is not None:
        return Decoded(text3, best.encoding, True)
    # Arabic news sites that are not UTF-8 are nearly all windows-1256.
    for fallback in ("cp1256", "utf-8"):
        if (text4 := _clean_decode(data, fallback)) is not None:
            return Decoded(text4, fallback, True)
    return Decoded(data.decode("utf-8", "replace"), "utf-8", True)


def extract_article(
    html: str, url: str = "", *, min_words: int = MIN_WORDS, fetched_at: str = ""
) -> ArticleDraft:
    """Extract the main text and metadata (title, date, author, site) from page HTML."""
    import trafilatura

    doc: Any = trafilatura.bare_extraction(
        html,
        url=url or None,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
    )
    body = (doc.text or "") if doc is not None else ""
    if len(words(body)) < min_words:
        raise NoTextError(f"too little text on the page ({len(words(body))} words): {url}")
    assert doc is not None
    lines = [ln.strip() for ln in body.splitlines() if ln.strip()]
    title = (doc.title or "").strip() or lines[0][:120]
    # trafilatura keeps the page's <h1>; the headline is the title, not body text.
    if lines and normalize(lines[0]) == normalize(title):
        lines = lines[1:]
    source = (doc.sitename or "").strip() or (doc.hostname or urlsplit(url).hostname or "")
    return ArticleDraft(
        title=title,
        body="\n\n".join(lines),  # paragraphs as the intake writes them
        source=source,
        url=url,
        published=(doc.date or "").strip() or fetched_at,
        author=(doc.author or "").strip(),
    )


def extract_page(
    data: bytes, declared_charset: str | None, url: str = "", *, min_words: int = MIN_WORDS
) -> ArticleDraft:
    """Decode page bytes and extract the article from them."""
    decoded = decode_html(data, declared_charset)
    if decoded.declared_wrong:
        logger.info("%s: declared charset wrong, decoded as %s", url, decoded.encoding)
    return extract_article(decoded.text, url, min_words=min_words)
