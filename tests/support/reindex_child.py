"""A reindex in a child process, for tests that kill it part-way (tests/test_admin_crash.py).

Usage: python reindex_child.py DB INDEX MODE, where MODE is "mid" (slow batches: kill
while embedding) or "swap" (pause after the vectors are committed, before the new
index file is written: kill in the narrowest window of the swap).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from retrieval.embedding import Progress
from retrieval.engine import Engine
from retrieval.index import VectorIndex
from retrieval.store import CorpusStore
from support.embedders import HashingEmbedder

NEW_MODEL_SALT = "نموذججديد"


class SlowEmbedder(HashingEmbedder):
    """The hashing embedder as a different "model": salted vectors, and slow batches."""

    def __init__(self, dim: int = 64, delay: float = 0.0, salt: str = NEW_MODEL_SALT):
        super().__init__(dim)
        # No salt: the same vectors and name as the plain hashing embedder, only slower.
        self.name = f"hashing-{dim}-new" if salt else f"hashing-{dim}"
        self.delay = delay
        self.salt = salt

    def _vector(self, text: str) -> np.ndarray:
        return super()._vector(f"{self.salt} {self.salt} {text}")

    def embed_documents(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed passages after a pause, so that a reindex has a middle to be killed in."""
        time.sleep(self.delay)
        return super().embed_documents(texts, progress)


def say(line: str) -> None:
    """Tell the parent test how far the child got."""
    print(line, flush=True)


async def main(db: Path, index_path: Path, mode: str) -> None:
    """Open the corpus with the new model and reindex it, reporting progress on stdout."""
    store = await CorpusStore.open(db)
    engine = await Engine.open(
        store, SlowEmbedder(delay=0.25 if mode == "mid" else 0.0), index_path
    )
    if mode == "swap":
        real_save = VectorIndex.save

        def slow_save(self: VectorIndex, path: Path) -> None:
            say("saving")
            time.sleep(60)  # the parent kills us here
            real_save(self, path)

        VectorIndex.save = slow_save  # type: ignore[method-assign]
    say("started")
    n = await engine.reembed(progress=lambda done, total: say(f"progress {done} {total}"), batch=4)
    say(f"done {n}")
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]))
