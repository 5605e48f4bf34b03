"""`make bench`, feeds and alerts: ingest rate from a local feed, alert fan-out rate.

Both run against servers on 127.0.0.1 and a throwaway data directory:

1. an aiohttp server serves an RSS feed of Arabic article pages; one real poll
   (fetch + extract + embed + index) ingests them all, and we count articles/min;
2. a second poll finds one new entry, fans it out to `subscribers` chats that
   subscribed to all news, and the real AlertSender delivers the alerts through
   the local Bot API server; we time until every outbox row is marked sent.

Every stage is bounded by a timeout, so the bench always stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import random
import tempfile
import time
from collections.abc import AsyncIterator
from html import escape
from pathlib import Path

from telegram import Bot

from bot.database import BotRepository
from bot.factory import open_engine
from bot.news.poller import PollConfig, poll_once
from bot.news.sender import AlertSender
from bot.news.subscriptions import TopicMatcher
from bot.settings import Settings
from bot.tools.localapi import LocalBotApi
from bot.tools.newssite import NewsServer, Page, running_server
from retrieval.embedding import Embedder
from retrieval.store import CorpusStore

BOT_TOKEN = "4242:FEEDBENCH"
SOURCE = "وكالة الأنباء المحلية"
MIN_BODY_WORDS = 150
MAX_BODY_WORDS = 250


@dataclasses.dataclass(frozen=True)
class BenchArticle:
    """One article page the local news site serves."""

    slug: str
    title: str
    paragraphs: tuple[str, ...]
    published: str  # RFC 822, as RSS wants it

    @property
    def words(self) -> int:
        """Return how many words the body has."""
        return sum(len(p.split()) for p in self.paragraphs)


# -- the articles --------------------------------------------------------------

_SUBJECTS = (
    "وزير الخارجية",
    "رئيس الحكومة",
    "المتحدث باسم الجيش",
    "مجلس النواب",
    "البنك المركزي",
    "وزارة الصحة",
    "الأمم المتحدة",
    "اتحاد النقابات",
    "محافظ المدينة",
    "وزارة التربية",
    "شركة الكهرباء الوطنية",
    "الهلال الأحمر",
)
_VERBS = ("أعلن", "أكد", "نفى", "كشف", "حذر من", "رحب", "ناقش", "انتقد", "طالب", "أوضح")
_OBJECTS = (
    "خطة جديدة لإعادة الإعمار",
    "ارتفاع أسعار المواد الغذائية",
    "اتفاقاً لوقف إطلاق النار",
    "نتائج الانتخابات البلدية",
    "حملة تطعيم واسعة",
    "زيادة في رواتب الموظفين",
    "إغلاق المعابر الحدودية",
    "مشروعاً لتحلية مياه البحر",
    "تراجع معدلات البطالة",
    "موجة نزوح من القرى",
    "تعديلات على قانون الاستثمار",
    "افتتاح مستشفى ميداني",
)
_PLACES = (
    "دمشق",
    "حلب",
    "إدلب",
    "بيروت",
    "عمّان",
    "بغداد",
    "القاهرة",
    "تونس",
    "الرباط",
    "الدوحة",
    "صنعاء",
    "الخرطوم",
)
_TAILS = (
    "وسط ترقب من الأهالي",
    "بحسب مصادر مطلعة",
    "في مؤتمر صحفي عقد صباح اليوم",
    "بعد اجتماع استمر ساعات",
    "على أن يبدأ التنفيذ الشهر المقبل",
    "في ظل أزمة اقتصادية خانقة",
    "وفق بيان رسمي",
    "رغم اعتراض عدد من الخبراء",
)


def _synth_paragraph(rng: random.Random, sentences: int = 5) -> str:
    out = []
    for _ in range(sentences):
        out.append(
            f"{rng.choice(_SUBJECTS)} في {rng.choice(_PLACES)} {rng.choice(_VERBS)}"
            f" {rng.choice(_OBJECTS)} بقيمة {rng.randint(2, 900)} مليون دولار"
            f" {rng.choice(_TAILS)}، وقال إن {rng.choice(_OBJECTS)} يشمل"
            f" {rng.randint(3, 80)} منطقة في {rng.choice(_PLACES)}."
        )
    return " ".join(out)


def _eval_paragraphs(path: Path | None) -> list[tuple[str, str]]:
    """Return (document title, paragraph) pairs of a SQuAD file, each paragraph once."""
    if path is None or not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    seen: dict[str, str] = {}
    for doc in data:
        for para in doc["paragraphs"]:
            text = " ".join(str(para["context"]).split())
            if len(text.split()) >= 20:
                seen.setdefault(text, str(doc.get("title") or ""))
    return [(title, text) for text, title in seen.items()]


def make_articles(count: int, eval_file: Path | None = None) -> list[BenchArticle]:
    """Return `count` distinct Arabic articles of about 150-250 words.

    Paragraphs of the SQuAD file are joined in order until an article has enough
    words; when the file is missing or used up, synthesised news sentences fill in.
    """
    rng = random.Random(5)
    pool = _eval_paragraphs(eval_file)
    articles: list[BenchArticle] = []
    for n in range(count):
        paragraphs: list[str] = []
        title = ""
        while sum(len(p.split()) for p in paragraphs) < MIN_BODY_WORDS:
            if pool:
                doc_title, text = pool.pop(0)
                title = title or doc_title
            else:
                text = _synth_paragraph(rng)
            room = MAX_BODY_WORDS - sum(len(p.split()) for p in paragraphs)
            if paragraphs and len(text.split()) > room:
                text = " ".join(text.split()[: max(room, 30)])
            paragraphs.append(text)
        lead = " ".join(paragraphs[0].split()[:8])
        headline = f"{title}: {lead}" if title else lead
        articles.append(
            BenchArticle(
                slug=f"news/{n + 1}.html",
                title=f"{headline} ({n + 1})",
                paragraphs=tuple(paragraphs),
                published=f"Mon, 02 Sep 2019 {8 + n // 60 % 12:02d}:{n % 60:02d}:00 GMT",
            )
        )
    return articles


def article_html(article: BenchArticle) -> bytes:
    """Return a simple news page: title, nav, the article's paragraphs, footer."""
    paras = "".join(f"<p>{escape(p)}</p>" for p in article.paragraphs)
    return (
        '<!DOCTYPE html><html lang="ar" dir="rtl"><head><meta charset="utf-8">'
        f"<title>{escape(article.title)}</title>"
        f'<meta property="og:site_name" content="{escape(SOURCE)}"></head>'
        '<body><nav><a href="/">الرئيسية</a> <a href="/s">سياسة</a></nav>'
        f"<article><h1>{escape(article.title)}</h1>{paras}</article>"
        "<footer>جميع الحقوق محفوظة</footer></body></html>"
    ).encode()


