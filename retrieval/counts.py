"""Counts in news sentences: a number, what it counts, and what happened to those counted.

"لقي 21 شخصاً مصرعهم" counts people (شخص) who died; "أُنقذ 6 أشخاص" counts
people rescued; "50 دولاراً" counts dollars and nothing happened to them. Two
counts are of one kind when the same thing happened to the same kind of thing,
which is what a count question (كم ...) asks about.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from retrieval.arabic import light_stem, normalize

# A count: digits (thousands separators allowed, quotes around), then the counted noun.
_FIGURE = re.compile(r"(?<![\d.,])(\d+(?:[.,]\d+)*)[\"”»)]?\s+(?:من\s+)?([^\W\d_]{3,})")
# The same on display text: any digits, the noun with its diacritics.
_FIGURE_SHOWN = re.compile(
    r"(?<![\d.,])(\d+(?:[.,]\d+)*)[\"”»)]?\s+(?:من\s+)?([^\W\d_][\w\u064b-\u0652]{2,})"
)
_NUMBER = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)*")
# Words after a number that are not what is counted: units of time, money, scale.
_NOT_COUNTED = frozenset(
    normalize(w)
    for w in (
        "ألف آلاف الف مليون ملايين مليار مليارات عام عاما أعوام سنة سنوات سنه يوم يوما أيام"
        " ساعة ساعات دقيقة دقائق ثانية ثوان شهر شهرا أشهر أسبوع أسابيع في من على إلى الى"
        " عن مع حتى بعد قبل منذ هـ م يناير فبراير مارس أبريل إبريل مايو يونيو يوليو أغسطس"
        " سبتمبر أكتوبر نوفمبر ديسمبر محرم صفر ربيع جمادى رجب شعبان رمضان شوال القعدة الحجة"
        " بالمئة بالمائة المئة المائة"
    ).split()
)
# What happened to those counted, by the words that say it (normalised beginnings):
# two counts of people are of one kind only when the same thing happened to them.
_EVENTS = {
    "death": (
        "قتل",
        "قتيل",
        "مقتل",
        "مصرع",
        "حتف",
        "وفاه",
        "وفيات",
        "توفي",
        "ضحايا",
        "ضحيه",
        "استشهد",
        "شهيد",
        "شهدا",
        "جثه",
        "جثث",
    ),
    "injury": ("اصيب", "اصابه", "اصابات", "مصاب", "جريح", "جرحي", "جرح"),
    "arrest": ("اعتقل", "معتقل", "اعتقال", "توقيف", "موقوف", "القبض", "قبض"),
    "poisoning": ("تسمم", "مسمم"),
    "rescue": ("انقاذ", "انقذ", "ناجين", "ناجون"),
}
_CLITICS = ("وال", "بال", "لل", "ال", "و", "ف", "ب", "ل")
# A number after these counts part of a group ("بينهم 37 أجنبيا") or the group a part
# belongs to ("14 من بين 22"): not the total asked for.
_PART = re.compile(r"(?:بينهم|منهم|بينها|منها|من بين)\s*$")
_NATIONALITY = re.compile(r"\w{2,}(?:يا|يين|يون)$")
EVENT_BEFORE = 40  # characters before a number searched for what happened
EVENT_AFTER = 80  # and after it
_WEAK = str.maketrans("", "", "اويىء")


def skeleton(word: str) -> str:
    """Return a word's first three letters once long vowels and hamza are dropped.

    قتيلا, قتلى and قتلي all give قتل; شهيدا and شهداء give شهد: the counted noun in
    its singular after a number, and in its plural in a question, meet here.
    """
    stem = light_stem(normalize(word))
    return (stem.translate(_WEAK) or stem)[:3]


# Counted nouns that all mean people: "21 شخصاً" and "15 مصرياً" count the same dead.
_PEOPLE = frozenset(
    skeleton(w)
    for w in (
        "شخص أشخاص مواطن نسمة فرد قتيل ضحية مصاب جريح شهيد طفل رجل امرأة جندي عسكري مدني"
        " لاجئ مهاجر راكب معتقل"
    ).split()
)


_EVENT_WORD = re.compile(
    "|".join(
        rf"(?P<{event}>^(?:{'|'.join(_CLITICS)})?(?:{'|'.join(beginnings)}))"
        for event, beginnings in _EVENTS.items()
    )
)


@lru_cache(maxsize=65536)
def event_of(word: str) -> str | None:
    """Return what a (normalised) word says happened to people, if anything."""
    match = _EVENT_WORD.match(word)
    return match.lastgroup if match else None


def _number(text: str) -> str:
    return text.replace(",", "")


@dataclass(frozen=True)
class Figure:
    """A count in a sentence: the number, the counted noun's skeleton, and the nearest
    word that says what happened to those counted (None: nothing said)."""

    number: str
    noun: str
    event: str | None
    part: bool = False  # a part of a group, or the group a part belongs to
    people: bool = False  # the noun means people (persons, citizens, the dead...)

    @property
    def counted(self) -> str:
        """Return what is counted: people, or the noun's skeleton."""
        return "people" if self.people else self.noun


