"""The `isnad` command line: set up, ingest, ask, reindex, stats, model, run."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from bot.database import Leadership
from bot.errors import ConfigError
from bot.factory import (
    answer_config,
    answerability_settings,
    article_paths,
    check_corpus,
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
from bot.transfer import TransferError, copy_to_postgres
from retrieval.dbhealth import (
    DamagedDatabaseError,
    DiskFullError,
    backup,
    integrity_problems,
    is_damage,
    is_disk_full,
)
from retrieval.embedding import Progress
from retrieval.embedding_cache import CachedEmbedder
from retrieval.engine import EngineError, rebuild_index
from retrieval.intake import ArticleFileError, article_files, load_article_file
from retrieval.modelfetch import ModelError, verify_model_dir
from retrieval.models import Answer, TimeScope
from retrieval.postgres import DatabaseUnreachableError, DatabaseUrlError, check_url, redact
from retrieval.store import CorpusStore

logger = logging.getLogger(__name__)


class CliError(Exception):
    """An error reported as one line on stderr with exit status 1."""


def answer_json(answer: Answer, stories: Mapping[int, int] | None = None) -> dict[str, object]:
    """Return the JSON shape of `isnad ask --json` for one answer; stories gives each
    source's story id (article id -> story id)."""
    return {
        "question": answer.question,
        "answered": answer.answered,
        "stated": answer.stated,
        "outcome": answer.outcome,
        "decision": (
            {
                "answer_score": round(answer.decision.answer_score, 4),
                "topic_score": round(answer.decision.topic_score, 4),
                "features": answer.decision.evidence.to_dict(),
            }
            if answer.decision
            else None
        ),
        # Only an answer is an answer: a "not stated" reply's closest sentences are in
        # "sentences", never here.
        "answer": (
            " ".join(f"{s.text} [{s.citation}]" for s in answer.sentences)
            if answer.answered
            else ""
        ),
        "sentences": [
            {
                "text": s.text,
                "citation": s.citation,
                "citations": list(s.citations),
                "outlets": list(s.outlets),
            }
            for s in answer.sentences
        ],
        # Outlets give different figures for what was asked: each version, newest first.
        "reports_differ": bool(answer.versions),
        "versions": [
            {
                "figure": v.figure,
                "text": v.sentence.text,
                "citations": list(v.sentence.citations),
                "outlets": list(v.sentence.outlets),
                "published": v.published,
            }
            for v in answer.versions
        ],
        "sources": [
            {
                "n": c.n,
                "article_id": c.article_id,
                "title": c.title,
                "source": c.source,
                # The outlet the report counts for: the agency a reprint credits.
                "outlet": c.outlet or c.source,
                "published": c.published,
                "dated_at_ingest": c.dated_at_ingest,
                "url": c.url,
                "story": (stories or {}).get(c.article_id),
            }
            for c in (answer.headlines if answer.outcome == "declined" else answer.citations)
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
        "time": time_json(answer.time),
        "ms": round(answer.ms, 1),
    }


def time_json(scope: TimeScope | None) -> dict[str, object] | None:
    """Return what the question's time words asked for, as JSON (None: no time words)."""
    if scope is None:
        return None
    return {
        "kind": scope.kind,
        "phrases": list(scope.phrases),
        "as_of": scope.as_of.isoformat(timespec="minutes"),
        "start": scope.start.isoformat(timespec="minutes") if scope.start else None,
        "end": scope.end.isoformat(timespec="minutes") if scope.end else None,
        "in_window": scope.in_window,
        "elsewhere": scope.elsewhere,
    }


def _questions(args: list[str]) -> Iterable[str]:
    if args == ["-"]:
        for line in sys.stdin:
            if line.strip():
                yield line.strip()
    else:
        yield from args


def require_corpus(settings: Settings) -> None:
    """Say in one line that there is no corpus file yet (a PostgreSQL one is checked on open)."""
    if not settings.database_url and not settings.db_path.exists():
        raise CliError(f"no corpus at {settings.db_path}: run `isnad setup` first")


async def _setup_state(settings: Settings) -> tuple[bool, bool]:
    """Tell (no model needed) whether seeds are missing and whether vectors are stale."""
    store = await CorpusStore.open_location(settings.database_url, settings.db_path)
    try:
        model = await store.get_meta("model")
        stale = model is not None and model != embedder_name(settings)
        if settings.seeds_dir.exists():
            for path in article_files([settings.seeds_dir]):
                try:
                    draft = load_article_file(path, settings.max_article_bytes).draft
                except ArticleFileError:
                    continue  # skipped by the ingest too, with a line saying why
                if await store.find_duplicate(draft) is None:
                    return True, stale
    finally:
        await store.close()
    return False, stale


async def cmd_setup(settings: Settings) -> None:
    """Fetch the model, create the database and ingest the seeds, skipping what is done."""
    fetch_model(settings)
    pending, stale = await _setup_state(settings)
    if not pending and not stale and settings.index_path.exists():
        where = redact(settings.database_url) if settings.database_url else settings.db_path
        stderr_line(f"setup: up to date ({where})")
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
        added, skipped = await ingest_paths(
            engine, [settings.seeds_dir], settings.max_article_bytes
        )
        stderr_line(f"setup: {added} articles added, {skipped} already present")
    finally:
        await engine.close()


async def cmd_ingest(settings: Settings, paths: list[Path]) -> None:
    """Ingest article files or folders."""
    # A wrong path or a damaged database fails now, before the model loads.
    article_paths(paths)
    await check_corpus(settings)
    engine = await open_engine(settings, load_embedder(settings))
    try:
        added, skipped = await ingest_paths(engine, paths, settings.max_article_bytes)
        print(f"{added} added, {skipped} skipped")
    finally:
        await engine.close()


async def cmd_ask(settings: Settings, questions: list[str], as_json: bool, as_of: str = "") -> None:
    """Answer each question, as asked at as_of (or ISNAD_AS_OF, or now); the model is
    loaded once."""
    try:
        moment = settings.moment(as_of)
    except ValueError as exc:
        raise CliError(f"bad --as-of: {exc}") from exc
    require_corpus(settings)
    await check_corpus(settings)  # a damaged database fails now, not after the model loads
    engine = await open_engine(settings, load_embedder(settings))
    try:
        for question in _questions(questions):
            answer = await engine.ask(question, as_of=moment)
            if as_json:
                cited = [c.article_id for c in (*answer.citations, *answer.headlines)]
                stories = await engine.store.article_stories(cited)
                print(json.dumps(answer_json(answer, stories), ensure_ascii=False), flush=True)
            else:
                print(texts.plain_answer(answer), flush=True)
    finally:
        await engine.close()


async def cmd_reindex(settings: Settings, fast: bool) -> None:
    """Rebuild the vector index from stored vectors, or re-embed every chunk."""
    require_corpus(settings)
    if fast:
        # No model needed: the stored vectors are indexed as they are.
        store = await CorpusStore.open_location(settings.database_url, settings.db_path)
        try:
            index = await rebuild_index(store, settings.index_path, index_config(settings))
        finally:
            await store.close()
        print(f"index rebuilt from {len(index)} stored vectors")
        return
    # One reindex at a time over a shared database: the lock an admin's /reindex takes
    # on any replica. Asked before the model loads, so a refusal comes at once.
    lock = await take_reindex_lock(settings)
    try:
        engine = await open_engine(settings, load_embedder(settings), reembedding=True)
        progress, close = progress_bar("reindex")
        try:
            n = await engine.reembed(progress)
            print(f"re-embedded {n} chunks")
        finally:
            close()
            await engine.close()
    finally:
        await lock.release()
        await lock.close()


async def take_reindex_lock(settings: Settings) -> Leadership:
    """Take the cluster-wide reindex lock (always granted on SQLite), or say who holds it."""
    if settings.database_url:
        await check_corpus(settings)  # unreachable: that line, not "another reindex"
    lock = Leadership(settings.database_url, "reindex")
    if not await lock.take():
        await lock.close()
        raise CliError(
            "another reindex is running on this database (`isnad reindex`, or /reindex"
            " on a replica): nothing changed; run it again when that one ends"
        )
    return lock


async def cmd_stats(settings: Settings) -> None:
    """Print what the corpus holds."""
    store = await CorpusStore.open_location(settings.database_url, settings.db_path)
    try:
        stats = await store.stats()
        model = await store.get_meta("model")
    finally:
        await store.close()
    print(f"articles: {stats.articles}\nchunks: {stats.chunks}\nmodel: {model or '-'}")
    print(f"stories: {stats.stories}")
    print(f"newest published: {stats.newest_published or '-'}")
    for source, n in stats.sources:
        print(f"source: {source or '-'}: {n}")


async def cmd_migrate(settings: Settings, url: str) -> None:
    """Copy the SQLite file in ISNAD_DATA_DIR into the PostgreSQL database at url."""
    check_url(url)
    report = await copy_to_postgres(settings.db_path, url, stderr_line)
    added = sum(t.added for t in report)
    print(
        f"migrated {settings.db_path} to {redact(url)}: {len(report)} tables,"
        f" {sum(t.target for t in report)} rows checked, {added} copied now"
    )


async def cmd_check(settings: Settings) -> None:
    """Check the databases' integrity and the vector index against the corpus."""
    from retrieval.index import VectorIndex

    require_corpus(settings)
    problems: list[str] = []
    # PostgreSQL checks its own pages; `isnad check` checks the files here.
    for path in (settings.db_path, settings.sentences_path):
        if (path == settings.db_path and settings.database_url) or not path.exists():
            continue
        found = integrity_problems(path)
        problems += [f"{path}: {p}" for p in found]
        print(f"{path}: {'ok' if not found else found[0]}")
    damaged = [p for p in problems if p.startswith(f"{settings.db_path}: ")]
    if damaged:
        raise DamagedDatabaseError(settings.db_path, damaged[0].split(": ", 1)[1])
    store = await CorpusStore.open_location(settings.database_url, settings.db_path)
    try:
        ids, vectors = await store.vectors()
    finally:
        await store.close()
    try:
        index = VectorIndex.load(settings.index_path, index_config(settings))
        agrees = index.matches(ids) and index.holds(vectors)
        verdict = "ok" if agrees else "disagrees with the database; rebuilt at next start"
    except Exception:  # missing or unreadable: rebuilt at the next start
        missing = not settings.index_path.exists()
        verdict = f"{'missing' if missing else 'unreadable'}; rebuilt at next start"
    print(f"{settings.index_path}: {verdict} ({len(ids)} chunks)")
    if problems:
        raise CliError(
            f"{settings.sentences_path} is damaged: it is started afresh at the next start"
        )


def cmd_backup(settings: Settings, dest: Path) -> None:
    """Copy the database with SQLite's online backup, safe while the bot runs."""
    if settings.database_url:
        raise CliError("the corpus is in PostgreSQL (ISNAD_DATABASE_URL): back it up with pg_dump")
    if not settings.db_path.exists():
        raise CliError(f"no corpus at {settings.db_path}: nothing to back up")
    if dest.is_dir():
        dest = dest / f"isnad-{time.strftime('%Y%m%d-%H%M%S')}.db"
    if dest.exists():
        raise CliError(f"{dest} already exists: choose another name")
    if not dest.parent.is_dir():
        raise CliError(f"no such folder: {dest.parent}")
    backup(settings.db_path, dest)
    found = integrity_problems(dest, quick=True)
    if found:
        raise CliError(f"the copy in {dest} does not check out ({found[0]}): try again")
    print(f"backed up {settings.db_path} to {dest} ({dest.stat().st_size} bytes)")


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
    if eval_file is not None:
        from bot.tools.replicabench import run_replica_bench

        rows = run_replica_bench(settings, embedder, eval_file)
        if rows:
            print_tables({"replicas (questions at concurrency 8)": rows})


@contextmanager
def eval_embedder(settings: Settings) -> Iterator[tuple[CachedEmbedder, Progress | None]]:
    """The model behind the shared embedding cache, with a progress bar, for evaluations."""
    embedder = CachedEmbedder(
        load_embedder(settings), settings.embedding_cache_dir / "embeddings.sqlite"
    )
    progress, close = progress_bar("embedding")
    try:
        yield embedder, progress
    finally:
        close()
        embedder.close()


async def cmd_eval(
    settings: Settings,
    path: Path,
    systems: str,
    max_paragraphs: int | None,
    as_json: bool,
    *,
    gold_removed: bool = False,
    news_dir: Path = Path("../shared/eval/news"),
    features: Path | None = None,
    database_url: str = "",
) -> None:
    """Score retrieval and answers on a SQuAD-format or news question file, in a throwaway
    corpus."""
    from retrieval.corroboration_eval import is_corroboration_set
    from retrieval.evaluation import SYSTEMS, evaluate, load_squad, report_table
    from retrieval.newsdays import NewsSetError, is_news_questions, load_news_questions
    from retrieval.timeeval import is_time_questions

    if is_time_questions(path):
        await cmd_eval_time(settings, path, news_dir, as_json)
        return
    if is_corroboration_set(path):
        await eval_corroboration(settings, path, news_dir, as_json)
        return
    chosen = [s.strip() for s in systems.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SYSTEMS]
    if unknown or not chosen:
        raise CliError(f"unknown system {unknown[0] if unknown else systems!r}: use {SYSTEMS}")
    try:
        if is_news_questions(path):
            dataset = load_news_questions(path, news_dir)
        else:
            dataset = load_squad(path, max_paragraphs)
    except NewsSetError as exc:
        raise CliError(str(exc)) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise CliError(f"{path} is not a SQuAD-format file ({exc})") from exc
    if features is not None:
        try:  # fail now, not after the run
            features.open("a", encoding="utf-8").close()
        except OSError as exc:
            raise CliError(f"cannot write features to {features}: {exc.strerror}") from exc
    with eval_embedder(settings) as (embedder, progress):
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
                gold_removed=gold_removed,
                database_url=database_url,
            )
        except ValueError as exc:  # a database that is not empty
            raise CliError(str(exc)) from exc
    if features is not None:
        with features.open("w", encoding="utf-8") as fh:
            for r in report.results:
                row = {
                    "dataset": report.dataset,
                    "id": r.question.id,
                    "kind": r.question.kind,
                    "gold_removed": r.gold_removed,
                    "contained": r.contained,
                    "outcome": r.outcome,
                    "features": r.features,
                    "question": r.question.text,
                    "sentences": list(r.texts),
                }
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(json.dumps(report.to_json(), ensure_ascii=False) if as_json else report_table(report))


