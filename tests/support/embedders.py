"""A deterministic fake embedder for plumbing tests: it goes through the real interface."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np

from retrieval.arabic import words
from retrieval.embedding import Progress


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


class HashingEmbedder:
    """A deterministic bag-of-words embedder for plumbing tests; no model needed."""

    def __init__(self, dim: int = 64):
        self.name = f"hashing-{dim}"
        self.dim = dim
        self.calls = 0

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        for w in words(text):
            h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=4).digest(), "little")
            vec[h % self.dim] += 1.0 if h & 0x80000000 else -1.0
        if not vec.any():
            vec[0] = 1.0
        return vec

    def embed_documents(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed passages by hashing their words."""
        self.calls += 1
        out = np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim))
        if progress:
            progress(len(texts), len(texts))
        return _unit(out)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed a question by hashing its words."""
        return _unit(self._vector(text)[None, :])[0]

    def count_tokens(self, text: str) -> int:
        """Count words."""
        return len(text.split())


class KeyedEmbedder(HashingEmbedder):
    """Embeds a text as the unit sum of the vectors of the keys it contains: tests set
    the cosine between two articles by the keys they share. A text with no key gets a
    hashing vector."""

    def __init__(self, keys: Mapping[str, Sequence[float]], dim: int = 8):
        super().__init__(dim)
        self.name = f"keyed-{dim}"
        self.keys = {k: np.asarray(v, dtype=np.float32) for k, v in keys.items()}

    def _vector(self, text: str) -> np.ndarray:
        hits = [v for k, v in self.keys.items() if k in text]
        return np.sum(hits, axis=0) if hits else super()._vector(text)
