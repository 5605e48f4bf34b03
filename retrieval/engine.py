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
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np

from retrieval.answer import AnswerComposer, AnswerConfig, headlines
from retrieval.answerability import AnswerabilityModel, TermStats
from retrieval.arabic import search_terms
from retrieval.chunker import Chunker
from retrieval.corroboration import CorroborationConfig
from retrieval.embedding import Embedder, Progress, TitledEmbedder
from retrieval.evidence import SentenceEvidence
from retrieval.fusion import Fused, blend, rrf
from retrieval.identity import canonical_url, content_hash
from retrieval.index import IndexConfig, VectorIndex, open_index
from retrieval.models import Answer, Article, ArticleDraft, ChunkSpan, Hit, TimeScope
from retrieval.sentences import MAX_SENTENCE_CHARS, split_sentences
from retrieval.store import CorpusStore, utc_now
from retrieval.stories import (
    StoryConfig,
    StoryDecision,
    StoryMatcher,
    lead_vector,
    parse_time,
    window,
)
from retrieval.timesearch import applies, newest_first, newest_reports, window_articles
from retrieval.timewords import TimeReading, read_time

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
    story_id: int | None = None  # the story the article joined or started
    copy_of: int | None = None  # the article whose text it reprints


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
        corroboration: CorroborationConfig | None = None,
        stories: StoryConfig | None = None,
    ):
        self.store = store
        self.stories = StoryMatcher(stories)
        self.index = index
        self.embedder = embedder
        self.chunker = chunker
        self.index_path = index_path
        self.search_config = search or SearchConfig()
        self.composer = AnswerComposer(
            answer,
            self.score_sentences,
            answerability or AnswerabilityModel.load(),
            self.sentence_vectors,
            corroboration,
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
        corroboration: CorroborationConfig | None = None,
        stories: StoryConfig | None = None,
    ) -> Engine:
        """Load the vector index, rebuilding it from stored vectors if it disagrees.

        With sentence_cache, the vectors of every chunk's sentences are computed at
        ingest and kept in that file, so answers and reranking only look them up.
        reembedding says the caller is about to re-embed the corpus: stored vectors of
        another dimension (a model change) then give an empty index instead of an error.
        answerability decides answer or decline; None means the fitted weights shipped
        in `retrieval/data/answerability.json`. stories tunes how articles join stories
        at ingest (None: the defaults); answers diversify their passages by story.
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
            corroboration,
            stories,
        )
        engine.applied_change = applied
        if sentence_cache is not None:
            await engine.check_sentence_cache(ids)
        placed = await engine.place_unplaced()
        if placed:
            logger.info("placed %d articles stored before stories in their stories", placed)
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
            published = utc_now() if draft.dated_at_ingest else draft.published
            story = await self.story_for(draft.title, draft.body, vecs, published)
            try:
                article, chunks = await self.store.add_article(
                    draft, spans, vecs, self.embedder.name, story
                )
            except sqlite3.IntegrityError:
                # Another process stored the same text or URL since the check above.
                dup = await self.store.find_duplicate(draft)
                out.append((slot, IngestResult(draft, None, duplicate_of=dup, reason="duplicate")))
                continue
            ids = np.array([c.id for c in chunks], dtype=np.int64)
            # Off the loop: adding can retrain the index as IVF, and waits for searches.
            await asyncio.to_thread(self.index.add, ids, vecs)
            placed = await self.store.article_stories([article.id])
            copies = await self.store.article_copies([article.id])
            result = IngestResult(
                draft,
                article,
                chunks=len(chunks),
                story_id=placed.get(article.id),
                copy_of=copies.get(article.id),
            )
            out.append((slot, result))
        return out

    async def story_for(
        self, title: str, body: str, vectors: np.ndarray, published: str
    ) -> StoryDecision:
        """Decide the story of an article about to be stored, among its window's articles."""
        when = parse_time(published or utc_now())
        start, end = window(when, self.stories.config)
        members = await self.store.story_members(start, end)
        lead = lead_vector(vectors) if len(vectors) else np.zeros(self.embedder.dim, np.float32)
        return await asyncio.to_thread(self.stories.decide, title, body, lead, when, members)

    async def place_unplaced(self) -> int:
        """Give every stored article without a story its story, oldest first; return how many.

        Articles stored before stories existed get theirs from their stored vectors: no
        embedding. Each is placed as if it had just arrived, in publication order.
        """
        placed = 0
        async with self.write_lock:
            for article in await self.store.unplaced_articles():
                vectors = np.asarray(await self.store.article_vectors(article.id))
                story = await self.story_for(
                    article.title, article.body, vectors, article.published
                )
                await self.store.place_in_story(article.id, story)
                placed += 1
        return placed

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
        the old generation until the new one is complete. So does falling behind the
        pruned part of the log (changes this engine can no longer read); the changes
        the rebuild stands for are then counted by their sequence numbers.
        """
        async with self.write_lock:
            rows = await self.store.changes_since(self.applied_change, limit)
            # Read after the rows: a prune that committed before they were read shows.
            if await self.store.changes_pruned_through() > self.applied_change:
                # Before the vectors, as at open: what commits in between comes again.
                newest = await self.store.last_change()
                self.index = await rebuild_index(
                    self.store, self.index_path, self.index.config, self.embedder.dim
                )
                logger.warning(
                    "the index was behind the pruned change log (applied %d, newest %d):"
                    " rebuilt it from %d stored vectors",
                    self.applied_change,
                    newest,
                    len(self.index),
                )
                applied, self.applied_change = self.applied_change, newest
                return newest - applied
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
        *,
        within: frozenset[int] | None = None,
        within_articles: frozenset[int] | None = None,
        sources: frozenset[str] | None = None,
    ) -> list[Hit]:
        """Return the best k chunks for the question: fused, or one side alone by mode.

        exclude names articles to search as if they were not there (evaluation asks
        questions with their answering paragraphs left out this way). within names the
        only chunks searched (a time window's); within_articles and sources keep only the
        passages of those articles, or of articles from those sources (exact `source`
        values). Given together, a passage must meet all of them; both sides of the
        search are restricted, so a passage ranked deep in the whole corpus is found.
        """
        cfg = self.search_config
        k = k or cfg.top_k
        hidden = await self.store.article_chunk_ids(exclude)
        allowed = await self._allowed(within_articles, sources)
        if within is not None:
            allowed = within if allowed is None else allowed & within
        qvec, dense, lexical = await self._candidates(
            question, max(cfg.candidates, k), mode, hidden, allowed
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

    async def _allowed(
        self, within_articles: frozenset[int] | None, sources: frozenset[str] | None
    ) -> frozenset[int] | None:
        """Return the chunk ids a restricted search may return; None when unrestricted."""
        allowed: frozenset[int] | None = None
        if within_articles is not None:
            allowed = frozenset(await self.store.article_chunk_ids(within_articles))
        if sources is not None:
            of_sources = frozenset(await self.store.source_chunk_ids(sources))
            allowed = of_sources if allowed is None else allowed & of_sources
        return allowed

    async def _candidates(
        self,
        question: str,
        depth: int,
        mode: SearchMode,
        hidden: set[int],
        within: frozenset[int] | None = None,
    ) -> tuple[np.ndarray | None, list[tuple[int, float]], list[tuple[int, float]]]:
        """Return the query vector (None for lexical only) and the dense and lexical lists,
        without the hidden chunks (and with within, of those chunks only)."""
        qvec: np.ndarray | None = None
        dense: list[tuple[int, float]] = []
        lexical: list[tuple[int, float]] = []
        allowed = None if within is None else np.fromiter(within - hidden, dtype=np.int64)
        if mode != "lexical":
            qvec = await asyncio.to_thread(self.embed_query, question)
            dense = await asyncio.to_thread(self.index.search, qvec, depth + len(hidden), allowed)
            dense = [d for d in dense if d[0] not in hidden][:depth]
        if mode != "dense":
            lexical = await self.store.lexical_search(
                search_terms(question),
                depth + len(hidden),
                None if within is None else within - hidden,
            )
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

    def sentence_vectors(self, sentences: list[tuple[str, str]]) -> np.ndarray:
        """Return the vectors of (headline, sentence) pairs, for comparing sentences."""
        return self.evidence.vectors(sentences)

    async def ask(
        self,
        question: str,
        k: int | None = None,
        exclude: frozenset[int] = frozenset(),
        *,
        as_of: datetime | None = None,
        within_articles: frozenset[int] | None = None,
        sources: frozenset[str] | None = None,
    ) -> Answer:
        """Answer with quoted sentences and their sources, say the articles do not state
        it, or decline.

        Time words ("أمس", "الأسبوع الماضي", "آخر") are read against as_of (default:
        now, UTC; a naive as_of is wall-clock time): a window restricts the search to
        the articles published in it, "latest" puts the newest relevant reports first.
        A question without them takes exactly the path it took before time was read.
        within_articles and sources restrict the quotes to those articles, or to articles
        from those sources (see `search`); nothing there means a declined answer.
        """
        start = time.perf_counter()
        moment = as_of or datetime.now(UTC)
        reading = read_time(question, moment)
        restrict = await self._allowed(within_articles, sources)
        if await applies(self.store, reading, moment):
            answer = await self._ask_in_time(question, reading, moment, k, exclude, restrict)
        else:
            k = k or self.search_config.top_k
            # Deeper than shown: further passages are searched for outlets that corroborate.
            ranked = await self.search(question, self._depth(k), exclude=exclude, within=restrict)
            hidden = await self.store.article_chunk_ids(exclude)
            answer = await self._compose(question, ranked[:k], hidden, ranked)
        return replace(answer, ms=(time.perf_counter() - start) * 1000)

    async def search_as_asked(
        self, question: str, k: int | None = None, *, as_of: datetime | None = None
    ) -> list[Hit]:
        """Search as ask does: within the question's time window (nothing when the
        window holds no article), newest first for "latest"; else plain search."""
        moment = as_of or datetime.now(UTC)
        reading = read_time(question, moment)
        if not await applies(self.store, reading, moment):
            return await self.search(question, k)
        k = k or self.search_config.top_k
        text = _matching_words(question, reading)
        timed = await self._timed_hits(text, reading, moment, k, frozenset())
        return timed[0] if timed else []

    def _depth(self, k: int) -> int:
        """How many passages an answer searches: the k shown and those that may corroborate."""
        return max(k, self.composer.corroborator.config.support)

    async def _timed_hits(
        self,
        text: str,
        reading: TimeReading,
        as_of: datetime,
        k: int,
        exclude: frozenset[int],
        restrict: frozenset[int] | None = None,
    ) -> tuple[list[Hit], list[Hit]] | None:
        """Return the k hits shown from the reading's window, the newest first when
        "latest" was asked, and the deeper ranking searched for corroborating outlets
        (None when the window holds no article); restrict, when given, names the only
        chunks searched besides."""
        depth = self._depth(k)
        if reading.kind == "latest":
            ranked = await self.search(text, depth, exclude=exclude, within=restrict)
            return newest_first(ranked[:k], as_of), ranked
        articles = await window_articles(self.store, reading, as_of) - exclude
        if not articles:
            return None
        within = frozenset(await self.store.chunks_of(articles))
        if restrict is not None:
            within &= restrict
        ranked = await self.search(text, depth, exclude=exclude, within=within)
        shown = ranked[:k]
        return (newest_first(shown, as_of) if reading.latest else shown), ranked

    async def _ask_in_time(
        self,
        question: str,
        reading: TimeReading,
        as_of: datetime,
        k: int | None,
        exclude: frozenset[int],
        restrict: frozenset[int] | None = None,
    ) -> Answer:
        """Answer from the window's reports (or the newest first); with none on the
        subject in the window, offer the newest reports on it instead."""
        k = k or self.search_config.top_k
        hidden = await self.store.article_chunk_ids(exclude)
        scope = TimeScope(
            reading.kind if reading.kind == "window" else "latest",
            reading.phrases,
            as_of.replace(tzinfo=None),
            reading.start,
            reading.end,
        )
        text = _matching_words(question, reading)
        timed = await self._timed_hits(text, reading, as_of, k, exclude, restrict)
        if timed is not None:
            answer = await self._compose(text, timed[0], hidden, timed[1])
            if answer.outcome != "declined" or reading.kind == "latest":
                return replace(answer, question=question, time=scope)
        # Nothing from the window on the subject: never quote older reports as if
        # they were new; name the newest ones on the subject, with their dates.
        hits = await self.search(text, k, exclude=exclude, within=restrict)
        found = await self._compose(text, hits, hidden)
        elsewhere = found.outcome != "declined"
        newest = (
            headlines(newest_reports(hits, as_of), self.composer.config.headlines)
            if elsewhere
            else found.headlines
        )
        return Answer(
            question=question,
            answered=False,
            sentences=(),
            citations=(),
            hits=found.hits,
            confidence=found.confidence,
            headlines=newest,
            outcome="declined",
            decision=found.decision,
            time=replace(scope, in_window=False, elsewhere=elsewhere),
        )

    async def ask_within(
        self, question: str, article_ids: Sequence[int], k: int | None = None
    ) -> Answer:
        """Answer from these articles only (say, an alerted article and its story), or refuse."""
        return await self.ask(question, k, within_articles=frozenset(article_ids))

    async def _compose(
        self,
        question: str,
        hits: list[Hit],
        hidden: Collection[int] = (),
        support: Sequence[Hit] = (),
    ) -> Answer:
        """Weigh the hits with the corpus's term statistics (hidden chunks left out);
        support holds the deeper ranking searched for corroborating outlets."""
        counts, total = await self.store.term_counts(search_terms(question), hidden)
        # The shown hits lead the pool in their order (newest first for "latest").
        shown = {h.chunk.id for h in hits}
        pool = [*hits, *(h for h in support if h.chunk.id not in shown)]
        # Which story each article tells, to diversify the quoted passages.
        stories = await self.store.article_stories(list(dict.fromkeys(h.article.id for h in pool)))
        # Composing embeds candidate sentences: CPU work, off the event loop.
        return await asyncio.to_thread(
            self.composer.compose, question, hits, TermStats(counts, total), pool, stories
        )

    async def article_vectors(self, article_id: int) -> np.ndarray:
        """Return an article's chunk vectors as rows (none: zero rows of the model's width)."""
        rows = await self.store.article_vectors(article_id)
        return np.vstack(rows) if rows else np.zeros((0, self.embedder.dim), dtype=np.float32)


def _matching_words(question: str, reading: TimeReading) -> str:
    """Return the question's other words, which do the matching; a question of time
    words alone keeps them all."""
    return reading.rest if reading.rest.strip(" ؟?!.") else question


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
