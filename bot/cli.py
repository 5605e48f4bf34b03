"""The `isnad` command line: set up, ingest, ask, reindex, stats, model, run."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from bot.errors import ConfigError
from bot.factory import (
    answer_config,
    embedder_name,
    export_problems,
    fetch_model,
    index_config,
    ingest_paths,
    load_embedder,
    open_engine,
    progress_bar,
    search_config,
    stderr_line,
)
from bot.settings import Settings
from bot.telegram import texts
from retrieval.engine import EngineError, rebuild_index
from retrieval.intake import article_files, read_article_file
from retrieval.modelfetch import ModelError, verify_model_dir
from retrieval.models import Answer
from retrieval.store import CorpusStore

logger = logging.getLogger(__name__)


class CliError(Exception):
    """An error reported as one line on stderr with exit status 1."""


def answer_json(answer: Answer) -> dict[str, object]:
    """Return the JSON shape of `isnad ask --json` for one answer."""
    return {
        "question": answer.question,
        "answered": answer.answered,
        "answer": " ".join(f"{s.text} [{s.citation}]" for s in answer.sentences),
        "sentences": [{"text": s.text, "citation": s.citation} for s in answer.sentences],
        "sources": [
            {
                "n": c.n,
                "article_id": c.article_id,
                "title": c.title,
                "source": c.source,
                "published": c.published,
                "url": c.url,
            }
            for c in (answer.citations if answer.answered else answer.headlines)
        ],
        "passages": [
            {
                "chunk_id": h.chunk.id,
                "article_id": h.article.id,
                "text": h.chunk.text,
                "score": round(h.score, 6),
            }
            for h in answer.hits
        ],
        "ms": round(answer.ms, 1),
    }


def _questions(args: list[str]) -> Iterable[str]:
    if args == ["-"]:
        for line in sys.stdin:
            if line.strip():
                yield line.strip()
    else:
        yield from args


async def _setup_state(settings: Settings) -> tuple[bool, bool]:
    """Tell (no model needed) whether seeds are missing and whether vectors are stale."""
    store = await CorpusStore.open(settings.db_path)
    try:
        model = await store.get_meta("model")
        stale = model is not None and model != embedder_name(settings)
        if settings.seeds_dir.exists():
            for path in article_files([settings.seeds_dir]):
                if await store.find_duplicate(read_article_file(path)) is None:
                    return True, stale
    finally:
        await store.close()
    return False, stale


async def cmd_setup(settings: Settings) -> None:
    """Fetch the model, create the database and ingest the seeds, skipping what is done."""
    fetch_model(settings)
    pending, stale = await _setup_state(settings)
    if not pending and not stale and settings.index_path.exists():
        stderr_line(f"setup: up to date ({settings.db_path})")
        return
    engine = await open_engine(settings, load_embedder(settings), reembedding=stale)
    try:
        if stale:
            # The corpus was embedded by another backend or model: embed it again.
            progress, close = progress_bar("reindex")
            try:
                n = await engine.reembed(progress)
            finally:
                close()
            stderr_line(f"setup: re-embedded {n} chunks with {engine.embedder.name}")
        added, skipped = await ingest_paths(engine, [settings.seeds_dir])
        stderr_line(f"setup: {added} articles added, {skipped} already present")
    finally:
        await engine.close()


async def cmd_ingest(settings: Settings, paths: list[Path]) -> None:
    """Ingest article files or folders."""
    engine = await open_engine(settings, load_embedder(settings))
    try:
        added, skipped = await ingest_paths(engine, paths)
        print(f"{added} added, {skipped} skipped")
    finally:
        await engine.close()


async def cmd_ask(settings: Settings, questions: list[str], as_json: bool) -> None:
    """Answer each question; the model is loaded once."""
    if not settings.db_path.exists():
        raise CliError(f"no corpus at {settings.db_path}: run `isnad setup` first")
    engine = await open_engine(settings, load_embedder(settings))
    try:
        for question in _questions(questions):
            answer = await engine.ask(question)
            if as_json:
                print(json.dumps(answer_json(answer), ensure_ascii=False), flush=True)
            else:
                print(texts.plain_answer(answer), flush=True)
    finally:
        await engine.close()


async def cmd_reindex(settings: Settings, fast: bool) -> None:
    """Rebuild the vector index from stored vectors, or re-embed every chunk."""
    if not settings.db_path.exists():
        raise CliError(f"no corpus at {settings.db_path}: run `isnad setup` first")
    if fast:
        # No model needed: the stored vectors are indexed as they are.
        store = await CorpusStore.open(settings.db_path)
        try:
            index = await rebuild_index(store, settings.index_path, index_config(settings))
        finally:
            await store.close()
        print(f"index rebuilt from {len(index)} stored vectors")
        return
    engine = await open_engine(settings, load_embedder(settings), reembedding=True)
    progress, close = progress_bar("reindex")
    try:
        n = await engine.reembed(progress)
        print(f"re-embedded {n} chunks")
    finally:
        close()
        await engine.close()


async def cmd_stats(settings: Settings) -> None:
    """Print what the corpus holds."""
    store = await CorpusStore.open(settings.db_path)
    try:
        stats = await store.stats()
        model = await store.get_meta("model")
    finally:
        await store.close()
    print(f"articles: {stats.articles}\nchunks: {stats.chunks}\nmodel: {model or '-'}")
    print(f"newest published: {stats.newest_published or '-'}")
    for source, n in stats.sources:
        print(f"source: {source or '-'}: {n}")


def cmd_model(settings: Settings, action: str) -> None:
    """Fetch or verify the model files."""
    if action == "fetch":
        path = fetch_model(settings)
        print(f"model ready: {path}")
        return
    problems = verify_model_dir(settings.model_path, full=True)
    if problems:
        raise CliError(f"model does not verify: {'; '.join(problems)}")
    print(f"model verified: {settings.model_path}")
    if settings.embedding_backend == "onnx-int8":
        problems = export_problems(settings, full=True)
        if problems:
            raise CliError(
                f"int8 ONNX export does not verify: {problems[0]}; run `isnad model fetch`"
            )
        print(f"int8 ONNX export verified: {settings.onnx_path}")


def cmd_run(settings: Settings) -> None:
    """Start the Telegram bot; its ready line and feed polls are logged at INFO."""
    from bot.telegram.app import run_bot

    logging.getLogger("bot").setLevel(logging.INFO)
    run_bot(settings)


def cmd_poll(settings: Settings) -> None:
    """Poll every feed once and print what was added."""
    from bot.news.poller import cmd_poll as poll

    asyncio.run(poll(settings))


def cmd_bench(settings: Settings, eval_file: Path | None) -> None:
    """Run the benchmarks and print their figures."""
    from bot.tools.bench import print_figures, run_bench
    from bot.tools.feedbench import run_feed_bench
    from bot.tools.speedbench import print_tables, run_speed_bench

    if eval_file is not None and not eval_file.exists():
        raise CliError(f"no SQuAD file at {eval_file}: pass --eval-file PATH, or leave it out")
    fetch_model(settings)
    started = time.perf_counter()
    embedder = load_embedder(settings)  # once, for the engine, Telegram and feed sections
    load_s = round(time.perf_counter() - started, 1)
    print_figures("engine", {"model_load_s": load_s, **run_bench(settings, eval_file, embedder)})
    if eval_file is None:
        stderr_line("bench: the backend and index tables need --eval-file (a SQuAD file)")
    else:
        print_tables(run_speed_bench(settings, eval_file))
    print_figures("feeds and alerts", run_feed_bench(settings, embedder, eval_file=eval_file))


async def cmd_eval(
    settings: Settings, path: Path, systems: str, max_paragraphs: int | None, as_json: bool
) -> None:
    """Score retrieval and answers on a SQuAD-format file, in a throwaway corpus."""
    from retrieval.embedding_cache import CachedEmbedder
    from retrieval.evaluation import SYSTEMS, evaluate, load_squad, report_table

    chosen = [s.strip() for s in systems.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SYSTEMS]
    if unknown or not chosen:
        raise CliError(f"unknown system {unknown[0] if unknown else systems!r}: use {SYSTEMS}")
    try:
        dataset = load_squad(path, max_paragraphs)
    except (ValueError, KeyError, TypeError) as exc:
        raise CliError(f"{path} is not a SQuAD-format file ({exc})") from exc
    embedder = CachedEmbedder(
        load_embedder(settings), settings.embedding_cache_dir / "embeddings.sqlite"
    )
    progress, close = progress_bar("embedding")
    try:
        report = await evaluate(
            dataset,
            embedder,
            systems=[s for s in SYSTEMS if s in chosen],
            chunk_tokens=settings.chunk_tokens,
            chunk_overlap=settings.chunk_overlap,
            search=search_config(settings),
            answer=answer_config(settings),
            index=index_config(settings),
            progress=progress,
        )
    finally:
        close()
        embedder.close()
    print(json.dumps(report.to_json(), ensure_ascii=False) if as_json else report_table(report))


def parser() -> argparse.ArgumentParser:
    """Build the argument parser."""
    p = argparse.ArgumentParser(prog="isnad", description="Arabic news QA with quoted sources")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="fetch the model, build the database and index from seeds/")
    ing = sub.add_parser("ingest", help="add article files or folders")
    ing.add_argument("paths", nargs="+", type=Path)
    ask = sub.add_parser("ask", help="answer questions (use - to read one per line)")
    ask.add_argument("questions", nargs="+")
    ask.add_argument("--json", action="store_true", help="one JSON object per question")
    rei = sub.add_parser("reindex", help="re-embed every chunk and swap the index in")
    rei.add_argument("--fast", action="store_true", help="rebuild from stored vectors only")
    sub.add_parser("stats", help="what the corpus holds")
    mod = sub.add_parser("model", help="fetch or verify the embedding model")
    mod.add_argument("action", choices=["fetch", "verify"])
    sub.add_parser("run", help="start the Telegram bot")
    sub.add_parser("poll", help="poll every feed once and print what was added")
    evl = sub.add_parser("eval", help="measure retrieval and answers on a SQuAD-format file")
    evl.add_argument("file", type=Path)
    evl.add_argument("--systems", default="lexical,dense,hybrid", help="comma-separated")
    evl.add_argument("--max-paragraphs", type=int, default=None, help="use the first N only")
    evl.add_argument("--json", action="store_true", help="print one JSON object")
    ben = sub.add_parser("bench", help="measure speed and memory; print the figures")
    ben.add_argument(
        "--eval-file",
        type=Path,
        default=None,
        help="SQuAD file whose paragraphs are added to the seeds (make bench passes one)",
    )
    return p


def dispatch(settings: Settings, args: argparse.Namespace) -> None:
    """Run the chosen command."""
    match args.command:
        case "setup":
            asyncio.run(cmd_setup(settings))
        case "ingest":
            asyncio.run(cmd_ingest(settings, args.paths))
        case "ask":
            asyncio.run(cmd_ask(settings, args.questions, args.json))
        case "reindex":
            asyncio.run(cmd_reindex(settings, args.fast))
        case "stats":
            asyncio.run(cmd_stats(settings))
        case "model":
            cmd_model(settings, args.action)
        case "run":
            cmd_run(settings)
        case "poll":
            cmd_poll(settings)
        case "eval":
            asyncio.run(cmd_eval(settings, args.file, args.systems, args.max_paragraphs, args.json))
        case "bench":
            cmd_bench(settings, args.eval_file)


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, run, and turn known errors into one line on stderr."""
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        settings = Settings()
        dispatch(settings, args)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        print(f"isnad: bad setting ISNAD_{where.upper()}: {first['msg']}", file=sys.stderr)
        return 1
    except (CliError, EngineError, ModelError, FileNotFoundError, ConfigError) as exc:
        print(f"isnad: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
