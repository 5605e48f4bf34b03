"""The engine end to end on the seed article with the real EmbeddingGemma model."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from retrieval.embedding import Embedder
from retrieval.engine import Engine
from retrieval.intake import read_article_file
from retrieval.store import CorpusStore

SEED = next((Path(__file__).resolve().parents[2] / "seeds").glob("*.txt"))
pytestmark = pytest.mark.model


@pytest.fixture
async def engine(tmp_path: Path, real_embedder: Embedder) -> AsyncIterator[Engine]:
    store = await CorpusStore.open(tmp_path / "c.db")
    engine = await Engine.open(store, real_embedder, tmp_path / "i.faiss")
    await engine.ingest([read_article_file(SEED)])
    yield engine
    await store.close()


async def test_seed_question_quotes_hmeimim(engine: Engine) -> None:
    answer = await engine.ask("بأي حجة تواصل روسيا التصعيد؟")
    assert answer.answered
    assert any("حماية قاعدتهم في “حميميم”" in s.text for s in answer.sentences)
    body = read_article_file(SEED).body
    assert all(s.text in body for s in answer.sentences)  # verbatim quotes only
    assert [c.title for c in answer.citations] == [
        "روسيا ترفض طلب تركي بخصوص مدينة إدلب وتركيا ترد"
    ]
    assert answer.citations[0].source == "مدونة هادي العبد الله"


async def test_seed_other_facts(engine: Engine) -> None:
    calls = await engine.ask("كم عدد الاتصالات الهاتفية بين الجانبين التركي والروسي؟")
    assert calls.answered and any("خمس اتصالات" in s.text for s in calls.sentences)
    air = await engine.ask("هل حصلت الفصائل على مضادات للطيران؟")
    assert air.answered and any("مضادات للطيران" in s.text for s in air.sentences)


@pytest.mark.parametrize(
    "question",
    [
        "من فاز بكأس العالم لكرة القدم عام 2022؟",
        "ما هي أفضل وصفة لتحضير الكنافة؟",
        "كم يبلغ سعر سهم شركة أبل اليوم؟",
    ],
)
async def test_off_topic_refused(engine: Engine, question: str) -> None:
    answer = await engine.ask(question)
    assert not answer.answered and answer.sentences == ()
    assert answer.headlines[0].title == "روسيا ترفض طلب تركي بخصوص مدينة إدلب وتركيا ترد"
