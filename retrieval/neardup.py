"""Near-duplicate articles (wire copies, light rewrites) by 64-bit simhash."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable

from retrieval.arabic import light_stem, words

SHINGLE = 3
# Measured on the seed article (tests/test_extract.py::test_simhash_threshold): wire
# copies (new headline, byline added, first or last paragraph dropped, ~15 words
# swapped for synonyms, diacritics and punctuation changed) lie at distance 0-8;
# unrelated Arabic news at 22-44 (median 33, as for random hashes); a heavy rewrite
# of the same story at 32: simhash is lexical, so a retelling is not a copy.
# 12 keeps every light copy and stays 10 bits clear of the closest unrelated pair.
NEAR_DUP_DISTANCE = 12


def _features(text: str) -> Counter[str]:
    """Return stemmed word 3-shingles with counts; short texts fall back to words."""
    toks = [light_stem(w) for w in words(text)]
    if len(toks) < SHINGLE:
        return Counter(toks)
    return Counter(" ".join(toks[i : i + SHINGLE]) for i in range(len(toks) - SHINGLE + 1))


def simhash(text: str) -> int:
    """Return the 64-bit simhash of text's normalised shingles (unsigned)."""
    acc = [0] * 64
    for feature, weight in _features(text).items():
        h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
        for bit in range(64):
            acc[bit] += weight if h >> bit & 1 else -weight
    return sum(1 << bit for bit in range(64) if acc[bit] > 0)


def hamming(a: int, b: int) -> int:
    """Return the number of differing bits between two 64-bit hashes."""
    return ((a ^ b) & 0xFFFFFFFFFFFFFFFF).bit_count()


def to_signed(value: int) -> int:
    """Return an unsigned 64-bit hash as the signed integer SQLite can store."""
    return value - (1 << 64) if value >= 1 << 63 else value


def to_unsigned(value: int) -> int:
    """Return a hash read back from SQLite as unsigned 64 bits."""
    return value & 0xFFFFFFFFFFFFFFFF


def nearest(
    value: int, candidates: Iterable[tuple[int, int]], max_distance: int = NEAR_DUP_DISTANCE
) -> tuple[int, int] | None:
    """Return (id, distance) of the closest candidate within max_distance, or None."""
    best: tuple[int, int] | None = None
    for key, other in candidates:
        d = hamming(value, other)
        if d <= max_distance and (best is None or d < best[1]):
            best = (key, d)
    return best
