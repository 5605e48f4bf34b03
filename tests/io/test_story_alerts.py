"""Alerts by story: one alert per story, edited as more outlets tell it; every article on
request; nothing lost or doubled across a restart."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.botapi import check_message
from support.embedders import KeyedEmbedder
from telegram import Bot

from bot.database import BotRepository, migrate_bot_tables
from bot.news import outbox, subscriptions
from bot.news.sender import AlertSender
from bot.news.subscriptions import SubscriptionBook, TopicMatcher
from bot.telegram import texts
from bot.tools.localapi import LocalBotApi
from retrieval.engine import Engine
from retrieval.models import ArticleDraft
from retrieval.store import CorpusStore

KEYS = {"سيول": [1.0, 0, 0, 0], "مباراة": [0, 0, 0, 1.0]}
FLOOD = (
    "أعلن الدفاع المدني في منطقة جازان اليوم وفاة 11 شخصا بسبب السيول التي اجتاحت محافظة"
    " صامطة، وقال المتحدث العقيد يحيى القحطاني إن الفرق نقلت 45 أسرة إلى مساكن مؤقتة."
)
RETOLD = "قال العقيد يحيى القحطاني إن السيول في صامطة أودت بحياة 11 شخصا ونقلت 45 أسرة."
THIRD = "ارتفع عدد ضحايا السيول في صامطة إلى 11 وفق القحطاني، وأخليت 45 أسرة."
MATCH = "فاز الهلال على النصر في مباراة الديربي بهدفين نظيفين."


def draft(title: str, body: str, source: str, hour: int) -> ArticleDraft:
    return ArticleDraft(
        title, body, source, f"https://{hour}.example/a", f"2015-08-02T{hour:02d}:00:00"
    )


@pytest.fixture
async def engine(tmp_path: Path, database_url: str) -> AsyncIterator[Engine]:
    store = await CorpusStore.open_location(database_url, tmp_path / "c.db")
    eng = await Engine.open(store, KeyedEmbedder(KEYS, dim=4), tmp_path / "c.faiss")
    await migrate_bot_tables(store.db)
    yield eng
    await eng.close()


async def arrive(engine: Engine, *drafts: ArticleDraft) -> int:
    """Ingest articles as the poller does: note them for alerts and fan out."""
    results = await engine.ingest(list(drafts))
    added = [r.article for r in results if r.article]
    await outbox.record_articles(engine.store.db, added, alert=True)
    matcher = TopicMatcher(engine, SubscriptionBook(engine.store.db))
    return await outbox.fan_out(engine.store.db, engine.store.get_article, matcher.chats_for)


def sender(bot: Bot, engine: Engine, interval: float = 0.0) -> AlertSender:
    return AlertSender(
        bot,
        BotRepository(engine.store.db),
        engine.store.get_article,
        outlets=engine.store.story_outlets,
        update_interval=interval,
        chat_interval=0,
    )


def outlets_line(*names: str) -> str:
    return texts.ALERT_OUTLETS.format(n=len(names), outlets=texts.LIST_SEP.join(names))


async def test_two_outlets_one_alert_then_one_edit(
    engine: Engine, local_bot: tuple[LocalBotApi, Bot]
) -> None:
    api, bot = local_bot
    await subscriptions.subscribe(engine.store.db, 5)
    assert await arrive(engine, draft("سيول جازان", FLOOD, "واس", 10)) == 1
    assert await sender(bot, engine).drain_once() == 1
    (sent,) = api.requests("sendMessage", chat_id=5)
    assert outlets_line("واس") not in check_message(sent.params["text"])
    # A second outlet tells the story: no new alert, the one sent is edited.
    assert await arrive(engine, draft("وفاة 11", RETOLD, "عكاظ", 11)) == 0
    assert await sender(bot, engine).drain_once() == 1
    (edit,) = api.requests("editMessageText", chat_id=5)
    async with engine.store.db.execute("SELECT message_id FROM outbox") as cur:
        assert [int(r[0]) for r in await cur.fetchall()] == [int(edit.params["message_id"])]
    shown = check_message(edit.params["text"]).replace("\u2068", "").replace("\u2069", "")
    assert outlets_line("واس", "عكاظ") in shown and "سيول جازان" in shown
    # Up to date now: nothing more to send or edit.
    assert await sender(bot, engine).drain_once() == 0
    assert len(api.requests("sendMessage", chat_id=5)) == 1
    assert len(api.requests("editMessageText", chat_id=5)) == 1
    # Another story is another alert.
    assert await arrive(engine, draft("الديربي", MATCH, "الرياضي", 12)) == 1


async def test_at_most_one_update_an_hour(
    engine: Engine, local_bot: tuple[LocalBotApi, Bot]
) -> None:
    api, bot = local_bot
    await subscriptions.subscribe(engine.store.db, 5)
    await arrive(engine, draft("سيول جازان", FLOOD, "واس", 10))
    await sender(bot, engine, 3600).drain_once()
    await arrive(engine, draft("وفاة 11", RETOLD, "عكاظ", 11))
    assert await sender(bot, engine, 3600).drain_once() == 0  # sent less than an hour ago
    await engine.store.db.execute("UPDATE outbox SET sent_unix = ?", (time.time() - 3601,))
    await engine.store.db.commit()
    assert await sender(bot, engine, 3600).drain_once() == 1
    await arrive(engine, draft("السيول", THIRD, "سبق", 12))
    assert await sender(bot, engine, 3600).drain_once() == 0  # edited less than an hour ago
    assert len(api.requests("editMessageText", chat_id=5)) == 1


async def test_restart_between_the_articles(
    engine: Engine, local_bot: tuple[LocalBotApi, Bot], tmp_path: Path
) -> None:
    api, bot = local_bot
    await subscriptions.subscribe(engine.store.db, 5)
    await arrive(engine, draft("سيول جازان", FLOOD, "واس", 10))
    await sender(bot, engine).drain_once()
    url = engine.store.url
    await engine.close()
    # A new process: the sent alert, its message id and the story are all on disk.
    store = await CorpusStore.open_location(url, tmp_path / "c.db")
    engine = await Engine.open(store, KeyedEmbedder(KEYS, dim=4), tmp_path / "c.faiss")
    try:
        assert await arrive(engine, draft("وفاة 11", RETOLD, "عكاظ", 11)) == 0
        assert await sender(bot, engine).drain_once() == 1
        # A crash after the edit but before it was recorded: the repeat shows the same.
        await engine.store.db.execute("UPDATE outbox SET shown = 1")
        await engine.store.db.commit()
        assert await sender(bot, engine).drain_once() == 1
        first, second = api.requests("editMessageText", chat_id=5)
        assert first.params["text"] == second.params["text"]
        assert first.params["message_id"] == second.params["message_id"]
        assert len(api.requests("sendMessage", chat_id=5)) == 1
    finally:
        await engine.close()


async def test_every_article_on_request(engine: Engine, local_bot: tuple[LocalBotApi, Bot]) -> None:
    api, bot = local_bot
    await subscriptions.subscribe(engine.store.db, 5)
    await subscriptions.subscribe(engine.store.db, 6, every=True)
    assert not await subscriptions.subscribe(engine.store.db, 6)  # keeps its choice
    assert await arrive(engine, draft("سيول جازان", FLOOD, "واس", 10)) == 2
    assert await sender(bot, engine).drain_once() == 2
    assert await arrive(engine, draft("وفاة 11", RETOLD, "عكاظ", 11)) == 1
    assert await sender(bot, engine).drain_once() == 2  # 6: a new alert; 5: an edit
    assert len(api.requests("sendMessage", chat_id=6)) == 2
    assert api.requests("editMessageText", chat_id=6) == []
    assert len(api.requests("sendMessage", chat_id=5)) == 1
    assert len(api.requests("editMessageText", chat_id=5)) == 1
    # Back to one alert per story.
    assert await subscriptions.subscribe(engine.store.db, 6, every=False)


async def test_a_pending_alert_counts_the_outlets_known_when_sent(
    engine: Engine, local_bot: tuple[LocalBotApi, Bot]
) -> None:
    api, bot = local_bot
    await subscriptions.subscribe(engine.store.db, 5)
    await arrive(engine, draft("سيول جازان", FLOOD, "واس", 10))
    await arrive(engine, draft("وفاة 11", RETOLD, "عكاظ", 11))
    assert await sender(bot, engine).drain_once() == 1
    (sent,) = api.requests("sendMessage", chat_id=5)
    shown = check_message(sent.params["text"]).replace("\u2068", "").replace("\u2069", "")
    assert outlets_line("واس", "عكاظ") in shown
    assert await sender(bot, engine).drain_once() == 0  # nothing left to edit
