"""End-to-end admin commands: the real application polling the local Bot API server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from support.admin_pages import ARTICLE_TITLE, QUESTION, Pages
from support.articles import filler
from support.botapi import DIM, THRESHOLD, bot_settings, check_message, stop_app, visible
from support.reindex_child import SlowEmbedder
from support.waiting import until
from telegram.ext import Application

from bot.admin import audit
from bot.database import migrate_bot_tables
from bot.news.subscriptions import subscribe
from bot.telegram import texts
from bot.telegram.admin import setup_admin_commands
from bot.telegram.app import build_application
from bot.telegram.commands import public_commands
from bot.telegram.state import BotState
from bot.tools.localapi import ApiCall, LocalBotApi
from retrieval.answer import AnswerConfig
from retrieval.engine import Engine

ADMIN = 42
USER = 7
SEED_QUESTION = "ماذا قال وزير الدفاع التركي عن إدلب؟"
SEED_TITLE_WORD = "إدلب"
_MARKS = str.maketrans("", "", "\u200f\u2068\u2069")

Start = Callable[..., Awaitable[tuple[Application, BotState]]]  # type: ignore[type-arg]


def plain(html: str) -> str:
    """Return what a client shows, without the invisible direction marks."""
    return visible(html).translate(_MARKS)


@pytest.fixture
async def start_admin_bot(
    botapi: LocalBotApi, bot_engine: Engine, tmp_path: Path
) -> AsyncIterator[Start]:
    """Return a function that starts the real application with the admin commands."""
    apps: list[tuple[Application, BotState]] = []  # type: ignore[type-arg]

    async def start(engine: Engine | None = None, **overrides: Any) -> tuple[Application, BotState]:  # type: ignore[type-arg]
        values: dict[str, Any] = {"admin_ids": [ADMIN], "allow_private_urls": True}
        settings = bot_settings(botapi, tmp_path, **{**values, **overrides})
        engine = engine or bot_engine
        app = build_application(settings, engine)
        ctx = app.bot_data
        # Fast progress edits and small batches, so that a test corpus has a middle.
        ctx.edit_every, ctx.reindex_batch = 0.2, 2
        await app.initialize()
        assert app.post_init is not None and app.updater is not None
        await app.post_init(app)
        await app.updater.start_polling(poll_interval=0, timeout=5)
        await app.start()
        apps.append((app, ctx))
        return app, ctx

    yield start
    for app, _ in apps:
        await stop_app(app, botapi)


async def say(api: LocalBotApi, text: str, user: int = ADMIN, **kwargs: Any) -> str:
    """Send a message as user and return the text of the bot's next reply to that chat."""
    before = len(api.requests("sendMessage", chat_id=user))
    api.send_text(text, user_id=user, **kwargs)
    calls = await api.replies(user, count=before + 1)
    html = calls[before].params["text"]
    check_message(html)
    return plain(html)


async def article_chunks(engine: Engine, article_id: int) -> int:
    """Count an article's stored chunks."""
    async with engine.store.db.execute(
        "SELECT COUNT(*) FROM chunks WHERE article_id = ?", (article_id,)
    ) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def subscribe_user(engine: Engine) -> None:
    """Subscribe USER to all news (the /subscribe command belongs to the feeds work)."""
    await migrate_bot_tables(engine.store.db)
    await subscribe(engine.store.db, USER)


async def audit_rows(ctx: BotState) -> list[audit.AuditEntry]:
    """Return the audit log, oldest first."""
    return list(reversed(await audit.last(ctx.repo.conn, 100)))


async def test_non_admin_refused_for_every_command(
    start_admin_bot: Start, botapi: LocalBotApi, bot_engine: Engine, pages: Pages
) -> None:
    _, ctx = await start_admin_bot()
    before = (await bot_engine.store.stats(), bot_engine.index.ids().tolist())
    attempts = [
        "/stats",
        "/find إدلب",
        f"/add {pages.base}/article.html",
        "/delete 1",
        "/feeds",
        f"/feeds add {pages.base}/feed.xml",
        "/feeds remove 1",
        "/reindex",
        "/reindex fast",
        "/cancel",
        "/audit",
    ]
    for command in attempts:
        assert await say(botapi, command, user=USER) == texts.ADMIN_REFUSED
    assert (await bot_engine.store.stats(), bot_engine.index.ids().tolist()) == before
    assert pages.hits == {} and botapi.requests("editMessageText") == []
    rows = await audit_rows(ctx)
    assert [(r.user_id, r.command, r.args, r.allowed, r.result) for r in rows] == [
        (USER, c[1:].split()[0], c.partition(" ")[2], False, "refused") for c in attempts
    ]


