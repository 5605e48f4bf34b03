"""Stories: each article joins the story (one event told by several outlets) it tells, or
starts one; reprints of one text are marked as copies of the first.

Incremental: a new article is compared only with the articles published within a
window around it. Two articles tell one story when their lead vectors (the first
chunk, embedded with the headline) are close AND they share rare names or
numbers: a cosine alone joins two different road accidents, shared words alone
join two statements of one ministry. A near-identical text (simhash) is a copy.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from retrieval.arabic import STOPWORDS, light_stem, words
from retrieval.neardup import NEAR_DUP_DISTANCE, hamming, simhash

# A body shorter than this many words (a caption, a one-line brief) has a simhash too
# coarse to call it a copy of anything.
COPY_MIN_WORDS = 40
_DIGITS = re.compile(r"^\d+$")


@dataclass(frozen=True)
class StoryConfig:
    """Thresholds of story assignment; tuned with `isnad eval-stories` (docs/stories.md).

    Measured with EmbeddingGemma-300M on 154 labelled pairs of two news days:
    join_cosine is the knob that matters. Precision is 0.985 from 0.78 to 0.81 and
    falls below 0.96 under it (0.77: 0.958, 0.75: 0.932); recall is 0.944 at 0.78-0.79,
    0.903 at 0.80-0.81 and 0.847 at 0.82. 0.80 keeps a margin on both sides; there
    min_shared 2-4, sure_cosine 0.85-0.90 and rare_share 0.01-0.02 change nothing.
    """

    window_hours: float = 72.0
    # Join when the lead vectors are this close and they share min_shared rare keys...
    join_cosine: float = 0.80
    min_shared: int = 3
    # ... or closer still and share at least one.
    sure_cosine: float = 0.90
    # A key is rare when at most this share of the window's articles hold it.
    rare_share: float = 0.02
    lead_chars: int = 700
    copy_distance: int = NEAR_DUP_DISTANCE


@dataclass(frozen=True)
class StoryMember:
    """An article already in a story, as a new article is compared with it."""

    article_id: int
    story_id: int
    copy_of: int | None
    published: datetime
    simhash: int
    words: int
    keys: frozenset[str]
    vector: np.ndarray


@dataclass(frozen=True)
class StoryDecision:
    """Where a new article goes: story_id None starts a story; copy_of names the original."""

    story_id: int | None
    copy_of: int | None
    cosine: float
    simhash: int
    words: int
    keys: frozenset[str]


def story_keys(title: str, body: str, lead_chars: int = StoryConfig.lead_chars) -> frozenset[str]:
    """Return the names and numbers of an article's headline and lead (stemmed words)."""
    out: set[str] = set()
    for w in words(f"{title}\n{body[:lead_chars]}"):
        if w in STOPWORDS:
            continue
        if _DIGITS.match(w):
            if w.lstrip("0"):
                out.add("#" + w.lstrip("0"))
            continue
        stem = light_stem(w)
        if len(stem) >= 3:
            out.add(stem)
    return frozenset(out)


def parse_time(value: str, default: datetime | None = None) -> datetime:
    """Read an ISO date or datetime as UTC; an unreadable one is default (or now)."""
    try:
        when = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    except ValueError:
        return default or datetime.now(UTC)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def window(when: datetime, config: StoryConfig) -> tuple[datetime, datetime]:
    """Return the first and last publication time a story partner may have."""
    span = timedelta(hours=config.window_hours)
    return when - span, when + span


def lead_vector(vectors: np.ndarray) -> np.ndarray:
    """Return the vector that stands for an article: its first chunk's (title and lead)."""
    return np.asarray(vectors[0], dtype=np.float32)


class StoryMatcher:
    """Decides, for one new article, the story it joins among the window's members."""

    def __init__(self, config: StoryConfig | None = None):
        self.config = config or StoryConfig()

    def decide(
        self,
        title: str,
        body: str,
        vector: np.ndarray,
        published: datetime,
        members: Sequence[StoryMember],
    ) -> StoryDecision:
        """Return the story the article joins (or None to start one) and what it copies."""
        cfg = self.config
        digest = simhash(body)
        length = len(words(body))
        keys = story_keys(title, body, cfg.lead_chars)
        start, end = window(published, cfg)
        near = [m for m in members if start <= m.published <= end]
        if not near:
            return StoryDecision(None, None, 0.0, digest, length, keys)
        # A copy: the nearest text within the simhash distance; it names the original.
        if length >= COPY_MIN_WORDS:
            copies = [
                (hamming(digest, m.simhash), m.article_id, m)
                for m in near
                if m.words >= COPY_MIN_WORDS
            ]
            close = [c for c in copies if c[0] <= cfg.copy_distance]
            if close:
                _, _, original = min(close, key=lambda c: (c[0], c[1]))
                return StoryDecision(
                    original.story_id,
                    original.copy_of or original.article_id,
                    1.0,
                    digest,
                    length,
                    keys,
                )
        rare = self._rare(keys, near)
        vec = np.asarray(vector, dtype=np.float32)
        best: tuple[float, int] | None = None
        for m in near:
            if m.vector.shape != vec.shape:
                continue  # embedded by another model: a re-embed is under way
            cosine = float(np.dot(vec, m.vector))
            if cosine < cfg.join_cosine:
                continue
            shared = len(rare & m.keys)
            if shared >= cfg.min_shared or (cosine >= cfg.sure_cosine and shared >= 1):
                if best is None or cosine > best[0]:
                    best = (cosine, m.story_id)
        if best is None:
            return StoryDecision(None, None, 0.0, digest, length, keys)
        return StoryDecision(best[1], None, best[0], digest, length, keys)

    def _rare(self, keys: frozenset[str], members: Sequence[StoryMember]) -> frozenset[str]:
        """Return the keys few of the window's articles hold."""
        counts: Counter[str] = Counter()
        for m in members:
            counts.update(keys & m.keys)
        limit = max(2, math.ceil(self.config.rare_share * len(members)))
        return frozenset(k for k in keys if counts[k] <= limit)
