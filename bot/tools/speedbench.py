"""`isnad bench` speed section: backends against float32 torch, query latency, index scale.

Every ratio is measured in this one process with the backends interleaved (the order
flips each round) and reported as the median of the per-round ratios: this machine is
shared, so absolute timings across processes say little.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from bot.admin.questionlog import percentile
from bot.factory import index_config, load_embedder, stderr_line
from bot.settings import Settings
from bot.tools.bench import BENCH_QUESTIONS
from retrieval.embedding import Embedder
from retrieval.embedding_cache import CachedEmbedder
from retrieval.engine import Engine
from retrieval.evaluation import evaluate, load_squad
from retrieval.index import IndexConfig, VectorIndex, fit, nlist_for
from retrieval.models import ArticleDraft, ChunkSpan
from retrieval.store import CorpusStore
from retrieval.stories import StoryDecision

BACKENDS = ("torch", "onnx-int8")
Row = dict[str, str]


def _rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def compare_backends(
    embedders: dict[str, Embedder],
    passages: Sequence[str],
    questions: Sequence[str],
    rounds: int = 4,
) -> dict[str, dict[str, float]]:
    """Time passages and single questions per backend, interleaved; return figures per backend.

    Speed-ups are medians of per-round ratios against "torch"; cosine is against its vectors.
    """
    names = list(embedders)
    tokens = sum(embedders["torch"].count_tokens(t) for t in passages)
    for e in embedders.values():  # warm up: the first calls allocate and are slow
        e.embed_documents(passages)
        e.embed_query(questions[0])
    doc_s: dict[str, list[float]] = {n: [] for n in names}
    query_ms: dict[str, list[float]] = {n: [] for n in names}
    docs: dict[str, np.ndarray] = {}
    queries: dict[str, np.ndarray] = {}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            e = embedders[name]
            time.sleep(1.0)  # let the other backend's threads go idle first
            t = time.perf_counter()
            docs[name] = e.embed_documents(passages)
            doc_s[name].append(time.perf_counter() - t)
            per: list[float] = []
            vecs = []
            for q in questions:
                t = time.perf_counter()
                vecs.append(e.embed_query(q))
                per.append((time.perf_counter() - t) * 1000)
            queries[name] = np.stack(vecs)
            query_ms[name].append(statistics.median(per))
    out: dict[str, dict[str, float]] = {}
    for name in names:
        doc_ratio = [t / s for t, s in zip(doc_s["torch"], doc_s[name], strict=True)]
        q_ratio = [t / s for t, s in zip(query_ms["torch"], query_ms[name], strict=True)]
        both = np.vstack([docs[name], queries[name]])
        ref = np.vstack([docs["torch"], queries["torch"]])
        out[name] = {
            "passages_per_s": len(passages) / statistics.median(doc_s[name]),
            "tokens_per_s": tokens / statistics.median(doc_s[name]),
            "passage_speedup": statistics.median(doc_ratio),
            "query_ms": statistics.median(query_ms[name]),
            "query_speedup": statistics.median(q_ratio),
            "cosine": float(np.mean(np.sum(both * ref, axis=1))),
            "cosine_min": float(np.min(np.sum(both * ref, axis=1))),
        }
    return out


async def quality(settings: Settings, embedder: Embedder, eval_file: Path) -> dict[str, float]:
    """Return dense and hybrid recall@5 / MRR@10 on the eval file (embeddings cached on disk)."""
    cached = CachedEmbedder(embedder, settings.embedding_cache_dir / "embeddings.sqlite")
    try:
        report = await evaluate(
            load_squad(eval_file),
            cached,
            systems=("dense", "hybrid"),
            chunk_tokens=settings.chunk_tokens,
            chunk_overlap=settings.chunk_overlap,
        )
    finally:
        cached.close()
    return {
        f"{system} {metric}": report.systems[system][metric]
        for system in ("dense", "hybrid")
        for metric in ("recall@5", "mrr@10")
    }


def synthetic(real: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Return n unit vectors resembling real ones: a real vector, half of another, and noise."""
    rng = np.random.default_rng(seed)
    a = real[rng.integers(0, len(real), n)]
    b = real[rng.integers(0, len(real), n)]
    v = a + 0.5 * b + rng.standard_normal(a.shape, dtype=np.float32) * (0.5 / np.sqrt(a.shape[1]))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def recall_at(found: list[list[int]], exact: np.ndarray, k: int = 10) -> float:
    """Return the mean share of the exact top-k that the approximate search found."""
    return float(
        np.mean(
            [len(set(f[:k]) & set(e[:k].tolist())) / k for f, e in zip(found, exact, strict=True)]
        )
    )