@lru_cache(maxsize=8192)
def read_figures(text: str) -> tuple[Figure, ...]:
    """Return the counts written in digits in text, in order."""
    norm = normalize(text)
    out = []
    for match in _FIGURE.finditer(norm):
        noun = match.group(2)
        if noun in _NOT_COUNTED or light_stem(noun) in _NOT_COUNTED:
            continue
        start, end = match.start(1), match.end(1)
        best: tuple[int, str] | None = None
        for w in re.finditer(r"\w+", norm[max(0, start - EVENT_BEFORE) : end + EVENT_AFTER]):
            event = event_of(w.group())
            if event is None:
                continue
            at = max(0, start - EVENT_BEFORE) + w.start()
            distance = start - at if at < start else at - end
            if best is None or distance < best[0]:
                best = (distance, event)
        part = bool(_PART.search(norm[max(0, start - 12) : start]))
        people = skeleton(noun) in _PEOPLE or bool(_NATIONALITY.match(noun))
        out.append(Figure(_number(match.group(1)), skeleton(noun), best and best[1], part, people))
    return tuple(out)


def figures(text: str) -> dict[str, set[str]]:
    """Return the counts in text: counted noun's skeleton -> the numbers given for it."""
    out: dict[str, set[str]] = {}
    for f in read_figures(text):
        out.setdefault(f.noun, set()).add(f.number)
    return out


@lru_cache(maxsize=8192)
def numbers(text: str) -> frozenset[str]:
    """Return every number written in digits in text."""
    return frozenset(_number(n) for n in _NUMBER.findall(normalize(text)))


@dataclass(frozen=True)
class AskedCounts:
    """What a count question asks: the events and the counted nouns it names."""

    events: frozenset[str]
    nouns: frozenset[str]

    @classmethod
    def of(cls, question_words: Sequence[str]) -> AskedCounts:
        """Read a question's (normalised) words."""
        events = frozenset(e for w in question_words if (e := event_of(w)))
        return cls(events, frozenset(skeleton(w) for w in question_words))

    def counts(self, text: str) -> dict[tuple[str, str], str]:
        """Return the asked counts of a sentence: kind -> the one number it gives.

        A kind given two numbers keeps the one whose noun the question names; when
        that does not settle it, the sentence is unclear on that kind and left out.
        """
        found: dict[tuple[str, str], list[Figure]] = {}
        for f in read_figures(text):
            if f.part:
                continue
            if f.event in self.events:
                found.setdefault(("event", f"{f.event} {f.counted}"), []).append(f)
            elif f.noun in self.nouns:
                found.setdefault(("noun", f.noun), []).append(f)
        out = {}
        for key, given in found.items():
            numbers = {f.number for f in given}
            if len(numbers) > 1:
                numbers = {f.number for f in given if f.noun in self.nouns}
            if len(numbers) == 1:
                out[key] = next(iter(numbers))
        return out


def figure_label(text: str, number: str) -> str:
    """Return the count as the sentence writes it ("12 قتيلاً"), or the bare number."""
    for match in _FIGURE_SHOWN.finditer(text):
        if _number(normalize(match.group(1))) == number:
            return match.group(0)
    return number
