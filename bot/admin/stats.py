"""The figures /stats shows, gathered from the corpus, the bot's tables and the process."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.admin.questionlog import QuestionLog, QuestionStats
from bot.database import BotRepository
from retrieval.engine import Engine
from retrieval.index import VectorIndex


@dataclass(frozen=True)
class StatsReport:
    """Everything /stats reports."""

    articles: int
    chunks: int
    sources: int
    feeds: int
    subscribers: int
    questions: QuestionStats
    vectors: int
    index_disk_bytes: int | None  # None: no index file yet
    index_memory_bytes: int
    model: str
    uptime_seconds: float
    stories: int = 0


def index_memory(index: VectorIndex) -> int:
    """Estimate the index's memory: float32 vectors plus a 64-bit id each.

    An estimate: measuring FAISS exactly means serialising it, a copy as large again.
    """
    return len(index) * (index.dim * 4 + 8)


async def gather(
    engine: Engine, repo: BotRepository, questions: QuestionLog, started: float
) -> StatsReport:
    """Collect the figures; started is the bot's start on the time.monotonic clock."""
    corpus = await engine.store.stats()
    feeds = await repo.feeds.all()
    try:
        disk: int | None = engine.index_path.stat().st_size
    except FileNotFoundError:
        disk = None
    return StatsReport(
        articles=corpus.articles,
        chunks=corpus.chunks,
        sources=len(corpus.sources),
        feeds=len(feeds),
        subscribers=await repo.subscriptions.count_subscribers(),
        questions=await questions.stats(),
        vectors=len(engine.index),
        index_disk_bytes=disk,
        index_memory_bytes=index_memory(engine.index),
        model=engine.embedder.name,
        uptime_seconds=time.monotonic() - started,
        stories=corpus.stories,
    )
