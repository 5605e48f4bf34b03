"""The SQLite corpus store and the FAISS index beside it."""

import asyncio
from pathlib import Path

import numpy as np
import pytest
from support.articles import filler
from support.embedders import HashingEmbedder
from support.reindex_child import SlowEmbedder

from retrieval.arabic import search_terms
from retrieval.engine import Engine, EngineError
from retrieval.index import VectorIndex, open_index
from retrieval.intake import read_article_file
from retrieval.models import ArticleDraft, ChunkSpan
from retrieval.store import CorpusStore

DRAFT = ArticleDraft(
    title="عنوان",
    body="جملة أولى. جملة ثانية.",
    source="مصدر",
    url="https://Example.com/a/?utm_source=x",
)
SEED = next((Path(__file__).resolve().parents[2] / "seeds").glob("*.txt"))
SPANS = [ChunkSpan(0, 0, 10, "جملة أولى."), ChunkSpan(1, 11, 22, "جملة ثانية.")]


async def test_store_round_trip(tmp_path: Path) -> None:
    store = await CorpusStore.open(tmp_path / "c.db")
    vectors = np.eye(2, 4, dtype=np.float32)
    article, chunks = await store.add_article(DRAFT, SPANS, vectors, "m")
    assert await store.get_article(article.id) == article
    assert [c.text for c in chunks] == ["جملة أولى.", "جملة ثانية."]
    assert await store.get_chunks([chunks[1].id]) == {chunks[1].id: chunks[1]}
    ids, stored = await store.vectors()
    assert ids.tolist() == [c.id for c in chunks]
    assert np.array_equal(stored, vectors)
    found = await store.lexical_search(search_terms("الثانية"), 5)
    assert [cid for cid, _ in found] == [chunks[1].id] and found[0][1] < 0
    # Same canonical URL and same text are both duplicates.
    assert await store.find_duplicate(ArticleDraft("x", "نص آخر", url="https://example.com/a")) == 1
    assert await store.find_duplicate(ArticleDraft("x", "جملةُ أولى.  جملة ثانية.")) == 1
    assert await store.find_duplicate(ArticleDraft("x", "نص آخر تماما")) is None
    stats = await store.stats()
    assert (stats.articles, stats.chunks, stats.sources) == (1, 2, (("مصدر", 1),))
    await store.close()
    # Reopening keeps everything (the schema is not applied twice).
    store = await CorpusStore.open(tmp_path / "c.db")
    assert (await store.stats()).chunks == 2
    assert await store.delete_article(article.id) == [c.id for c in chunks]
    assert await store.lexical_search(search_terms("الثانية"), 5) == []
    assert (await store.stats()).chunks == 0
    await store.close()