async def test_admin_menu_only_in_admin_chats(start_admin_bot: Start, botapi: LocalBotApi) -> None:
    await start_admin_bot(admin_ids=[ADMIN, 43])  # post_init sets every menu
    default = botapi.requests("setMyCommands")[0]
    assert "scope" not in default.params
    public = [c["command"] for c in default.params["commands"]]
    assert "ask" in public and not set(public) & set(texts.ADMIN_COMMAND_DESCRIPTIONS)
    scoped = botapi.requests("setMyCommands")[1:]
    assert [c.params["scope"] for c in scoped] == [
        {"type": "chat", "chat_id": ADMIN},
        {"type": "chat", "chat_id": 43},
    ]
    for call in scoped:
        names = [c["command"] for c in call.params["commands"]]
        assert names == public + list(texts.ADMIN_COMMAND_DESCRIPTIONS)


async def slow_engine(bot_engine: Engine, delay: float) -> Engine:
    """Reopen the test corpus, with 10 more articles, behind a slow embedder."""
    engine = await Engine.open(
        bot_engine.store,
        SlowEmbedder(DIM, delay=delay, salt=""),
        bot_engine.index_path,
        answer=AnswerConfig(threshold=THRESHOLD),
    )
    await engine.ingest([filler(i) for i in range(10)])
    return engine


def edits(api: LocalBotApi) -> list[ApiCall]:
    """Return the progress edits so far."""
    return api.requests("editMessageText", chat_id=ADMIN)


async def test_reindex_progress_while_questions_are_answered(
    start_admin_bot: Start, botapi: LocalBotApi, bot_engine: Engine
) -> None:
    engine = await slow_engine(bot_engine, delay=0.4)
    _, ctx = await start_admin_bot(engine)
    total = len(await engine.store.chunk_ids())
    first = await say(botapi, "/reindex")
    assert first.startswith(texts.REINDEX_RUNNING) and f"0 من {total}" in first
    progress_id = botapi.requests("sendMessage", chat_id=ADMIN)[-1].result["message_id"]
    await botapi.wait_for(lambda c: c.method == "editMessageText", timeout=10)
    assert await say(botapi, "/reindex") == texts.REINDEX_BUSY
    answer = await say(botapi, SEED_QUESTION, user=USER)
    assert SEED_TITLE_WORD in answer and texts.NO_ANSWER not in answer
    done = await botapi.wait_for(
        lambda c: c.method == "editMessageText" and "اكتملت" in c.params["text"], timeout=30
    )
    assert ctx.reindexer.job is not None and ctx.reindexer.job.state == "done"
    # The question was answered while the reindex was still going.
    answered_at = botapi.requests("sendMessage", chat_id=USER)[-1].at
    assert answered_at < done[0].at
    progress = [plain(c.params["text"]) for c in edits(botapi)]
    assert all(c.params["message_id"] == progress_id for c in edits(botapi))
    assert any("█" in p and "%" in p and "المتبقي تقريباً" in p for p in progress[:-1])
    assert progress[-1].startswith(f"اكتملت إعادة الفهرسة: {total} مقطعاً في ")
    ids, _ = await engine.store.vectors()
    assert engine.index.matches(ids)

    async def outcome_written() -> bool:
        # The outcome is audited after the last edit is sent.
        return not any(r.result == "started" for r in await audit_rows(ctx))

    await until(outcome_written, what="the reindex outcome audited")
    rows = await audit_rows(ctx)
    assert [(r.command, r.result.split(":")[0]) for r in rows] == [
        ("reindex", "done"),
        ("reindex", "busy"),
    ]
    assert rows[0].result.startswith(f"done: {total} chunks in ")


async def test_reindex_fast(
    start_admin_bot: Start, botapi: LocalBotApi, bot_engine: Engine
) -> None:
    await start_admin_bot()
    total = len(await bot_engine.store.chunk_ids())
    await say(botapi, "/reindex fast")
    done = await botapi.wait_for(
        lambda c: c.method == "editMessageText" and "اكتمل" in c.params["text"], timeout=10
    )
    assert plain(done[0].params["text"]).startswith(
        f"اكتمل بناء الفهرس من المتجهات المخزّنة: {total} مقطعاً في "
    )


