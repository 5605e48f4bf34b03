"""Telegram HTML made right-to-left safe line by line, and split into 4096-unit messages."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

RLM = "\u200f"
MAX_MESSAGE = 4096


def is_rtl_start(ch: str) -> bool:
    """Tell whether a character gives a line right-to-left direction."""
    return unicodedata.bidirectional(ch) in ("R", "AL")


_TOKEN = re.compile(r"<[^>]*>|&[#\w]+;|[^<&]+")
_TAG_NAME = re.compile(r"</?([a-zA-Z][\w-]*)")
_SEPARATOR = re.compile(r"\n+|[ \t]+")
_SENTENCE_END = frozenset('.!?؟…؛»”"')
_BLOCK_TAGS = frozenset({"blockquote", "pre"})


def _first_visible(line: str) -> tuple[int, str] | None:
    """Return (index, character) of the first visible non-space character of an HTML line."""
    for m in _TOKEN.finditer(line):
        tok = m.group()
        if tok.startswith("<"):
            continue
        if tok.startswith("&"):
            shown = html.unescape(tok)
            if shown.strip():
                return m.start(), shown[0]
            continue
        stripped = tok.lstrip()
        if stripped:
            return m.start() + len(tok) - len(stripped), stripped[0]
    return None


def rtl_html(body: str) -> str:
    """Insert U+200F where a line's first visible character is not right-to-left."""
    out = []
    for line in body.split("\n"):
        first = _first_visible(line)
        if first is not None and first[1] != RLM and not is_rtl_start(first[1]):
            line = line[: first[0]] + RLM + line[first[0] :]
        out.append(line)
    return "\n".join(out)


def utf16_len(s: str) -> int:
    """Return the length Telegram counts: UTF-16 code units."""
    return len(s.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class _Unit:
    html: str
    kind: str  # "open", "close" or "text"
    name: str = ""
    strength: int = -1  # 3 line, 2 sentence, 1 word, 0 anywhere, -1 never cut after


def _units(body: str, piece: int) -> list[_Unit]:
    """Cut HTML into tags, entities and text pieces, each marked with its cut strength."""
    units: list[_Unit] = []
    for m in _TOKEN.finditer(body):
        tok = m.group()
        if tok.startswith("<"):
            name_m = _TAG_NAME.match(tok)
            name = name_m.group(1).lower() if name_m else ""
            if tok.startswith("</"):
                units.append(_Unit(tok, "close", name, 3 if name in _BLOCK_TAGS else -1))
            else:
                units.append(_Unit(tok, "open", name))
        elif tok.startswith("&"):
            units.append(_Unit(tok, "text", strength=0))
        else:
            start = 0
            for sep in _SEPARATOR.finditer(tok):
                if "\n" in sep.group():
                    strength = 3
                elif sep.start() and tok[sep.start() - 1] in _SENTENCE_END:
                    strength = 2
                else:
                    strength = 1
                units.extend(_pieces(tok[start : sep.end()], strength, piece))
                start = sep.end()
            if start < len(tok):
                units.extend(_pieces(tok[start:], 0, piece))
    return units


def _pieces(chunk: str, strength: int, size: int) -> list[_Unit]:
    """Cut an over-long run of text without spaces into pieces that may be hard-cut."""
    parts = [chunk[i : i + size] for i in range(0, len(chunk), size)]
    return [_Unit(p, "text", strength=0) for p in parts[:-1]] + [
        _Unit(parts[-1], "text", strength=strength)
    ]


def _closers(stack: Sequence[_Unit]) -> str:
    return "".join(f"</{u.name}>" for u in reversed(stack))


def _apply(stack: list[_Unit], unit: _Unit) -> list[_Unit]:
    """Return the open-tag stack after a unit."""
    if unit.kind == "open":
        return [*stack, unit]
    if unit.kind == "close":
        for i in range(len(stack) - 1, -1, -1):
            if stack[i].name == unit.name:
                return stack[:i] + stack[i + 1 :]
    return stack


@dataclass(frozen=True)
class _Cut:
    end: int  # index of the first unit of the next part
    strength: int
    length: int  # length of the part if cut here, without closing tags
    stack: list[_Unit]


def split_html(body: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split HTML into messages of at most limit UTF-16 units.

    Cuts fall at line breaks, then sentence ends, then spaces, and never inside
    a tag or an entity; tags open at a cut are closed and reopened in the next
    part, which starts with U+200F so that it stays right-to-left.
    """
    if utf16_len(body) <= limit:
        return [body] if _has_text(body) else []
    units = _units(body, max(8, limit // 16))
    parts: list[str] = []
    i = 0
    stack: list[_Unit] = []
    while i < len(units):
        prefix = "".join(u.html for u in stack) + (RLM if parts else "")
        length = utf16_len(prefix)
        local = stack
        cuts: list[_Cut] = []
        j = i
        while j < len(units):
            nxt = _apply(local, units[j])
            size = utf16_len(units[j].html)
            if length + size + utf16_len(_closers(nxt)) > limit:
                break
            length += size
            local = nxt
            j += 1
            if units[j - 1].strength >= 0:
                cuts.append(_Cut(j, units[j - 1].strength, length, local))
        if j == len(units):
            cut = _Cut(j, 3, length, local)
        elif cuts:
            cut = _best_cut(cuts, limit)
        else:  # a single unit longer than a message: only a huge tag can do that
            raise ValueError("an HTML tag does not fit in one message")
        shown = "".join(u.html for u in units[i : cut.end]).rstrip(" \t\n")
        piece = prefix + shown + _closers(cut.stack)
        if _has_text(piece):
            parts.append(piece)
        i, stack = cut.end, cut.stack
    return parts


def _best_cut(cuts: list[_Cut], limit: int) -> _Cut:
    """Pick the strongest boundary in the later part of the message."""
    for strength in (3, 2, 1):
        good = [c for c in cuts if c.strength >= strength and c.length >= limit * 0.4]
        if good:
            return good[-1]
    return cuts[-1]


def _has_text(piece: str) -> bool:
    """Tell whether HTML shows anything but whitespace and direction marks."""
    for tok in _TOKEN.findall(piece):
        if not tok.startswith("<") and html.unescape(tok).strip(f" \n\t{RLM}"):
            return True
    return False
