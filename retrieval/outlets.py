"""Who an article's report counts for: its outlet, or the agency it credits.

A paper that reprints a wire story says so in the text, near the start or the
end: "(واس)", "الرياض - واس", "(أ ف ب)". Counted as the agency, a reprint in
three papers is one report, not four.
"""

from __future__ import annotations

import re
from functools import lru_cache

from retrieval.arabic import normalize
from retrieval.models import Article

# Normalised spellings (أ -> ا, ة -> ه) of each agency, and the name shown.
AGENCIES: dict[str, tuple[str, ...]] = {
    "واس": ("واس", "وكاله الانباء السعوديه"),
    "رويترز": ("رويترز",),
    "فرانس برس": ("فرانس برس", "ا ف ب", "ا.ف.ب", "اف ب"),
    "أ ش أ": ("ا ش ا", "ا.ش.ا"),
    "د ب أ": ("د ب ا", "د.ب.ا", "الالمانيه"),
    "أسوشيتد برس": ("اسوشيتد برس",),
    "كونا": ("كونا",),
    "وام": ("وام",),
    "بنا": ("بنا",),
    "قنا": ("قنا",),
    "سانا": ("سانا",),
    "الأناضول": ("الاناضول",),
    "يو بي آي": ("يو بي اي",),
}
_SPELLING = {s: name for name, spellings in AGENCIES.items() for s in spellings}
_NAMES = "|".join(re.escape(s) for s in sorted(_SPELLING, key=len, reverse=True))
# A credit is set off: in brackets, after a dash (a dateline "الرياض - واس"), or
# opening a line before a dash or colon. A bare word inside a sentence is not one.
_CREDIT = re.compile(
    rf"[(\[«]\s*({_NAMES})\s*[)\]»]"
    rf"|[-–—ـ]\s*({_NAMES})(?!\w)"
    rf"|(?:^|\n)\s*({_NAMES})\s*[-–—ـ:]"
)
HEAD_CHARS = 200
TAIL_CHARS = 150


@lru_cache(maxsize=4096)
def credited_agency(body: str) -> str | None:
    """Return the agency an article credits at its start or end, or None."""
    body = body.strip()
    # Normalising drops marks, so a window of raw text twice as wide is enough.
    head, tail = normalize(body[: 2 * HEAD_CHARS]), normalize(body[-2 * TAIL_CHARS :])
    for window in (head[:HEAD_CHARS], tail[-TAIL_CHARS:]):
        match = _CREDIT.search(window)
        if match:
            spelled = next(g for g in match.groups() if g)
            return _SPELLING[spelled]
    return None


def outlet(article: Article) -> str:
    """Return the outlet an article's report counts for."""
    return credited_agency(article.body) or article.source.strip() or article.url
