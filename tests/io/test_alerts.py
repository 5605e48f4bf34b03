"""Alerts: the outbox, the sender's limits and errors, restarts, and the message itself."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support.botapi import SECOND, check_message
from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.database import BotRepository
from bot.news import outbox, subscriptions
from bot.news.sender import AlertSender, alert_html, alert_markup, lead, move_chat
from bot.news.subscriptions import SubscriptionBook, TopicMatcher
from bot.tools.localapi import LocalBotApi
from retrieval.engine import Engine
from retrieval.models import Article
from retrieval.store import CorpusStore


class FakeBot:
    """A Bot-like sender that fails on cue, per chat, and records what it sent."""

    def __init__(self, failures: dict[int, list[Exception]] | None = None) -> None:
        self.failures = failures or {}
        self.sent: list[tuple[int, float]] = []

    async def send_message(self, **kw: Any) -> None:
        """Send, or raise the next error queued for the chat."""
        queued = self.failures.get(kw["chat_id"])
        if queued:
            raise queued.pop(0)
        self.sent.append((kw["chat_id"], time.monotonic()))


async def articles(engine: Engine) -> list[Article]:
    """Return the two stored articles, oldest first."""
    return [a for a in await engine.store.latest_articles(10)][::-1]


async def queue_all(engine: Engine, chats: list[int]) -> list[Article]:
    """Subscribe chats to all news, note both articles for alerting, and fan out."""
    for c in chats:
        await subscriptions.subscribe(engine.store.db, c)
    arts = await articles(engine)
    await outbox.record_articles(engine.store.db, arts, alert=True)
    await outbox.fan_out(
        engine.store.db,
        engine.store.get_article,
        TopicMatcher(engine, SubscriptionBook(engine.store.db)).chats_for,
    )
    return arts


async def rows(engine: Engine) -> list[tuple[int, int, str]]:
    async with engine.store.db.execute(
        "SELECT chat_id, article_id, status FROM outbox ORDER BY chat_id, article_id"
    ) as cur:
        return [(int(a), int(b), str(c)) for a, b, c in await cur.fetchall()]


async def drain(sender: AlertSender, rounds: int = 50) -> None:
    """Run the sender's steps until nothing is due (test time, not a daemon)."""
    for _ in range(rounds):
        if not await sender.repo.outbox.due(now=time.time() + 3600):
            return
        await sender.drain_once()
        await __import__("asyncio").sleep(0.02)


async def test_alert_message_is_escaped_rtl_and_complete(engine: Engine) -> None:
    second = next(a for a in await articles(engine) if a.title == SECOND.title)
    html = alert_html(
        replace(second, title="<b>عاجل</b> & Qatar 2022", url="https://example.org/s?x=1&y=2")
    )
    shown = check_message(html)
    plain = shown.replace("\u2068", "").replace("\u2069", "").replace("\u200f", "")
    assert plain.split("\n")[:2] == [
        "خبر جديد: <b>عاجل</b> & Qatar 2022",
        "Sport <News> & Co — 2022-12-10",
    ]
    assert html.startswith("خبر جديد: <b>&lt;") and "<b>عاجل" not in html
    assert lead(second.body) in plain and plain.endswith("اقرأ الخبر كاملاً")
    assert '<a href="https://example.org/s?x=1&amp;y=2">اقرأ الخبر كاملاً</a>' in html
    unsafe = alert_html(second)  # its URL holds < > ": shown without a link, never broken
    assert "<a " not in unsafe and check_message(unsafe)
    button = alert_markup(second.id).inline_keyboard[0][0]
    assert button.text == "اسأل عن هذا الخبر" and button.callback_data == f"ask:{second.id}"
    assert len(str(button.callback_data).encode()) <= 64


