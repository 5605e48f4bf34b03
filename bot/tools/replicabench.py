"""`isnad bench` replicas section: questions on SQLite, one and two PostgreSQL replicas.

A throwaway PostgreSQL server (the binaries on the machine) holds the same corpus as
an SQLite file; the same questions are asked at the same concurrency of one engine
on each, then of two replica processes sharing the PostgreSQL database, each with
the model loaded. On two cores, two replicas share the CPU the one had: expect
little gain, and read the figures as such.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bot.admin.questionlog import percentile
from bot.factory import load_embedder, open_engine, stderr_line
from bot.settings import Settings
from bot.tools.bench import squad_drafts, squad_questions
from bot.tools.pgserver import INSTALL_HINT, PgServer, find_binaries
from retrieval.embedding import Embedder
from retrieval.embedding_cache import CachedEmbedder
from retrieval.engine import Engine

CONCURRENCY = 8


async def ask_all(engine: Engine, questions: Sequence[str], concurrency: int) -> list[float]:
    """Ask the questions, concurrency at a time; return each one's seconds."""
    gate = asyncio.Semaphore(concurrency)
    seconds: list[float] = []

    async def one(question: str) -> None:
        async with gate:
            start = time.perf_counter()
            await engine.ask(question)
            seconds.append(time.perf_counter() - start)

    await asyncio.gather(*(one(q) for q in questions))
    return seconds


def figures(name: str, seconds: Sequence[float], wall: float) -> dict[str, str]:
    """Return one table row: questions per second and the latency percentiles."""
    ms = sorted(s * 1000 for s in seconds)
    return {
        "setup": name,
        "questions": str(len(ms)),
        "q_per_s": f"{len(ms) / wall:.2f}",
        "p50_ms": f"{percentile(ms, 50):.0f}",
        "p95_ms": f"{percentile(ms, 95):.0f}",
    }


async def _engine_row(
    settings: Settings, embedder: Embedder, name: str, questions: Sequence[str]
) -> dict[str, str]:
    engine = await open_engine(settings, embedder)
    try:
        await ask_all(engine, questions[:4], CONCURRENCY)  # warm up
        start = time.perf_counter()
        seconds = await ask_all(engine, questions, CONCURRENCY)
        return figures(name, seconds, time.perf_counter() - start)
    finally:
        await engine.close()


async def _fill(settings: Settings, embedder: Embedder, eval_file: Path) -> None:
    engine = await open_engine(settings, embedder)
    try:
        await engine.ingest(squad_drafts(eval_file))
    finally:
        await engine.close()


def _replica(url: str, data_dir: Path, questions: Sequence[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "ISNAD_DATABASE_URL": url, "ISNAD_DATA_DIR": str(data_dir)}
    # Two replicas on one machine split its cores rather than each take them all.
    env["ISNAD_EMBED_THREADS"] = str(max(1, (os.cpu_count() or 2) // 2))
    return subprocess.Popen(
        [sys.executable, "-m", "bot.tools.replicabench", json.dumps(list(questions))],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def run_replica_bench(
    settings: Settings, embedder: Embedder, eval_file: Path, count: int = 96
) -> list[dict[str, str]]:
    """Return the replicas table, or [] (with one line) without PostgreSQL binaries."""
    binaries = find_binaries()
    if binaries is None:
        stderr_line(f"bench: {INSTALL_HINT}: no replicas section")
        return []
    cached = CachedEmbedder(embedder, settings.embedding_cache_dir / "embeddings.sqlite")
    questions = squad_questions(eval_file, count)
    server = PgServer.start(binaries)
    rows = []
    try:
        url = server.create_database("bench")
        with tempfile.TemporaryDirectory(prefix="isnad-replicas-") as tmp:
            lite = settings.model_copy(update={"data_dir": Path(tmp) / "lite", "database_url": ""})
            pg = settings.model_copy(update={"data_dir": Path(tmp) / "pg", "database_url": url})
            for each in (lite, pg):
                asyncio.run(_fill(each, cached, eval_file))
            rows.append(asyncio.run(_engine_row(lite, embedder, "SQLite, 1 process", questions)))
            rows.append(asyncio.run(_engine_row(pg, embedder, "PostgreSQL, 1 replica", questions)))
            halves = [questions[0::2], questions[1::2]]
            for n in range(2):  # the sentence vectors ingest made: no replica starts cold
                (Path(tmp) / f"r{n}").mkdir()
                cache = Path(tmp) / "pg" / "sentences.sqlite"
                if cache.exists():
                    shutil.copy(cache, Path(tmp) / f"r{n}" / "sentences.sqlite")
            children = [_replica(url, Path(tmp) / f"r{n}", h) for n, h in enumerate(halves)]
            outputs = [json.loads(c.communicate()[0].strip().splitlines()[-1]) for c in children]
            if any(c.returncode for c in children):
                raise RuntimeError("a replica of the bench failed")
            # Together from the first start to the last end of the timed questions.
            wall = max(o["end"] for o in outputs) - min(o["start"] for o in outputs)
            seconds = [s for o in outputs for s in o["seconds"]]
            rows.append(figures("PostgreSQL, 2 replicas", seconds, wall))
    finally:
        cached.close()
        server.stop()
    return rows


async def _child(questions: list[str]) -> dict[str, object]:
    settings = Settings()
    engine = await open_engine(settings, load_embedder(settings))
    try:
        await ask_all(engine, questions[:4], CONCURRENCY // 2)  # warm up
        start = time.time()
        seconds = await ask_all(engine, questions, CONCURRENCY // 2)
        return {"start": start, "end": time.time(), "seconds": seconds}
    finally:
        await engine.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_child(json.loads(sys.argv[1])))))
