"""Fusion of the dense and lexical result lists: by score (blend) or by rank (RRF)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Fused:
    """A fused result: id, fused score and its 1-based rank in each input list."""

    id: int
    score: float
    ranks: tuple[int | None, ...]


def rrf(
    lists: Sequence[Sequence[int]], k: float = 60.0, weights: Sequence[float] | None = None
) -> list[Fused]:
    """Fuse ranked id lists: score = sum of weight / (k + rank), best first, ties by id."""
    weights = list(weights) if weights is not None else [1.0] * len(lists)
    if len(weights) != len(lists):
        raise ValueError("one weight per list is needed")
    scores: dict[int, float] = {}
    ranks: dict[int, list[int | None]] = {}
    for n, (ids, weight) in enumerate(zip(lists, weights, strict=True)):
        for rank, id_ in enumerate(ids, start=1):
            if id_ in ranks and ranks[id_][n] is not None:
                continue  # an id counts once per list, at its best rank
            scores[id_] = scores.get(id_, 0.0) + weight / (k + rank)
            ranks.setdefault(id_, [None] * len(lists))[n] = rank
    ordered = sorted(scores, key=lambda i: (-scores[i], i))
    return [Fused(i, scores[i], tuple(ranks[i])) for i in ordered]


def blend(
    dense: Sequence[tuple[int, float]],
    lexical: Sequence[tuple[int, float]],
    dense_weight: float = 0.86,
    lexical_weight: float = 0.14,
) -> list[Fused]:
    """Fuse by score: weights times cosine and bm25 scaled to the best; best first, ties by id.

    `dense` holds (id, cosine), `lexical` (id, FTS5 bm25, which is negative: lower is
    better). Dividing by the best bm25 puts the lexical side on [0, 1] for any
    query; an id missing from the dense list gets that list's lowest cosine, one
    missing from the lexical list gets 0. Unlike RRF this keeps how far apart the
    candidates are: a clear dense winner is not overturned by a lexical near-tie
    (measured in docs/quality.md).
    """
    cosine = dict(dense)
    strength = {i: -s for i, s in lexical}
    floor = min(cosine.values(), default=0.0)
    best = max(strength.values(), default=0.0)
    dense_rank = {i: n for n, (i, _) in enumerate(dense, start=1)}
    lexical_rank = {i: n for n, (i, _) in enumerate(lexical, start=1)}
    scores = {
        i: dense_weight * cosine.get(i, floor)
        + (lexical_weight * strength.get(i, 0.0) / best if best > 0 else 0.0)
        for i in cosine.keys() | strength.keys()
    }
    ordered = sorted(scores, key=lambda i: (-scores[i], i))
    return [Fused(i, scores[i], (dense_rank.get(i), lexical_rank.get(i))) for i in ordered]
