"""Corroboration: the same fact in several articles, and figures that differ between them.

Two sentences report the same fact when their text is nearly the same (a wire
copy), or when they give the same numbers, share most of their words and their
vectors are close. Two sentences give differing versions of the asked figure
when they are about the same thing (close vectors, shared words) and give the
same kind of count (the same counted noun after the number) with different
numbers. Both tests are conservative: a missed corroboration costs a citation,
a false "the reports differ" costs trust.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.arabic import STOPWORDS, light_stem, normalize, words
from retrieval.models import Hit
from retrieval.sentences import split_sentences

# Vectors of (headline, sentence) pairs, unit length, one row per pair.
SentenceVectors = Callable[[list[tuple[str, str]]], np.ndarray]

# A count: digits (thousands separators allowed), then the counted noun.
_FIGURE = re.compile(r"(?<![\d.,])(\d+(?:[.,]\d+)?)\s+(?:من\s+)?([^\W\d_]{3,})")
# The same on display text: any digits, the noun with its diacritics.
_FIGURE_SHOWN = re.compile(
    r"(?<![\d.,])(\d+(?:[.,]\d+)?)\s+(?:من\s+)?([^\W\d_][\w\u064b-\u0652]{2,})"
)
_NUMBER = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)?")
# Words after a number that are not what is counted: units of time, money, scale.
_NOT_COUNTED = frozenset(
    normalize(w)
    for w in (
        "ألف آلاف الف مليون ملايين مليار مليارات عام عاما أعوام سنة سنوات سنه يوم يوما أيام"
        " ساعة ساعات دقيقة دقائق ثانية ثوان شهر شهرا أشهر أسبوع أسابيع في من على إلى الى"
        " عن مع حتى بعد قبل منذ هـ م يناير فبراير مارس أبريل إبريل مايو يونيو يوليو أغسطس"
        " سبتمبر أكتوبر نوفمبر ديسمبر محرم صفر ربيع جمادى رجب شعبان رمضان شوال القعدة الحجة"
        " بالمئة بالمائة المئة المائة في_المئة"
    ).split()
)
# Counted nouns of people hurt or killed: a question about victims asks any of them.
_VICTIMS = frozenset(
    {"قتل", "شهد", "مصب", "جرح", "ضحي", "شخص", "وفي", "مصرع", "قتلي", "غرق", "مصبن"}
)
_WEAK = str.maketrans("", "", "اويىءه")


def skeleton(word: str) -> str:
    """Return a word's first three letters once long vowels and hamza are dropped.

    قتيلا, قتلى and قتلي all give قتل; شهيدا and شهداء give شهد: the counted noun in
    its singular after a number, and in its plural in a question, meet here.
    """
    stem = light_stem(normalize(word))
    return (stem.translate(_WEAK) or stem)[:3]


def _number(text: str) -> str:
    return text.replace(",", "")


def figures(text: str) -> dict[str, set[str]]:
    """Return the counts in text: counted noun's skeleton -> the numbers given for it."""
    out: dict[str, set[str]] = {}
    for match in _FIGURE.finditer(normalize(text)):
        noun = match.group(2)
        if noun in _NOT_COUNTED or light_stem(noun) in _NOT_COUNTED:
            continue
        out.setdefault(skeleton(noun), set()).add(_number(match.group(1)))
    return out


def numbers(text: str) -> frozenset[str]:
    """Return every number written in digits in text."""
    return frozenset(_number(n) for n in _NUMBER.findall(normalize(text)))


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
    differ_overlap: float = 0.3  # different figures in sentences sharing this many words...
    differ_cosine: float = 0.75  # ...with vectors this close are versions of one report
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

    Passages of one article are never copies of each other; stories maps an article id
    to its story (an article missing from it is a story of its own).
    """
    taken: list[tuple[Hit, frozenset[str]]] = []
    per_story: dict[int, set[int]] = {}
    for hit in hits:
        if len(taken) == n:
            break
        terms = fact_words(hit.chunk.text)
        aid = hit.article.id
        if any(
            h.article.id != aid and jaccard(terms, t) >= config.passage_copy_jaccard
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

    def differing(
        self, question_words: Sequence[str], quoted: Report, pool: Sequence[Report]
    ) -> dict[tuple[str, str], list[Report]]:
        """Return the versions of the asked count: (noun, number) -> reports giving it.

        Only counts whose noun the question asks about (or victims, for a question
        about victims) are compared, in sentences of other outlets' articles about the
        same thing. Empty when every report agrees.
        """
        if self.vectors is None:
            return {}
        asked = {skeleton(w) for w in question_words}
        victims = bool(asked & _VICTIMS)
        mine = {
            noun: nums
            for noun, nums in figures(quoted.text).items()
            if noun in asked or (victims and noun in _VICTIMS)
        }
        if not mine:
            return {}
        cfg = self.config
        maybe = [
            r
            for r in pool
            if r.hit.article.id != quoted.hit.article.id
            and r.text != quoted.text
            and set(figures(r.text)) & set(mine)
            and overlap(r.words, quoted.words) >= cfg.differ_overlap
        ]
        close = [
            r
            for r, cos in zip(maybe, self._cosines(quoted, maybe), strict=True)
            if cos >= cfg.differ_cosine
        ]
        for noun, nums in mine.items():
            if len(nums) != 1:
                continue  # the quoted sentence gives two counts of one kind: unclear
            versions: dict[tuple[str, str], list[Report]] = {(noun, next(iter(nums))): [quoted]}
            for r in close:
                theirs = figures(r.text).get(noun, set())
                if len(theirs) == 1:
                    versions.setdefault((noun, next(iter(theirs))), []).append(r)
            if len(versions) > 1:
                return versions
        return {}


def figure_label(text: str, noun: str, number: str) -> str:
    """Return the count as the sentence writes it ("12 قتيلاً"), or the bare number."""
    for match in _FIGURE_SHOWN.finditer(text):
        if _number(normalize(match.group(1))) == number and skeleton(match.group(2)) == noun:
            return match.group(0)
    return number
