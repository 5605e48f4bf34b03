"""`isnad bench`: measure ingest, ask latency, cold start and memory; print the figures."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.admin.questionlog import percentile
from bot.factory import open_engine
from bot.settings import Settings
from retrieval.embedding import Embedder
from retrieval.intake import article_files, read_article_file
from retrieval.models import ArticleDraft

BENCH_QUESTIONS = (
    "بأي حجة تواصل روسيا التصعيد؟",
    "ماذا قال وزير الدفاع التركي خلوصي أكار؟",
    "كم اتصالاً جرى بين الجانبين التركي والروسي؟",
    "هل زودت تركيا الفصائل بمضادات للطيران؟",
    "من فاز بكأس العالم لكرة القدم عام 2022؟",
)


def squad_drafts(path: Path, limit: int | None = None) -> list[ArticleDraft]:
    """Return each unique paragraph of a SQuAD file as an article draft."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    seen: dict[str, ArticleDraft] = {}
    for doc in data:
        for para in doc["paragraphs"]:
            text = para["context"].strip()
            seen.setdefault(
                text, ArticleDraft(title=doc.get("title", ""), body=text, source=path.stem)
            )
    drafts = list(seen.values())
    return drafts[:limit] if limit else drafts


def peak_rss_mb() -> float:
    """Return this process's peak resident memory in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def bench_engine(settings: Settings, embedder: Embedder, extra: list[ArticleDraft]) -> dict:
    """Ingest the seeds plus extra drafts into a fresh corpus, then time questions."""
    engine = await open_engine(settings, embedder)
    try:
        drafts = [read_article_file(p) for p in article_files([settings.seeds_dir])] + extra
        start = time.perf_counter()
        results = await engine.ingest(drafts)
        seconds = time.perf_counter() - start
        chunks = sum(r.chunks for r in results)
        await engine.ask(BENCH_QUESTIONS[0])  # warm up
        latencies = []
        for _ in range(4):
            for q in BENCH_QUESTIONS:
                engine._query_cache.clear()  # time the model too, not the cache
                t = time.perf_counter()
                await engine.ask(q)
                latencies.append((time.perf_counter() - t) * 1000)
        return {
            "articles": sum(1 for r in results if r.article),
            "chunks": chunks,
            "ingest_seconds": round(seconds, 1),
            "chunks_per_second": round(chunks / seconds, 2),
            "ask_p50_ms": round(statistics.median(latencies), 1),
            "ask_p95_ms": round(percentile(latencies, 95), 1),
            "questions_timed": len(latencies),
        }
    finally:
        await engine.close()


def cold_start(settings: Settings, data_dir: Path) -> dict:
    """Time a fresh `isnad ask` process from start to its first answer."""
    env = {
        **os.environ,
        "ISNAD_DATA_DIR": str(data_dir),
        "ISNAD_MODEL_DIR": str(settings.model_dir),
    }
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", "--json", BENCH_QUESTIONS[0]],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - start
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "cold_start_to_answer_s": round(seconds, 1),
        "cold_process_peak_rss_mb": round(child),
        "answered": json.loads(proc.stdout.splitlines()[0])["answered"],
    }


def squad_questions(path: Path, limit: int = 200) -> list[str]:
    """Return distinct questions of a SQuAD file, so that no answer comes from the cache."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    found = [
        qa["question"].strip(" -") for doc in data for p in doc["paragraphs"] for qa in p["qas"]
    ]
    return list(dict.fromkeys(q for q in found if q))[:limit]


async def bench_telegram(settings: Settings, embedder: Embedder, questions: list[str]) -> str:
    """Time questions through the real bot and a local Bot API server; return the table."""
    from bot.tools.bench_bot import bench_bot, bench_table

    engine = await open_engine(settings, embedder)
    try:
        result = await bench_bot(settings, engine, questions)
        if result["apologies"]:
            raise RuntimeError(f"{result['apologies']} questions failed: no figures to report")
        return bench_table(result)
    finally:
        await engine.close()


def run_bench(settings: Settings, eval_file: Path | None, embedder: Embedder) -> dict:
    """Run the engine and Telegram benchmarks with a loaded embedder; return the figures."""
    extra = squad_drafts(eval_file) if eval_file and eval_file.exists() else []
    with tempfile.TemporaryDirectory(prefix="isnad-bench-") as tmp:
        bench_settings = settings.model_copy(update={"data_dir": Path(tmp)})
        figures: dict = {
            "corpus": f"seeds + {len(extra)} paragraphs",
        }
        figures.update(asyncio.run(bench_engine(bench_settings, embedder, extra)))
        figures["bench_peak_rss_mb"] = round(peak_rss_mb())
        figures.update(cold_start(settings, Path(tmp)))
        questions = squad_questions(eval_file) if extra and eval_file else []
        if len(questions) < 128:
            questions += [f"{q} {n}" for n in range(40) for q in BENCH_QUESTIONS]
        table = asyncio.run(bench_telegram(bench_settings, embedder, questions))
        figures["telegram"] = "\n" + table
    return figures


def print_figures(title: str, figures: dict) -> None:
    """Print figures as an aligned two-column table."""
    print(f"\n## {title}")
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key.ljust(width)}  {value}")
