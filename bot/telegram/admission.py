"""Whether a question is taken, and in what shape: one pure function for messages and buttons."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from bot.telegram import texts
from bot.telegram.ratelimit import RateLimiter
from retrieval.arabic import has_letters

# Bidi controls inside a word would split it; zero-width spaces, BOM and control
# characters separate words.
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c]")
_SPACING = re.compile("[\u200b\ufeff\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Admission:
    """A question taken (cleaned, perhaps cut, with a note), or the reply that refuses it."""

    question: str = ""
    note: str = ""  # said above the answer: the question was cut
    refusal: str = ""  # sent instead of an answer
    limited: bool = False  # refused by the rate limit

    @property
    def admitted(self) -> bool:
        """Tell whether the question goes on to the engine."""
        return not self.refusal


def strip_invisible(raw: str) -> str:
    """Drop invisible characters and collapse whitespace."""
    return " ".join(_SPACING.sub(" ", _BIDI.sub("", raw)).split())


def cut_question(question: str, limit: int) -> str:
    """Cut a long question to limit characters, at a word boundary when one is near."""
    head = question[:limit]
    if " " in head[limit // 2 :]:
        head = head.rsplit(" ", 1)[0]
    return head


def admit(
    raw: str,
    *,
    user_id: int | None,
    admin_ids: Collection[int],
    limiter: RateLimiter,
    max_chars: int,
    usage: str = texts.ASK_USAGE,
) -> Admission:
    """Clean a question, check it has words, count it against the user's limit, cut it.

    Admins are not limited. `usage` is the hint sent when there is no question at all.
    """
    question = strip_invisible(raw)
    if not question:
        return Admission(refusal=usage.format(example=texts.EXAMPLE_QUESTION))
    if not has_letters(question):
        return Admission(refusal=texts.NO_WORDS)
    if user_id is not None and user_id not in admin_ids:
        wait = limiter.wait(user_id)
        if wait:
            return Admission(refusal=texts.RATE_LIMITED.format(seconds=wait), limited=True)
    if len(question) > max_chars:
        return Admission(
            cut_question(question, max_chars), note=texts.TRUNCATED.format(limit=max_chars)
        )
    return Admission(question)