async def cmd_eval_time(settings: Settings, path: Path, news_dir: Path, as_json: bool) -> None:
    """Score time questions: the share whose quoted article falls in the asked window."""
    from retrieval.newsdays import NewsSetError
    from retrieval.timeeval import evaluate_time, load_time_questions

    try:
        dataset = load_time_questions(path, news_dir)
    except NewsSetError as exc:
        raise CliError(str(exc)) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise CliError(f"{path} is not a time question file ({exc})") from exc
    with eval_embedder(settings) as (embedder, progress):
        figures, results, seconds = await evaluate_time(
            dataset,
            embedder,
            chunk_tokens=settings.chunk_tokens,
            chunk_overlap=settings.chunk_overlap,
            search=search_config(settings),
            progress=progress,
        )
    if as_json:
        out = {
            "dataset": dataset.name,
            "paragraphs": len(dataset.corpus.paragraphs),
            **{k: round(v, 4) for k, v in figures.items()},
            "seconds": round(seconds, 1),
            "misses": [
                {"id": r.question.id, "outcome": r.outcome, "quoted": list(r.quoted)}
                for r in results
                if not r.in_window
            ],
        }
        print(json.dumps(out, ensure_ascii=False))
        return
    print(
        f"{dataset.name}: {len(dataset.corpus.paragraphs)} articles,"
        f" {int(figures['questions'])} questions, {seconds:.1f} s"
    )
    print("time     " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items() if k != "questions"))
    for r in results:
        if not r.in_window:
            print(f"miss     {r.question.id} {r.outcome} quoted {', '.join(r.quoted) or '-'}")


