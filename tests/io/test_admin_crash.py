"""Killing a reindex part-way (a real process, SIGKILL) leaves a consistent corpus and index."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
from support.articles import filler
from support.embedders import HashingEmbedder
from support.reindex_child import SlowEmbedder

from retrieval.answer import AnswerConfig
from retrieval.embedding import Embedder
from retrieval.engine import Engine
from retrieval.intake import read_article_file
from retrieval.store import CorpusStore

ROOT = Path(__file__).resolve().parents[2]
CHILD = ROOT / "tests" / "support" / "reindex_child.py"
SEED = next((ROOT / "seeds").glob("*.txt"))
QUESTION = "ماذا قال وزير الدفاع التركي عن إدلب؟"


async def build_corpus(tmp_path: Path) -> tuple[Path, Path, int]:
    """Ingest the seed and 40 fillers with the hashing embedder; return paths and chunk count."""
    db, index = tmp_path / "crash.db", tmp_path / "crash.faiss"
    store = await CorpusStore.open(db)
    engine = await Engine.open(store, HashingEmbedder(), index)
    await engine.ingest([read_article_file(SEED), *[filler(i) for i in range(40)]])
    n = len(await store.chunk_ids())
    await store.close()
    return db, index, n


def run_until(db: Path, index: Path, mode: str, stop: str) -> list[str]:
    """Start the child reindex, SIGKILL it when it prints a line starting with stop."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(db), str(index), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert child.stdout is not None
    seen: list[str] = []
    try:
        for line in child.stdout:
            seen.append(line.strip())
            if line.startswith(stop):
                child.send_signal(signal.SIGKILL)
                break
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, (seen, child.stderr.read() if child.stderr else "")
    return seen


async def check_consistent(db: Path, index: Path, embedder: Embedder) -> None:
    """Restart: the index holds exactly the stored chunks with their stored vectors; it answers."""
    store = await CorpusStore.open(db)
    try:
        engine = await Engine.open(store, embedder, index, answer=AnswerConfig(threshold=0.0))
        ids, vectors = await store.vectors()
        assert engine.index.matches(ids)
        for cid, vec in zip(ids, vectors, strict=True):
            ((found, score),) = engine.index.search(vec, 1)
            assert (found, round(score, 4)) == (cid, 1.0), (
                "index vector differs from the stored one"
            )
        answer = await engine.ask(QUESTION)
        assert answer.answered
        assert answer.citations[0].title == read_article_file(SEED).title
    finally:
        await store.close()


async def test_kill_while_embedding_leaves_old_index(tmp_path: Path) -> None:
    db, index, n = await build_corpus(tmp_path)
    before = index.read_bytes()
    seen = run_until(db, index, "mid", "progress 16")
    assert seen[-1] == f"progress 16 {n}" and n > 16
    assert index.read_bytes() == before  # the live index file was never touched
    store = await CorpusStore.open(db)
    assert await store.get_meta("model") == HashingEmbedder().name  # old vectors stand
    await store.close()
    await check_consistent(db, index, HashingEmbedder())


async def test_kill_between_commit_and_index_save(tmp_path: Path) -> None:
    db, index, _ = await build_corpus(tmp_path)
    run_until(db, index, "swap", "saving")
    store = await CorpusStore.open(db)
    assert await store.get_meta("model") == SlowEmbedder().name  # the new vectors are in
    await store.close()
    await check_consistent(db, index, SlowEmbedder())


def test_child_models_differ() -> None:
    # The crash tests mean something only if the "new model" really changes vectors.
    text = read_article_file(SEED).body[:300]
    old = HashingEmbedder().embed_documents([text])[0]
    new = SlowEmbedder().embed_documents([text])[0]
    assert float(np.dot(old, new)) < 0.99
