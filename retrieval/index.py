"""The vector index: FAISS keyed by chunk id, saved atomically, checked against the store.

Small corpora get exact search (a flat index under an id map). Above a configurable
size the index becomes an inverted file (IVF): a k-means coarse quantiser trained on
the stored vectors sends each query to its `nprobe` nearest lists only. IVF keeps the
chunk ids itself, so `remove_ids` works natively (HNSW cannot remove, and an id map
over IVF would renumber ids that IVF stored, so neither is used).
"""

from __future__ import annotations

import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

from retrieval.dbhealth import is_disk_full, remove_stale_temp_files

logger = logging.getLogger(__name__)

IndexKind = Literal["flat", "ivf"]


@dataclass(frozen=True)
class IndexConfig:
    """How the index is laid out; the defaults are measured in docs/speed.md."""

    # From this many vectors on, search is approximate (IVF); below it, exact.
    approx_threshold: int = 50_000
    # Lists searched per query; tuned for recall@10 >= 0.98 against exact search.
    nprobe: int = 24
    # Matryoshka truncation (EmbeddingGemma: 512, 256, 128); None keeps every dimension.
    dims: int | None = None
    # IVF lists; None sizes them for the vectors the index is built from.
    nlist: int | None = None

    def index_dim(self, dim: int) -> int:
        """Return the dimension the index holds for model vectors of dim."""
        return min(self.dims, dim) if self.dims else dim

    def kind_for(self, n: int) -> IndexKind:
        """Return the index kind for n vectors."""
        return "ivf" if n >= self.approx_threshold else "flat"


def nlist_for(n: int) -> int:
    """Return the number of IVF lists for n vectors: about sqrt(n), a power of two.

    sqrt(n) balances the coarse search against list scans, and k-means on 2 cores
    stays at seconds (it trains on 40 points per list).
    """
    return int(2 ** round(math.log2(max(64, math.sqrt(max(n, 1))))))


def fit(vectors: np.ndarray, dim: int) -> np.ndarray:
    """Shape vectors for an index of dim: truncate (Matryoshka) and renormalise if longer."""
    vectors = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
    if vectors.shape[1] == dim:
        return vectors
    if vectors.shape[1] < dim:
        raise ValueError(f"vectors have {vectors.shape[1]} dimensions, the index {dim}")
    # EmbeddingGemma is trained so that a prefix is itself an embedding; rescale to unit length.
    head = np.ascontiguousarray(vectors[:, :dim])
    return head / np.maximum(np.linalg.norm(head, axis=1, keepdims=True), 1e-12)


def _ivf(vectors: np.ndarray, ids: np.ndarray, config: IndexConfig) -> faiss.Index:
    """Train an IVF index on a sample of the vectors, then add them all under their ids."""
    n, dim = vectors.shape
    nlist = config.nlist or nlist_for(n)
    # Inner product on unit vectors is cosine, for the lists' centroids too.
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(0).choice(n, size=min(n, 40 * nlist), replace=False)
    index.train(vectors[np.sort(sample)])
    for start in range(0, n, 100_000):
        index.add_with_ids(vectors[start : start + 100_000], ids[start : start + 100_000])
    index.nprobe = config.nprobe
    return index


