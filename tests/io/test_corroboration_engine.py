"""The engine credits every outlet: deeper passages searched, stories plugged in, JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from support.embedders import HashingEmbedder

from bot.cli import answer_json
from retrieval.answer import AnswerConfig
from retrieval.engine import Engine
from retrieval.models import ArticleDraft
from retrieval.store import CorpusStore

FACT = "وأحالت النيابة العامة 41 متهما إلى المحكمة الاتحادية العليا بتهمة تأسيس تنظيم سري."
NEWER = "وقالت مصادر أمنية إن 21 شخصا لقوا مصرعهم في غرق المركب في نهر النيل بمنطقة الوراق."
OLDER = "وأعلنت وزارة الداخلية أن 15 شخصا لقوا مصرعهم في غرق المركب في نهر النيل بمنطقة الوراق."
FILLER = [
    "وافتتح المعرض الدولي للكتاب أبوابه للزوار صباح اليوم.",
    "وارتفعت أسعار النفط في تعاملات الأسواق الآسيوية.",
    "وتوقعت الأرصاد أمطارا رعدية على المرتفعات الجنوبية.",
    "ووقع الفريق الأول عقدا جديدا مع مدربه لموسمين.",
    "وأعلنت الجامعة مواعيد القبول في برامج الدراسات العليا.",
]


def drafts() -> list[ArticleDraft]:
    out = [
        ArticleDraft(
            f"خبر الإحالة {n}",
            f"{FACT} وجاء ذلك في بيان رسمي رقم {n}.",
            source,
            f"https://n.test/f{n}",
            "2015-08-02T10:00:00",
        )
        for n, source in enumerate(["الرياض", "اليوم", "الرياض", "الوئام", "عكاظ", "المدينة"], 1)
    ]
    out.append(ArticleDraft("غرق مركب", NEWER, "سبق", "https://n.test/new", "2015-07-23T19:21:00"))
    out.append(
        ArticleDraft("غرق قارب", OLDER, "الوئام", "https://n.test/old", "2015-07-23T17:25:00")
    )
    out += [
        ArticleDraft(f"خبر {n}", text, "الجزيرة", f"https://n.test/x{n}", "2015-08-02T09:00:00")
        for n, text in enumerate(FILLER)
    ]
    return out


def as_json(answer: Any) -> Any:
    """Return what `isnad ask --json` prints for an answer, read back."""
    return json.loads(json.dumps(answer_json(answer), ensure_ascii=False))


BACKEND = {"url": ""}


@pytest.fixture(autouse=True)
def backend(database_url: str) -> None:
    """Every test here on each backend in turn."""
    BACKEND["url"] = database_url


async def open_engine(tmp_path: Path, **kwargs: object) -> Engine:
    store = await CorpusStore.open_location(BACKEND["url"], tmp_path / "c.db")
    engine = await Engine.open(
        store,
        HashingEmbedder(256),
        tmp_path / "c.faiss",
        answer=AnswerConfig(threshold=0.0, keep_ratio=0.99),
        **kwargs,  # type: ignore[arg-type]
    )
    await engine.ingest(drafts())
    return engine


async def test_ask_credits_outlets_found_past_the_shown_passages(tmp_path: Path) -> None:
    engine = await open_engine(tmp_path)
    try:
        answer = await engine.ask(
            "كم متهما أحالت النيابة العامة إلى المحكمة الاتحادية العليا؟", k=2
        )
        assert len(answer.hits) == 2  # shown passages
        (quote,) = answer.sentences
        assert quote.text == FACT
        # Six articles, five outlets: the two of الرياض count once.
        assert len(quote.citations) == 6
        assert sorted(quote.outlets) == sorted(["الرياض", "اليوم", "الوئام", "عكاظ", "المدينة"])
        out = as_json(answer)
        assert out["sentences"][0]["citations"] == list(quote.citations)
        assert out["reports_differ"] is False and out["versions"] == []
        assert {s["outlet"] for s in out["sources"]} == set(quote.outlets)
    finally:
        await engine.close()


async def test_ask_shows_differing_tolls_newest_first_in_json(tmp_path: Path) -> None:
    engine = await open_engine(tmp_path)
    try:
        answer = await engine.ask("كم شخصا لقوا مصرعهم في غرق المركب في نهر النيل؟")
        out = as_json(answer)
        assert out["reports_differ"] is True
        assert [(v["figure"], v["outlets"], v["published"]) for v in out["versions"]] == [
            ("21 شخصا", ["سبق"], "2015-07-23T19:21:00"),
            ("15 شخصا", ["الوئام"], "2015-07-23T17:25:00"),
        ]
        assert [v["text"] for v in out["versions"]] == [NEWER, OLDER]
    finally:
        await engine.close()


async def test_a_story_lookup_is_asked_for_the_ranked_articles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[list[int]] = []

    async def one_story(ids: Sequence[int]) -> dict[int, int]:
        asked.append(list(ids))
        return {i: 1 for i in ids}  # every article one story

    engine = await open_engine(tmp_path)
    monkeypatch.setattr(engine.store, "article_stories", one_story)
    try:
        answer = await engine.ask("كم متهما أحالت النيابة العامة إلى المحكمة الاتحادية العليا؟")
        # Asked once, for every article of the deeper ranking, each once.
        (ids,) = asked
        assert len(ids) == len(set(ids)) and {h.article.id for h in answer.hits} < set(ids)
        # Quotes come from at most two articles of the story; every outlet is still credited.
        assert len(answer.sentences[0].citations) == 6
    finally:
        await engine.close()