def _search_ms(
    index: VectorIndex, queries: np.ndarray, k: int
) -> tuple[list[list[int]], list[float]]:
    found, ms = [], []
    for q in queries:
        t = time.perf_counter()
        hits = index.search(q, k)
        ms.append((time.perf_counter() - t) * 1000)
        found.append([i for i, _ in hits])
    return found, ms


def index_scale(
    real_docs: np.ndarray,
    real_queries: np.ndarray,
    n: int,
    nprobes: Sequence[int],
    dims: int | None = None,
) -> list[Row]:
    """Build an IVF index over n synthetic vectors in batches; time it, measure recall and memory.

    The lists are sized for n from the start; the exact top-10 is kept by brute force
    batch by batch, so the n x 768 matrix never sits in memory beside the index.
    """
    config = IndexConfig(approx_threshold=1, nprobe=nprobes[0], dims=dims, nlist=nlist_for(n))
    dim = real_docs.shape[1]
    d = config.index_dim(dim)
    queries = fit(real_queries[:200], d)
    best_s = np.full((len(queries), 10), -np.inf, np.float32)
    best_i = np.zeros((len(queries), 10), np.int64)
    batch = 100_000
    before = _rss_mb()
    build_s = 0.0
    index: VectorIndex | None = None
    for offset in range(0, n, batch):
        vecs = synthetic(real_docs, min(batch, n - offset), seed=offset)
        ids = np.arange(offset, offset + len(vecs))
        t = time.perf_counter()
        if index is None:
            index = VectorIndex.build(dim, ids, vecs, config)
        else:
            index.add(ids, vecs)
        build_s += time.perf_counter() - t
        # Exact search by brute force, merged into the running top-10.
        s = queries @ fit(vecs, d).T
        top = np.argpartition(-s, 10, axis=1)[:, :10]
        cand_s = np.hstack([best_s, np.take_along_axis(s, top, 1)])
        cand_i = np.hstack([best_i, top + offset])
        order = np.argsort(-cand_s, axis=1)[:, :10]
        best_s, best_i = np.take_along_axis(cand_s, order, 1), np.take_along_axis(cand_i, order, 1)
        del vecs, s
    assert index is not None
    memory = _rss_mb() - before
    rows = []
    for nprobe in nprobes:
        ivf = index.index
        assert isinstance(ivf, faiss.IndexIVF)
        ivf.nprobe = nprobe
        _search_ms(index, queries[:20], 10)  # warm
        found, ms = _search_ms(index, queries, 10)
        rows.append(
            {
                "vectors": f"{n:,}",
                "dims": str(d),
                "nlist": str(config.nlist),
                "nprobe": str(nprobe),
                "build s": f"{build_s:.1f}",
                "recall@10": f"{recall_at(found, best_i):.3f}",
                "search p50 ms": f"{percentile(ms, 50):.2f}",
                "search p95 ms": f"{percentile(ms, 95):.2f}",
                "RSS growth MB": f"{memory:.0f}",
            }
        )
    return rows


BENCH_TITLE = "مقال"


NEW_STORY = StoryDecision(None, None, 0.0, 0, 0, frozenset())


