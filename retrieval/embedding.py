"""Text embedders behind one interface: the real model and a deterministic fake."""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


class Embedder(Protocol):
    """Turns questions and passages into unit vectors of one dimension."""

    name: str
    dim: int

    def embed_documents(
        self, texts: Sequence[str], progress: Progress | None = None
    ) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


@runtime_checkable
class TitledEmbedder(Embedder, Protocol):
    """An embedder that can also read each passage's title (an article's headline)."""

    def embed_titled(
        self, titles: Sequence[str], texts: Sequence[str], progress: Progress | None = None
    ) -> np.ndarray: ...


def titled_document(title: str, text: str) -> str:
    """Return a passage in EmbeddingGemma's document format, with its title."""
    # The model was trained on "title: {title} | text: {text}"; giving the headline
    # instead of "none" lifted dense recall@1 by 3 points on ARCD (docs/quality.md).
    return f"title: {' '.join(title.split()) or 'none'} | text: {text}"


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Scale rows to unit length so that inner product is cosine similarity."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def torch_embedder_name(model_dir: Path) -> str:
    """Return the name the torch embedder of model_dir stores with the corpus.

    Built here only: a name that drifts makes `isnad setup` re-embed the whole corpus.
    """
    return f"embeddinggemma-300m:{model_dir.name}"


class SentenceTransformerEmbedder:
    """EmbeddingGemma through sentence-transformers, with its query/document prompts."""

    # Measured on this machine (docs/speed.md): 72 ARCD paragraphs at 4.85 passages/s in
    # batches of 4, 4.01 in batches of 16; small batches lose less to padding.
    BEST_BATCH = 4

    def __init__(
        self, model_dir: Path, *, batch_size: int | None = None, threads: int | None = None
    ):
        import torch  # heavy: imported only when the real model is wanted
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self.model: Any = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self.name = torch_embedder_name(model_dir)
        dim_of = getattr(self.model, "get_embedding_dimension", None)
        self.dim = int(dim_of() if dim_of else self.model.get_sentence_embedding_dimension())
        self.batch_size = batch_size or self.BEST_BATCH
        # Counting has a tokenizer of its own: chunking runs in threads beside questions,
        # and one fast tokenizer used by two threads at once can fail ("Already borrowed").
        self._tokenizer = copy.deepcopy(self.model.tokenizer)
        self._count_lock = threading.Lock()
        # One forward pass at a time: torch already uses every core.
        self._lock = threading.Lock()

    def embed_documents(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed passages with the model's document prompt, in batches."""
        return self._encode_documents(texts, None, progress)

    def embed_titled(
        self, titles: Sequence[str], texts: Sequence[str], progress: Progress | None = None
    ) -> np.ndarray:
        """Embed passages in the model's document format, each with its title."""
        prompted = [titled_document(t, x) for t, x in zip(titles, texts, strict=True)]
        return self._encode_documents(prompted, "", progress)

    def _encode_documents(
        self, texts: Sequence[str], prompt: str | None, progress: Progress | None
    ) -> np.ndarray:
        """Encode in length-sorted batches; prompt None means the model's document prompt."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Sort by length so that batches pad little.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        done = 0
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            with self._lock:
                vecs = self.model.encode_document(
                    [texts[i] for i in idx],
                    prompt=prompt,
                    batch_size=self.batch_size,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                )
            out[idx] = vecs
            done += len(idx)
            if progress:
                progress(done, len(texts))
        return _unit(out)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one question with the model's query prompt."""
        with self._lock:
            vec = self.model.encode_query([text], convert_to_numpy=True, normalize_embeddings=True)
        return _unit(vec)[0]

    def count_tokens(self, text: str) -> int:
        """Count the model's tokens in text, without special tokens."""
        with self._count_lock:
            return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])