def test_index_save_load_search(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(5, 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.array([10, 11, 12, 13, 14])
    index = VectorIndex.build(8, ids, vecs)
    assert index.search(vecs[2], 1)[0][0] == 12
    index.save(tmp_path / "i.faiss")
    loaded = VectorIndex.load(tmp_path / "i.faiss")
    assert loaded.ids().tolist() == [10, 11, 12, 13, 14]
    assert loaded.remove([12]) == 1
    assert 12 not in [i for i, _ in loaded.search(vecs[2], 5)]


@pytest.mark.parametrize("damage", ["missing", "corrupt", "stale"])
def test_index_rebuilt_when_it_disagrees(tmp_path: Path, damage: str) -> None:
    vecs = np.eye(3, 4, dtype=np.float32)
    ids = np.array([1, 2, 3])
    path = tmp_path / "i.faiss"
    VectorIndex.build(4, ids, vecs).save(path)
    if damage == "missing":
        path.unlink()
    elif damage == "corrupt":
        path.write_bytes(path.read_bytes()[:20])
    else:
        VectorIndex.build(4, ids[:2], vecs[:2]).save(path)
    index, rebuilt = open_index(path, 4, ids, vecs)
    assert rebuilt and index.ids().tolist() == [1, 2, 3]
    again, rebuilt_again = open_index(path, 4, ids, vecs)
    assert not rebuilt_again and again.ids().tolist() == [1, 2, 3]


async def test_engine_ingest_dedupes_and_deletes(seed_engine: Engine) -> None:
    results = await seed_engine.ingest([read_article_file(SEED)])
    assert [(r.article, r.reason, r.duplicate_of) for r in results] == [(None, "duplicate", 1)]
    stats = await seed_engine.store.stats()
    assert stats.articles == 1 and len(seed_engine.index) == stats.chunks
    assert await seed_engine.delete_article(1)
    assert len(seed_engine.index) == 0 and await seed_engine.search("روسيا") == []
    assert not await seed_engine.delete_article(1)


async def test_engine_reopen_rebuilds_deleted_index(seed_engine: Engine, tmp_path: Path) -> None:
    from support.embedders import HashingEmbedder

    seed_engine.index_path.unlink()
    engine = await Engine.open(seed_engine.store, HashingEmbedder(), seed_engine.index_path)
    assert seed_engine.index_path.exists()
    assert engine.index.ids().tolist() == (await seed_engine.store.chunk_ids())


async def test_one_batch_with_one_url_twice(seed_engine: Engine) -> None:
    first = ArticleDraft(
        "أ", "نص الخبر الأول عن الانتخابات.", url="https://news.test/a?utm_source=x"
    )
    second = ArticleDraft("ب", "نص مختلف تماما عن الطقس.", url="https://NEWS.test/a/")
    third = ArticleDraft("ج", "خبر ثالث عن الاقتصاد.")
    results = await seed_engine.ingest([first, second, third])
    assert [(r.reason, r.article is not None) for r in results] == [
        ("", True),
        ("duplicate", False),
        ("", True),
    ]
    stats = await seed_engine.store.stats()
    assert stats.articles == 3 and len(seed_engine.index) == stats.chunks


async def test_a_model_of_another_dimension_needs_and_allows_a_reembed(
    seed_engine: Engine, tmp_path: Path
) -> None:
    store = seed_engine.store
    question = "بأي حجة تواصل روسيا التصعيد؟"
    smaller = HashingEmbedder(32)
    with pytest.raises(EngineError, match="run `isnad reindex`"):
        await Engine.open(store, smaller, tmp_path / "seed.faiss")
    engine = await Engine.open(store, smaller, tmp_path / "seed.faiss", reembedding=True)
    # Until re-embedded, only the words are searched; the old vectors are not compared.
    stale = await engine.search(question)
    assert stale and all(h.dense_rank is None and h.dense_score is None for h in stale)
    assert await engine.reembed() == len(await store.chunk_ids())
    reopened = await Engine.open(store, smaller, tmp_path / "seed.faiss")
    hits = await reopened.search(question)
    assert hits[0].article.title.startswith("روسيا ترفض") and hits[0].dense_rank == 1
    assert await store.get_meta("model") == "hashing-32"


async def test_reembed_keeps_what_was_added_or_deleted_meanwhile(bot_engine: Engine) -> None:
    slow = SlowEmbedder(bot_engine.embedder.dim, delay=0.1)
    engine = await Engine.open(bot_engine.store, slow, bot_engine.index_path)
    old = sorted(await engine.store.latest_articles(5), key=lambda a: a.id)
    first_batch = asyncio.Event()
    task = asyncio.create_task(engine.reembed(progress=lambda d, t: first_batch.set(), batch=1))
    await asyncio.wait_for(first_batch.wait(), 20)
    assert not task.done()  # the corpus has more than one chunk: the reindex is in its middle
    assert await engine.delete_article(old[-1].id)
    (added,) = await engine.ingest([filler(1)])
    assert await task == len(await engine.store.chunk_ids())
    ids, vectors = await engine.store.vectors()
    assert engine.index.matches(ids) and engine.index.holds(vectors)
    assert added.article is not None
    assert (await engine.store.get_chunks(ids.tolist())).keys() == set(ids.tolist())
    assert {c.article_id for c in (await engine.store.get_chunks(ids.tolist())).values()} == {
        old[0].id,
        added.article.id,
    }
