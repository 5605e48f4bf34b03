"""Sentence splitting for Arabic news text, keeping character offsets."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at one of these (a run of them counts once), plus any closing
# quotes or brackets; the Arabic comma ، does not end a sentence.
_END = re.compile(r"[.!?؟…؛]+[\"'”»)\]]*|\n+")
# Titles and short forms written with a dot that do not end a sentence.
# A "sentence" longer than this (a page without punctuation) is cut at a space.
MAX_SENTENCE_CHARS = 1000
_ABBREVIATIONS = frozenset({"د", "م", "ص", "ق", "ه", "أ", "ا", "ج", "س", "Dr", "Mr", "Mrs", "St"})


@dataclass(frozen=True)
class Sentence:
    """A sentence and its [start, end) offsets in the text it came from."""

    start: int
    end: int
    text: str


def _is_false_end(text: str, match: re.Match[str]) -> bool:
    """Tell whether a dot is a decimal point or follows an abbreviation."""
    mark = match.group()
    if mark != ".":
        return False
    before, after = text[: match.start()], text[match.end() : match.end() + 1]
    if before[-1:].isdigit() and after.isdigit():
        return True  # 3.5
    word = re.search(r"(\w+)$", before)
    return bool(word and word.group(1) in _ABBREVIATIONS)


def split_sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[Sentence]:
    """Split text into sentences with offsets; whitespace around them is dropped.

    A sentence longer than max_chars is cut into pieces at the last space before
    the limit (or at the limit, when there is none).
    """
    out: list[Sentence] = []
    start = 0
    for match in _END.finditer(text):
        if _is_false_end(text, match):
            continue
        _append_capped(out, text, start, match.end(), max_chars)
        start = match.end()
    _append_capped(out, text, start, len(text), max_chars)
    return out


def _append_capped(out: list[Sentence], text: str, start: int, end: int, limit: int) -> None:
    """Append text[start:end] as sentences of at most limit characters."""
    while end - start > limit:
        # Skip leading spaces first, so that the cut is measured on the text itself.
        while start < end and text[start].isspace():
            start += 1
        if end - start <= limit:
            break
        cut = text.rfind(" ", start + 1, start + limit + 1)
        cut = cut if cut > start else start + limit
        _append(out, text, start, cut)
        start = cut
    _append(out, text, start, end)


def _append(out: list[Sentence], text: str, start: int, end: int) -> None:
    """Append text[start:end] trimmed of whitespace, if anything is left."""
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped or not any(ch.isalnum() for ch in stripped):
        return
    lead = len(piece) - len(piece.lstrip())
    s = start + lead
    out.append(Sentence(s, s + len(stripped), stripped))