class VectorIndex:
    """Inner-product search over unit vectors (so scores are cosines), ids = chunk ids."""

    def __init__(
        self, dim: int, index: faiss.Index | None = None, config: IndexConfig | None = None
    ):
        self.config = config or IndexConfig()
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self.dim = int(self.index.d)
        if isinstance(self.index, faiss.IndexIVF):
            self.index.nprobe = self.config.nprobe
        # FAISS does not guard a search against a concurrent add or remove.
        self._lock = threading.Lock()

    @property
    def kind(self) -> IndexKind:
        """Return "ivf" for the approximate index, "flat" for exact search."""
        return "ivf" if isinstance(self.index, faiss.IndexIVF) else "flat"

    @classmethod
    def build(
        cls, dim: int, ids: np.ndarray, vectors: np.ndarray, config: IndexConfig | None = None
    ) -> VectorIndex:
        """Build an index from stored vectors: exact, or IVF from the configured size on."""
        config = config or IndexConfig()
        d = config.index_dim(dim)
        ids = np.asarray(ids, dtype=np.int64)
        if config.kind_for(len(ids)) == "ivf":
            return cls(d, _ivf(fit(vectors, d), ids, config), config)
        index = cls(d, None, config)
        index.add(ids, vectors)
        return index

    @classmethod
    def load(cls, path: Path, config: IndexConfig | None = None) -> VectorIndex:
        """Read an index file; raises on a missing or unreadable file."""
        index = faiss.read_index(str(path))
        return cls(index.d, index, config)

    def save(self, path: Path) -> None:
        """Write the index to a temp file beside path, then move it into place.

        Written through a Python file so that a full disk raises OSError(ENOSPC)
        (FAISS's own writer can lose a failed close); the temp file never stays.
        """
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        try:
            with self._lock, tmp.open("wb") as f:
                writer = faiss.PyCallbackIOWriter(f.write)  # type: ignore[attr-defined]
                faiss.write_index(self.index, writer)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        """Return the chunk ids held, sorted."""
        with self._lock:
            if isinstance(self.index, faiss.IndexIVF):
                lists = self.index.invlists
                assert lists is not None
                parts = [
                    faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
                    for i in range(self.index.nlist)
                    if lists.list_size(i)
                ]
                found = np.concatenate(parts) if parts else np.zeros(0, np.int64)
            else:
                found = faiss.vector_to_array(self.index.id_map)  # type: ignore[attr-defined]
            return np.sort(found.astype(np.int64))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under the given chunk ids; past the threshold, switch to IVF."""
        if len(ids) == 0:
            return
        vectors = fit(vectors, self.dim)
        with self._lock:
            self.index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
            if self.kind == "flat" and self.config.kind_for(len(self)) == "ivf":
                self._to_ivf()

    def _to_ivf(self) -> None:
        """Retrain as IVF from the vectors the flat index holds (it keeps them exactly)."""
        n = len(self)
        vectors = self.index.index.reconstruct_n(0, n)  # type: ignore[attr-defined]
        ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)  # type: ignore[attr-defined]
        logger.info("index reached %d vectors: switching to IVF", n)
        self.index = _ivf(vectors, ids, self.config)

    def remove(self, ids: list[int]) -> int:
        """Remove chunk ids; return how many were removed."""
        if not ids:
            return 0
        with self._lock:
            return int(self.index.remove_ids(np.asarray(ids, dtype=np.int64)))  # type: ignore[arg-type]

    def search(
        self, query: np.ndarray, k: int, within: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Return up to k (chunk id, cosine) best first; with within, among those ids only."""
        if k <= 0 or len(self) == 0:
            return []
        q = fit(query.reshape(1, -1), self.dim)
        if within is not None:
            return self._search_within(q, k, within)
        with self._lock:
            scores, ids = self.index.search(q, min(k, len(self)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def _search_within(self, q: np.ndarray, k: int, within: np.ndarray) -> list[tuple[int, float]]:
        """Search only the given ids: a selector, so that a few allowed chunks are found
        however many others score higher."""
        if len(within) == 0:
            return []
        selector = faiss.IDSelectorBatch(np.asarray(within, dtype=np.int64))
        # The selector stays referenced here until the search is done.
        params: faiss.SearchParameters
        if isinstance(self.index, faiss.IndexIVF):
            # Every list: only the selected ids are scored, so this stays cheap, and an
            # allowed chunk in a list the query would not probe is still found.
            ivf = faiss.SearchParametersIVF()
            ivf.nprobe = self.index.nlist
            params = ivf
        else:
            params = faiss.SearchParameters()
        params.sel = selector
        with self._lock:
            scores, ids = self.index.search(q, min(k, len(within), len(self)), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def matches(self, ids: np.ndarray) -> bool:
        """Tell whether the index holds exactly these chunk ids."""
        return len(self) == len(ids) and bool(np.array_equal(self.ids(), np.sort(ids)))

    def holds(self, vectors: np.ndarray, samples: int = 32) -> bool:
        """Tell whether a spread of the stored vectors finds itself in the index.

        Ids alone cannot tell an index of the old model's vectors from one of the
        new: a crash between storing re-embedded vectors and saving the new index
        leaves matching ids over different vectors.
        """
        if len(vectors) == 0:
            return True
        picks = np.unique(np.linspace(0, len(vectors) - 1, min(samples, len(vectors))).astype(int))
        for row in picks:
            found = self.search(vectors[row], 1)
            if not found or found[0][1] < 0.999:
                return False
        return True

    def suits(self, dim: int, n: int) -> bool:
        """Tell whether this index has the layout the config asks for model dim and n vectors.

        An IVF index is kept while it holds at least half the threshold, so deleting a
        few chunks near the boundary does not flip it back and forth.
        """
        if self.dim != self.config.index_dim(dim):
            return False
        if self.kind == "ivf":
            return n >= self.config.approx_threshold // 2
        return self.config.kind_for(n) == "flat"


def open_index(
    path: Path,
    dim: int,
    ids: np.ndarray,
    vectors: np.ndarray,
    config: IndexConfig | None = None,
) -> tuple[VectorIndex, bool]:
    """Load the index at path if it matches the stored ids and the config, else rebuild it.

    Returns the index and whether it was rebuilt. Reading must work on a full disk:
    a rebuilt index that cannot be saved is used from memory (logged once).
    """
    remove_stale_temp_files(path)  # left by a kill or a full disk during a save
    try:
        index = VectorIndex.load(path, config)
        if index.suits(dim, len(ids)) and index.matches(ids) and index.holds(vectors):
            return index, False
        logger.warning("index %s disagrees with the database or settings: rebuilding", path)
    except Exception as exc:  # missing, truncated or corrupt: all mean rebuild
        if path.exists():
            logger.warning("index %s unreadable (%s): rebuilding", path, exc)
    index = VectorIndex.build(dim, ids, vectors, config)
    try:
        index.save(path)
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        logger.warning("disk full: the rebuilt index is used from memory, not saved to %s", path)
    return index, True
