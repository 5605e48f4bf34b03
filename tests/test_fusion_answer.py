"""Reciprocal rank fusion and the extractive answer composer."""

import pytest

from retrieval.answer import AnswerComposer, AnswerConfig
from retrieval.fusion import Fused, rrf
from retrieval.models import Article, Chunk, Citation, Hit


def test_rrf_scores_and_ranks() -> None:
    fused = rrf([[1, 2, 3], [3, 1]], k=60)
    assert [f.id for f in fused] == [1, 3, 2]
    assert (fused[0].id, fused[0].ranks) == (1, (1, 2))
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2] == Fused(2, 1 / 62, (2, None))


def test_rrf_weights_and_ties() -> None:
    assert [f.id for f in rrf([[1], [2]], weights=[1.0, 2.0])] == [2, 1]
    assert [f.id for f in rrf([[5], [4]])] == [4, 5]  # equal scores: lower id first
    with pytest.raises(ValueError):
        rrf([[1]], weights=[1, 2])


ART = Article(7, "عنوان الخبر", "", "وكالة", "https://x.test/a", "2024-01-02", "h", "t")
OTHER = Article(9, "خبر آخر", "", "صحيفة", "", "", "h2", "t")


def hit(chunk_id: int, text: str, article: Article = ART, dense: float = 0.6) -> Hit:
    return Hit(Chunk(chunk_id, article.id, 0, 0, len(text), text), article, 0.03, 1, 1, dense)


def test_answer_quotes_best_sentence_and_cites() -> None:
    hits = [
        hit(1, "قال الوزير إن الاجتماع انتهى. وأعلن الجيش سقوط صاروخ على القاعدة الجوية."),
        hit(2, "الطقس مشمس اليوم.", OTHER),
    ]
    answer = AnswerComposer(AnswerConfig(threshold=0.3, keep_ratio=0.99)).compose(
        "أين سقط الصاروخ على القاعدة؟", hits
    )
    assert answer.answered
    assert [(s.text, s.citation) for s in answer.sentences] == [
        ("وأعلن الجيش سقوط صاروخ على القاعدة الجوية.", 1)
    ]
    assert answer.citations == (
        Citation(1, 7, "عنوان الخبر", "وكالة", "2024-01-02", "https://x.test/a"),
    )
    # Every quoted sentence is verbatim text of a passage.
    assert all(s.text in hits[0].chunk.text for s in answer.sentences)


def test_answer_refuses_below_threshold_with_headlines() -> None:
    hits = [hit(1, "نص لا علاقة له.", dense=0.1), hit(2, "نص آخر.", OTHER, dense=0.05)]
    answer = AnswerComposer(AnswerConfig(threshold=0.3)).compose("من فاز بكأس العالم؟", hits)
    assert not answer.answered and answer.sentences == () and answer.citations == ()
    assert [(c.n, c.title) for c in answer.headlines] == [(1, "عنوان الخبر"), (2, "خبر آخر")]
    assert answer.confidence == pytest.approx(0.1)


def test_answer_on_empty_corpus() -> None:
    answer = AnswerComposer().compose("سؤال", [])
    assert not answer.answered and answer.headlines == () and answer.confidence == 0.0
