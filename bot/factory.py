"""Build the engine and its parts from settings, once."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bot.settings import Settings
from retrieval.answer import AnswerConfig
from retrieval.answerability import AnswerabilityModel
from retrieval.embedding import (
    Embedder,
    Progress,
    SentenceTransformerEmbedder,
    torch_embedder_name,
)
from retrieval.engine import Engine, EngineError, SearchConfig
from retrieval.index import IndexConfig
from retrieval.intake import ArticleFile, ArticleFileError, article_files, load_article_file
from retrieval.modelfetch import EXPECTED_SHA256, ModelError, ensure_model, verify_model_dir
from retrieval.onnx_backend import onnx_embedder_name
from retrieval.store import CorpusStore

logger = logging.getLogger(__name__)


def stderr_line(text: str) -> None:
    """Print a progress line to stderr."""
    print(text, file=sys.stderr, flush=True)


def progress_bar(label: str) -> tuple[Progress | None, Callable[[], None]]:
    """Return a progress callback drawing a bar on a terminal (none in CI) and a closer."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(desc=label, unit="chunk", file=sys.stderr)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return update, bar.close


def fetch_model(settings: Settings) -> Path:
    """Make sure verified model files are in the cache, and the export the backend needs."""
    path = ensure_model(settings.model_path, mirror_cache=settings.mirror_dir, progress=stderr_line)
    if settings.embedding_backend == "onnx-int8":
        prepare_export(settings)
    return path


def prepare_export(settings: Settings) -> Path:
    """Return the verified int8 ONNX export, building it from the float32 model if needed."""
    from retrieval.onnx_backend import ExportError, ensure_export

    try:
        return ensure_export(
            settings.model_path,
            settings.onnx_path,
            EXPECTED_SHA256["model.safetensors"],
            progress=stderr_line,
        )
    except ExportError as exc:
        raise ModelError(str(exc)) from exc


def export_problems(settings: Settings, *, full: bool = False) -> list[str]:
    """Return what is wrong with the int8 ONNX export (full=True re-hashes every file)."""
    from retrieval.onnx_backend import verify_export

    return verify_export(settings.onnx_path, EXPECTED_SHA256["model.safetensors"], full=full)


def load_embedder(settings: Settings, backend: str | None = None) -> Embedder:
    """Load the embedding model of the configured backend (or backend) from verified files."""
    problems = verify_model_dir(settings.model_path)
    if problems:
        raise ModelError(
            f"model files in {settings.model_path} are missing or do not verify"
            f" ({problems[0]}): run `isnad model fetch`"
        )
    threads = settings.embed_threads or None
    if (backend or settings.embedding_backend) == "onnx-int8":
        from retrieval.onnx_backend import ExportError, OnnxEmbedder

        # A missing or corrupted export is rebuilt here (logged), so the bot still starts.
        export = prepare_export(settings)
        try:
            return OnnxEmbedder(export, batch_size=settings.embed_batch_size, threads=threads)
        except ExportError as exc:
            raise ModelError(str(exc)) from exc
    return SentenceTransformerEmbedder(
        settings.model_path, batch_size=settings.embed_batch_size, threads=threads
    )


def embedder_name(settings: Settings) -> str:
    """Return the name the configured backend's embedder stores with the corpus."""
    if settings.embedding_backend == "onnx-int8":
        return onnx_embedder_name(settings.onnx_path)
    return torch_embedder_name(settings.model_path)


def index_config(settings: Settings) -> IndexConfig:
    """Return the vector index layout from settings."""
    return IndexConfig(
        approx_threshold=settings.index_approx_threshold,
        nprobe=settings.index_nprobe,
        dims=settings.index_dims,
    )


def search_config(settings: Settings) -> SearchConfig:
    """Return the search knobs from settings."""
    return SearchConfig(
        candidates=settings.candidates,
        fusion=settings.fusion,
        rrf_k=settings.rrf_k,
        dense_weight=settings.dense_weight,
        lexical_weight=settings.lexical_weight,
        rerank_depth=settings.rerank_depth,
        sentence_weight=settings.sentence_weight,
        sentence_lexical_weight=settings.sentence_lexical_weight,
        top_k=settings.top_k,
    )


def answer_config(settings: Settings) -> AnswerConfig:
    """Return the answer knobs from settings."""
    return AnswerConfig(
        threshold=settings.answer_threshold, dense_weight=settings.answer_dense_weight
    )


def uses_sentences(settings: Settings) -> bool:
    """Tell whether search or answers score sentences (then ingest embeds them once)."""
    weights = settings.sentence_weight + settings.sentence_lexical_weight
    rerank = settings.rerank_depth > 0 and weights > 0
    return rerank or settings.answer_dense_weight > 0


async def check_corpus(settings: Settings) -> None:
    """Open and close the database: a damaged file fails here, before the model loads."""
    store = await CorpusStore.open_location(settings.database_url, settings.db_path)
    await store.close()