def rss_feed(base: str, articles: list[BenchArticle]) -> bytes:
    """Return an RSS 2.0 feed listing the articles, newest first."""
    items = "".join(
        "<item>"
        f"<title>{escape(a.title)}</title>"
        f"<link>{base}/{a.slug}</link><guid>{base}/{a.slug}</guid>"
        f"<description>{escape(' '.join(a.paragraphs[0].split()[:30]))}</description>"
        f"<pubDate>{a.published}</pubDate>"
        "</item>"
        for a in reversed(articles)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(SOURCE)}</title><link>{base}/</link>"
        f"<description>أخبار</description>{items}</channel></rss>"
    ).encode()


class NewsSite:
    """The bench's news site on the shared local server: /feed.xml lists what is published."""

    def __init__(self, server: NewsServer, articles: list[BenchArticle]) -> None:
        self.server = server
        self.articles: list[BenchArticle] = []
        for article in articles:
            self.publish(article)

    @property
    def base(self) -> str:
        """Return the site's root URL (no trailing slash)."""
        return self.server.url("").rstrip("/")

    @property
    def feed_url(self) -> str:
        """Return the feed's URL."""
        return self.server.url("feed.xml")

    def publish(self, article: BenchArticle) -> None:
        """Serve an article's page and list it in the feed."""
        self.articles.append(article)
        self.server.pages[article.slug] = Page(article_html(article))
        self.server.pages["feed.xml"] = Page(
            rss_feed(self.base, self.articles), "application/rss+xml; charset=utf-8"
        )


@contextlib.asynccontextmanager
async def news_site(articles: list[BenchArticle]) -> AsyncIterator[NewsSite]:
    """Run a local news site for the duration of the block."""
    async with running_server() as server:
        yield NewsSite(server, articles)


# -- the bench -----------------------------------------------------------------


async def _wait_all_sent(repo: BotRepository, want: int, deadline: float) -> int:
    """Poll the outbox until `want` rows are sent or the deadline passes; return sent."""
    sent = 0
    while time.monotonic() < deadline:
        sent = (await repo.outbox.status_counts()).get("sent", 0)
        if sent >= want:
            break
        await asyncio.sleep(0.02)
    return sent


