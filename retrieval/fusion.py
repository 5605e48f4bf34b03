"""Reciprocal rank fusion of ranked lists."""

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