# The settings the answerability features depend on: weights fitted under others misjudge.
ANSWERABILITY_SETTINGS = (
    "embedding_backend",
    "index_dims",
    "fusion",
    "dense_weight",
    "lexical_weight",
    "rerank_depth",
    "sentence_weight",
    "sentence_lexical_weight",
    "top_k",
    "answer_dense_weight",
    "chunk_tokens",
)


def answerability_settings(settings: Settings) -> dict[str, object]:
    """Return the settings the answerability weights are fitted under."""
    return {name: getattr(settings, name) for name in ANSWERABILITY_SETTINGS}


def load_answerability(settings: Settings) -> AnswerabilityModel:
    """Load the shipped weights, and warn when they were fitted under other settings."""
    model = AnswerabilityModel.load()
    now = answerability_settings(settings)
    changed = [k for k, v in model.fitted_with.items() if k in now and now[k] != v]
    if changed:
        logger.warning(
            "answer-or-decline weights were fitted with %s; these settings differ, so"
            " answers and refusals are less reliable: refit with `isnad fit-answerability`",
            ", ".join(f"{k}={model.fitted_with[k]!r} (now {now[k]!r})" for k in changed),
        )
    return model


async def open_engine(
    settings: Settings, embedder: Embedder, *, reembedding: bool = False
) -> Engine:
    """Open the database and the vector index beside it (see Engine.open for reembedding)."""
    # The index and sentence cache live here even when the corpus is in PostgreSQL.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = await CorpusStore.open_location(
        settings.database_url, settings.db_path, settings.change_log_rows
    )
    try:
        return await Engine.open(
            store,
            embedder,
            settings.index_path,
            chunk_tokens=settings.chunk_tokens,
            chunk_overlap=settings.chunk_overlap,
            max_sentence_chars=settings.max_sentence_chars,
            max_chunks=settings.max_article_chunks,
            search=search_config(settings),
            answer=answer_config(settings),
            index_config=index_config(settings),
            sentence_cache=settings.sentences_path if uses_sentences(settings) else None,
            reembedding=reembedding,
            answerability=load_answerability(settings),
        )
    except BaseException:
        await store.close()
        raise


def article_paths(paths: list[Path]) -> list[Path]:
    """Expand files and folders into article files, or say in one line that there are none."""
    files = article_files(paths)
    if not files:
        raise EngineError(f"no .txt or .md article files in {', '.join(map(str, paths))}")
    return files


async def ingest_paths(
    engine: Engine, paths: list[Path], max_bytes: int, batch: int = 16
) -> tuple[int, int]:
    """Ingest article files and folders a few at a time; return (added, skipped).

    Each batch is committed before the next is read, so a stop loses at most one.
    A file that cannot be read is skipped with one line naming it; the rest go in.
    """
    files = article_paths(paths)
    added = skipped = chunks = 0
    started = last_line = time.monotonic()
    for first in range(0, len(files), batch):
        loaded: list[ArticleFile] = []
        for path in files[first : first + batch]:
            try:
                loaded.append(load_article_file(path, max_bytes))
            except ArticleFileError as exc:
                stderr_line(f"skipped {path}: {_with_setting(str(exc))}")
                skipped += 1
                continue
            if loaded[-1].encoding != "utf-8":
                stderr_line(f"read {path} as {loaded[-1].encoding}")
        results = await engine.ingest([a.draft for a in loaded])
        for item, r in zip(loaded, results, strict=True):
            if r.article is not None:
                added += 1
                chunks += r.chunks
                continue
            skipped += 1
            if r.reason == "duplicate":
                logger.info("skipped %s: already in the corpus", item.path)
            else:
                stderr_line(f"skipped {item.path}: {_with_setting(r.reason)}")
        done = min(first + batch, len(files))
        now = time.monotonic()
        if now - last_line >= 5 or done == len(files):
            last_line = now
            stderr_line(progress_line(done, len(files), added, chunks, now - started))
    return added, skipped


def _with_setting(reason: str) -> str:
    """Name the setting behind a limit in a skip reason."""
    if "over the limit" in reason:
        name = "ISNAD_MAX_ARTICLE_CHUNKS" if "chunks" in reason else "ISNAD_MAX_ARTICLE_BYTES"
        return f"{reason} ({name})"
    return reason


def progress_line(done: int, total: int, added: int, chunks: int, seconds: float) -> str:
    """Return one line of ingest progress: files, articles, chunks, rate and time left."""
    rate = chunks / seconds if seconds > 0 else 0.0
    left = seconds / done * (total - done) if done else 0.0
    eta = f", about {left:.0f} s left" if done < total else ""
    return (
        f"ingest: {done}/{total} files, {added} articles added, {chunks} chunks,"
        f" {rate:.1f} chunks/s{eta}"
    )
