"""Corroboration with the real model: retellings meet, other counts stay apart."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from retrieval.embedding import Embedder
from retrieval.engine import Engine
from retrieval.models import ArticleDraft
from retrieval.store import CorpusStore

pytestmark = pytest.mark.model

# Our own short reports, written the way the outlets of the development days write.
REPORTS = [
    (
        "سبق",
        "2015-07-23T19:21:00",
        "ارتفاع ضحايا غرق مركب النيل",
        "قالت مصادر أمنية وطبية إن 21 شخصا على الأقل لقوا مصرعهم بعد اصطدام مركب رحلات"
        " بصندل نهري في النيل شمال القاهرة. وكان الركاب يحتفلون بخطوبة على ظهر المركب.",
    ),
    (
        "الشرق الأوسط",
        "2015-07-23T19:29:00",
        "21 قتيلا في غرق مركب بالنيل",
        "لقي 21 شخصا على الأقل بينهم نساء وأطفال مصرعهم بعدما اصطدم مركب رحلات بصندل"
        " نهري في النيل بشمال القاهرة. وأوضحت المصادر أن المركب كان يحمل أكثر من 25 شخصا.",
    ),
    (
        "الوئام",
        "2015-07-23T17:25:00",
        "مصرع 15 مصريا في غرق قارب",
        "لقي 15 مصريا مصرعهم في حادث غرق قارب لنقل الركاب في نهر النيل إثر اصطدامه بقارب"
        " لنقل البضائع في منطقة الوراق بالجيزة. وضبطت الشرطة قائد قارب البضائع.",
    ),
    (
        "الرياض",
        "2015-08-02T23:15:00",
        "الإمارات تحيل 41 متهما للمحاكمة",
        "أحالت النيابة العامة في الإمارات 41 متهما إلى المحكمة الاتحادية العليا بتهمة"
        " الانتماء إلى تنظيم إرهابي. وقالت النيابة إن المتهمين من جنسيات عدة.",
    ),
    (
        "اليوم",
        "2015-08-02T23:40:00",
        "إحالة 41 متهما إلى القضاء في الإمارات",
        "أحالت النيابة العامة الإماراتية 41 متهما إلى المحكمة الاتحادية العليا لاتهامهم"
        " بالانتماء إلى تنظيم إرهابي يسعى إلى الاستيلاء على الحكم.",
    ),
    (
        "عكاظ",
        "2015-08-02T09:00:00",
        "النفط يتراجع",
        "تراجعت أسعار النفط في تعاملات الأسواق الآسيوية مع ارتفاع المخزونات الأمريكية.",
    ),
]


@pytest.fixture
async def engine(tmp_path: Path, real_embedder: Embedder) -> AsyncIterator[Engine]:
    store = await CorpusStore.open(tmp_path / "c.db")
    engine = await Engine.open(store, real_embedder, tmp_path / "i.faiss")
    await engine.ingest(
        [
            ArticleDraft(title, body, source, f"https://n.test/{n}", published)
            for n, (source, published, title, body) in enumerate(REPORTS)
        ]
    )
    yield engine
    await store.close()


async def test_differing_tolls_are_versions_and_the_load_is_not_one(engine: Engine) -> None:
    answer = await engine.ask("كم شخصا لقوا مصرعهم في غرق المركب في النيل؟")
    assert answer.answered
    # Newest first; the load of "more than 25" on board is another count.
    assert [(v.figure, sorted(v.sentence.outlets)) for v in answer.versions] == [
        ("21 شخصا", ["الشرق الأوسط", "سبق"]),
        ("15 مصريا", ["الوئام"]),
    ]


async def test_one_fact_from_two_outlets_is_one_quote(engine: Engine) -> None:
    answer = await engine.ask("كم متهما أحالت النيابة الإماراتية إلى المحكمة الاتحادية العليا؟")
    assert answer.answered and answer.versions == ()
    first = answer.sentences[0]
    assert "41" in first.text and sorted(first.outlets) == ["الرياض", "اليوم"]
