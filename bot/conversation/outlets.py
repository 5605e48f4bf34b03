"""Outlets named in a question ("ماذا قالت عكاظ…", "حسب سبق") and the sources they mean.

Most outlet names are ordinary words too (الرياض is a city, اليوم is "today",
الاقتصادية "economic", الشرق الأوسط "the Middle East", سبق "preceded"): those
count as outlets only in outlet phrasing, after a verb of saying or a word such
as صحيفة or حسب. Names that mean nothing else (عكاظ، واس، عين اليوم) count
anywhere.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from retrieval.arabic import normalize
from retrieval.newsdays import OUTLETS

# Other names readers use, by outlet id (the ids are SaudiNewsNet's `source` values).
ALIASES: dict[str, tuple[str, ...]] = {
    "aawsat": ("الشرق الأوسط", "الشرق الاوسط", "asharq al-awsat", "aawsat.com"),
    "aleqtisadiya": ("الاقتصادية", "aleqt.com"),
    "aljazirah": ("الجزيرة", "al-jazirah.com"),
    "almadina": ("المدينة", "al-madina.com"),
    "alriyadh": ("الرياض", "alriyadh.com"),
    "alwatan": ("الوطن", "alwatan.com.sa"),
    "alweeam": ("الوئام", "alweeam.com.sa"),
    "alyaum": ("اليوم", "alyaum.com"),
    "arreyadi": ("الرياضي", "arriyadiyah.com"),
    "okaz": ("عكاظ", "okaz.com.sa"),
    "sabq": ("سبق", "sabq.org"),
    "3alyoum": ("عين اليوم", "3alyoum.com"),
    "was": ("واس", "وكالة الأنباء السعودية", "spa.gov.sa"),
}
# Outlets whose Arabic names mean nothing else: named anywhere, no cue needed.
UNAMBIGUOUS = frozenset({"okaz", "was", "3alyoum"})
# Words that introduce an outlet: verbs of saying (with و/ف), "according to", "newspaper".
_CUES = (
    "قالت ذكرت نشرت اوردت أوردت كتبت نقلت افادت أفادت اشارت أشارت روت تقول تذكر "
    "حسب بحسب وفق وفقا وفقاً طبقا صحيفة جريدة موقع وكالة"
)
_CUE_WORDS = frozenset(normalize(w) for w in _CUES.split())


@dataclass(frozen=True)
class Outlet:
    """An outlet: its id, the name readers know it by, and every name that means it."""

    id: str
    name: str
    names: tuple[str, ...]


OUTLET_LIST: tuple[Outlet, ...] = tuple(
    Outlet(i, OUTLETS[i], tuple(dict.fromkeys((OUTLETS[i], i, *ALIASES.get(i, ())))))
    for i in OUTLETS
)


@dataclass(frozen=True)
class Mention:
    """An outlet named in a question, and the question without the outlet phrase."""

    outlet: Outlet
    rest: str


# Marks that would split a word for \w: harakat, tatweel, invisible controls.
_MARKS = re.compile(
    "[\u064b-\u065f\u0670\u0640\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\u00ad\u061c]"
)


def _words(text: str) -> list[str]:
    """Split text into words as written (marks dropped), for a readable remainder."""
    return re.findall(r"[\w.-]+", _MARKS.sub("", unicodedata.normalize("NFKC", text)))


def _tokens(text: str) -> list[str]:
    return [normalize(w) for w in _words(text)]


def _stripped(token: str) -> str:
    """Drop a leading و or ف (and'/'so') from a cue word."""
    return token[1:] if len(token) > 3 and token[0] in "وف" else token


def find_outlet(question: str) -> Mention | None:
    """Return the outlet the question names, or None; the longest name wins."""
    written = _words(question)
    tokens = [normalize(w) for w in written]
    best: tuple[int, int, int, Outlet] | None = None  # (length, start, cue start, outlet)
    for outlet in OUTLET_LIST:
        for name in outlet.names:
            parts = _tokens(name)
            n = len(parts)
            for start in range(len(tokens) - n + 1):
                window = tokens[start : start + n]
                # "لعكاظ"، "بحسب سبق": a one-letter preposition may be glued on.
                first = window[0]
                if first != parts[0] and not (
                    len(first) == len(parts[0]) + 1 and first[0] in "لب" and first[1:] == parts[0]
                ):
                    continue
                if window[1:] != parts[1:]:
                    continue
                cue = start
                while cue and _stripped(tokens[cue - 1]) in _CUE_WORDS:
                    cue -= 1
                latin = not re.search("[\u0600-\u06ff]", name)
                if cue == start and not latin and outlet.id not in UNAMBIGUOUS:
                    continue
                if best is None or n > best[0]:
                    best = (n, start, cue, outlet)
    if best is None:
        return None
    n, start, cue, outlet = best
    rest = " ".join(written[:cue] + written[start + n :])
    return Mention(outlet, rest)


def _key(text: str) -> str:
    return " ".join(_tokens(text))


def outlet_of_source(source: str) -> Outlet | None:
    """Return the outlet a corpus `source` value means, or None.

    It means one when, normalised, it is one of the outlet's names, or holds one as
    whole words (a feed titled "صحيفة عكاظ", a host such as www.okaz.com.sa); the
    longest name wins, so "عين اليوم" is not اليوم.
    """
    key = _key(source)
    padded = f" {key} "
    best: tuple[int, Outlet] | None = None
    for outlet in OUTLET_LIST:
        for name in outlet.names:
            wanted = _key(name)
            if key == wanted or f" {wanted} " in padded or key.endswith("." + wanted):
                if best is None or len(wanted) > best[0]:
                    best = (len(wanted), outlet)
    return best[1] if best else None


def match_sources(outlet: Outlet, corpus_sources: Iterable[str]) -> frozenset[str]:
    """Return the corpus's `source` values that mean this outlet."""
    return frozenset(s for s in corpus_sources if outlet_of_source(s) == outlet)