async def feed_bench(
    settings: Settings,
    embedder: Embedder,
    *,
    articles: int = 20,
    subscribers: int = 1000,
    eval_file: Path | None = None,
    poll_timeout: float = 600.0,
    send_timeout: float | None = None,
) -> dict[str, object]:
    """Ingest `articles` from a local feed, then alert `subscribers` chats of one new article."""
    made = make_articles(articles + 1, eval_file)
    backlog, fresh = made[:articles], made[articles]
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="isnad-feedbench-") as tmp:
        async with news_site(backlog) as site:
            bench = settings.model_copy(
                update={"data_dir": Path(tmp), "allow_private_urls": True, "feeds": [site.feed_url]}
            )
            config = PollConfig.from_settings(bench)
            config = dataclasses.replace(config, max_entries=max(config.max_entries, articles + 1))
            engine = await open_engine(bench, embedder)
            bot_db = await BotRepository.open(bench.db_path)
            try:
                # 1. First sight of the feed: every entry fetched, extracted, embedded, indexed.
                start = time.perf_counter()
                async with asyncio.timeout(poll_timeout):
                    report = await poll_once(engine, bot_db, config)
                seconds = time.perf_counter() - start
                added = len(report.added)
                figures.update(
                    {
                        "feed_articles_served": articles,
                        "feed_articles_added": added,
                        "feed_words_per_article": round(sum(a.words for a in backlog) / articles),
                        "feed_poll_s": round(seconds, 2),
                        "feed_articles_per_min": round(added * 60 / seconds, 1),
                    }
                )
                # 2. Subscribers, then one new entry: the second poll queues its alerts.
                for chat in range(1, subscribers + 1):
                    await bot_db.subscriptions.subscribe(chat)
                site.publish(fresh)
                start = time.perf_counter()
                async with asyncio.timeout(poll_timeout):
                    second = await poll_once(
                        engine,
                        bot_db,
                        config,
                        match=TopicMatcher(engine, bot_db.subscriptions).chats_for,
                    )
                figures["alert_new_articles"] = len(second.added)
                figures["alerts_queued"] = second.alerts_queued
                figures["alert_poll_and_queue_s"] = round(time.perf_counter() - start, 2)
                figures.update(
                    await _send_all(
                        bot_db, engine.store, second.alerts_queued, subscribers, send_timeout
                    )
                )
            finally:
                await bot_db.close()
                await engine.close()
    return figures


async def _send_all(
    repo: BotRepository,
    store: CorpusStore,
    queued: int,
    subscribers: int,
    timeout: float | None,
) -> dict[str, object]:
    """Deliver the queued alerts through the local Bot API server and time it."""
    api = LocalBotApi(token=BOT_TOKEN)
    await api.start()
    try:
        async with Bot(BOT_TOKEN, base_url=api.base_url) as bot:
            sender = AlertSender(bot, repo, store.get_article)
            # At ~30/s the sends take queued/30 s; allow three times that and then some.
            limit = timeout if timeout is not None else queued / 30.0 * 3 + 30.0
            start = time.perf_counter()
            task = asyncio.create_task(sender.run())
            try:
                sent = await _wait_all_sent(repo, queued, time.monotonic() + limit)
                seconds = time.perf_counter() - start
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        calls = api.requests("sendMessage")
        counts = await repo.outbox.status_counts()
    finally:
        await api.stop()
    chats = {c.params.get("chat_id") for c in calls}
    return {
        "alert_subscribers": subscribers,
        "alerts_sent": counts.get("sent", 0),
        "alerts_pending": counts.get("pending", 0),
        "alert_sendmessage_calls": len(calls),
        "alert_distinct_chats": len(chats),
        "alert_all_sent": sent >= queued == subscribers == len(calls),
        "alert_send_s": round(seconds, 2),
        "alerts_per_s": round(sent / seconds, 1) if seconds > 0 else 0.0,
    }


def run_feed_bench(
    settings: Settings,
    embedder: Embedder,
    *,
    articles: int = 20,
    subscribers: int = 1000,
    eval_file: Path | None = None,
) -> dict[str, object]:
    """Run the feed ingest and alert fan-out benchmark and return its figures."""
    return asyncio.run(
        feed_bench(
            settings, embedder, articles=articles, subscribers=subscribers, eval_file=eval_file
        )
    )
