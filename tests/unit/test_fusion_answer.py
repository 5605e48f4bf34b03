"""Reciprocal rank fusion and the extractive answer composer."""

from dataclasses import replace

import pytest

from retrieval.answer import AnswerComposer, AnswerConfig
from retrieval.fusion import Fused, blend, rrf
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
        Citation(1, 7, "عنوان الخبر", "وكالة", "2024-01-02", "https://x.test/a", outlet="وكالة"),
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


def test_blend_weighs_cosine_and_scaled_bm25() -> None:
    dense = [(1, 0.70), (2, 0.60), (3, 0.50)]
    lexical = [(3, -8.0), (2, -4.0), (9, -2.0)]  # bm25: lower is better
    fused = blend(dense, lexical, 0.8, 0.2)
    by_id = {f.id: f for f in fused}
    assert by_id[1].score == pytest.approx(0.8 * 0.70)  # no lexical match: 0
    assert by_id[3].score == pytest.approx(0.8 * 0.50 + 0.2 * 1.0)  # the best bm25 scales to 1
    assert by_id[2].score == pytest.approx(0.8 * 0.60 + 0.2 * 0.5)
    assert by_id[9].score == pytest.approx(0.8 * 0.50 + 0.2 * 0.25)  # floor: lowest cosine
    assert [f.id for f in fused] == [3, 2, 1, 9]
    assert (by_id[3].ranks, by_id[9].ranks, by_id[1].ranks) == ((3, 1), (None, 3), (1, None))


def test_blend_one_side_alone_keeps_its_order_and_ties_by_id() -> None:
    assert [f.id for f in blend([(4, 0.5), (2, 0.5), (7, 0.1)], [])] == [2, 4, 7]
    assert [f.id for f in blend([], [(5, -3.0), (6, -9.0)])] == [6, 5]
    assert blend([], []) == []


def test_answer_prefers_a_number_for_when_questions() -> None:
    text = "افتتح الوزير المستشفى الجديد في المدينة. وكان المستشفى قد بني عام 1998 بتمويل حكومي."
    answer = AnswerComposer(AnswerConfig(threshold=0.0, max_sentences=1)).compose(
        "متى بني المستشفى الجديد في المدينة؟", [hit(1, text)]
    )
    assert [s.text for s in answer.sentences] == ["وكان المستشفى قد بني عام 1998 بتمويل حكومي."]
    q = "متى بني المستشفى الجديد في المدينة؟"
    # Without the bonus, the sentence sharing more words ranks first, but the quote is
    # still the one that holds a date (what the question asks for)...
    plain = AnswerConfig(threshold=0.0, max_sentences=1, number_weight=0.0)
    slot = AnswerComposer(plain).compose(q, [hit(1, text)])
    assert [s.text for s in slot.sentences] == ["وكان المستشفى قد بني عام 1998 بتمويل حكومي."]
    # ...unless only the best sentence is searched for it.
    only = AnswerComposer(replace(plain, slot_sentences=1)).compose(q, [hit(1, text)])
    assert [s.text for s in only.sentences] == ["افتتح الوزير المستشفى الجديد في المدينة."]


def test_answer_uses_the_sentence_scorer_with_headlines() -> None:
    seen: list[list[tuple[str, str]]] = []

    def scorer(question: str, pairs: list[tuple[str, str]]) -> list[float]:
        seen.append(pairs)
        return [1.0 if "الثانية" in s else 0.0 for _, s in pairs]

    answer = AnswerComposer(AnswerConfig(threshold=0.0, max_sentences=1), scorer).compose(
        "سؤال لا يشارك الجمل كلماتها", [hit(1, "الجملة الأولى. الجملة الثانية.")]
    )
    assert [s.text for s in answer.sentences] == ["الجملة الثانية."]
    assert seen == [[("عنوان الخبر", "الجملة الأولى."), ("عنوان الخبر", "الجملة الثانية.")]]


def test_composer_gives_the_models_three_outcomes() -> None:
    """The answerability model decides; "not stated" quotes the closest sentences as such."""
    from retrieval.answerability import AnswerabilityModel, LogisticScore, TermStats

    # Answer when the sentence holds the question's words; on topic when the passages do.
    model = AnswerabilityModel(
        answer=LogisticScore(-8.0, {"sentence_coverage": 10.0}, 0.5),
        topic=LogisticScore(-5.0, {"passage_coverage": 10.0}, 0.5),
    )
    composer = AnswerComposer(AnswerConfig(threshold=0.0, keep_ratio=0.5), model=model)
    stats = TermStats({}, total=10)
    hits = [
        hit(1, "سقط صاروخ على القاعدة الجوية. وقال الجيش إن التحقيق بدأ. ونقل الجرحى."),
        hit(2, "الطقس مشمس اليوم.", OTHER),
    ]
    answered = composer.compose("أين سقط الصاروخ على القاعدة؟", hits, stats)
    assert (answered.outcome, answered.stated) == ("answered", True)
    assert answered.sentences[0].text == "سقط صاروخ على القاعدة الجوية."

    # The passages speak of the rocket and the base, no sentence says who fired it.
    unstated = composer.compose("من أطلق الصاروخ على القاعدة الجوية؟", hits, stats)
    assert (unstated.outcome, unstated.answered, unstated.stated) == ("not_stated", False, False)
    assert 1 <= len(unstated.sentences) <= 2 and unstated.citations[0].article_id == 7
    assert unstated.decision is not None and unstated.decision.answer_score < 0.5

    off = composer.compose("ما عاصمة اليابان؟", hits, stats)
    assert (off.outcome, off.stated) == ("declined", None)
    assert off.sentences == () and [c.title for c in off.headlines] == ["عنوان الخبر", "خبر آخر"]

    # Without term statistics (or a model) the best passage's cosine alone decides.
    assert composer.compose("ما عاصمة اليابان؟", hits).outcome == "answered"
