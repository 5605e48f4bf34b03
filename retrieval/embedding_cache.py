"""An on-disk cache of embeddings in front of any embedder, keyed by model and text."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from retrieval.dbhealth import is_damage, is_disk_full
from retrieval.embedding import Embedder, Progress, TitledEmbedder, titled_document

logger = logging.getLogger(__name__)

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
        self._lock = threading.Lock()
        self._full_said = False
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            self._db = self._start_afresh(None, exc)

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)"
            )
            db.commit()
        except BaseException:
            db.close()
            raise
        return db

    def _start_afresh(
        self, db: sqlite3.Connection | None, why: BaseException | str
    ) -> sqlite3.Connection:
        """Replace a damaged or wrong cache file by an empty one: vectors come back by embedding."""
        logger.warning(
            "embedding cache %s is damaged (%s): starting it afresh; texts are embedded again"
            " as they are needed",
            self.path,
            why,
        )
        if db is not None:
            db.close()
        for suffix in ("", "-wal", "-shm"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
        return self._open()

    def reset(self, why: str) -> None:
        """Empty the cache (its vectors were found wrong); the file stays, shared as it is."""
        logger.warning("embedding cache %s is emptied (%s)", self.path, why)
        with self._lock:
            try:
                self._db.execute("DELETE FROM vectors")
                self._db.commit()
            except sqlite3.DatabaseError as exc:
                if not (is_damage(exc) or is_disk_full(exc)):
                    raise
                self._db = self._start_afresh(self._db, exc)

    def close(self) -> None:
        """Close the cache file."""
        with self._lock:
            self._db.close()

    def _lookup(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            try:
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
            except sqlite3.DatabaseError as exc:
                if not is_damage(exc):
                    raise
                # A cache only saves work: a damaged one is replaced, never fatal.
                self._db = self._start_afresh(self._db, exc)
                return {}
        return found

    def _store(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        rows = [
            (k, np.asarray(v, dtype=np.float32).tobytes())
            for k, v in zip(keys, vectors, strict=True)
        ]
        with self._lock:
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)", rows
                )
                self._db.commit()
            except sqlite3.DatabaseError as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._db.rollback()
                if is_disk_full(exc):
                    # Reading goes on without the cache; say so once.
                    if not self._full_said:
                        logger.warning("disk full: embeddings are not kept in %s", self.path)
                        self._full_said = True
                elif is_damage(exc):
                    self._db = self._start_afresh(self._db, exc)
                else:
                    raise

    def agrees(self, titles: Sequence[str], texts: Sequence[str], min_cosine: float = 0.98) -> bool:
        """Tell whether the cached vectors of these titled texts match fresh ones.

        A cache keyed by hashes cannot tell a wrong vector from a right one, so a
        spread of them is embedded again and compared (cosine of unit vectors).
        """
        inner = self.inner
        pairs = list(zip(titles, texts, strict=True))
        if isinstance(inner, TitledEmbedder):
            keys = [cache_key(self.name, "titled", titled_document(t, x)) for t, x in pairs]
        else:
            keys = [cache_key(self.name, "document", x) for _, x in pairs]
        found = self._lookup(keys)
        held = [(k, p) for k, p in zip(keys, pairs, strict=True) if k in found]
        if not held:
            return True
        if isinstance(inner, TitledEmbedder):
            fresh = inner.embed_titled([t for _, (t, _) in held], [x for _, (_, x) in held])
        else:
            fresh = inner.embed_documents([x for _, (_, x) in held])
        cached = np.vstack([found[k] for k, _ in held])
        return bool(np.all(np.sum(cached * fresh, axis=1) >= min_cosine))

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