async def synthetic_corpus(
    data_dir: Path, texts: Sequence[str], real: np.ndarray, n: int, model: str, config: IndexConfig
) -> None:
    """Write a store of n chunks (real paragraphs, real vectors plus noise) and its index."""
    data_dir.mkdir(parents=True, exist_ok=True)
    store = await CorpusStore.open(data_dir / "isnad.db")
    try:
        await store.set_meta("model", model)
        per = 10
        vectors = synthetic(real, n, seed=7)
        for a in range(0, n, per):
            body_parts = [texts[(a + j) % len(texts)] for j in range(min(per, n - a))]
            spans, pos = [], 0
            body = "\n".join(body_parts) + f"\n#{a}"
            for j, part in enumerate(body_parts):
                spans.append(ChunkSpan(j, pos, pos + len(part), part))
                pos += len(part) + 1
            # One headline for all: the sentence vectors, made at ingest in the bot, are
            # warmed once per paragraph rather than once per synthetic article.
            draft = ArticleDraft(title=BENCH_TITLE, body=body, source="bench")
            # Each its own story, as ingest would have placed it: opening the engine then
            # has no article to place (placing 10,000 same-day articles takes minutes).
            await store.add_article(
                draft, spans, vectors[a : a + len(spans)], model, story=NEW_STORY
            )
        ids, vecs = await store.vectors()
        VectorIndex.build(vecs.shape[1], ids, vecs, config).save(data_dir / "index.faiss")
    finally:
        await store.close()


async def ask_latency(
    data_dir: Path,
    embedder: Embedder,
    questions: Sequence[str],
    config: IndexConfig,
    paragraphs: Sequence[str],
    sentences: Path,
) -> dict[str, float]:
    """Time engine.search and engine.ask per question, query cache cleared (model timed).

    As in the bot, sentence vectors are made before questions come (at ingest there).
    """
    store = await CorpusStore.open(data_dir / "isnad.db")
    try:
        engine = await Engine.open(
            store, embedder, data_dir / "index.faiss", index_config=config, sentence_cache=sentences
        )
        if engine.evidence is not None:
            await asyncio.to_thread(engine.evidence.warm, [(BENCH_TITLE, t) for t in paragraphs])
        await engine.ask(questions[0])
        search, ask, cached = [], [], []
        for q in questions:
            engine._query_cache.clear()
            t = time.perf_counter()
            await engine.search(q)
            search.append((time.perf_counter() - t) * 1000)
            engine._query_cache.clear()
            t = time.perf_counter()
            await engine.ask(q)
            ask.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            await engine.ask(q)
            cached.append((time.perf_counter() - t) * 1000)
    finally:
        await store.close()
    return {
        "search p50 ms": percentile(search, 50),
        "search p95 ms": percentile(search, 95),
        "ask p50 ms": percentile(ask, 50),
        "ask p95 ms": percentile(ask, 95),
        "ask again p50 ms": percentile(cached, 50),
    }


