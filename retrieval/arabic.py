"""Arabic text handling for search: normalisation, word splitting, light stemming."""

from __future__ import annotations

import re
import unicodedata

# Harakat, Quranic marks, superscript alef and tatweel carry no meaning for search.
_DIACRITICS = re.compile("[\u064b-\u065f\u0670\u0640\u06d6-\u06ed]")
# Zero-width and bidi controls: invisible, but they split words for FTS5.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\u00ad\u061c]")
_LETTERS = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ة": "ه",
        "ؤ": "و",
        "ئ": "ي",
        **{chr(0x0660 + i): str(i) for i in range(10)},  # Arabic-Indic digits
        **{chr(0x06F0 + i): str(i) for i in range(10)},  # Persian digits
        "٫": ".",
        "٬": ",",
    }
)
_WORD = re.compile(r"[\w]+", re.UNICODE)

# Affixes of Larkey's light10 stemmer (after normalisation ة is ه). Lone ب ف ل ك
# are left alone: they begin too many words (فلسطين, بلد, كتاب).
_PREFIXES = ("وال", "بال", "كال", "فال", "لل", "ال", "و")
_SUFFIXES = ("ها", "ان", "ات", "ون", "ين", "يه", "ه", "ي")

# Function words and question words that carry no topic; kept small on purpose.
STOPWORDS = frozenset(
    normalised
    for normalised in (
        unicodedata.normalize("NFKC", w).translate(_LETTERS)
        for w in (
            "ما ماذا من متى كم اين أين لماذا هل كيف اي أي أية ايه لم لما "
            "في على عن الى إلى من مع ثم او أو ان إن أن كان كانت يكون هو هي هم "
            "هذا هذه ذلك تلك الذي التي الذين اللذين اللتين اللاتي و ف ب ل "
            "قد لقد لا ليس غير بعد قبل عند حتى منذ بين كل بعض اذا إذا "
            "the a an of in on to is are was were what who when where why how which do does did"
        ).split()
    )
)


def normalize(text: str) -> str:
    """Return text normalised for search: no diacritics, unified letters, ASCII digits."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _DIACRITICS.sub("", text)
    return text.translate(_LETTERS).lower()


def words(text: str) -> list[str]:
    """Split normalised text into word tokens."""
    return _WORD.findall(normalize(text))


def light_stem(word: str) -> str:
    """Strip one common prefix and suffix while the stem keeps three letters or more."""
    for prefix in _PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 3:
            word = word[len(prefix) :]
            break
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word


def search_terms(text: str, *, drop_stopwords: bool = True) -> list[str]:
    """Return the stemmed content words of text, in order, for lexical search."""
    out: list[str] = []
    for w in words(text):
        if drop_stopwords and w in STOPWORDS:
            continue
        out.append(light_stem(w))
    return out


def index_text(text: str) -> str:
    """Return the text stored in the FTS5 column: normalised, stemmed words."""
    return " ".join(light_stem(w) for w in words(text))


def has_letters(text: str) -> bool:
    """Tell whether text holds at least one letter or digit of any script."""
    return any(ch.isalnum() for ch in text)
