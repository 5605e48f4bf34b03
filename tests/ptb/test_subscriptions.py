"""Subscriptions: storage, topic keys, the Telegram commands, and feeds to alerts end to end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from support.botapi import TOKEN, bot_settings, check_message
from support.neardup_samples import UNRELATED
from support.waiting import until
from telegram.error import Forbidden
from telegram.ext import Application, ApplicationBuilder

from bot.news import subscriptions
from bot.news.feedstore import list_feeds
from bot.news.subscriptions import SubscriptionBook, TopicMatcher, topic_key
from bot.telegram import texts
from bot.telegram.state import BotState, context_types
from bot.telegram.subscriptions import register, start_background, stop_background
from bot.tools.localapi import LocalBotApi
from bot.tools.newssite import NewsServer, Page, article_page, rss, running_server
from retrieval.engine import Engine
from retrieval.models import ArticleDraft

App = Application  # type: ignore[type-arg]


@pytest.fixture
async def news_server() -> AsyncIterator[NewsServer]:
    """A local HTTP server for feeds and pages."""
    async with running_server() as server:
        yield server


@pytest.fixture
async def api() -> AsyncIterator[LocalBotApi]:
    """A local Bot API server where user 7 owns every group."""
    server = LocalBotApi(token=TOKEN)
    plain = server._result

    def result(method: str, params: dict[str, Any]) -> Any:
        if method == "getChatMember" and int(params["user_id"]) == 7:
            return {"status": "creator", "user": server.user(7), "is_anonymous": False}
        return plain(method, params)

    server._result = result  # type: ignore[method-assign]
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def start_app(
    api: LocalBotApi, engine: Engine, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[App]]]:
    """Start a real PTB application with only this module's handlers and background work."""
    apps: list[App] = []

    async def start(**overrides: Any) -> App:
        settings = bot_settings(api, tmp_path, **overrides)
        st = BotState(settings, engine)
        app = (
            ApplicationBuilder()
            .token(TOKEN)
            .base_url(api.base_url)
            .context_types(context_types(st))
            .build()
        )
        register(app)
        await app.initialize()
        await st.open()
        await start_background(app)
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await app.start()
        apps.append(app)
        return app

    yield start
    for app in apps:
        await stop_background(app)
        assert app.updater is not None
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await app.bot_data.close()


def plain(shown: str) -> str:
    """Drop the direction marks and isolates the formatter adds."""
    return shown.replace("\u2068", "").replace("\u2069", "").replace("\u200f", "")


def texts_to(api: LocalBotApi, chat_id: int) -> list[str]:
    return [c.params["text"] for c in api.requests("sendMessage", chat_id=chat_id)]


async def test_subscribe_store_and_topic_keys(engine: Engine) -> None:
    db = engine.store.db
    assert topic_key("إِدْلِب") == topic_key("ادلب") == "ادلب"
    assert topic_key("الحرب في غزة") == "حرب غزه" and topic_key("") == ""
    assert await subscriptions.subscribe(db, 1, "إدلب") is True
    assert await subscriptions.subscribe(db, 1, "ادلب") is False  # same topic, normalised
    assert await subscriptions.subscribe(db, 1) is True
    assert [s.topic for s in await subscriptions.list_subscriptions(db, 1)] == ["إدلب", ""]
    assert await subscriptions.unsubscribe(db, 1, "إدلب") is True
    assert await subscriptions.unsubscribe(db, 1, "إدلب") is False
    assert await subscriptions.subscribe(db, 1, "إدلب") is True  # back again, one row
    assert await subscriptions.count_subscribers(db) == 1
    assert await subscriptions.deactivate_chat(db, 1) == 2
    assert await subscriptions.list_subscriptions(db, 1) == []


async def test_matcher_words_then_meaning(engine: Engine) -> None:
    db = engine.store.db
    seed, second = [a for a in await engine.store.latest_articles(5)][::-1]
    await subscriptions.subscribe(db, 1, "إدلب")  # in the seed's text
    await subscriptions.subscribe(db, 2, "الأتراك الضباط")  # both words, stemmed, any order
    await subscriptions.subscribe(db, 3, "كرة السلة")  # in neither
    await subscriptions.subscribe(db, 4)
    matcher = TopicMatcher(engine, SubscriptionBook(engine.store.db))
    assert await matcher.chats_for(seed) == [1, 2, 4]
    assert await matcher.chats_for(second) == [4]
    # With the threshold at the bottom, the embedding path alone matches every topic.
    assert await TopicMatcher(engine, SubscriptionBook(engine.store.db), threshold=-1.0).chats_for(
        second
    ) == [
        1,
        2,
        3,
        4,
    ]


