"""Corroboration: the same fact in several articles, and figures that differ between them.

Two sentences report the same fact when their text is nearly the same (a wire
copy), or when they give the same numbers, share most of their words and their
vectors are close. Two sentences give differing versions of the asked figure
when they are about the same thing (close vectors, shared words, as close to
the question) and give the asked kind of count (`retrieval.counts`) with
different numbers. Both tests are conservative: a missed corroboration costs a citation,
a false "the reports differ" costs trust.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from retrieval.arabic import STOPWORDS, light_stem, normalize, words
from retrieval.counts import AskedCounts, numbers
from retrieval.models import Hit
from retrieval.sentences import split_sentences

# Vectors of (headline, sentence) pairs, unit length, one row per pair.
SentenceVectors = Callable[[list[tuple[str, str]]], np.ndarray]


@lru_cache(maxsize=8192)
def fact_words(text: str) -> frozenset[str]:
    """Return the stemmed content words of text (numbers aside)."""
    return frozenset(
        light_stem(w) for w in words(text) if w not in STOPWORDS and not w.isdigit() and len(w) > 1
    )


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Return the share of the smaller word set found in the other."""
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Return |a & b| / |a | b|."""
    return len(a & b) / len(a | b) if a or b else 0.0


@dataclass(frozen=True)
class CorroborationConfig:
    """Thresholds of the same-fact and differing-figure tests."""

    copy_jaccard: float = 0.7  # word sets this alike: the same text, copied
    passage_copy_jaccard: float = 0.6  # passages this alike are copies of one text
    same_overlap: float = 0.5  # same numbers, and this share of words...
    same_cosine: float = 0.85  # ...and vectors this close: the same fact retold
    differ_overlap: float = 0.1  # different figures in sentences sharing this many words...
    differ_cosine: float = 0.75  # ...with vectors this close are versions of one report
    # ...or vectors a little less close, in sentences sharing more words.
    differ_cosine_shared: float = 0.70
    differ_overlap_shared: float = 0.25
    differ_relevance: float = 0.12  # ...and this close to the question as the quoted one
    per_story: int = 2  # articles of one story among the passages quoted from
    support: int = 20  # passages searched for corroborating sentences


@dataclass(frozen=True)
class Report:
    """A sentence of a passage, as a report of something."""

    text: str
    hit: Hit
    words: frozenset[str]
    numbers: frozenset[str]

    @classmethod
    def of(cls, text: str, hit: Hit) -> Report:
        """Read a sentence's words and numbers."""
        return cls(text, hit, fact_words(text), numbers(text))

    @property
    def pair(self) -> tuple[str, str]:
        """Return (headline, sentence), the key of its vector."""
        return (self.hit.article.title, self.text)


def reports(hits: Iterable[Hit]) -> list[Report]:
    """Return every sentence of the hits as a report."""
    return [Report.of(s.text, h) for h in hits for s in split_sentences(h.chunk.text)]


def diversify(
    hits: Sequence[Hit], n: int, stories: Mapping[int, int], config: CorroborationConfig
) -> list[Hit]:
    """Return up to n hits, best first, leaving out copies of a passage already taken and
    articles of a story that already has config.per_story articles taken.

    A copy is a near-identical passage in another outlet (a reprint); two near-identical
    passages of one outlet are an article and its update, and both stay. stories maps
    an article id to its story (an article missing from it is a story of its own).
    """
    taken: list[tuple[Hit, frozenset[str]]] = []
    per_story: dict[int, set[int]] = {}
    for hit in hits:
        if len(taken) == n:
            break
        terms = fact_words(hit.chunk.text)
        aid = hit.article.id
        if any(
            h.article.source != hit.article.source
            and jaccard(terms, t) >= config.passage_copy_jaccard
            for h, t in taken
        ):
            continue
        story = stories.get(aid, -aid)
        members = per_story.setdefault(story, set())
        if aid not in members and len(members) >= config.per_story:
            continue
        members.add(aid)
        taken.append((hit, terms))
    return [h for h, _ in taken]


