"""Shared fixtures: settings in tmp_path, the fake and the real embedder, seed engines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.settings import Settings
from retrieval.answer import AnswerConfig
from retrieval.embedding import Embedder, HashingEmbedder
from retrieval.engine import Engine
from retrieval.intake import read_article_file
from retrieval.store import CorpusStore

ROOT = Path(__file__).resolve().parent.parent
SEED = next((ROOT / "seeds").glob("*.txt"))
EVAL_DIR = ROOT.parent / "shared" / "eval"
MODEL_PATH = Path.home() / ".cache" / "isnad" / "models" / "embeddinggemma-300m"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings that keep every file in tmp_path and ignore any .env."""
    return Settings(_env_file=None, data_dir=tmp_path / "data", seeds_dir=ROOT / "seeds")  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def real_embedder() -> Embedder:
    """The real EmbeddingGemma model, loaded once per test session."""
    from bot.factory import load_embedder

    s = Settings(_env_file=None)  # type: ignore[call-arg]
    return load_embedder(s)


@pytest.fixture
async def seed_engine(tmp_path: Path) -> AsyncIterator[Engine]:
    """An engine over the seed article with the hashing embedder, on a real SQLite file."""
    store = await CorpusStore.open(tmp_path / "seed.db")
    engine = await Engine.open(
        store, HashingEmbedder(), tmp_path / "seed.faiss", answer=AnswerConfig(threshold=0.0)
    )
    await engine.ingest([read_article_file(SEED)])
    yield engine
    await store.close()


from support.botapi import bot_engine, botapi, start_bot  # noqa: E402, F401  (Telegram e2e fixtures)