async def eval_corroboration(settings: Settings, path: Path, news_dir: Path, as_json: bool) -> None:
    """Print the corroboration figures of a news corroboration question file."""
    from retrieval.corroboration_eval import (
        evaluate_corroboration,
        load_corroboration_set,
        result_line,
    )
    from retrieval.newsdays import NewsSetError

    try:
        dataset = load_corroboration_set(path, news_dir)
    except NewsSetError as exc:
        raise CliError(str(exc)) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise CliError(f"{path} is not a corroboration question file ({exc})") from exc
    with eval_embedder(settings) as (embedder, progress):
        figures, results = await evaluate_corroboration(
            dataset,
            embedder,
            chunk_tokens=settings.chunk_tokens,
            chunk_overlap=settings.chunk_overlap,
            search=search_config(settings),
            answer=answer_config(settings),
            progress=progress,
        )
    if as_json:
        rounded = {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
        print(json.dumps({"dataset": dataset.name, **rounded}, ensure_ascii=False))
        return
    for r in results:
        print(result_line(r))
    print(
        f"{dataset.name}: "
        + ", ".join(
            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()
        )
    )


async def cmd_eval_stories(
    settings: Settings, path: Path, news_dir: Path, others: int | None
) -> None:
    """Ingest the articles of a labelled pairs file in a throwaway corpus and print how
    well the stories they get agree with the labels."""
    import tempfile

    from retrieval.engine import Engine
    from retrieval.storyeval import StoryPairsError, load_story_pairs, report_lines, score_stories

    try:
        dataset = load_story_pairs(path, news_dir, others)
    except StoryPairsError as exc:
        raise CliError(str(exc)) from exc
    with eval_embedder(settings) as (embedder, progress):
        with tempfile.TemporaryDirectory(prefix="isnad-stories-") as tmp:
            store = await CorpusStore.open(Path(tmp) / "corpus.db")
            engine = await Engine.open(
                store,
                embedder,
                Path(tmp) / "index.faiss",
                chunk_tokens=settings.chunk_tokens,
                chunk_overlap=settings.chunk_overlap,
                max_sentence_chars=settings.max_sentence_chars,
                max_chunks=settings.max_article_chunks,
            )
            try:
                results = await engine.ingest(list(dataset.drafts), progress)
                ids = {r.draft.url: r.article.id for r in results if r.article}
                # A duplicate (same text or URL as another draft) is that article.
                for r in results:
                    if r.article is None and r.reason == "duplicate":
                        dup = r.duplicate_of or await store.find_duplicate(r.draft)
                        if dup is not None:
                            ids[r.draft.url] = dup
                stories = await store.article_stories(ids.values())
                copies = await store.article_copies(ids.values())
            finally:
                await engine.close()
    story_of = {url: stories[i] for url, i in ids.items() if i in stories}
    articles = len(set(ids.values()))
    report = score_stories(dataset.pairs, story_of, articles=articles, copies=len(copies))
    print("\n".join(report_lines(report)))


def cmd_fit_answerability(
    settings: Settings,
    files: list[Path],
    out: Path,
    floor: float,
    set_floors: list[str],
    folds: int = 0,
    veto: list[str] | None = None,
) -> None:
    """Fit the answer-or-decline weights on feature files and write them as JSON.

    The settings the features depend on are recorded with the weights: run this in
    the environment the `eval --features` runs had. With folds, also print the
    shares each question got from a fit that did not see it.
    """
    from retrieval.calibration import cross_validate, fit, read_rows

    floors: dict[str, float] = {}
    for item in set_floors:
        name, _, value = item.rpartition("=")
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if not name or not 0 <= share <= 1:
            raise CliError(f"--set-floor wants NAME=SHARE with SHARE in [0, 1], not {item!r}")
        floors[name] = share
    try:
        rows = read_rows(files)
        fitted = fit(rows, floor=floor, floors=floors, veto=veto or ())
        fitted["fitted_with"] = answerability_settings(settings)
        if folds > 1:
            fitted["cross_validated"] = {
                "folds": folds,
                **cross_validate(rows, folds, floor=floor, floors=floors, veto=veto or ()),
            }
    except (OSError, ValueError, KeyError) as exc:
        raise CliError(f"cannot fit: {exc}") from exc
    out.write_text(json.dumps(fitted, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(fitted, ensure_ascii=False, indent=1))


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
    ask.add_argument(
        "--as-of",
        default="",
        metavar="YYYY-MM-DD[THH:MM]",
        help="read time words as if asked then (wall-clock time in ISNAD_TIME_ZONE)",
    )
    rei = sub.add_parser("reindex", help="re-embed every chunk and swap the index in")
    rei.add_argument("--fast", action="store_true", help="rebuild from stored vectors only")
    sub.add_parser("stats", help="what the corpus holds")
    mig = sub.add_parser("migrate", help="copy the SQLite corpus and tables into PostgreSQL")
    mig.add_argument("--to", required=True, metavar="URL", help="postgresql://user@host/db")
    sub.add_parser("check", help="check the databases and the index against them")
    bak = sub.add_parser("backup", help="copy the database safely, even while the bot runs")
    bak.add_argument("path", type=Path, help="a new file, or a folder")
    mod = sub.add_parser("model", help="fetch or verify the embedding model")
    mod.add_argument("action", choices=["fetch", "verify"])
    sub.add_parser("run", help="start the Telegram bot")
    sub.add_parser("poll", help="poll every feed once and print what was added")
    evl = sub.add_parser(
        "eval",
        help="measure retrieval and answers on a SQuAD-format, news or time question file",
    )
    evl.add_argument("file", type=Path)
    evl.add_argument("--systems", default="lexical,dense,hybrid", help="comma-separated")
    evl.add_argument("--max-paragraphs", type=int, default=None, help="use the first N only")
    evl.add_argument("--json", action="store_true", help="print one JSON object")
    evl.add_argument(
        "--gold-removed",
        action="store_true",
        help="also ask each question without the paragraphs that answer it",
    )
    evl.add_argument(
        "--news-dir",
        type=Path,
        default=Path("../shared/eval/news"),
        help="folder of news day zips, for news question files",
    )
    evl.add_argument("--features", type=Path, help="write each question's features (JSON lines)")
    evl.add_argument(
        "--database-url",
        default="",
        help="build the throwaway corpus in this empty PostgreSQL database instead",
    )
    evs = sub.add_parser("eval-stories", help="measure story assignment on labelled article pairs")
    evs.add_argument("file", type=Path, help="a pairs file, e.g. retrieval/data/story_pairs.json")
    evs.add_argument(
        "--news-dir",
        type=Path,
        default=Path("../shared/eval/news"),
        help="folder of the news day zips the file names",
    )
    evs.add_argument(
        "--others", type=int, default=None, help="other articles to ingest (the file says)"
    )
    fit = sub.add_parser("fit-answerability", help="fit the answer-or-decline weights")
    fit.add_argument("files", nargs="+", type=Path, help="feature files from eval --features")
    fit.add_argument(
        "--out", type=Path, default=Path("retrieval/data/answerability.json"), help="weights file"
    )
    fit.add_argument(
        "--floor", type=float, default=0.95, help="least answered share of every answerable set"
    )
    fit.add_argument(
        "--set-floor",
        action="append",
        default=[],
        metavar="NAME=SHARE",
        help="another least answered share for the set of that file name",
    )
    fit.add_argument(
        "--folds", type=int, default=0, help="also report figures cross-validated in N folds"
    )
    fit.add_argument(
        "--veto",
        action="append",
        default=[],
        metavar="FEATURE",
        help="a yes/no feature that, when set, keeps a question from being answered",
    )
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
            asyncio.run(cmd_ask(settings, args.questions, args.json, args.as_of))
        case "reindex":
            asyncio.run(cmd_reindex(settings, args.fast))
        case "stats":
            asyncio.run(cmd_stats(settings))
        case "migrate":
            asyncio.run(cmd_migrate(settings, args.to))
        case "check":
            asyncio.run(cmd_check(settings))
        case "backup":
            cmd_backup(settings, args.path)
        case "model":
            cmd_model(settings, args.action)
        case "run":
            cmd_run(settings)
        case "poll":
            cmd_poll(settings)
        case "eval":
            asyncio.run(
                cmd_eval(
                    settings,
                    args.file,
                    args.systems,
                    args.max_paragraphs,
                    args.json,
                    gold_removed=args.gold_removed,
                    news_dir=args.news_dir,
                    features=args.features,
                    database_url=args.database_url,
                )
            )
        case "eval-stories":
            asyncio.run(cmd_eval_stories(settings, args.file, args.news_dir, args.others))
        case "fit-answerability":
            cmd_fit_answerability(
                settings, args.files, args.out, args.floor, args.set_floor, args.folds, args.veto
            )
        case "bench":
            cmd_bench(settings, args.eval_file)


def edge_line(exc: BaseException, settings: Settings | None) -> str | None:
    """Return the one line for a damaged database or a full disk; None for other errors."""
    data = settings.data_dir if settings else Path(".")
    if is_disk_full(exc):
        name = getattr(exc, "filename", None)
        return str(DiskFullError(Path(name) if name else data))
    if is_damage(exc):
        return str(DamagedDatabaseError(settings.db_path if settings else data, str(exc)))
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, run, and turn known errors into one line on stderr."""
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings: Settings | None = None
    try:
        settings = Settings()
        dispatch(settings, args)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        print(f"isnad: bad setting ISNAD_{where.upper()}: {first['msg']}", file=sys.stderr)
        return 1
    except (
        CliError,
        EngineError,
        ModelError,
        FileNotFoundError,
        ConfigError,
        DamagedDatabaseError,
        DiskFullError,
        DatabaseUrlError,
        DatabaseUnreachableError,
        TransferError,
    ) as exc:
        print(f"isnad: {exc}", file=sys.stderr)
        return 1
    except (sqlite3.DatabaseError, OSError) as exc:
        line = edge_line(exc, settings)
        if line is None:
            raise
        print(f"isnad: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
