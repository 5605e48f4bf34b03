"""Sentence-level evidence: how close each sentence of a passage is to the question.

Used twice per question: to reorder the best few passages, and to choose the
sentences the answer quotes. Sentence vectors are embedded as documents with
their article's headline, kept in memory, and, when a cache file is given, on
disk, filled at ingest so that a question costs look-ups, not model calls.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from retrieval.arabic import search_terms
from retrieval.embedding import Embedder, Progress, TitledEmbedder
from retrieval.embedding_cache import CachedEmbedder
from retrieval.models import Hit
from retrieval.sentences import split_sentences

# (headline, sentence): the same sentence under another headline embeds differently.
Pair = tuple[str, str]


class SentenceEvidence:
    """Cosines of (headline, sentence) pairs to questions."""

    def __init__(
        self,
        embedder: Embedder,
        embed_query: Callable[[str], np.ndarray],
        cache_path: Path | None = None,
        memory: int = 4096,
    ):
        self.embedder = embedder
        self.embed_query = embed_query
        self.disk = CachedEmbedder(embedder, cache_path) if cache_path else None
        self.memory = memory
        self._recent: OrderedDict[Pair, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the cache file, if any."""
        if self.disk is not None:
            self.disk.close()

    def embed(self, pairs: Sequence[Pair], progress: Progress | None = None) -> np.ndarray:
        """Embed pairs as titled documents, through the cache file when there is one."""
        titles, texts = [t for t, _ in pairs], [x for _, x in pairs]
        if self.disk is not None:
            return self.disk.embed_titled(titles, texts, progress)
        if isinstance(self.embedder, TitledEmbedder):
            return self.embedder.embed_titled(titles, texts, progress)
        return self.embedder.embed_documents(texts, progress)

    def warm(self, chunks: Sequence[Pair], progress: Progress | None = None) -> None:
        """Embed the sentences of (headline, chunk text) pairs into the cache file."""
        if self.disk is not None:
            self.embed([(t, s.text) for t, text in chunks for s in split_sentences(text)], progress)

    def vectors(self, pairs: list[Pair]) -> np.ndarray:
        """Return the vector of each (headline, sentence), one row per pair."""
        with self._lock:
            known = {p: v for p in pairs if (v := self._recent.get(p)) is not None}
        missing = [p for p in dict.fromkeys(pairs) if p not in known]
        if missing:
            known.update(zip(missing, self.embed(missing), strict=True))
        with self._lock:
            for p in dict.fromkeys(pairs):
                self._recent[p] = known[p]
                self._recent.move_to_end(p)
            while len(self._recent) > self.memory:
                self._recent.popitem(last=False)
        if not pairs:
            return np.zeros((0, 0), np.float32)
        return np.vstack([known[p] for p in pairs])

    def score(self, question: str, pairs: list[Pair]) -> list[float]:
        """Return the cosine of each (headline, sentence) to the question."""
        qvec = self.embed_query(question)
        if not pairs:
            return []
        return [float(np.dot(qvec, v)) for v in self.vectors(pairs)]

    def rerank(
        self, question: str, hits: list[Hit], depth: int, weight: float, lexical: float = 0.0
    ) -> list[Hit]:
        """Reorder the first depth hits by their best sentence.

        New score: (1 - weight) * score + weight * best sentence cosine + lexical * best
        sentence overlap, where overlap is the idf-weighted share of the question's words
        a sentence holds, idf taken over the sentences being compared (a word in all of
        them tells them apart less than a rare one), as the answer composer does.
        """
        head = hits[:depth]
        groups = [[(h.article.title, s.text) for s in split_sentences(h.chunk.text)] for h in head]
        sims = iter(self.score(question, [p for g in groups for p in g]))
        overlaps = iter(sentence_overlaps(question, [t for g in groups for _, t in g]))
        scored = []
        for hit, group in zip(head, groups, strict=True):
            cosines = [next(sims) for _ in group]
            shares = [next(overlaps) for _ in group]
            best = max(cosines, default=hit.score)
            share = max(shares, default=0.0)
            new = (1 - weight) * hit.score + weight * best + lexical * share
            scored.append(replace(hit, score=new))
        scored.sort(key=lambda h: (-h.score, h.chunk.id))
        return scored + hits[depth:]


def sentence_overlaps(question: str, sentences: Sequence[str]) -> list[float]:
    """Return, per sentence, the idf-weighted share of the question's words it holds."""
    return idf_overlaps(set(search_terms(question)), [set(search_terms(s)) for s in sentences])


def idf_overlaps(question: set[str], sentences: Sequence[set[str]]) -> list[float]:
    """Return, per sentence's terms, the idf-weighted share of the question's terms it holds.

    idf is counted over the given sentences, so the weights fit the comparison at hand:
    a word in all of them tells them apart less than one in a single sentence.
    """
    weight = {
        t: math.log(1 + len(sentences) / (1 + sum(t in ts for ts in sentences))) for t in question
    }
    # fsum: correctly rounded whatever the set order, so a sentence holding every
    # question word scores exactly 1 under any hash seed.
    total = math.fsum(weight.values())
    if not total:
        return [0.0] * len(sentences)
    return [math.fsum(weight[t] for t in question & ts) / total for ts in sentences]