def bot_rss(settings: Settings, data_dir: Path) -> float:
    """Return the peak RSS (MB) of a fresh `isnad ask` over the corpus in data_dir."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a child forked from
    # this (large) process would report the parent's size.
    code = (
        "import re, sys; from bot.cli import main; rc = main(sys.argv[1:]);"
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1);"
        "print(int(hwm) / 1024, file=sys.stderr)"
    )
    env = {
        **os.environ,
        "ISNAD_DATA_DIR": str(data_dir),
        "ISNAD_MODEL_DIR": str(settings.model_dir),
        "ISNAD_EMBEDDING_BACKEND": settings.embedding_backend,
    }
    proc = subprocess.run(
        [sys.executable, "-c", code, "ask", "--json", BENCH_QUESTIONS[0]],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(proc.stderr.strip().splitlines()[-1])


def run_speed_bench(
    settings: Settings,
    eval_file: Path,
    *,
    sizes: Sequence[int] = (1_000, 100_000),
    big: int = 1_000_000,
) -> dict[str, list[Row]]:
    """Run the speed section; return tables of rows."""
    dataset = load_squad(eval_file)
    paragraphs = [c for _, c in dataset.paragraphs]
    questions = [q.text for q in dataset.questions]
    embedders = {name: load_embedder(settings, name) for name in BACKENDS}
    passages = paragraphs[:24]
    stderr_line(f"bench: {' vs '.join(BACKENDS)} on {len(passages)} passages, interleaved")
    speed = compare_backends(embedders, passages, questions[:16])
    tables: dict[str, list[Row]] = {"backends": []}
    for name, e in embedders.items():
        stderr_line(f"bench: {name} on {eval_file.name} (embeddings cached on disk)")
        q = asyncio.run(quality(settings, e, eval_file))
        ref = tables["backends"][0] if tables["backends"] else None
        s = speed[name]
        row = {
            "backend": name,
            "tokens/s": f"{s['tokens_per_s']:.0f}",
            "passages/s": f"{s['passages_per_s']:.2f}",
            "passage x": f"{s['passage_speedup']:.2f}",
            "query ms": f"{s['query_ms']:.0f}",
            "query x": f"{s['query_speedup']:.2f}",
            "cosine": f"{s['cosine']:.4f} (min {s['cosine_min']:.4f})",
        }
        for key, value in q.items():
            row[key] = (
                f"{value:.3f}"
                if ref is None
                else f"{value:.3f} ({value - float(ref[key].split()[0]):+.3f})"
            )
        tables["backends"].append(row)
    # Real vectors: the default backend's paragraph and question vectors (cached on disk).
    chosen = embedders[settings.embedding_backend]
    cached = CachedEmbedder(chosen, settings.embedding_cache_dir / "embeddings.sqlite")
    real_docs = cached.embed_documents(paragraphs)
    real_queries = np.stack([cached.embed_query(q) for q in questions])
    cached.close()
    for name in BACKENDS:
        if name != settings.embedding_backend:
            del embedders[name]
    tables["matryoshka"] = matryoshka(real_docs, real_queries, dataset)
    tables["query"] = []
    config = index_config(settings)
    with tempfile.TemporaryDirectory(prefix="isnad-speed-") as tmp:
        for n in sizes:
            data_dir = Path(tmp) / f"c{n}"
            stderr_line(f"bench: questions over {n:,} synthetic chunks")
            t = time.perf_counter()
            asyncio.run(synthetic_corpus(data_dir, paragraphs, real_docs, n, chosen.name, config))
            timings = asyncio.run(
                ask_latency(
                    data_dir, chosen, questions[:60], config, paragraphs, Path(tmp) / "sent.sqlite"
                )
            )
            row = {"chunks": f"{n:,}", "backend": settings.embedding_backend}
            row.update({key: f"{ms:.0f}" for key, ms in timings.items()})
            row["bot peak RSS MB"] = f"{bot_rss(settings, data_dir):.0f}"
            row["corpus build s"] = f"{time.perf_counter() - t:.0f}"
            tables["query"].append(row)
    stderr_line(f"bench: IVF index over 100,000 and {big:,} synthetic vectors")
    tables["index"] = index_scale(real_docs, real_queries, 100_000, (8, 16, 24, 32))
    tables["index"] += index_scale(real_docs, real_queries, big, (16, 24, 32, 48))
    return tables


def matryoshka(docs: np.ndarray, queries: np.ndarray, dataset: object) -> list[Row]:
    """Dense recall@5 / MRR@10 of whole paragraphs with truncated vectors, and memory per 1M."""
    from retrieval.evaluation import EvalSet

    assert isinstance(dataset, EvalSet)
    golds = [q.paragraph for q in dataset.questions]
    rows = []
    for d in (768, 512, 256):
        s = fit(queries, d) @ fit(docs, d).T
        ranks = []
        for row, gold in zip(s, golds, strict=True):
            if gold is None:
                continue
            ranks.append(int(np.sum(row > row[gold])) + 1)
        r5 = np.mean([r <= 5 for r in ranks])
        mrr = np.mean([1 / r if r <= 10 else 0 for r in ranks])
        rows.append(
            {
                "dims": str(d),
                "paragraph recall@5": f"{r5:.3f}",
                "paragraph mrr@10": f"{mrr:.3f}",
                "vectors MB per 1M": f"{d * 4 * 1_000_000 / 2**20:.0f}",
            }
        )
    return rows


def print_tables(tables: dict[str, list[Row]]) -> None:
    """Print each table as aligned columns."""
    for title, rows in tables.items():
        if not rows:
            continue
        print(f"\n## speed: {title}")
        cols = list(dict.fromkeys(k for r in rows for k in r))
        width = {c: max(len(c), *(len(r.get(c, "")) for r in rows)) for c in cols}
        print("  ".join(c.ljust(width[c]) for c in cols))
        for r in rows:
            print("  ".join(r.get(c, "").ljust(width[c]) for c in cols))


def main_json(tables: dict[str, list[Row]]) -> str:
    """Return the tables as JSON (for docs)."""
    return json.dumps(tables, ensure_ascii=False, indent=1)
