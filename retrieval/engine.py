"""The QA engine: ingest articles, search them, answer questions from them."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from retrieval.answer import AnswerComposer, AnswerConfig
from retrieval.answerability import AnswerabilityModel, TermStats
from retrieval.arabic import search_terms
from retrieval.chunker import Chunker
from retrieval.embedding import Embedder, Progress, TitledEmbedder
from retrieval.evidence import SentenceEvidence
from retrieval.fusion import Fused, blend, rrf
from retrieval.identity import canonical_url, content_hash
from retrieval.index import IndexConfig, VectorIndex, open_index
from retrieval.models import Answer, Article, ArticleDraft, ChunkSpan, Hit
from retrieval.sentences import MAX_SENTENCE_CHARS, split_sentences
from retrieval.store import CorpusStore

logger = logging.getLogger(__name__)

# Which retrieval to run: both fused (what the bot uses), or one side alone (for eval).
SearchMode = Literal["hybrid", "dense", "lexical"]


@dataclass(frozen=True)
class SearchConfig:
    """Knobs of hybrid search; defaults are tuned with `isnad eval`."""

    candidates: int = 100  # depth of each of the dense and lexical lists
    # "blend": weighted cosine + scaled bm25 (the default, measured better); "rrf": by rank.
    fusion: Literal["blend", "rrf"] = "blend"
    rrf_k: float = 60.0
    dense_weight: float = 0.86
    lexical_weight: float = 0.14
    # The best few blended chunks are reordered by their best sentence's cosine to the
    # question, mixed in at this weight: sentence-level evidence, no new model.
    rerank_depth: int = 8
    sentence_weight: float = 0.6
    # ... plus the best sentence's idf-weighted share of the question's words.
    sentence_lexical_weight: float = 0.04
    top_k: int = 5


@dataclass(frozen=True)
class IngestResult:
    """What happened to one draft: stored as article, or a duplicate of another."""

    draft: ArticleDraft
    article: Article | None
    chunks: int = 0
    duplicate_of: int | None = None
    reason: str = ""


class EngineError(Exception):
    """A problem the user can fix; the message says how."""


class Engine:
    """Hybrid dense + lexical retrieval over the corpus, with extractive answers."""

    def __init__(
        self,
        store: CorpusStore,
        index: VectorIndex,
        embedder: Embedder,
        chunker: Chunker,
        index_path: Path,
        search: SearchConfig | None = None,
        answer: AnswerConfig | None = None,
        sentence_cache: Path | None = None,
        answerability: AnswerabilityModel | None = None,
    ):
        self.store = store
        self.index = index
        self.embedder = embedder
        self.chunker = chunker
        self.index_path = index_path
        self.search_config = search or SearchConfig()
        self.composer = AnswerComposer(
            answer, self.score_sentences, answerability or AnswerabilityModel.load()
        )
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._query_lock = threading.Lock()
        self.evidence = SentenceEvidence(embedder, self.embed_query, sentence_cache)
        # One writer at a time: ingest, delete and index swaps touch both stores.
        self.write_lock = asyncio.Lock()
        # The newest change to the chunks (the store's change log) this index reflects.
        self.applied_change = 0

    @classmethod
    async def open(
        cls,
        store: CorpusStore,
        embedder: Embedder,
        index_path: Path,
        *,
        chunk_tokens: int = 200,
        chunk_overlap: int = 1,
        max_sentence_chars: int = MAX_SENTENCE_CHARS,
        max_chunks: int = 500,
        search: SearchConfig | None = None,
        answer: AnswerConfig | None = None,
        index_config: IndexConfig | None = None,
        sentence_cache: Path | None = None,
        reembedding: bool = False,
        answerability: AnswerabilityModel | None = None,
    ) -> Engine:
        """Load the vector index, rebuilding it from stored vectors if it disagrees.

        With sentence_cache, the vectors of every chunk's sentences are computed at
        ingest and kept in that file, so answers and reranking only look them up.
        reembedding says the caller is about to re-embed the corpus: stored vectors of
        another dimension (a model change) then give an empty index instead of an error.
        answerability decides answer or decline; None means the fitted weights shipped
        in `retrieval/data/answerability.json`.
        """
        model = await store.get_meta("model")
        if model is None:
            await store.set_meta("model", embedder.name)
        elif model != embedder.name:
            logger.warning(
                "corpus embedded with %s, model is %s: run reindex", model, embedder.name
            )
        # Read before the vectors: a change committed in between is applied again by
        # follow_changes, harmlessly, rather than missed.
        applied = await store.last_change()
        ids, vectors = await store.vectors()
        if len(ids) and vectors.shape[1] != embedder.dim and reembedding:
            logger.warning(
                "stored vectors have %d dimensions, the model %d: searching is off until"
                " the corpus is re-embedded",
                vectors.shape[1],
                embedder.dim,
            )
            ids, vectors = ids[:0], np.zeros((0, embedder.dim), np.float32)
        if len(ids) and vectors.shape[1] != embedder.dim:
            raise EngineError(
                f"stored vectors have {vectors.shape[1]} dimensions but the model makes"
                f" {embedder.dim}: run `isnad reindex`"
            )
        index, rebuilt = await asyncio.to_thread(
            open_index, index_path, embedder.dim, ids, vectors, index_config
        )
        if rebuilt:
            logger.info("rebuilt vector index from %d stored vectors", len(ids))
        chunker = Chunker(
            embedder.count_tokens, chunk_tokens, chunk_overlap, max_sentence_chars, max_chunks
        )
        engine = cls(
            store,
            index,
            embedder,
            chunker,
            index_path,
            search,
            answer,
            sentence_cache,
            answerability,
        )
        engine.applied_change = applied
        if sentence_cache is not None:
            await engine.check_sentence_cache(ids)
        return engine

    async def check_sentence_cache(self, ids: np.ndarray, samples: int = 4) -> None:
        """Compare a spread of cached sentence vectors with fresh ones; empty a wrong cache."""
        disk = self.evidence.disk
        if disk is None or len(ids) == 0:
            return
        picks = ids[np.unique(np.linspace(0, len(ids) - 1, min(samples, len(ids))).astype(int))]
        chunks = await self.store.get_chunks(int(i) for i in picks)
        heads = await self.store.get_articles(c.article_id for c in chunks.values())
        pairs = [
            (heads[c.article_id].title, s.text)
            for c in chunks.values()
            if c.article_id in heads
            for s in split_sentences(c.text)[:1]
        ]
        titles, texts = [t for t, _ in pairs], [x for _, x in pairs]
        if not await asyncio.to_thread(disk.agrees, titles, texts):
            disk.reset("cached vectors differ from the model's")

    # -- writing ------------------------------------------------------------

    async def close(self) -> None:
        """Close the sentence-vector cache and the store."""
        self.evidence.close()
        await self.store.close()

    async def ingest(
        self,
        drafts: Sequence[ArticleDraft],
        progress: Progress | None = None,
        batch_chunks: int = 32,
    ) -> list[IngestResult]:
        """Chunk, embed and store new articles; skip empty, overlong ones and duplicates.

        Articles are embedded in small batches (about batch_chunks chunks) and each is
        committed on its own, so a stop loses at most one batch. The index file is
        saved at the end; after a stop it disagrees and is rebuilt at the next start.
        """
        results: list[IngestResult | None] = []
        async with self.write_lock:
            todo: list[tuple[int, ArticleDraft, list[ChunkSpan]]] = []
            seen: set[str] = set()
            for draft in drafts:
                results.append(None)
                if not draft.body.strip():
                    results[-1] = IngestResult(draft, None, reason="empty")
                    continue
                dup = await self.store.find_duplicate(draft)
                # Within one batch too: same text, or same canonical URL (a UNIQUE column).
                keys = {content_hash(draft.body), "url:" + canonical_url(draft.url)} - {"url:"}
                if dup is not None or keys & seen:
                    results[-1] = IngestResult(draft, None, duplicate_of=dup, reason="duplicate")
                    continue
                spans = await asyncio.to_thread(self.chunker.chunk, draft.body)
                if len(spans) > self.chunker.max_chunks:
                    reason = f"{len(spans)} chunks, over the limit of {self.chunker.max_chunks}"
                    results[-1] = IngestResult(draft, None, reason=reason)
                    continue
                seen |= keys
                todo.append((len(results) - 1, draft, spans))
            done = 0
            total = sum(len(spans) for _, _, spans in todo)
            queue = deque(todo)
            while queue:
                batch = [queue.popleft()]
                while queue and sum(len(b[2]) for b in batch) + len(queue[0][2]) <= batch_chunks:
                    batch.append(queue.popleft())
                for slot, result in await self._ingest_batch(batch, progress, done, total):
                    results[slot] = result
                done += sum(len(b[2]) for b in batch)
            if any(r is not None and r.article is not None for r in results):
                await asyncio.to_thread(self.index.save, self.index_path)
        return [r for r in results if r is not None]

    async def _ingest_batch(
        self,
        batch: list[tuple[int, ArticleDraft, list[ChunkSpan]]],
        progress: Progress | None,
        done: int,
        total: int,
    ) -> list[tuple[int, IngestResult]]:
        """Embed a few articles together, then store each in its own transaction."""
        texts = [s.text for _, _, spans in batch for s in spans]
        titles = [d.title for _, d, spans in batch for _ in spans]

        def report(n: int, _of: int) -> None:
            if progress:
                progress(done + n, total)

        vectors = await asyncio.to_thread(self.embed_passages, titles, texts, report)
        if self.evidence.disk is not None:
            pairs = list(zip(titles, texts, strict=True))
            await asyncio.to_thread(self.evidence.warm, pairs)
        out: list[tuple[int, IngestResult]] = []
        offset = 0
        for slot, draft, spans in batch:
            vecs = vectors[offset : offset + len(spans)]
            offset += len(spans)
            try:
                article, chunks = await self.store.add_article(
                    draft, spans, vecs, self.embedder.name
                )
            except sqlite3.IntegrityError:
                # Another process stored the same text or URL since the check above.
                dup = await self.store.find_duplicate(draft)
                out.append((slot, IngestResult(draft, None, duplicate_of=dup, reason="duplicate")))
                continue
            ids = np.array([c.id for c in chunks], dtype=np.int64)
            # Off the loop: adding can retrain the index as IVF, and waits for searches.
            await asyncio.to_thread(self.index.add, ids, vecs)
            out.append((slot, IngestResult(draft, article, chunks=len(chunks))))
        return out

    async def delete_article(self, article_id: int) -> bool:
        """Remove an article from the database and the vector index."""
        async with self.write_lock:
            if await self.store.get_article(article_id) is None:
                return False
            ids = await self.store.delete_article(article_id)
            await asyncio.to_thread(self.index.remove, ids)
            await asyncio.to_thread(self.index.save, self.index_path)
        return True

    async def follow_changes(self, limit: int = 5000) -> int:
        """Bring the index in step with changes other processes committed; return how many.

        Changes this engine made itself are in the index already and pass as no-ops. A
        'reindex' (new vectors for every chunk, committed at once) rebuilds the index
        from the stored vectors off to the side and swaps it in whole, so searches see
        the old generation until the new one is complete.
        """
        async with self.write_lock:
            rows = await self.store.changes_since(self.applied_change, limit)
            if not rows:
                return 0
            if any(op == "reindex" for _, _, op in rows):
                self.index = await rebuild_index(
                    self.store, self.index_path, self.index.config, self.embedder.dim
                )
                logger.info("swapped in the index of a reindex (%d vectors)", len(self.index))
            else:
                last: dict[int, str] = {}
                for _, chunk_id, op in rows:
                    last[chunk_id] = op
                held = set((await asyncio.to_thread(self.index.ids)).tolist())
                gone = [c for c, op in last.items() if op == "remove" and c in held]
                new = [c for c, op in last.items() if op == "add" and c not in held]
                ids, vectors = await self.store.vectors_of(new)
                await asyncio.to_thread(self.index.remove, gone)
                await asyncio.to_thread(self.index.add, ids, vectors)
            self.applied_change = rows[-1][0]
        return len(rows)

    async def rebuild_index(self) -> int:
        """Rebuild the vector index from stored vectors and swap it in; return its size."""
        async with self.write_lock:
            self.index = await rebuild_index(
                self.store, self.index_path, self.index.config, self.embedder.dim
            )
        return len(self.index)

    async def reembed(
        self,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        batch: int = 64,
    ) -> int:
        """Embed every chunk again with the current model, then swap the new index in.

        The live index keeps answering until the swap; a cancel leaves it as it was.
        Articles added or deleted meanwhile are in (or out of) the new index: the
        chunks stored since the last batch are embedded under the write lock, and
        deleted ones are dropped at the swap.
        """
        ids: list[int] = []
        vecs: list[np.ndarray] = []
        total = len(await self.store.chunk_ids())
        last = 0
        while rows := await self.store.chunk_texts(after_id=last, limit=batch):
            if cancelled and cancelled():
                return 0
            vecs.append(await self._embed_rows(rows, warm=True))
            ids.extend(i for i, _ in rows)
            last = rows[-1][0]
            if progress:
                progress(len(ids), total)
        async with self.write_lock:
            # Chunks added while embedding are embedded now (ingest already cached
            # their sentences with this model); deleted ones are left out.
            while rows := await self.store.chunk_texts(after_id=last, limit=batch):
                vecs.append(await self._embed_rows(rows, warm=False))
                ids.extend(i for i, _ in rows)
                last = rows[-1][0]
            await self._swap_in(ids, vecs)
        return len(self.index)

    async def _embed_rows(self, rows: Sequence[tuple[int, str]], warm: bool) -> np.ndarray:
        """Embed (chunk id, text) rows with their articles' headlines, off the loop."""
        chunks = await self.store.get_chunks(i for i, _ in rows)
        heads = await self.store.get_articles(c.article_id for c in chunks.values())
        # A chunk deleted meanwhile gets no title; it is left out at the swap.
        owner = {i: heads.get(c.article_id) for i, c in chunks.items()}
        titles = [a.title if (a := owner.get(i)) else "" for i, _ in rows]
        texts = [t for _, t in rows]
        vectors = await asyncio.to_thread(self.embed_passages, titles, texts)
        if warm and self.evidence.disk is not None:
            await asyncio.to_thread(self.evidence.warm, list(zip(titles, texts, strict=True)))
        return vectors

    async def _swap_in(self, ids: list[int], vecs: list[np.ndarray]) -> None:
        """Store re-embedded vectors of the chunks still there, and index them; holds the lock."""
        matrix = np.vstack(vecs) if vecs else np.zeros((0, self.embedder.dim), np.float32)
        live = np.isin(np.asarray(ids, np.int64), await self.store.chunk_ids())
        kept = [i for i, keep in zip(ids, live, strict=True) if keep]
        matrix = matrix[live]
        fresh = await asyncio.to_thread(
            VectorIndex.build,
            self.embedder.dim,
            np.asarray(kept, np.int64),
            matrix,
            self.index.config,
        )
        await self.store.replace_vectors(kept, matrix, self.embedder.name)
        await asyncio.to_thread(fresh.save, self.index_path)
        self.index = fresh

    def embed_passages(
        self, titles: Sequence[str], texts: Sequence[str], progress: Progress | None = None
    ) -> np.ndarray:
        """Embed chunks with their article's headline when the model can use it."""
        if isinstance(self.embedder, TitledEmbedder):
            return self.embedder.embed_titled(titles, texts, progress)
        return self.embedder.embed_documents(texts, progress)

    # -- reading ------------------------------------------------------------

    def embed_query(self, question: str) -> np.ndarray:
        """Embed a question, remembering the last few hundred."""
        # Called from several worker threads at once: guard the cache, not the model.
        with self._query_lock:
            vec = self._query_cache.get(question)
            if vec is not None:
                self._query_cache.move_to_end(question)
                return vec
        vec = self.embedder.embed_query(question)
        with self._query_lock:
            self._query_cache[question] = vec
            if len(self._query_cache) > 256:
                self._query_cache.popitem(last=False)
        return vec

    async def search(
        self,
        question: str,
        k: int | None = None,
        mode: SearchMode = "hybrid",
        exclude: frozenset[int] = frozenset(),
    ) -> list[Hit]:
        """Return the best k chunks for the question: fused, or one side alone by mode.

        exclude names articles to search as if they were not there (evaluation asks
        questions with their answering paragraphs left out this way).
        """
        cfg = self.search_config
        k = k or cfg.top_k
        hidden = await self.store.article_chunk_ids(exclude)
        qvec, dense, lexical = await self._candidates(
            question, max(cfg.candidates, k), mode, hidden
        )
        rerank = self._reranks(mode)
        fused = self._fuse(dense, lexical, max(k, cfg.rerank_depth) if rerank else k)
        hits = await self._hits(fused, dict(dense), qvec)
        if rerank:
            hits = await asyncio.to_thread(
                self.evidence.rerank,
                question,
                hits,
                cfg.rerank_depth,
                cfg.sentence_weight,
                cfg.sentence_lexical_weight,
            )
        return hits[:k]

    async def _candidates(
        self, question: str, depth: int, mode: SearchMode, hidden: set[int]
    ) -> tuple[np.ndarray | None, list[tuple[int, float]], list[tuple[int, float]]]:
        """Return the query vector (None for lexical only) and the dense and lexical lists,
        without the hidden chunks."""
        qvec: np.ndarray | None = None
        dense: list[tuple[int, float]] = []
        lexical: list[tuple[int, float]] = []
        if mode != "lexical":
            qvec = await asyncio.to_thread(self.embed_query, question)
            dense = await asyncio.to_thread(self.index.search, qvec, depth + len(hidden))
            dense = [d for d in dense if d[0] not in hidden][:depth]
        if mode != "dense":
            lexical = await self.store.lexical_search(search_terms(question), depth + len(hidden))
            lexical = [x for x in lexical if x[0] not in hidden][:depth]
        return qvec, dense, lexical

    def _reranks(self, mode: SearchMode) -> bool:
        """Tell whether sentence evidence reorders the head of the list."""
        cfg = self.search_config
        # Sentence scores only mean something added to blended scores, not to RRF's.
        return (
            mode == "hybrid"
            and cfg.fusion == "blend"
            and cfg.rerank_depth > 0
            and (cfg.sentence_weight > 0 or cfg.sentence_lexical_weight > 0)
        )

    def _fuse(
        self, dense: list[tuple[int, float]], lexical: list[tuple[int, float]], n: int
    ) -> list[Fused]:
        """Return the best n of both lists, fused as configured."""
        cfg = self.search_config
        if cfg.fusion == "rrf":
            return rrf(
                [[i for i, _ in dense], [i for i, _ in lexical]],
                k=cfg.rrf_k,
                weights=[cfg.dense_weight, cfg.lexical_weight],
            )[:n]
        return blend(dense, lexical, cfg.dense_weight, cfg.lexical_weight)[:n]

    async def _hits(
        self, fused: list[Fused], cosine: dict[int, float], qvec: np.ndarray | None
    ) -> list[Hit]:
        """Look the fused chunks up, with their articles and their cosine to the question."""
        chunks = await self.store.get_chunks(f.id for f in fused)
        articles = await self.store.get_articles(c.article_id for c in chunks.values())
        hits = []
        for f in fused:
            chunk = chunks.get(f.id)
            article = articles.get(chunk.article_id) if chunk else None
            if chunk is None or article is None:
                continue  # deleted between search and lookup
            dense_score = cosine.get(f.id)
            if dense_score is None and qvec is not None:
                try:
                    stored = await self.store.chunk_vector(f.id)
                except KeyError:
                    continue
                # A vector of another size is the old model's, until a re-embed replaces it.
                dense_score = float(np.dot(qvec, stored)) if stored.shape == qvec.shape else None
            hits.append(Hit(chunk, article, f.score, f.ranks[0], f.ranks[1], dense_score))
        return hits

    def score_sentences(self, question: str, sentences: list[tuple[str, str]]) -> list[float]:
        """Return the cosine of each (headline, sentence) to the question, for answers."""
        return self.evidence.score(question, sentences)

    async def ask(
        self, question: str, k: int | None = None, exclude: frozenset[int] = frozenset()
    ) -> Answer:
        """Answer with quoted sentences and their sources, say the articles do not state
        it, or decline."""
        start = time.perf_counter()
        hits = await self.search(question, k, exclude=exclude)
        answer = await self._compose(question, hits, await self.store.article_chunk_ids(exclude))
        return replace(answer, ms=(time.perf_counter() - start) * 1000)

    async def ask_within(
        self, question: str, article_ids: Sequence[int], k: int | None = None
    ) -> Answer:
        """Answer from these articles only (say, an alerted article and its story), or refuse.

        The question is searched as usual, to the full candidate depth, and only the
        passages of these articles are kept: a passage outside both candidate lists
        would not have answered anyway.
        """
        start = time.perf_counter()
        wanted = set(article_ids)
        hits = await self.search(question, self.search_config.candidates)
        hits = [h for h in hits if h.article.id in wanted][: k or self.search_config.top_k]
        answer = await self._compose(question, hits)
        return replace(answer, ms=(time.perf_counter() - start) * 1000)

    async def _compose(
        self, question: str, hits: list[Hit], hidden: Collection[int] = ()
    ) -> Answer:
        """Weigh the hits with the corpus's term statistics (hidden chunks left out)."""
        counts, total = await self.store.term_counts(search_terms(question), hidden)
        # Composing embeds candidate sentences: CPU work, off the event loop.
        return await asyncio.to_thread(
            self.composer.compose, question, hits, TermStats(counts, total)
        )

    async def article_vectors(self, article_id: int) -> np.ndarray:
        """Return an article's chunk vectors as rows (none: zero rows of the model's width)."""
        rows = await self.store.article_vectors(article_id)
        return np.vstack(rows) if rows else np.zeros((0, self.embedder.dim), dtype=np.float32)


async def rebuild_index(
    store: CorpusStore, path: Path, config: IndexConfig, dim: int | None = None
) -> VectorIndex:
    """Build the vector index from the stored vectors and save it at path, off the loop.

    dim is the model's; without it (no model loaded) the stored vectors give it.
    """
    ids, vectors = await store.vectors()
    if dim is None:
        if not len(ids):
            raise EngineError("no stored vectors to index: run `isnad setup` first")
        dim = int(vectors.shape[1])
    index = await asyncio.to_thread(VectorIndex.build, dim, ids, vectors, config)
    await asyncio.to_thread(index.save, path)
    return index
