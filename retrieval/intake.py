"""Turn raw article text (seed files, pasted posts) into clean article drafts."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from retrieval.arabic import normalize
from retrieval.models import ArticleDraft

logger = logging.getLogger(__name__)

_FRONT_MATTER_KEYS = ("title", "source", "url", "published", "author")
_SKIP_LINKS = frozenset({normalize(s) for s in ("تخطى إلى المحتوى", "تخط إلى المحتوى")})
# "Read also" lines link to other articles; they are not part of this one.
_READ_ALSO = re.compile(r"^\s*(إقرأ|اقرأ|إقرا|اقرا)\s+(أيضا|أيضاً|ايضا|ايضاً|كذلك)\b")
_SENTENCE_MARK = re.compile(r"[.!?؟…؛:،,]")
# A line this short with no punctuation is a caption, a subhead or a byline.
_SHORT_LINE_WORDS = 8


def is_short_line(line: str) -> bool:
    """Tell whether a line looks like a caption, subhead or byline, not prose."""
    return len(line.split()) <= _SHORT_LINE_WORDS and not _SENTENCE_MARK.search(line)


def parse_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split an optional `key: value` header, ended by a `---` line, from the text."""
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        lines = lines[1:]
    meta: dict[str, str] = {}
    for i, line in enumerate(lines):
        if line.strip() == "---":
            if meta:
                return meta, "\n".join(lines[i + 1 :])
            break
        key, sep, value = line.partition(":")
        if not sep or key.strip().lower() not in _FRONT_MATTER_KEYS:
            break
        meta[key.strip().lower()] = value.strip()
    return {}, text


def checked_date(value: str) -> str | None:
    """Return value if it is an ISO 8601 date or datetime from 1800 to next year, else None."""
    value = value.strip()
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if 1800 <= moment.year <= datetime.now(UTC).year + 1 else None


def parse_article(text: str, *, default_source: str = "", url: str = "") -> ArticleDraft:
    """Parse scraped article text: headline, paragraphs, trailing source line.

    Skip-links and "read also" lines are dropped. Short lines (captions,
    subheads) stay as paragraphs but are never taken as the title. When the
    last line is short and carries no punctuation, it names the source.
    """
    meta, rest = parse_front_matter(text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [ln.strip() for ln in rest.split("\n")]
    lines = [ln for ln in lines if ln and normalize(ln) not in _SKIP_LINKS]
    lines = [ln for ln in lines if not _READ_ALSO.match(ln)]

    source = meta.get("source", "")
    if len(lines) > 2 and is_short_line(lines[-1]):
        if not source or normalize(lines[-1]) == normalize(source):
            source = lines[-1]
            lines = lines[:-1]

    title = meta.get("title", "")
    if not title and lines:
        # The headline is the first line; a long first line is prose, so the
        # title is then the lead sentence's opening words.
        title = lines[0]
        if len(lines) > 1 and len(title.split()) <= 30:
            lines = lines[1:]
    body = "\n\n".join(lines)
    stated = meta.get("published", "")
    published = checked_date(stated) if stated else ""
    if published is None:
        logger.warning(
            "%s: published %r is not a date: the article is dated with its ingest time",
            default_source or title[:60],
            stated[:100],
        )
    return ArticleDraft(
        title=title.strip(),
        body=body,
        source=source or default_source,
        url=meta.get("url", url),
        published=published or "",
        author=meta.get("author", ""),
        # No date stated, or one that cannot be read: the ingest time stands in, marked.
        dated_at_ingest=not published,
    )


class ArticleFileError(Exception):
    """An article file that is skipped; the message says why."""


@dataclass(frozen=True)
class ArticleFile:
    """An article file read and parsed, with the encoding its text was in."""

    path: Path
    draft: ArticleDraft
    encoding: str  # "utf-8" or "windows-1256"


# Control characters other than tab, line feed, form feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_ARABIC_LETTER = re.compile(r"[\u0621-\u064a]")


def decode_article(data: bytes) -> tuple[str, str]:
    """Return (text, encoding) of article bytes: UTF-8 (BOM or not), else windows-1256.

    windows-1256 maps almost every byte to something, so its reading is kept only
    when it looks like Arabic text: no control characters and mostly Arabic letters.
    """
    if b"\x00" in data[:8192]:
        raise ArticleFileError("a binary file, not text")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        text = data.decode("cp1256")
    except UnicodeDecodeError:
        text = ""
    letters = sum(ch.isalpha() for ch in text)
    arabic = len(_ARABIC_LETTER.findall(text))
    if text and not _CONTROL.search(text) and arabic >= 0.5 * max(letters, 1):
        return text, "windows-1256"
    raise ArticleFileError(
        f"not UTF-8 (bad byte at {utf8_error.start}) nor windows-1256 Arabic text"
    )


def load_article_file(path: Path, max_bytes: int) -> ArticleFile:
    """Read, decode and parse one article file; raise ArticleFileError to skip it."""
    size = path.stat().st_size
    if size > max_bytes:
        raise ArticleFileError(f"{size:,} bytes, over the limit of {max_bytes:,}")
    text, encoding = decode_article(path.read_bytes())
    draft = parse_article(text, default_source=path.stem)
    if not draft.body.strip():
        meta, _ = parse_front_matter(text.replace("\r\n", "\n"))
        raise ArticleFileError("only a header, no text" if meta else "empty")
    return ArticleFile(path, draft, encoding)


def read_article_file(path: Path) -> ArticleDraft:
    """Read and parse one article file (UTF-8, optional BOM)."""
    return parse_article(path.read_text(encoding="utf-8-sig"), default_source=path.stem)


def article_files(paths: list[Path]) -> list[Path]:
    """Expand files and folders into the sorted list of `.txt` / `.md` files."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(p for p in sorted(path.rglob("*")) if p.suffix in (".txt", ".md"))
        elif path.exists():
            out.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return out
