"""Cut an overlong sentence to the span that best matches the question, for quoting."""

from __future__ import annotations

import re

from retrieval.arabic import search_terms

QUOTE_CHARS = 600
ELLIPSIS = "…"
_TOKEN = re.compile(r"\S+")


def quote_span(sentence: str, question: str, limit: int = QUOTE_CHARS) -> str:
    """Return the sentence, or its span of at most limit characters richest in question words.

    The span is cut at word boundaries and marked with an ellipsis where it was cut;
    among equally rich spans the earliest wins.
    """
    if len(sentence) <= limit:
        return sentence
    terms = set(search_terms(question))
    tokens = [
        (m.start(), m.end(), bool(terms & set(search_terms(m.group()))))
        for m in _TOKEN.finditer(sentence)
    ]
    best = (-1, 0, 0)  # (matches, first token, token past the last)
    j = 0
    matches = 0
    for i, (start, _, _) in enumerate(tokens):
        if j <= i:
            j, matches = i, 0
        while j < len(tokens) and tokens[j][1] - start <= limit:
            matches += tokens[j][2]
            j += 1
        if j > i and matches > best[0]:
            best = (matches, i, j)
        if j > i:
            matches -= tokens[i][2]
    if best[0] < 0:  # not even one word fits: a hard cut
        return sentence[:limit] + ELLIPSIS
    _, first, past = best
    hits = [k for k in range(first, past) if tokens[k][2]]
    if hits:
        # The earliest richest window ends at the question's words: centre them instead.
        middle = (tokens[hits[0]][0] + tokens[hits[-1]][1]) / 2
        while first < hits[0] and tokens[first][0] < middle - limit / 2:
            first += 1
        past = first
        while past < len(tokens) and tokens[past][1] - tokens[first][0] <= limit:
            past += 1
    start, end = tokens[first][0], tokens[past - 1][1]
    head = ELLIPSIS if start > 0 else ""
    tail = ELLIPSIS if end < len(sentence.rstrip()) else ""
    return head + sentence[start:end] + tail
