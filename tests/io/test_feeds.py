"""Feed polling end to end against a local HTTP server: good feeds and every bad input."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from support.embedders import HashingEmbedder
from support.neardup_samples import UNRELATED, light_copies

from bot.database import BotRepository, migrate_bot_tables
from bot.news import feedstore, outbox, subscriptions
from bot.news import schema as newsdb
from bot.news.poller import PollConfig, cmd_poll, poll_once
from bot.news.subscriptions import SubscriptionBook, TopicMatcher
from bot.settings import Settings
from bot.tools.newssite import NewsServer, Page, article_page, atom, rss, running_server
from retrieval.answer import AnswerConfig
from retrieval.engine import Engine
from retrieval.intake import read_article_file
from retrieval.models import ArticleDraft
from retrieval.store import CorpusStore

ROOT = Path(__file__).resolve().parents[2]
SEED = replace(
    read_article_file(next((ROOT / "seeds").glob("*.txt"))),
    source="مدونة هادي العبد الله",
    published="2019-09-02",
)
TITLES = (
    "المغرب يبلغ نصف النهائي",
    "أسعار النفط ترتفع",
    "زلزال جنوب تركيا",
    "جولة ثانية للانتخابات",
)
NEWS = [
    ArticleDraft(title=t, body=b, source="وكالة الأنباء", published="2019-09-03")
    for t, b in zip(TITLES, UNRELATED, strict=False)
]


@pytest.fixture
async def news_server() -> AsyncIterator[NewsServer]:
    """A local HTTP server for feeds and pages."""
    async with running_server() as server:
        yield server


# Not well-formed (cut off after the first item), yet an entry can be read from it.
HALF_FEED = (
    b'<?xml version="1.0"?><rss><channel><item><title>%s</title><description>%s</description><'
)


@pytest.fixture
async def engine(tmp_path: Path, database_url: str) -> AsyncIterator[Engine]:
    """An empty engine with the hashing embedder, on each backend in turn."""
    store = await CorpusStore.open_location(database_url, tmp_path / "news.db")
    eng = await Engine.open(
        store, HashingEmbedder(), tmp_path / "news.faiss", answer=AnswerConfig(threshold=0.0)
    )
    await migrate_bot_tables(store.db)
    yield eng
    await store.close()


def config(*feeds: str, **kw: object) -> PollConfig:
    """Poll limits for tests: loopback allowed, short timeouts."""
    values: dict[str, object] = {"allow_private": True, "fetch_timeout": 2.0, "feed_timeout": 10.0}
    values.update(kw)
    return PollConfig(feeds=feeds, **values)  # type: ignore[arg-type]


def serve_article(
    server: NewsServer, path: str, draft: ArticleDraft, encoding: str = "utf-8"
) -> str:
    charset = "windows-1256" if encoding == "cp1256" else encoding
    server.pages[path] = Page(
        article_page(draft, charset=charset).encode(encoding),
        content_type=f"text/html; charset={charset}",
    )
    return server.url(path)


async def test_first_poll_quiet_then_new_entry_alerts_once(
    news_server: NewsServer, engine: Engine
) -> None:
    db = engine.store.db
    await subscriptions.subscribe(db, 101)  # all news
    await subscriptions.subscribe(db, 102, "إدلب")
    await subscriptions.subscribe(db, 103, "النفط")
    items = [
        {"title": SEED.title, "link": serve_article(news_server, "a/1", SEED)},
        {"title": NEWS[0].title, "link": serve_article(news_server, "a/2", NEWS[0], "cp1256")},
    ]
    news_server.pages["feed.xml"] = Page(rss(items), content_type="application/rss+xml", etag='"1"')
    match = TopicMatcher(engine, SubscriptionBook(engine.store.db)).chats_for
    cfg = config(news_server.url("feed.xml"))

    first = await poll_once(engine, BotRepository(engine.store.db), cfg, match=match)
    assert [a.title for a in first.added] == [SEED.title, NEWS[0].title]
    assert first.added[1].body == NEWS[0].body  # windows-1256 page decoded
    assert first.added[0].source == "مدونة هادي العبد الله" and first.added[0].published.startswith(
        "2019-09-02"
    )
    assert first.alerts_queued == 0 and await outbox.status_counts(db) == {}

    oil = replace(NEWS[1], body=NEWS[1].body)
    items.insert(0, {"title": oil.title, "link": serve_article(news_server, "a/3", oil)})
    news_server.pages["feed.xml"] = Page(rss(items), content_type="application/rss+xml", etag='"2"')
    second = await poll_once(engine, BotRepository(engine.store.db), cfg, match=match)
    assert [a.title for a in second.added] == [oil.title]
    assert second.alerts_queued == 2
    async with db.execute("SELECT chat_id, article_id, status FROM outbox ORDER BY chat_id") as cur:
        rows = await cur.fetchall()
    oil_id = second.added[0].id
    assert [tuple(r) for r in rows] == [(101, oil_id, "pending"), (103, oil_id, "pending")]
    assert news_server.hits("a/1") == 1  # old entries are not fetched again

    third = await poll_once(
        engine, BotRepository(engine.store.db), cfg, match=match
    )  # ETag matches: 304
    assert third.counters.get("not_modified") == 1 and third.added == []
    assert (
        await outbox.fan_out(engine.store.db, engine.store.get_article, match) == 0
    )  # nothing queued twice
    feed = (await feedstore.list_feeds(db))[0]
    assert (feed.first_polled, feed.articles, feed.failures, feed.etag) == (True, 3, 0, '"2"')

    answer = await engine.ask("ما سعر خام برنت بعد قرار أوبك بلس؟")
    assert answer.answered and answer.citations[0].article_id == oil_id


async def polled_once(
    news_server: NewsServer, engine: Engine, chat: int, folder: str
) -> tuple[list[dict[str, str]], outbox.Matcher, PollConfig]:
    """Subscribe chat to all news; serve a feed with the seed and poll it once (quietly)."""
    await subscriptions.subscribe(engine.store.db, chat)
    items = [{"title": SEED.title, "link": serve_article(news_server, f"{folder}/1", SEED)}]
    news_server.pages["feed.xml"] = Page(rss(items), content_type="application/rss+xml")
    match = TopicMatcher(engine, SubscriptionBook(engine.store.db)).chats_for
    cfg = config(news_server.url("feed.xml"))
    await poll_once(engine, BotRepository(engine.store.db), cfg, match=match)  # first sight: quiet
    return items, match, cfg


async def test_a_stop_between_ingest_and_note_loses_no_alert(
    news_server: NewsServer, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = engine.store.db
    items, match, cfg = await polled_once(news_server, engine, 111, "b")
    items.insert(0, {"title": NEWS[1].title, "link": serve_article(news_server, "b/2", NEWS[1])})
    news_server.pages["feed.xml"] = Page(rss(items), content_type="application/rss+xml")

    real = outbox.record_articles

    class Stop(BaseException):
        """The process ends here (no handler catches it, as with a kill)."""

    async def stop(*args: object, **kwargs: object) -> None:
        raise Stop

    monkeypatch.setattr(outbox, "record_articles", stop)
    with pytest.raises(Stop):
        await poll_once(engine, BotRepository(engine.store.db), cfg, match=match)
    stored = [a for a in await engine.store.latest_articles(5) if a.title == NEWS[1].title]
    assert len(stored) == 1 and await outbox.status_counts(db) == {}  # stored, not noted
    monkeypatch.setattr(outbox, "record_articles", real)

    again = await poll_once(engine, BotRepository(engine.store.db), cfg, match=match)
    assert [a.id for a in again.added] == [stored[0].id] and again.alerts_queued == 1
    async with db.execute("SELECT chat_id, article_id FROM outbox") as cur:
        assert [tuple(r) for r in await cur.fetchall()] == [(111, stored[0].id)]
    assert (
        await poll_once(engine, BotRepository(engine.store.db), cfg, match=match)
    ).added == []  # seen now: once only
    assert again.counters.get("recovered") == 1 and not again.counters.get("duplicate")


async def test_an_article_ingested_outside_feeds_is_not_taken_for_a_cut_short_one(
    news_server: NewsServer, engine: Engine
) -> None:
    items, match, cfg = await polled_once(news_server, engine, 112, "c")
    # The same story was added with `isnad ingest` (never noted for alerts, as there).
    link = serve_article(news_server, "c/2", NEWS[2])
    await engine.ingest([replace(NEWS[2], url=link)])
    items.insert(0, {"title": NEWS[2].title, "link": link})
    news_server.pages["feed.xml"] = Page(rss(items), content_type="application/rss+xml")
    report = await poll_once(engine, BotRepository(engine.store.db), cfg, match=match)
    assert report.added == [] and report.alerts_queued == 0
    assert report.counters.get("duplicate") == 1 and "recovered" not in report.counters


async def test_atom_feed_and_summary_fallback(news_server: NewsServer, engine: Engine) -> None:
    news_server.pages["empty-page"] = Page(
        b"<html><body><p>\xd9\x82\xd8\xb1\xd9\x8a\xd8\xa8\xd8\xa7\xd9\x8b</p></body></html>"
    )
    entries = [
        {"title": NEWS[2].title, "link": serve_article(news_server, "b/1", NEWS[2])},
        {"title": NEWS[3].title, "link": news_server.url("empty-page"), "summary": NEWS[3].body},
        {
            "title": "خبر قصير",
            "link": news_server.url("empty-page"),
            "id": "x3",
            "summary": "كلمتان فقط",
        },
    ]
    news_server.pages["atom.xml"] = Page(atom(entries), content_type="application/atom+xml")
    report = await poll_once(
        engine, BotRepository(engine.store.db), config(news_server.url("atom.xml"))
    )
    assert [(a.title, a.body, a.source) for a in report.added] == [
        (NEWS[2].title, NEWS[2].body, NEWS[2].source),
        (
            NEWS[3].title,
            NEWS[3].body,
            "وكالة أنباء",
        ),  # from the entry summary, feed title as source
    ]
    assert report.counters["no_text"] == 2 and report.counters["summary_fallback"] == 1
    assert report.counters["entry_no_text"] == 1
    again = await poll_once(
        engine, BotRepository(engine.store.db), config(news_server.url("atom.xml"))
    )
    assert again.added == [] and news_server.hits("empty-page") == 2  # no-text entry remembered


async def test_each_bad_input_counted_and_backed_off(
    news_server: NewsServer, engine: Engine
) -> None:
    good = rss([{"title": NEWS[0].title, "link": serve_article(news_server, "ok/1", NEWS[0])}])
    news_server.pages.update(
        {
            "good.xml": Page(good, content_type="application/rss+xml"),
            "malformed.xml": Page(
                b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><<&&',
                content_type="text/xml",
            ),
            "half.xml": Page(
                HALF_FEED % (NEWS[2].title.encode(), NEWS[2].body.encode()),
                content_type="text/xml",
            ),
            "html.xml": Page(b"<!DOCTYPE html><html><body><p>not a feed</p></body></html>"),
            "empty.xml": Page(rss([]), content_type="application/rss+xml"),
            "huge.xml": Page(stream_bytes=50 * 1024 * 1024, content_type="application/rss+xml"),
            "loop.xml": Page(status=302, headers={"Location": "/loop2.xml"}),
            "loop2.xml": Page(status=302, headers={"Location": "/loop.xml"}),
            "slow.xml": Page(good, delay=5),
        }
    )
    names = ["good", "malformed", "half", "html", "empty", "huge", "loop", "slow"]
    cfg = config(
        *(news_server.url(f"{n}.xml") for n in names), max_feed_bytes=1024 * 1024, fetch_timeout=1.0
    )
    report = await poll_once(
        engine, BotRepository(engine.store.db), cfg
    )  # slow.xml times out, alone
    status = {f.url.rsplit("/", 1)[1]: f.status for f in report.feeds}
    assert status == {
        "good.xml": "ok",
        "malformed.xml": "failed",
        "half.xml": "ok",  # not well-formed, yet it has an entry: read, not refused
        "html.xml": "failed",
        "empty.xml": "empty",
        "huge.xml": "failed",
        "loop.xml": "failed",
        "slow.xml": "failed",
    }
    assert [a.title for a in report.added] == [NEWS[0].title, NEWS[2].title]
    assert report.counters["malformed_but_read"] == 1
    for counter in ("malformed", "not_a_feed", "empty", "too_large", "redirect_loop", "timeout"):
        assert report.counters[counter] == 1, counter
    assert news_server.streamed < 20 * 1024 * 1024
    stored = await newsdb.counters(engine.store.db)
    assert stored["too_large"] == 1 and stored["added"] == 2

    feeds = {f.url.rsplit("/", 1)[1]: f for f in await feedstore.list_feeds(engine.store.db)}
    assert feeds["huge.xml"].failures == 1 and feeds["huge.xml"].next_attempt > time.time() + 50
    assert "more than 1048576 bytes" in feeds["huge.xml"].last_error
    again = await poll_once(
        engine, BotRepository(engine.store.db), cfg
    )  # failing feeds wait their backoff; none is dropped
    assert sum(f.status == "backing_off" for f in again.feeds) == 5 and len(again.feeds) == 8
    assert news_server.hits("huge.xml") == 1


async def test_thousand_entries_capped_on_first_poll(
    news_server: NewsServer, engine: Engine
) -> None:
    body = NEWS[1].body
    items = [
        {"title": f"خبر رقم {i}", "link": news_server.url(f"n/{i}"), "summary": f"{body} رقم {i}"}
        for i in range(1000)
    ]
    news_server.pages["big.xml"] = Page(rss(items), content_type="application/rss+xml")
    cfg = config(news_server.url("big.xml"), max_entries=5)
    report = await poll_once(engine, BotRepository(engine.store.db), cfg)
    # Pages are missing (404): entries fall back to their summaries, near-copies of each other.
    assert len(report.added) == 1 and report.counters["near_duplicate"] == 4
    assert report.counters["entries_capped"] == 995 and report.counters["page_http_error"] == 5
    again = await poll_once(engine, BotRepository(engine.store.db), cfg)
    assert again.added == [] and "entries_capped" not in again.counters  # backlog is history


async def test_duplicates_by_url_and_near_copy(news_server: NewsServer, engine: Engine) -> None:
    copy = replace(SEED, body=light_copies(SEED)["synonyms swapped"], title="نسخة وكالة")
    link = serve_article(news_server, "s/1", SEED)
    news_server.pages["one.xml"] = Page(rss([{"title": SEED.title, "link": link}]))
    news_server.pages["two.xml"] = Page(
        rss(
            [
                {"title": SEED.title, "link": link + "?utm_source=rss#top", "guid": "other-guid"},
                {"title": copy.title, "link": serve_article(news_server, "s/2", copy)},
            ]
        )
    )
    r1 = await poll_once(engine, BotRepository(engine.store.db), config(news_server.url("one.xml")))
    r2 = await poll_once(engine, BotRepository(engine.store.db), config(news_server.url("two.xml")))
    assert len(r1.added) == 1 and r2.added == []
    assert r2.counters["duplicate"] == 1 and r2.counters["near_duplicate"] == 1
    assert news_server.hits("s/1") == 1  # the duplicate URL was not fetched again


async def test_wrong_declared_encoding_counted(news_server: NewsServer, engine: Engine) -> None:
    page = article_page(NEWS[0], charset="windows-1256").encode("cp1256")
    news_server.pages["w/1"] = Page(page, content_type="text/html; charset=utf-8")  # a lie
    news_server.pages["w.xml"] = Page(
        rss([{"title": NEWS[0].title, "link": news_server.url("w/1")}])
    )
    report = await poll_once(
        engine, BotRepository(engine.store.db), config(news_server.url("w.xml"))
    )
    assert [a.body for a in report.added] == [NEWS[0].body] and report.counters["encoding"] == 1


async def test_loopback_feed_refused_unless_allowed(
    news_server: NewsServer, engine: Engine
) -> None:
    news_server.pages["f.xml"] = Page(
        rss([{"title": NEWS[0].title, "link": serve_article(news_server, "l/1", NEWS[0])}])
    )
    report = await poll_once(
        engine,
        BotRepository(engine.store.db),
        config(news_server.url("f.xml"), allow_private=False),
    )
    assert report.feeds[0].status == "failed" and report.counters["address_refused"] == 1
    assert "ISNAD_ALLOW_PRIVATE_URLS" in report.feeds[0].error and news_server.requests == []


async def test_cmd_poll_prints_what_it_added(
    news_server: NewsServer,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import bot.factory

    monkeypatch.setattr(bot.factory, "load_embedder", lambda s: HashingEmbedder())
    link = serve_article(news_server, "c/1", NEWS[0])
    news_server.pages["c.xml"] = Page(rss([{"title": NEWS[0].title, "link": link}]))
    feeds = [news_server.url("c.xml"), news_server.url("missing.xml")]
    await cmd_poll(settings.model_copy(update={"feeds": feeds, "allow_private_urls": True}))
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"ok             1 {feeds[0]}"
    assert out[1] == f"    + [1] {NEWS[0].title} — وكالة الأنباء — 2019-09-02"
    assert out[2].startswith(f"failed         0 {feeds[1]}  (HTTP 404")
    assert out[3] == "added 1 articles; 0 alerts queued"


async def test_feeds_from_settings_and_admin(engine: Engine) -> None:
    db = engine.store.db
    await feedstore.sync_settings_feeds(db, ["http://a.example/rss", "http://b.example/rss"])
    feed, new = await feedstore.add_feed(db, "http://b.example/rss")
    assert not new and not feed.from_settings  # an admin now owns it too
    feed, new = await feedstore.add_feed(db, "http://c.example/rss")
    assert new and feed.first_polled is False
    # Polled with settings that no longer name a or b: a stops, b and c (admin's) go on.
    report = await poll_once(
        engine, BotRepository(engine.store.db), config(allow_private=False, fetch_timeout=0.5)
    )
    assert sorted(f.url for f in report.feeds) == ["http://b.example/rss", "http://c.example/rss"]
    assert await feedstore.remove_feed(db, str(feed.id)) and not await feedstore.remove_feed(
        db, "x"
    )
    assert [f.url for f in await feedstore.list_feeds(db)] == [
        "http://a.example/rss",
        "http://b.example/rss",
    ]


async def test_entries_that_are_not_articles_are_skipped_and_counted(
    news_server: NewsServer, engine: Engine
) -> None:
    text = NEWS[1].body  # long enough for the summary fallback
    items = [
        {"title": "&lol9;", "link": "javascript:alert(1)", "summary": text},
        {"title": "ملف", "link": "file:///etc/passwd", "summary": text},
        {"title": "بيانات", "link": "data:text/html,hi", "summary": text},
        # An unexpanded entity for a title: the page's own headline is taken instead.
        {"title": "&lol9;", "link": serve_article(news_server, "n/0", NEWS[0])},
        # Neither a title nor any text: not an article.
        {"title": "&lol9;", "link": news_server.url("blank"), "summary": "&lol9; &lol9;"},
    ]
    news_server.pages["blank"] = Page(b"<html><body></body></html>")
    feed = rss(items).replace(b"&amp;lol9;", b"&lol9;")
    news_server.pages["lol.xml"] = Page(feed, content_type="application/rss+xml")
    report = await poll_once(
        engine, BotRepository(engine.store.db), config(news_server.url("lol.xml"))
    )
    assert [(a.title, a.url) for a in report.added] == [(NEWS[0].title, news_server.url("n/0"))]
    assert report.counters["entry_bad_link"] == 3 and report.counters["entry_no_text"] == 1
    async with engine.store.db.execute("SELECT url FROM articles") as cur:
        assert [u for (u,) in await cur.fetchall()] == [news_server.url("n/0")]
