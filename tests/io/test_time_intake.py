"""Every intake path dates its articles: a stated date, else the ingest time, marked."""

from __future__ import annotations

import time
from pathlib import Path

from support.embedders import HashingEmbedder

from bot.admin import corpus as admin_corpus
from bot.news.entries import entry_draft
from bot.news.urlsafety import FetchError, FetchResult
from retrieval.answer import AnswerConfig
from retrieval.engine import Engine
from retrieval.store import CorpusStore

BODY = (
    "أعلنت وزارة الصحة تسجيل إصابات جديدة بفيروس كورونا في مدينة الرياض، وقالت إن"
    " المرضى يتلقون العلاج في المستشفيات وإن الفرق الطبية تتابع المخالطين."
)


async def unreachable(url: str) -> FetchResult:
    raise FetchError(f"cannot fetch {url}")


async def test_feed_entry_without_a_date_is_marked(tmp_path: Path) -> None:
    entry = {"title": "كورونا في الرياض", "link": "https://x.test/a", "summary": BODY}
    made = await entry_draft(
        entry, unreachable, feed_title="واس", min_words=5, fallback_min_words=5
    )
    assert made.draft is not None
    assert (made.draft.published, made.draft.dated_at_ingest) == ("", True)
    dated = dict(entry, published_parsed=time.strptime("2015-08-02 20:00", "%Y-%m-%d %H:%M"))
    made = await entry_draft(
        dated, unreachable, feed_title="واس", min_words=5, fallback_min_words=5
    )
    assert made.draft is not None
    assert (made.draft.published, made.draft.dated_at_ingest) == (
        "2015-08-02T20:00:00+00:00",
        False,
    )

    store = await CorpusStore.open(tmp_path / "c.db")
    engine = await Engine.open(
        store, HashingEmbedder(), tmp_path / "c.faiss", answer=AnswerConfig()
    )
    try:
        undated = admin_corpus.text_draft(BODY, source="قناة")
        assert undated is not None and undated.dated_at_ingest
        (result,) = await engine.ingest([undated])
        assert result.article is not None and result.article.dated_at_ingest
        assert result.article.published == result.article.added_at
        stored = await store.get_article(result.article.id)
        assert stored is not None and stored.dated_at_ingest
    finally:
        await engine.close()