class Corroborator:
    """Find the reports that say what a quoted sentence says, and those that differ."""

    def __init__(
        self, config: CorroborationConfig | None = None, vectors: SentenceVectors | None = None
    ):
        self.config = config or CorroborationConfig()
        # Without vectors only copies are found, and no versions.
        self.vectors = vectors

    def _cosines(self, base: Report, others: Sequence[Report]) -> list[float]:
        if not others or self.vectors is None:
            return [0.0] * len(others)
        vecs = self.vectors([base.pair, *(o.pair for o in others)])
        return [float(x) for x in vecs[1:] @ vecs[0]]

    def same(self, quoted: Report, pool: Sequence[Report]) -> list[Report]:
        """Return the reports of pool, from other articles, that say what quoted says."""
        cfg = self.config
        out: list[Report] = []
        maybe: list[Report] = []
        for r in pool:
            if r.hit.article.id == quoted.hit.article.id:
                continue
            if r.numbers == quoted.numbers and jaccard(r.words, quoted.words) >= cfg.copy_jaccard:
                out.append(r)
            elif r.numbers == quoted.numbers and overlap(r.words, quoted.words) >= cfg.same_overlap:
                maybe.append(r)
        for r, cos in zip(maybe, self._cosines(quoted, maybe), strict=True):
            if cos >= cfg.same_cosine:
                out.append(r)
        return out

    def asked_counts(self, question_words: Sequence[str], text: str) -> bool:
        """Tell whether a sentence gives a count of what the question asks."""
        return bool(AskedCounts.of(question_words).counts(text))

    def differing(
        self,
        question_words: Sequence[str],
        quoted: Report,
        pool: Sequence[Report],
        relevance: Callable[[Sequence[Report]], list[float]] | None = None,
    ) -> dict[str, list[Report]]:
        """Return the versions of the asked count: number -> reports giving it.

        A count is asked when what happened to those counted is what the question
        asks (killed, hurt, arrested...) or, failing that, when its counted noun is
        the question's; the latter, with nothing said of what happened, must come in
        sentences closer to each other. Only sentences of other articles about the
        same thing are compared, and with relevance (cosines to the question, quoted
        first) only those about as close to the question as the quoted one. Empty when
        every report agrees.
        """
        if self.vectors is None:
            return {}
        ask = AskedCounts.of(question_words)
        mine = ask.counts(quoted.text)
        if not mine:
            return {}
        cfg = self.config
        maybe = [
            r
            for r in pool
            if r.hit.article.id != quoted.hit.article.id
            and r.text != quoted.text
            and set(ask.counts(r.text)) & set(mine)
            and overlap(r.words, quoted.words) >= cfg.differ_overlap
        ]
        cosines = self._cosines(quoted, maybe)
        if relevance is not None and maybe:
            own_cos, *theirs_cos = relevance([quoted, *maybe])
            floor = own_cos - cfg.differ_relevance
            kept = [
                (r, c) for r, c, q in zip(maybe, cosines, theirs_cos, strict=True) if q >= floor
            ]
            maybe, cosines = [r for r, _ in kept], [c for _, c in kept]
        for key, own in mine.items():
            versions: dict[str, list[Report]] = {own: [quoted]}
            for r, cos in zip(maybe, cosines, strict=True):
                theirs = ask.counts(r.text).get(key)
                shared = overlap(r.words, quoted.words)
                close = (cos >= cfg.differ_cosine and shared >= cfg.differ_overlap) or (
                    cos >= cfg.differ_cosine_shared and shared >= cfg.differ_overlap_shared
                )
                if theirs and close:
                    versions.setdefault(theirs, []).append(r)
            if len(versions) > 1:
                return versions
        return {}


# A sentence that opens with "it had ..." or "it is recalled that ..." tells an
# earlier report (a first toll), not the article's own latest figure.
_EARLIER = re.compile(r"^\W*(?:و?كان(?:ت)?|و?سبق|و?يذكر|و?كما كان)\s")


def earlier(text: str) -> bool:
    """Tell whether a sentence recalls an earlier report rather than giving news."""
    return bool(_EARLIER.match(normalize(text)))


def settle(groups: list[list[Report]]) -> list[list[Report]]:
    """Keep an article that gives several versions only in those it gives as its own.

    An article that reports a new toll and recalls the first one ("وكانت الوزارة
    أعلنت ... 15") is the new toll's report; the first toll keeps the outlets that
    still give it as theirs. The groups stay in order (a group may be left empty),
    and each group's first report is one given as its own when there is one.
    """
    where: dict[int, set[int]] = {}
    for i, group in enumerate(groups):
        for r in group:
            where.setdefault(r.hit.article.id, set()).add(i)
    drop: set[tuple[int, int]] = set()
    for aid, found_in in where.items():
        own = {
            i
            for i in found_in
            if any(r.hit.article.id == aid and not earlier(r.text) for r in groups[i])
        }
        if len(found_in) > 1 and own and own != found_in:
            drop |= {(i, aid) for i in found_in - own}
    out = []
    for i, group in enumerate(groups):
        kept = [r for r in group if (i, r.hit.article.id) not in drop]
        kept.sort(key=lambda r: earlier(r.text))  # stable: own reports first
        out.append(kept)
    return out