async def test_cancel_reindex(
    start_admin_bot: Start, botapi: LocalBotApi, bot_engine: Engine
) -> None:
    engine = await slow_engine(bot_engine, delay=0.5)
    _, ctx = await start_admin_bot(engine)
    live = engine.index
    assert await say(botapi, "/cancel") == texts.NOTHING_TO_CANCEL
    await say(botapi, "/reindex")
    job = ctx.reindexer.job
    await until(lambda: job is not None and job.done > 0, what="the first batch embedded")
    assert await say(botapi, "/cancel") == texts.CANCEL_REQUESTED
    final = await botapi.wait_for(
        lambda c: c.method == "editMessageText" and "أُلغيت" in c.params["text"], timeout=10
    )
    assert plain(final[0].params["text"]).endswith("بقي الفهرس الحالي كما هو.")
    assert engine.index is live

    async def outcome_written() -> bool:
        # The outcome is audited after the last edit is sent.
        return (await audit_rows(ctx))[1].result != "started"

    await until(outcome_written, what="the reindex outcome audited")
    rows = await audit_rows(ctx)
    assert [(r.command, r.result) for r in rows][:2] == [
        ("cancel", "nothing running"),
        ("reindex", rows[1].result),
    ]
    assert rows[1].result.startswith("cancelled after ")


async def test_add_url_then_question_then_delete(
    start_admin_bot: Start, botapi: LocalBotApi, bot_engine: Engine, pages: Pages
) -> None:
    _, ctx = await start_admin_bot()
    reply = await say(botapi, f"/add {pages.base}/article.html")
    (article,) = await bot_engine.store.latest_articles(1)
    assert article.title == ARTICLE_TITLE
    chunks = await article_chunks(bot_engine, article.id)
    assert chunks >= 1
    assert reply == texts.ADD_DONE.format(
        id=article.id, title=ARTICLE_TITLE, source="صحيفة الواحة", chunks=chunks
    )
    answer = await say(botapi, QUESTION, user=USER)
    assert ARTICLE_TITLE in answer and "ثلاثين ألف طن" in answer
    assert await say(botapi, f"/add {pages.base}/article.html") == texts.ADD_DUPLICATE.format(
        id=article.id
    )
    found = await say(botapi, "/find سيوة")
    assert f"رقم {article.id}: {ARTICLE_TITLE}" in found
    (story,) = (await bot_engine.store.article_stories([article.id])).values()
    assert found.split("\n")[1] == texts.FIND_STORY.format(story=story, n=1, outlets="صحيفة الواحة")
    deleted = await say(botapi, f"/delete {article.id}")
    assert deleted == texts.DELETE_DONE.format(id=article.id, title=ARTICLE_TITLE)
    after = await say(botapi, QUESTION, user=USER)
    assert ARTICLE_TITLE not in after
    assert await say(botapi, "/find سيوة") == texts.FIND_NONE.format(words="سيوة")
    rows = await audit_rows(ctx)
    assert [(r.command, r.result) for r in rows] == [
        ("add", f"added {article.id} ({chunks} chunks)"),
        ("add", f"refused: duplicate {article.id}"),
        ("find", "1 found"),
        ("delete", f"deleted {article.id}"),
        ("find", "0 found"),
    ]


