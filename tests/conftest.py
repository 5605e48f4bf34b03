"""Shared fixtures: settings, embedders, engines on real files, local servers, the bot."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.admin_pages import Pages
from support.botapi import TOKEN, StartBot, bot_settings, open_test_engine, stop_app
from support.embedders import HashingEmbedder
from telegram import Bot
from telegram.ext import Application

import bot.cli as cli
import bot.factory as factory
from bot.database import migrate_bot_tables
from bot.settings import Settings
from bot.telegram.app import build_application
from bot.tools.localapi import LocalBotApi
from bot.tools.newssite import running_server
from bot.tools.pgserver import INSTALL_HINT, PgServer, find_binaries
from retrieval.answer import AnswerConfig
from retrieval.answerability import AnswerabilityModel, LogisticScore
from retrieval.embedding import Embedder
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
        monkeypatch.setattr("bot.factory.AnswerabilityModel", _AlwaysAnswer)


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


@pytest.fixture
async def engine(tmp_path: Path, database_url: str) -> AsyncIterator[Engine]:
    """The seed and SECOND in a hashing-embedder engine, with the bot's own tables, on
    each backend in turn."""
    eng = await open_test_engine(tmp_path, database_url)
    await migrate_bot_tables(eng.store.db)
    yield eng
    await eng.store.close()


@pytest.fixture
async def bot_engine(tmp_path: Path, database_url: str) -> AsyncIterator[Engine]:
    """A hashing-embedder engine on each backend in turn: the seed and one more article.

    The bot's tables are there too, so a test may use the store's connection for them.
    """
    engine = await open_test_engine(tmp_path, database_url)
    await migrate_bot_tables(engine.store.db)
    yield engine
    await engine.store.close()


@pytest.fixture
async def botapi() -> AsyncIterator[LocalBotApi]:
    """A local Bot API server on 127.0.0.1 that records every request."""
    api = LocalBotApi(token=TOKEN)
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def local_bot() -> AsyncIterator[tuple[LocalBotApi, Bot]]:
    """A real telegram.Bot talking to the local Bot API server."""
    api = LocalBotApi(token=TOKEN)
    await api.start()
    async with Bot(TOKEN, base_url=api.base_url) as bot:
        yield api, bot
    await api.stop()


@pytest.fixture
async def start_bot(
    botapi: LocalBotApi, bot_engine: Engine, tmp_path: Path
) -> AsyncIterator[StartBot]:
    """Return a function that starts the real application polling the local server."""
    apps: list[Application] = []  # type: ignore[type-arg]

    async def start(engine: Engine | None = None, **overrides: Any) -> Application:  # type: ignore[type-arg]
        settings = bot_settings(botapi, tmp_path, **overrides)
        app = build_application(settings, engine or bot_engine)
        # The order run_polling uses: initialize, post_init, start polling, start.
        await app.initialize()
        assert app.post_init is not None
        await app.post_init(app)
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=5)
        await app.start()
        apps.append(app)
        return app

    yield start
    for app in apps:
        await stop_app(app, botapi)


@pytest.fixture
async def pages() -> AsyncIterator[Pages]:
    """The admin tests' article pages and feed on the local news server."""
    async with running_server() as server:
        yield Pages(server)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the session, on a Unix socket; skipped without binaries."""
    binaries = find_binaries()
    if binaries is None:
        pytest.skip(f"{INSTALL_HINT}: the PostgreSQL tests are skipped")
    server = PgServer.start(binaries)
    yield server
    server.stop()


_DATABASES = itertools.count(1)


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh, empty database on the session's server."""
    return pg_server.create_database(f"test{next(_DATABASES)}")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each backend in turn: "" (the SQLite file) or a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        return ""
    return str(request.getfixturevalue("pg_url"))
