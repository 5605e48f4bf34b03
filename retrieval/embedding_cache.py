"""An on-disk cache of embeddings in front of any embedder, keyed by model and text."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from retrieval.embedding import Embedder, Progress, TitledEmbedder, titled_document

T = TypeVar("T")


def cache_key(model: str, kind: str, text: str) -> str:
    """Return the cache key of one text: sha256 of model name, prompt kind and text."""
    return hashlib.sha256(f"{model}\x00{kind}\x00{text}".encode()).hexdigest()


class CachedEmbedder:
    """Wrap an embedder so that each (model, text) is embedded once, ever.

    Queries and documents are kept apart because the model prompts them differently.
    """

    def __init__(self, inner: Embedder, cache_path: Path):
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.path = cache_path
        self.hits = 0
        self.misses = 0
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        # Called from worker threads (asyncio.to_thread); the lock serialises them.
        self._db = sqlite3.connect(cache_path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)"
        )
        self._db.commit()
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the cache file."""
        with self._lock:
            self._db.close()

    def _lookup(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                part = list(keys[start : start + 500])
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    f"SELECT key, vector FROM vectors WHERE key IN ({marks})", part
                ).fetchall()
                for key, blob in rows:
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if len(vec) == self.dim:
                        found[str(key)] = vec
        return found

    def _store(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)",
                [
                    (k, np.asarray(v, dtype=np.float32).tobytes())
                    for k, v in zip(keys, vectors, strict=True)
                ],
            )
            self._db.commit()

    def embed_documents(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Return document vectors, embedding only the texts not seen before."""
        keys = [cache_key(self.name, "document", t) for t in texts]
        return self._embed(keys, texts, self.inner.embed_documents, progress)

    def embed_titled(
        self, titles: Sequence[str], texts: Sequence[str], progress: Progress | None = None
    ) -> np.ndarray:
        """Return vectors of titled passages, or of plain ones when the model takes no title."""
        inner = self.inner
        if not isinstance(inner, TitledEmbedder):
            return self.embed_documents(texts, progress)
        pairs = list(zip(titles, texts, strict=True))
        keys = [cache_key(self.name, "titled", titled_document(t, x)) for t, x in pairs]

        def embed(todo: Sequence[tuple[str, str]], report: Progress | None) -> np.ndarray:
            return inner.embed_titled([t for t, _ in todo], [x for _, x in todo], report)

        return self._embed(keys, pairs, embed, progress)

    def _embed(
        self,
        keys: Sequence[str],
        items: Sequence[T],
        embed: Callable[[Sequence[T], Progress | None], np.ndarray],
        progress: Progress | None,
    ) -> np.ndarray:
        """Look keys up; embed the items whose key is missing, store them, return all."""
        found = self._lookup(keys)
        todo = list(dict.fromkeys(k for k in keys if k not in found))
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        if todo:
            item_of = dict(zip(keys, items, strict=True))
            cached = len(keys) - len(todo)

            def report(done: int, total: int) -> None:
                if progress:
                    progress(cached + done, cached + total)

            fresh = embed([item_of[k] for k in todo], report)
            self._store(todo, fresh)
            found.update(zip(todo, np.asarray(fresh, dtype=np.float32), strict=True))
        elif progress:
            progress(len(keys), len(keys))
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        for row, key in enumerate(keys):
            out[row] = found[key]
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """Return a question's vector, from the cache when it was asked before."""
        key = cache_key(self.name, "query", text)
        found = self._lookup([key])
        if key in found:
            self.hits += 1
            return found[key].copy()
        self.misses += 1
        vec = np.asarray(self.inner.embed_query(text), dtype=np.float32)
        self._store([key], vec[None, :])
        return vec

    def count_tokens(self, text: str) -> int:
        """Count tokens with the wrapped embedder's tokenizer."""
        return self.inner.count_tokens(text)
