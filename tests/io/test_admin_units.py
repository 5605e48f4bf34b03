"""Admin logic without Telegram: audit, question log, reindex jobs, /add, /find, /delete, feeds."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from support.admin_pages import ARTICLE_TITLE, QUESTION, Pages
from support.reindex_child import SlowEmbedder

from bot.admin import audit, questionlog
from bot.admin import corpus as admin_corpus
from bot.admin import feeds as admin_feeds
from bot.admin.corpus import Announcer, FetchLimits
from bot.admin.questionlog import QuestionLog, QuestionTable, percentile, record_question
from bot.admin.reindex import Reindexer, ReindexJob, duration, progress_lines
from bot.admin.stats import gather
from bot.database import BotRepository, migrate_bot_tables
from bot.news.feedstore import FeedStore
from bot.news.outbox import Outbox
from bot.news.subscriptions import subscribe
from retrieval.engine import Engine
from retrieval.models import Article

LOCAL = FetchLimits(allow_private=True, max_bytes=100_000, timeout=5)
SEED_QUESTION = "ماذا قال وزير الدفاع التركي عن إدلب؟"


async def test_audit_rows_newest_first(tmp_path: Path, database_url: str) -> None:
    db = (await BotRepository.open_location(database_url, tmp_path / "a.db")).conn
    for i in range(25):
        await audit.record(
            db,
            user_id=7,
            user_name="ops",
            chat_id=7,
            command="find",
            args=f"w{i}" + "x" * 600 * (i == 24),
            allowed=i % 2 == 0,
            result=f"r{i}",
        )
    rows = await audit.last(db, 20)
    assert [r.result for r in rows] == [f"r{i}" for i in range(24, 4, -1)]
    assert len(rows[0].args) == audit.MAX_ARGS and rows[0].allowed and not rows[1].allowed
    await audit.set_result(db, rows[0].id, "done")
    assert (await audit.last(db, 1))[0].result == "done"
    await db.close()


async def test_question_text_kept_only_when_allowed(tmp_path: Path, database_url: str) -> None:
    admin_db = await BotRepository.open_location(database_url, tmp_path / "q.db")
    await QuestionLog(admin_db.questions, keep_text=False).record(
        chat_kind="private", answered=True, latency_ms=12.5, question="سؤال سري"
    )
    await QuestionLog(admin_db.questions, keep_text=True).record(
        chat_kind="group", answered=False, latency_ms=30, question="سؤال مسموح"
    )
    db = admin_db.conn
    async with db.execute("SELECT chat_kind, answered, latency_ms, question FROM questions") as c:
        rows = await c.fetchall()
    assert rows == [("private", 1, 12.5, None), ("group", 0, 30.0, "سؤال مسموح")]
    await admin_db.close()


async def test_question_stats_today_total_and_percentiles(
    tmp_path: Path, database_url: str
) -> None:
    admin_db = await BotRepository.open_location(database_url, tmp_path / "q.db")
    db = admin_db.conn
    rows = [("2026-01-01T10:00:00+00:00", i % 4 != 0, float(i)) for i in range(1, 101)]
    rows += [("2026-01-02T00:00:01+00:00", True, 5.0), ("2026-01-02T23:59:00+00:00", False, 7.0)]
    await db.executemany(
        "INSERT INTO questions (at, chat_kind, answered, latency_ms) VALUES (?, 'private', ?, ?)",
        rows,
    )
    await db.commit()
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    s = await questionlog.stats(db, now, window=100)
    # The newest 100 latencies: 3..100, 5, 7 -> nearest-rank p50 = 50, p95 = 95.
    assert (s.total, s.today, s.answered, s.answered_today) == (102, 2, 76, 1)
    assert (s.p50_ms, s.p95_ms, s.window) == (50.0, 95.0, 100)
    assert s.answered_share == 76 / 102
    await admin_db.close()


def test_percentile_nearest_rank() -> None:
    assert math.isnan(percentile([], 50))
    assert percentile([3.0], 95) == 3.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 21)], 95) == 19.0


async def test_record_question_hook(tmp_path: Path, database_url: str) -> None:
    tables = await BotRepository.open_location(database_url, tmp_path / "q.db")
    log = QuestionLog(tables.questions, keep_text=False)
    await record_question(log, chat_kind="private", answered=True, latency_ms=3, question="x")
    assert (await log.stats()).total == 1
    await tables.close()
    # A broken log costs the user nothing: the answer is already sent.
    await record_question(log, chat_kind="private", answered=True, latency_ms=3, question="x")


def test_progress_text() -> None:
    job = ReindexJob("full", started=100.0, done=50, total=200)
    assert progress_lines(job, 110.0) == [
        "إعادة الفهرسة جارية…",
        "█████░░░░░░░░░░░░░░░ 25%",
        "المقاطع: 50 من 200",
        "مضى: 10 ث — المتبقي تقريباً: 30 ث",
        "للإلغاء: /cancel — ما زالت الأسئلة تُجاب من الفهرس الحالي.",
    ]
    job.done = 0
    assert progress_lines(job, 101.0)[3] == "مضى: 1 ث — المتبقي تقريباً: غير معروف بعد"
    job.state, job.chunks, job.ended = "done", 200, 225.0
    assert progress_lines(job, 999.0) == [
        "اكتملت إعادة الفهرسة: 200 مقطعاً في 2 د 5 ث. الفهرس الجديد يعمل الآن."
    ]
    assert duration(3700) == "1 س 1 د"


def test_text_draft() -> None:
    assert admin_corpus.text_draft("خبر قصير جداً", source="Telegram") is None
    text = "عنوان الخبر\n" + "كلمة " * 20
    draft = admin_corpus.text_draft(text, source="قناة", published="2024-01-01T00:00:00+00:00")
    assert draft is not None
    assert (draft.title, draft.body, draft.source) == (
        "عنوان الخبر",
        ("كلمة " * 20).strip(),
        "قناة",
    )


async def test_add_url_then_question_then_duplicate(bot_engine: Engine, pages: Pages) -> None:
    added: list[Sequence[Article]] = []

    async def announce(articles: Sequence[Article], hashes: Sequence[int]) -> None:
        added.append(articles)

    out = await admin_corpus.add_url(
        bot_engine, FeedStore(bot_engine.store.db), f"{pages.base}/article.html", LOCAL, announce
    )
    assert out.article is not None and out.reason == ""
    assert (out.article.title, out.article.source) == (ARTICLE_TITLE, "صحيفة الواحة")
    async with bot_engine.store.db.execute(
        "SELECT COUNT(*) FROM chunks WHERE article_id = ?", (out.article.id,)
    ) as cur:
        assert await cur.fetchone() == (out.chunks,)
    assert out.chunks >= 1
    assert added == [[out.article]]
    answer = await bot_engine.ask(QUESTION)
    assert answer.citations[0].article_id == out.article.id
    again = await admin_corpus.add_url(
        bot_engine, FeedStore(bot_engine.store.db), f"{pages.base}/article.html", LOCAL, announce
    )
    assert (again.reason, again.duplicate_of) == ("duplicate", out.article.id)
    assert pages.hits["/article.html"] == 1  # the duplicate URL was not fetched again


async def test_add_url_refusals(bot_engine: Engine, pages: Pages) -> None:
    feeds = FeedStore(bot_engine.store.db)

    async def reason(url: str, limits: FetchLimits = LOCAL) -> str:
        return (await admin_corpus.add_url(bot_engine, feeds, url, limits)).reason

    assert await reason(f"{pages.base}/short.html") == "no_text"
    assert await reason(f"{pages.base}/big.html") == "too_large"
    assert await reason(f"{pages.base}/article.html", FetchLimits(allow_private=False)) == "address"
    assert await reason("ftp://example.com/a") == "address"
    assert await reason(f"{pages.base}/missing.html") == "fetch"
    assert len(await bot_engine.store.latest_articles(10)) == 2  # nothing was added


async def test_added_article_alerts_subscribers(bot_engine: Engine, pages: Pages) -> None:
    db = bot_engine.store.db
    await migrate_bot_tables(db)
    await subscribe(db, 555)
    announcer = Announcer(bot_engine, Outbox(db), match=lambda a: _chats([555]))
    out = await admin_corpus.add_url(
        bot_engine, FeedStore(db), f"{pages.base}/article.html", LOCAL, announcer
    )
    assert out.article is not None
    async with db.execute("SELECT chat_id, article_id, status FROM outbox") as cur:
        assert await cur.fetchall() == [(555, out.article.id, "pending")]


async def _chats(ids: list[int]) -> list[int]:
    return ids


async def test_near_duplicate_refused(bot_engine: Engine) -> None:
    seed = (await bot_engine.store.latest_articles(10))[-1]
    db = bot_engine.store.db
    await migrate_bot_tables(db)
    from bot.news.outbox import record_articles

    await record_articles(db, [seed], alert=False)
    copy = admin_corpus.text_draft("نسخة\n" + seed.body.replace("،", " ،"), source="Telegram")
    assert copy is not None
    out = await admin_corpus.ingest_one(bot_engine, FeedStore(db), copy, None)
    assert (out.reason, out.duplicate_of) == ("duplicate", seed.id)


async def test_article_over_the_chunk_limit_is_too_large(bot_engine: Engine) -> None:
    bot_engine.chunker.max_chunks = 1
    draft = admin_corpus.text_draft(
        "عنوان طويل\n" + "جملة فيها كلمات كثيرة عن الخبر. " * 400, source="Telegram"
    )
    assert draft is not None
    out = await admin_corpus.ingest_one(bot_engine, FeedStore(bot_engine.store.db), draft, None)
    assert (out.article, out.reason) == (None, "too_large")
    assert out.detail.endswith(" chunks, over the limit of 1")


async def test_find_and_delete(bot_engine: Engine) -> None:
    found = await admin_corpus.find(bot_engine, "إدلب")
    assert len(found) == 1 and "إدلب" in found[0].body
    before = await bot_engine.ask(SEED_QUESTION)
    assert before.citations[0].article_id == found[0].id
    deleted = await admin_corpus.delete(bot_engine, found[0].id)
    assert deleted is not None and deleted.id == found[0].id
    assert await admin_corpus.delete(bot_engine, found[0].id) is None
    assert await admin_corpus.find(bot_engine, "إدلب") == []
    ids, _ = await bot_engine.store.vectors()
    assert bot_engine.index.matches(ids)
    after = await bot_engine.ask(SEED_QUESTION)
    assert found[0].id not in {c.article_id for c in (*after.citations, *after.headlines)}


async def _engine_with(bot_engine: Engine, delay: float) -> Engine:
    """Reopen the test corpus with a slow "new model" of the same dimension."""
    embedder = SlowEmbedder(bot_engine.embedder.dim, delay=delay)
    return await Engine.open(bot_engine.store, embedder, bot_engine.index_path)


async def test_reindexer_runs_one_job_and_reports(bot_engine: Engine) -> None:
    engine = await _engine_with(bot_engine, 0.05)
    reindexer = Reindexer(engine, edit_every=0.01, batch=2)
    shown: list[str] = []

    async def show(text: str) -> None:
        shown.append(text)

    job = reindexer.claim("full")
    assert job is not None and reindexer.claim("fast") is None
    result = await reindexer.start(job, show)
    total = len(await engine.store.chunk_ids())
    assert (result.state, result.chunks, result.done, result.total) == ("done", total, total, total)
    assert any("█" in s and f"من {total}" in s for s in shown[:-1])
    assert shown[-1].startswith(f"اكتملت إعادة الفهرسة: {total} مقطعاً")
    assert await engine.store.get_meta("model") == engine.embedder.name
    assert not reindexer.busy and reindexer.claim("fast") is not None


async def test_reindexer_cancel_leaves_index(bot_engine: Engine) -> None:
    engine = await _engine_with(bot_engine, 0.2)
    live = engine.index
    reindexer = Reindexer(engine, edit_every=10, batch=1)
    job = reindexer.claim("full")
    assert job is not None
    shown: list[str] = []

    async def show(text: str) -> None:
        shown.append(text)

    task = reindexer.start(job, show)
    while job.done == 0:
        await asyncio.sleep(0.01)
    assert reindexer.cancel()
    await task
    assert job.state == "cancelled" and engine.index is live
    assert shown == [
        f"أُلغيت إعادة الفهرسة بعد {job.done} من {job.total} مقطعاً؛ بقي الفهرس الحالي كما هو."
    ]
    assert await engine.store.get_meta("model") == bot_engine.embedder.name


async def test_reindex_keeps_articles_added_meanwhile(bot_engine: Engine, pages: Pages) -> None:
    engine = await _engine_with(bot_engine, 0.1)
    reindexer = Reindexer(engine, edit_every=10, batch=1)
    job = reindexer.claim("full")
    assert job is not None

    async def show(text: str) -> None:
        return None

    task = reindexer.start(job, show)
    out = await admin_corpus.add_url(
        engine, FeedStore(engine.store.db), f"{pages.base}/article.html", LOCAL
    )
    assert out.article is not None
    await task
    ids, _ = await engine.store.vectors()
    assert job.state == "done" and engine.index.matches(ids)
    assert (await engine.ask(QUESTION)).citations[0].article_id == out.article.id


async def test_feeds_add_list_remove(bot_engine: Engine, pages: Pages) -> None:
    url = f"{pages.base}/feed.xml"
    feeds = FeedStore(bot_engine.store.db)
    added = await admin_feeds.add_feed(feeds, url, LOCAL)
    assert added.feed is not None and added.new and added.check.entries == 2
    assert added.feed.first_polled is False  # its backlog goes in without alerts
    again = await admin_feeds.add_feed(feeds, url, LOCAL)
    assert (again.new, again.feed) == (False, added.feed) and pages.hits["/feed.xml"] == 1
    bad = await admin_feeds.add_feed(feeds, f"{pages.base}/notfeed.html", LOCAL)
    assert (bad.feed, bad.check.problem) == (None, "not_a_feed")
    refused = await admin_feeds.add_feed(feeds, url + "?x", FetchLimits())
    assert (refused.feed, refused.check.problem) == (None, "address_refused")
    assert [f.url for f in await admin_feeds.list_feeds(feeds)] == [url]
    assert await admin_feeds.remove_feed(feeds, "999") is None
    removed = await admin_feeds.remove_feed(feeds, str(added.feed.id))
    assert removed is not None and removed.url == url
    assert await admin_feeds.list_feeds(feeds) == []
    await admin_feeds.add_feed(feeds, url, LOCAL)
    assert (await admin_feeds.remove_feed(feeds, url)) is not None


async def test_stats_match_database(bot_engine: Engine, tmp_path: Path) -> None:
    db = bot_engine.store.db
    await migrate_bot_tables(db)
    await subscribe(db, 1)
    await subscribe(db, 1, "إدلب")
    await subscribe(db, 2)
    log = QuestionLog(QuestionTable(db), keep_text=False)
    for ms, ok in ((10, True), (20, False), (30, True)):
        await log.record(chat_kind="private", answered=ok, latency_ms=ms, question="q")
    report = await gather(bot_engine, BotRepository(db), log, time.monotonic() - 65)
    async with db.execute(
        "SELECT (SELECT COUNT(*) FROM articles), (SELECT COUNT(*) FROM chunks),"
        " (SELECT COUNT(DISTINCT source) FROM articles), (SELECT COUNT(*) FROM feeds),"
        " (SELECT COUNT(DISTINCT chat_id) FROM subscriptions WHERE active = 1)"
    ) as cur:
        assert await cur.fetchone() == (
            report.articles,
            report.chunks,
            report.sources,
            report.feeds,
            report.subscribers,
        )
    assert (report.articles, report.sources, report.feeds, report.subscribers) == (2, 2, 0, 2)
    q = report.questions
    assert (q.total, q.today, q.answered, q.p50_ms, q.p95_ms) == (3, 3, 2, 20.0, 30.0)
    assert report.vectors == report.chunks
    assert report.index_disk_bytes == bot_engine.index_path.stat().st_size
    assert report.index_memory_bytes == report.chunks * (bot_engine.embedder.dim * 4 + 8)
    assert report.model == bot_engine.embedder.name and 65 <= report.uptime_seconds < 120