async def test_commands_in_private_chat(
    api: LocalBotApi, start_app: Callable[..., Awaitable[App]]
) -> None:
    await start_app()
    api.send_text("/subscribe", user_id=5)
    api.send_text("/subscribe إدلب", user_id=5)
    api.send_text("/subscribe إدلب", user_id=5)
    await api.replies(5, 3)
    api.send_text("/subscriptions", user_id=5)
    listing = (await api.replies(5, 4))[-1]
    got = [plain(check_message(t)) for t in texts_to(api, 5)]
    assert got[:3] == [
        texts.SUBSCRIBED_ALL,
        texts.SUBSCRIBED_TOPIC.format(topic="إدلب"),
        texts.ALREADY_TOPIC.format(topic="إدلب"),
    ]
    shown = got[3]
    assert shown.startswith(texts.SUBSCRIPTIONS_HEADING) and "إدلب" in shown
    buttons = [b for row in listing.params["reply_markup"]["inline_keyboard"] for b in row]
    assert [b["text"] for b in buttons] == ["إلغاء: كل الأخبار", "إلغاء: إدلب"]
    api.press(api.bot_message(5), buttons[1]["callback_data"], user_id=5)
    await api.wait_for(lambda c: c.method == "editMessageText")
    edited = api.requests("editMessageText")[0].params
    assert "إدلب" not in check_message(edited["text"])
    assert api.requests("answerCallbackQuery")[0].params["text"] == texts.UNSUBSCRIBED_TOPIC.format(
        topic="إدلب"
    )
    api.send_text("/unsubscribe all", user_id=5)
    await api.replies(5, 5)
    assert plain(check_message(texts_to(api, 5)[-1])) == texts.UNSUBSCRIBED_ALL


async def test_groups_need_an_admin(
    api: LocalBotApi, engine: Engine, start_app: Callable[..., Awaitable[App]]
) -> None:
    await start_app()
    api.send_text("/subscribe إدلب", user_id=8, chat_id=-300, chat_type="group")
    await api.replies(-300)
    api.send_text("/subscribe إدلب", user_id=7, chat_id=-300, chat_type="group")
    await api.replies(-300, 2)
    first, second = [check_message(t) for t in texts_to(api, -300)]
    assert first == texts.ADMINS_ONLY
    assert "إدلب" in second and second.startswith("اشتركت")
    assert [s.topic for s in await subscriptions.list_subscriptions(engine.store.db, -300)] == [
        "إدلب"
    ]


async def test_a_group_upgraded_to_a_supergroup_keeps_its_subscriptions(
    api: LocalBotApi, engine: Engine, start_app: Callable[..., Awaitable[App]]
) -> None:
    await start_app()
    api.send_text("/subscribe إدلب", user_id=7, chat_id=-400, chat_type="group")
    await api.replies(-400)
    # Telegram's service message in the old group names the supergroup it became.
    api.send_text(
        None, user_id=7, chat_id=-400, chat_type="group", extra={"migrate_to_chat_id": -1000400}
    )
    api.send_text("/subscriptions", user_id=7, chat_id=-1000400, chat_type="supergroup")
    listing = check_message((await api.replies(-1000400))[0].params["text"])
    assert "إدلب" in listing
    db = engine.store.db
    assert [s.topic for s in await subscriptions.list_subscriptions(db, -1000400)] == ["إدلب"]
    assert await subscriptions.list_subscriptions(db, -400) == []
    # The supergroup's own service message names the group it came from: same move.
    api.send_text("/subscribe", user_id=7, chat_id=-401, chat_type="group")
    await api.replies(-401)
    api.send_text(
        None,
        user_id=7,
        chat_id=-1000401,
        chat_type="supergroup",
        extra={"migrate_from_chat_id": -401},
    )
    api.send_text("/subscriptions", user_id=7, chat_id=-1000401, chat_type="supergroup")
    await api.replies(-1000401)
    assert [s.topic for s in await subscriptions.list_subscriptions(db, -1000401)] == [""]
    assert await subscriptions.list_subscriptions(db, -401) == []


