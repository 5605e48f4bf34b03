"""Headlines in passage vectors, sentence vectors made at ingest, and sentence reranking."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from support.embedders import HashingEmbedder

from retrieval.answer import AnswerConfig
from retrieval.embedding import Progress, TitledEmbedder, titled_document
from retrieval.embedding_cache import CachedEmbedder
from retrieval.engine import Engine
from retrieval.evidence import SentenceEvidence, sentence_overlaps
from retrieval.models import Article, ArticleDraft, Chunk, Hit
from retrieval.store import CorpusStore


class TitledHashing(HashingEmbedder):
    """The hashing embedder that also reads titles, recording what it embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.titled: list[tuple[str, str]] = []
        self.queries: list[str] = []

    def embed_titled(
        self, titles: Sequence[str], texts: Sequence[str], progress: Progress | None = None
    ) -> np.ndarray:
        pairs = list(zip(titles, texts, strict=True))
        self.titled += pairs
        return self.embed_documents([titled_document(t, x) for t, x in pairs])

    def embed_query(self, text: str) -> np.ndarray:
        self.queries.append(text)
        return super().embed_query(text)


BODY = "ضرب زلزال قوي مدينة ملاطية فجر الأربعاء. وأصيب 23 شخصا في الزلزال."
DRAFT = ArticleDraft(title="زلزال في ملاطية", body=BODY, source="وكالة")


def test_the_protocol_is_recognised() -> None:
    assert isinstance(TitledHashing(), TitledEmbedder)
    assert not isinstance(HashingEmbedder(), TitledEmbedder)
    assert titled_document("  عنوان \n الخبر ", "نص") == "title: عنوان الخبر | text: نص"
    assert titled_document("", "نص") == "title: none | text: نص"


async def test_ingest_embeds_headline_and_sentences_once(tmp_path: Path) -> None:
    embedder = TitledHashing()
    store = await CorpusStore.open(tmp_path / "c.db")
    engine = await Engine.open(
        store,
        embedder,
        tmp_path / "i.faiss",
        answer=AnswerConfig(threshold=-1.0),
        sentence_cache=tmp_path / "sentences.sqlite",
    )
    await engine.ingest([DRAFT])
    assert embedder.titled == [
        ("زلزال في ملاطية", BODY),  # the chunk, with its headline
        ("زلزال في ملاطية", "ضرب زلزال قوي مدينة ملاطية فجر الأربعاء."),
        ("زلزال في ملاطية", "وأصيب 23 شخصا في الزلزال."),
    ]
    embedder.titled.clear()
    answer = await engine.ask("كم عدد المصابين في الزلزال؟")
    # Reranking and the answer only looked the sentence vectors up.
    assert embedder.titled == [] and embedder.queries == ["كم عدد المصابين في الزلزال؟"]
    assert [s.text for s in answer.sentences] == ["وأصيب 23 شخصا في الزلزال."]
    await store.close()
    engine.evidence.close()


def test_cached_embedder_keeps_titled_passages_apart(tmp_path: Path) -> None:
    inner = TitledHashing()
    cache = CachedEmbedder(inner, tmp_path / "e.sqlite")
    a = cache.embed_titled(["عنوان أول", "عنوان ثان"], ["نص", "نص"])
    assert len(inner.titled) == 2 and not np.allclose(a[0], a[1])
    b = cache.embed_titled(["عنوان ثان"], ["نص"])
    assert len(inner.titled) == 2 and np.allclose(b[0], a[1])
    # A model without titles gets the plain passage.
    plain = CachedEmbedder(HashingEmbedder(), tmp_path / "p.sqlite")
    assert np.allclose(
        plain.embed_titled(["عنوان"], ["نص"]), HashingEmbedder().embed_documents(["نص"])
    )
    cache.close()
    plain.close()


def hit(chunk_id: int, text: str, score: float) -> Hit:
    article = Article(chunk_id, f"خبر {chunk_id}", text, "", "", "", "h", "t")
    return Hit(Chunk(chunk_id, chunk_id, 0, 0, len(text), text), article, score, None, None, 0.5)


def test_rerank_moves_up_the_passage_with_the_closest_sentence() -> None:
    question = "نص السؤال نفسه"
    embedder = HashingEmbedder()
    exact = embedder.embed_query(question)

    def query(text: str) -> np.ndarray:
        return exact

    evidence = SentenceEvidence(embedder, query)
    hits = [hit(1, "كلام آخر تماما.", 0.60), hit(2, "نص السؤال نفسه.", 0.55), hit(3, "ذيل.", 0.9)]
    out = evidence.rerank(question, hits, depth=2, weight=0.5)
    assert [h.chunk.id for h in out] == [2, 1, 3]  # the third is past the depth: untouched
    best = float(np.dot(exact, embedder.embed_documents(["نص السؤال نفسه."])[0]))
    assert out[0].score == np.float64(0.5 * 0.55 + 0.5 * best)
    assert out[2] == hits[2]


def test_sentence_overlap_weighs_rare_question_words_more() -> None:
    question = "كم شخصا أصيب في زلزال ملاطية؟"
    sentences = [
        "ضرب زلزال مدينة ملاطية.",  # two question words, both in every sentence
        "أصيب 23 شخصا في زلزال ملاطية.",  # every question word
        "زلزال ملاطية هو الأقوى.",
        "لا شيء هنا.",
    ]
    shares = sentence_overlaps(question, sentences)
    assert shares[1] == 1.0 and shares[3] == 0.0
    assert shares[0] == shares[2] and 0 < shares[0] < 0.5  # the common words weigh less
    assert sentence_overlaps("ما؟", sentences) == [0.0] * 4  # no content word: no evidence


def test_sentence_overlap_breaks_a_cosine_tie_in_the_rerank() -> None:
    question = "أصيب شخصا زلزال"
    embedder = HashingEmbedder()
    evidence = SentenceEvidence(embedder, lambda _q: np.zeros(embedder.dim, np.float32))
    hits = [hit(1, "كلام آخر تماما.", 0.5), hit(2, "أصيب شخصا في الزلزال.", 0.5)]
    # Every cosine is 0: without overlap the tie stays in chunk order, with it 2 leads.
    assert [h.chunk.id for h in evidence.rerank(question, hits, 2, 0.5)] == [1, 2]
    out = evidence.rerank(question, hits, 2, 0.5, lexical=0.1)
    assert [h.chunk.id for h in out] == [2, 1]
    assert out[0].score == np.float64(0.5 * 0.5 + 0.1 * 1.0)


async def test_search_modes_run_one_side_alone(tmp_path: Path) -> None:
    store = await CorpusStore.open(tmp_path / "c.db")
    engine = await Engine.open(store, HashingEmbedder(), tmp_path / "i.faiss")
    other = ArticleDraft(title="أمطار في جدة", body="هطلت أمطار غزيرة على جدة يوم الخميس.")
    await engine.ingest([DRAFT, other])
    question = "كم عدد المصابين في زلزال ملاطية؟"
    lexical = await engine.search(question, 5, mode="lexical")
    assert [h.article.title for h in lexical] == ["زلزال في ملاطية"]  # only FTS5 matches
    assert all(h.dense_rank is None and h.dense_score is None for h in lexical)
    dense = await engine.search(question, 5, mode="dense")
    assert len(dense) == 2 and all(h.lexical_rank is None for h in dense)
    hybrid = await engine.search(question, 5)
    assert hybrid[0].article.title == "زلزال في ملاطية"
    assert hybrid[0].lexical_rank == 1 and hybrid[0].dense_rank is not None
    await store.close()
