"""The vector index: FAISS keyed by chunk id, saved atomically, checked against the store."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import faiss
import numpy as np

logger = logging.getLogger(__name__)


class VectorIndex:
    """Exact inner-product search over unit vectors (so scores are cosines), ids = chunk ids."""

    def __init__(self, dim: int, index: faiss.Index | None = None):
        self.dim = dim
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        # FAISS does not guard a search against a concurrent add or remove.
        self._lock = threading.Lock()

    @classmethod
    def build(cls, dim: int, ids: np.ndarray, vectors: np.ndarray) -> VectorIndex:
        """Build an index from stored vectors."""
        index = cls(dim)
        index.add(ids, vectors)
        return index

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        """Read an index file; raises on a missing or unreadable file."""
        index = faiss.read_index(str(path))
        return cls(index.d, index)

    def save(self, path: Path) -> None:
        """Write the index to a temp file beside path, then move it into place."""
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        with self._lock:
            faiss.write_index(self.index, str(tmp))
        os.replace(tmp, path)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        """Return the chunk ids held, sorted."""
        with self._lock:
            id_map = self.index.id_map  # type: ignore[attr-defined]
            return np.sort(faiss.vector_to_array(id_map).astype(np.int64))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under the given chunk ids."""
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape[1] != self.dim:
            raise ValueError(f"vectors have {vectors.shape[1]} dimensions, the index {self.dim}")
        with self._lock:
            self.index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: list[int]) -> int:
        """Remove chunk ids; return how many were removed."""
        if not ids:
            return 0
        with self._lock:
            return int(self.index.remove_ids(np.asarray(ids, dtype=np.int64)))  # type: ignore[arg-type]

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Return up to k (chunk id, cosine) best first."""
        if k <= 0 or len(self) == 0:
            return []
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        with self._lock:
            scores, ids = self.index.search(q, min(k, len(self)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def matches(self, ids: np.ndarray) -> bool:
        """Tell whether the index holds exactly these chunk ids."""
        return len(self) == len(ids) and bool(np.array_equal(self.ids(), np.sort(ids)))


def open_index(
    path: Path, dim: int, ids: np.ndarray, vectors: np.ndarray
) -> tuple[VectorIndex, bool]:
    """Load the index at path if it matches the stored ids, else rebuild and save it.

    Returns the index and whether it was rebuilt.
    """
    try:
        index = VectorIndex.load(path)
        if index.dim == dim and index.matches(ids):
            return index, False
        logger.warning("index %s disagrees with the database: rebuilding", path)
    except Exception as exc:  # missing, truncated or corrupt: all mean rebuild
        if path.exists():
            logger.warning("index %s unreadable (%s): rebuilding", path, exc)
    index = VectorIndex.build(dim, ids, vectors)
    index.save(path)
    return index, True