async def test_add_forwarded_post_alerts_subscribers(
    start_admin_bot: Start, botapi: LocalBotApi, bot_engine: Engine
) -> None:
    app, _ = await start_admin_bot()
    news = app.bot_data
    assert news.sender is not None  # the feeds work's alert sender, started in post_init
    # Idle for a minute from now on: only the wake from /add can get the alert out in time.
    news.sender.idle_wait = 60
    news.sender.wake()
    assert (await say(botapi, "/subscribe", user=USER)).startswith("اشتركت")
    body = (
        "انقطاع الكهرباء عن مدينة الموصل\n"
        "أعلنت مديرية كهرباء نينوى انقطاع التيار الكهربائي عن أحياء الساحل الأيمن في الموصل"
        " لمدة ست ساعات يوم الخميس لإجراء أعمال صيانة في محطة التحويل الرئيسية."
    )
    post = botapi.message(
        body,
        user_id=ADMIN,
        extra={
            "forward_origin": {
                "type": "channel",
                "chat": {
                    "id": -100555,
                    "type": "channel",
                    "title": "أخبار نينوى",
                    "username": "ninawa",
                },
                "message_id": 77,
                "date": 1_700_000_000,
            }
        },
    )
    reply = await say(botapi, "/add", reply_to=post)
    (article,) = await bot_engine.store.latest_articles(1)
    assert (article.title, article.source, article.url) == (
        "انقطاع الكهرباء عن مدينة الموصل",
        "أخبار نينوى",
        "https://t.me/ninawa/77",
    )
    assert article.published == "2023-11-14T22:13:20+00:00"
    assert reply == texts.ADD_DONE.format(
        id=article.id,
        title=article.title,
        source="أخبار نينوى",
        chunks=await article_chunks(bot_engine, article.id),
    )
    alert = (await botapi.replies(USER, count=2, timeout=20))[-1]
    assert plain(alert.params["text"]).startswith(texts.ALERT_HEADING)
    assert article.title in plain(alert.params["text"])

    async def outbox() -> list[Any]:
        async with bot_engine.store.db.execute(
            "SELECT chat_id, article_id, status FROM outbox"
        ) as c:
            return list(await c.fetchall())

    await until(lambda: news.sender is not None and news.sender.sent == 1, what="marked sent")
    assert await outbox() == [(USER, article.id, "sent")]
    short = botapi.message("خبر قصير", user_id=ADMIN)
    assert await say(botapi, "/add", reply_to=short) == texts.ADD_NO_TEXT
    assert await say(botapi, "/add") == texts.ADD_USAGE
    plain_post = botapi.message(body.replace("الموصل", "تلعفر"), user_id=ADMIN)
    await say(botapi, "/add", reply_to=plain_post)
    assert (await bot_engine.store.latest_articles(1))[0].source == texts.SOURCE_TELEGRAM


async def test_feeds_commands(start_admin_bot: Start, botapi: LocalBotApi, pages: Pages) -> None:
    _, ctx = await start_admin_bot()
    url = f"{pages.base}/feed.xml"
    assert await say(botapi, "/feeds") == texts.FEEDS_NONE
    assert await say(botapi, f"/feeds add {url}") == texts.FEED_ADDED.format(id=1, entries=2)
    assert await say(botapi, f"/feeds add {url}") == texts.FEED_EXISTS.format(id=1)
    invalid = await say(botapi, f"/feeds add {pages.base}/notfeed.html")
    assert invalid == texts.FEED_INVALID.format(detail="not a feed")
    listing = await say(botapi, "/feeds")
    assert listing == "\n".join(
        [
            texts.FEEDS_HEADING.format(n=1),
            texts.FEED_LINE.format(id=1, url=url),
            texts.FEED_DETAILS.format(polled=texts.FEED_NEVER, articles=0),
        ]
    )
    db = ctx.engine.store.db
    await db.execute(
        "UPDATE feeds SET last_polled = '2026-01-02T03:04:05+00:00', last_error = 'HTTP 500',"
        " articles = 4"
    )
    await db.commit()
    listing = await say(botapi, "/feeds")
    assert texts.FEED_DETAILS.format(polled="2026-01-02 03:04", articles=4) in listing
    assert texts.FEED_ERROR.format(error="HTTP 500") in listing
    assert await say(botapi, "/feeds remove 9") == texts.FEED_MISSING
    assert await say(botapi, f"/feeds remove {url}") == texts.FEED_REMOVED
    assert await say(botapi, "/feeds") == texts.FEEDS_NONE
    assert await say(botapi, "/feeds drop x") == texts.FEEDS_USAGE


