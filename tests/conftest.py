"""Shared fixtures: settings in tmp_path, the fake and the real embedder, seed engines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import bot.cli as cli
import bot.factory as factory
from bot.settings import Settings
from retrieval.answer import AnswerConfig
from retrieval.answerability import AnswerabilityModel, LogisticScore
from retrieval.embedding import Embedder, HashingEmbedder
from retrieval.engine import Engine
from retrieval.intake import read_article_file
from retrieval.store import CorpusStore

ROOT = Path(__file__).resolve().parent.parent
SEED = next((ROOT / "seeds").glob("*.txt"))
EVAL_DIR = ROOT.parent / "shared" / "eval"
MODEL_PATH = Path.home() / ".cache" / "isnad" / "models" / "embeddinggemma-300m"


# The hashing embedder's cosines mean nothing, so plumbing tests must not depend on the
# fitted answerability weights: there every question that clears the threshold is answered.
ALWAYS_ANSWER = AnswerabilityModel(LogisticScore(30.0, {}), LogisticScore(30.0, {}))


class _AlwaysAnswer:
    @staticmethod
    def load() -> AnswerabilityModel:
        return ALWAYS_ANSWER


@pytest.fixture(autouse=True)
def plumbing_answers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside tests marked `model`, engines answer whatever clears the threshold."""
    if request.node.get_closest_marker("model") is None:
        monkeypatch.setattr("retrieval.engine.AnswerabilityModel", _AlwaysAnswer)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings that keep every file in tmp_path and ignore any .env."""
    return Settings(_env_file=None, data_dir=tmp_path / "data", seeds_dir=ROOT / "seeds")  # type: ignore[call-arg]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the CLI in tmp_path with the hashing embedder standing in for the model."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ISNAD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ISNAD_SEEDS_DIR", str(ROOT / "seeds"))
    monkeypatch.setenv("ISNAD_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("ISNAD_ANSWER_THRESHOLD", "-1")
    loads: list[int] = []

    def fake_load(settings: object) -> HashingEmbedder:
        loads.append(1)
        return HashingEmbedder()

    monkeypatch.setattr(cli, "load_embedder", fake_load)
    monkeypatch.setattr(cli, "fetch_model", lambda settings: tmp_path / "models")
    monkeypatch.setattr(factory, "load_embedder", fake_load)
    monkeypatch.setattr(cli, "embedder_name", lambda settings: HashingEmbedder().name)
    return tmp_path


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


from botapi import bot_engine, botapi, start_bot  # noqa: E402, F401  (Telegram e2e fixtures)