async def test_exactly_one_alert_per_chat_and_article(
    engine: Engine, local_bot: tuple[LocalBotApi, Bot]
) -> None:
    api, bot = local_bot
    arts = await queue_all(engine, [11, 12, -100])
    await outbox.fan_out(
        engine.store.db,
        engine.store.get_article,
        TopicMatcher(engine, SubscriptionBook(engine.store.db)).chats_for,
    )  # again: no new rows
    await outbox.record_articles(engine.store.db, arts, alert=True)  # noted again: ignored
    sender = AlertSender(
        bot,
        BotRepository(engine.store.db),
        engine.store.get_article,
        chat_interval=0.05,
        group_interval=0.05,
    )
    await drain(sender)
    sent = sorted(
        (c.params["chat_id"], c.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
        for c in api.requests("sendMessage")
    )
    want = sorted((chat, f"ask:{a.id}") for chat in (11, 12, -100) for a in arts)
    assert sent == want
    assert all(c.params["parse_mode"] == "HTML" for c in api.requests("sendMessage"))
    for call in api.requests("sendMessage"):
        check_message(call.params["text"])
    assert {s for _, _, s in await rows(engine)} == {"sent"}
    await drain(AlertSender(bot, BotRepository(engine.store.db), engine.store.get_article))
    assert len(api.requests("sendMessage")) == 6


async def test_restart_between_queue_and_delivery(
    engine: Engine, local_bot: tuple[LocalBotApi, Bot], tmp_path: Path
) -> None:
    api, bot = local_bot
    await queue_all(engine, [21, 22])
    first = AlertSender(
        bot, BotRepository(engine.store.db), engine.store.get_article, chat_interval=0.05
    )
    await first.drain_once()  # one alert per chat goes; the second of each waits its turn
    assert len(api.requests("sendMessage")) == 2
    # "Crash": the process is gone; a new one opens the same file and a new sender.
    store = await CorpusStore.open_location(engine.store.url, tmp_path / "bot.db")
    try:
        await drain(
            AlertSender(bot, BotRepository(store.db), store.get_article, chat_interval=0.05)
        )
        await drain(
            AlertSender(bot, BotRepository(store.db), store.get_article, chat_interval=0.05)
        )
    finally:
        await store.close()
    sent = sorted((c.params["chat_id"], c.params["text"]) for c in api.requests("sendMessage"))
    assert len(sent) == 4 and len(set(sent)) == 4
    assert [s for _, _, s in await rows(engine)] == ["sent"] * 4


async def test_topic_filter(engine: Engine) -> None:
    db = engine.store.db
    await subscriptions.subscribe(db, 31, "إدلب")
    await subscriptions.subscribe(db, 32, "المغرب")
    await subscriptions.subscribe(db, 33, "كرة السلة")
    await subscriptions.subscribe(db, 34)
    seed, second = await articles(engine)
    await outbox.record_articles(db, [seed, second], alert=True)
    await outbox.fan_out(
        engine.store.db,
        engine.store.get_article,
        TopicMatcher(engine, SubscriptionBook(engine.store.db)).chats_for,
    )
    assert await rows(engine) == [
        (31, seed.id, "pending"),
        (32, second.id, "pending"),
        (34, seed.id, "pending"),
        (34, second.id, "pending"),
    ]


async def test_quiet_articles_are_not_alerted(engine: Engine) -> None:
    await subscriptions.subscribe(engine.store.db, 41)
    await outbox.record_articles(engine.store.db, await articles(engine), alert=False)
    assert (
        await outbox.fan_out(
            engine.store.db,
            engine.store.get_article,
            TopicMatcher(engine, SubscriptionBook(engine.store.db)).chats_for,
        )
        == 0
    )
    assert await rows(engine) == []


async def test_forbidden_and_chat_not_found_unsubscribe(engine: Engine) -> None:
    await subscriptions.subscribe(engine.store.db, 52, "إدلب")
    await queue_all(engine, [51, 52, 53])
    bot = FakeBot(
        {
            51: [Forbidden("Forbidden: bot was blocked by the user")],
            53: [BadRequest("Bad Request: chat not found")],
        }
    )
    await drain(
        AlertSender(
            bot, BotRepository(engine.store.db), engine.store.get_article, chat_interval=0.01
        )
    )
    assert sorted(c for c, _ in bot.sent) == [52, 52]
    statuses = await rows(engine)
    assert [s for c, _, s in statuses if c in (51, 53)] == ["dropped"] * 4
    assert await subscriptions.list_subscriptions(engine.store.db, 51) == []
    assert await subscriptions.list_subscriptions(engine.store.db, 53) == []
    assert len(await subscriptions.list_subscriptions(engine.store.db, 52)) == 2


async def test_retry_after_is_honoured(engine: Engine) -> None:
    await queue_all(engine, [61])
    bot = FakeBot({61: [RetryAfter(1)]})
    sender = AlertSender(
        bot, BotRepository(engine.store.db), engine.store.get_article, chat_interval=0.01
    )
    start = time.monotonic()
    await drain(sender, rounds=200)
    assert len(bot.sent) == 2 and bot.sent[0][1] - start >= 0.95
    async with engine.store.db.execute("SELECT attempts, status FROM outbox ORDER BY id") as cur:
        assert [tuple(r) for r in await cur.fetchall()] == [(1, "sent"), (1, "sent")]


async def test_network_errors_retried_then_given_up(engine: Engine) -> None:
    await queue_all(engine, [71, 72])
    bot = FakeBot({71: [TimedOut(), NetworkError("reset")], 72: [NetworkError("down")] * 10})
    sender = AlertSender(
        bot,
        BotRepository(engine.store.db),
        engine.store.get_article,
        chat_interval=0.01,
        backoff=0.05,
        max_attempts=3,
    )
    await drain(sender, rounds=400)
    assert sorted(c for c, _ in bot.sent) == [71, 71]
    assert [s for c, _, s in await rows(engine) if c == 72] == ["failed", "failed"]


async def test_per_chat_and_group_pacing(engine: Engine) -> None:
    await queue_all(engine, [81, -82])
    bot = FakeBot()
    await drain(
        AlertSender(
            bot,
            BotRepository(engine.store.db),
            engine.store.get_article,
            chat_interval=0.3,
            group_interval=0.6,
        ),
        rounds=400,
    )
    times = {c: [t for cc, t in bot.sent if cc == c] for c in (81, -82)}
    assert times[81][1] - times[81][0] >= 0.29 and times[-82][1] - times[-82][0] >= 0.59


async def test_a_group_upgraded_to_a_supergroup_keeps_its_alerts_and_subscriptions(
    engine: Engine, local_bot: tuple[LocalBotApi, Bot]
) -> None:
    api, bot = local_bot
    old, new = -500, -1000500
    db = engine.store.db
    await subscriptions.subscribe(db, old, "إدلب")
    await subscriptions.subscribe(db, new)  # all news, subscribed again after the upgrade
    seed, second = await queue_all(engine, [old])
    await outbox.fan_out(
        engine.store.db,
        engine.store.get_article,
        TopicMatcher(engine, SubscriptionBook(engine.store.db)).chats_for,
    )
    # The new id already waits for the second article: it must not come twice.
    assert (new, second.id, "pending") in await rows(engine)
    description = "Bad Request: group chat was upgraded to a supergroup chat"
    api.chat_errors[old] = (400, description, {"migrate_to_chat_id": new})
    await drain(
        AlertSender(
            bot,
            BotRepository(engine.store.db),
            engine.store.get_article,
            chat_interval=0.01,
            group_interval=0.01,
        )
    )
    delivered = sorted(
        (c.params["chat_id"], c.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
        for c in api.requests("sendMessage")
        if c.result is not None
    )
    assert delivered == [(new, f"ask:{seed.id}"), (new, f"ask:{second.id}")]
    assert [r for r in await rows(engine) if r[2] != "dropped"] == [
        (new, seed.id, "sent"),
        (new, second.id, "sent"),
    ]
    topics = sorted(s.topic for s in await subscriptions.list_subscriptions(db, new))
    assert topics == ["", "إدلب"]  # all news and the topic, once each
    assert await subscriptions.list_subscriptions(db, old) == []
    # A second move (the service message arriving late) changes nothing.
    assert await move_chat(BotRepository(db), old, new) == (0, 0)


async def test_sender_survives_a_database_error_and_delivers_the_next_alert(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered = asyncio.Event()

    class Recorder(FakeBot):
        async def send_message(self, **kw: Any) -> None:
            await super().send_message(**kw)
            delivered.set()

    real_next_due = outbox.next_due_time
    failed = asyncio.Event()

    async def broken_once(db: Any) -> float | None:
        if not failed.is_set():
            failed.set()
            raise sqlite3.OperationalError("database is locked")
        return await real_next_due(db)

    monkeypatch.setattr(outbox, "next_due_time", broken_once)
    bot = Recorder()
    sender = AlertSender(
        bot, BotRepository(engine.store.db), engine.store.get_article, idle_wait=0.05, backoff=0.05
    )
    task = asyncio.create_task(sender.run())
    try:
        await asyncio.wait_for(failed.wait(), 10)
        await queue_all(engine, [71])
        sender.wake()
        await asyncio.wait_for(delivered.wait(), 10)
        assert not task.done()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert [chat for chat, _ in bot.sent] == [71]


async def test_two_senders_share_the_outbox_and_send_each_alert_once(engine: Engine) -> None:
    chats = list(range(1, 61))
    await queue_all(engine, chats)
    other = await BotRepository.open_location(engine.store.url, engine.store.path)
    bots = [FakeBot(), FakeBot()]
    senders = [
        AlertSender(bot, repo, engine.store.get_article, chat_interval=0, per_second=1000, batch=5)
        for bot, repo in zip(bots, [BotRepository(engine.store.db), other], strict=True)
    ]
    await asyncio.gather(*(drain(s, rounds=200) for s in senders))
    sent = sorted(c for bot in bots for c, _ in bot.sent)
    assert sent == sorted(chats * 2)  # both articles to every chat, none twice
    assert all(bot.sent for bot in bots)  # and both senders took part
    assert {status for _, _, status in await rows(engine)} == {"sent"}
    await other.close()


async def test_a_dead_senders_claims_lapse_to_another(engine: Engine) -> None:
    await queue_all(engine, [1, 2, 3])
    other = await BotRepository.open_location(engine.store.url, engine.store.path)
    # A sender claims the first alert of each chat, then dies without a word.
    taken = await other.outbox.claim("dead:1", lease=0.5)
    await other.close()
    assert sorted(r.chat_id for r in taken) == [1, 2, 3]
    bot = FakeBot()
    sender = AlertSender(
        bot, BotRepository(engine.store.db), engine.store.get_article, chat_interval=0
    )
    assert await sender.drain_once() == 0  # its chats are in flight: nothing to take yet
    await asyncio.sleep(0.6)
    await drain(sender)
    assert sorted(c for c, _ in bot.sent) == [1, 1, 2, 2, 3, 3]