async def test_stats_match_database(
    start_admin_bot: Start, botapi: LocalBotApi, bot_engine: Engine
) -> None:
    _, ctx = await start_admin_bot()
    await subscribe_user(bot_engine)
    for ms, ok in ((100, True), (300, False), (200, True), (400, True)):
        await ctx.questions.record(chat_kind="private", answered=ok, latency_ms=ms, question="q")
    reply = await say(botapi, "/stats")
    db = bot_engine.store.db
    async with db.execute(
        "SELECT (SELECT COUNT(*) FROM articles), (SELECT COUNT(*) FROM chunks),"
        " (SELECT COUNT(DISTINCT source) FROM articles), (SELECT COUNT(*) FROM feeds),"
        " (SELECT COUNT(DISTINCT chat_id) FROM subscriptions WHERE active = 1),"
        " (SELECT COUNT(*) FROM stories)"
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    articles, chunks, sources, feeds, subscribers, stories = row
    admin_db = ctx.repo.conn
    async with admin_db.execute("SELECT COUNT(*), SUM(answered) FROM questions") as cur:
        row = await cur.fetchone()
    assert row is not None
    total, answered = row
    lines = reply.split("\n")
    assert lines[:7] == [
        texts.STATS_HEADING,
        texts.STATS_CORPUS.format(articles=articles, chunks=chunks, sources=sources),
        texts.STATS_STORIES.format(stories=stories),
        texts.STATS_FEEDS.format(feeds=feeds, subscribers=subscribers),
        texts.STATS_QUESTIONS.format(
            today=total, answered_today=answered, total=total, answered=answered
        ),
        texts.STATS_SHARE.format(share="75.0%", unanswered="25.0%"),
        texts.STATS_LATENCY.format(n=4, p50="200 ms", p95="400 ms"),
    ]
    assert (articles, stories, subscribers, total, answered) == (2, 2, 1, 4, 3)
    assert lines[7].startswith(texts.STATS_INDEX.split("—")[0].format(vectors=chunks))
    assert lines[8] == texts.STATS_MODEL.format(model=bot_engine.embedder.name)
    assert lines[9].startswith("مدة التشغيل: ")


async def test_audit_shows_last_twenty(start_admin_bot: Start, botapi: LocalBotApi) -> None:
    _, ctx = await start_admin_bot()
    for i in range(22):
        await say(botapi, f"/find كلمة{i}")
    await say(botapi, "/stats", user=USER)
    reply = await say(botapi, "/audit")
    lines = reply.split("\n")
    assert lines[0] == texts.AUDIT_HEADING and len(lines) == 21
    assert lines[1].endswith(f"— {ADMIN} — /audit — 20 shown")  # itself included
    assert lines[2].endswith(f"— {USER} — /stats — refused")
    assert lines[3].endswith(f"— {ADMIN} — /find كلمة21 — 0 found")
    assert lines[20].endswith(f"— {ADMIN} — /find كلمة4 — 0 found")
    rows = await audit_rows(ctx)
    assert len(rows) == 24 and rows[-1].command == "audit" and rows[-1].result == "20 shown"


async def test_admin_menu_survives_a_chat_telegram_refuses(
    start_admin_bot: Start, botapi: LocalBotApi
) -> None:
    app, ctx = await start_admin_bot()
    botapi.errors["setMyCommands"] = (400, "Bad Request: chat not found")
    await setup_admin_commands(app.bot, ctx.settings, public_commands(app))  # logs, no raise
    # At start: the default menu and the admin's. The refused request was made (and
    # answered with an error), and nothing raised.
    assert [c.result for c in botapi.requests("setMyCommands")] == [True, True, None]


async def test_shutdown_stops_a_running_reindex(
    start_admin_bot: Start, botapi: LocalBotApi, bot_engine: Engine
) -> None:
    engine = await slow_engine(bot_engine, delay=0.3)
    _, ctx = await start_admin_bot(engine)
    live = engine.index
    await say(botapi, "/reindex")
    await until(lambda: ctx.reindexer.task is not None, what="the job started after the reply")
    reindexer = ctx.reindexer
    await ctx.close()  # what post_shutdown does
    job = reindexer.job
    assert job is not None and job.state == "cancelled"
    assert engine.index is live


@pytest.mark.parametrize("log_text", [False, True])
async def test_questions_asked_are_logged_for_stats(
    start_admin_bot: Start, botapi: LocalBotApi, log_text: bool
) -> None:
    _, ctx = await start_admin_bot(log_questions=log_text)
    question = "بأي حجة تواصل روسيا التصعيد؟"
    await say(botapi, question, user=USER)
    db = ctx.repo.conn
    rows: list[Any] = []

    async def logged() -> bool:  # the row is written just after the reply is sent
        nonlocal rows
        async with db.execute("SELECT chat_kind, question FROM questions") as cur:
            rows = list(await cur.fetchall())
        return bool(rows)

    await until(logged, what="the question logged")
    assert [tuple(r) for r in rows] == [("private", question if log_text else None)]