async def test_feed_to_alert_end_to_end(
    api: LocalBotApi,
    engine: Engine,
    news_server: NewsServer,
    start_app: Callable[..., Awaitable[App]],
) -> None:
    old = ArticleDraft(title="زلزال جنوب تركيا", body=UNRELATED[2], source="وكالة")
    new = ArticleDraft(title="أسعار النفط ترتفع", body=UNRELATED[1], source="وكالة")
    news_server.pages["old"] = Page(article_page(old).encode())
    news_server.pages["new"] = Page(article_page(new).encode())
    items = [{"title": old.title, "link": news_server.url("old")}]
    news_server.pages["feed.xml"] = Page(rss(items))
    await start_app(
        feeds=news_server.url("feed.xml"), feed_poll_seconds=0.3, allow_private_urls=True
    )
    api.send_text("/subscribe", user_id=5)
    await api.replies(5)

    async def first_polled() -> bool:  # the first poll takes the backlog in quietly
        feeds = await list_feeds(engine.store.db)
        return bool(feeds and feeds[0].first_polled)

    await until(first_polled, what="the first poll")
    news_server.pages["feed.xml"] = Page(
        rss([{"title": new.title, "link": news_server.url("new")}, *items])
    )
    alert = (await api.replies(5, 2))[-1]
    shown = check_message(alert.params["text"])
    assert new.title in shown and old.title not in shown
    button = alert.params["reply_markup"]["inline_keyboard"][0][0]
    assert button["text"] == texts.BUTTON_ASK_ARTICLE
    polled = news_server.hits("feed.xml")
    await until(lambda: news_server.hits("feed.xml") >= polled + 2, what="two more polls")
    assert len(texts_to(api, 5)) == 2
    api.press(api.bot_message(5), button["callback_data"], user_id=5)
    reply = (await api.replies(5, 3))[-1]
    assert check_message(reply.params["text"]) == texts.ASK_ARTICLE.format(title=new.title)
    answer = await engine.ask("كم بلغ سعر خام برنت؟")
    assert answer.answered and answer.citations[0].title == new.title


async def test_unsubscribe_button_hides_only_an_unchanged_edit(
    api: LocalBotApi, engine: Engine, start_app: Callable[..., Awaitable[App]]
) -> None:
    app = await start_app()
    errors: list[BaseException] = []
    forbidden = asyncio.Event()

    async def collect(update: object, context: Any) -> None:
        assert context.error is not None
        errors.append(context.error)
        if isinstance(context.error, Forbidden):
            forbidden.set()

    app.add_error_handler(collect)
    await subscriptions.subscribe(engine.store.db, 5, "إدلب")
    await subscriptions.subscribe(engine.store.db, 5, "غزة")
    subs = await subscriptions.list_subscriptions(engine.store.db, 5)
    api.errors["editMessageText"] = (400, "Bad Request: message is not modified")
    api.press(api.bot_message(5), f"unsub:{subs[0].id}", user_id=5)
    await api.wait_for(lambda c: c.method == "editMessageText")
    api.errors["editMessageText"] = (403, "Forbidden: bot was blocked by the user")
    api.press(api.bot_message(5), f"unsub:{subs[1].id}", user_id=5)
    await asyncio.wait_for(forbidden.wait(), 10)
    assert [type(e) for e in errors] == [Forbidden]


async def test_subscribe_every_article_and_back(
    api: LocalBotApi, engine: Engine, start_app: Callable[..., Awaitable[App]]
) -> None:
    await start_app()
    api.send_text("/subscribe كل", user_id=5)
    api.send_text("/subscribe كل إدلب", user_id=5)
    api.send_text("/subscribe قصص", user_id=5)
    await api.replies(5, 3)
    got = [plain(check_message(t)) for t in texts_to(api, 5)]
    assert got == [
        texts.SUBSCRIBED_ALL + "\n" + texts.SUBSCRIBED_EVERY,
        texts.SUBSCRIBED_TOPIC.format(topic="إدلب") + "\n" + texts.SUBSCRIBED_EVERY,
        texts.SUBSCRIBED_ALL + "\n" + texts.SUBSCRIBED_STORIES,
    ]
    async with engine.store.db.execute(
        "SELECT topic, every_article FROM subscriptions WHERE chat_id = 5 ORDER BY id"
    ) as cur:
        assert [tuple(r) for r in await cur.fetchall()] == [("", 0), ("إدلب", 1)]
