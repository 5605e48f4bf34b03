"""Fixtures for driving the real bot against a local Bot API server."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from telegram.ext import Application

from bot.settings import Settings
from bot.telegram.formatting import ALLOWED_TAGS
from bot.telegram.htmlsplit import MAX_MESSAGE, RLM, utf16_len
from bot.tools.localapi import LocalBotApi
from retrieval.answer import AnswerConfig
from retrieval.engine import Engine
from retrieval.intake import read_article_file
from retrieval.models import ArticleDraft
from retrieval.store import CorpusStore
from support.embedders import HashingEmbedder

ROOT = Path(__file__).resolve().parents[2]
SEED_FILE = next((ROOT / "seeds").glob("000_*.txt"))
TOKEN = "123456:SECRET-token_for_tests_only_0123456789"
SEED_URL = "https://example.com/news/idlib-russia?a=1&b=2"
# Wide enough that unrelated words rarely share a bucket: the seed question then
# scores about 0.1 and a question with no word of the corpus 0.0, so this
# threshold answers the first and refuses the second.
DIM = 4096
THRESHOLD = 0.05

# A second article, in another source, whose text mixes Latin, digits and a URL.
SECOND = ArticleDraft(
    title="منتخب المغرب يفوز على البرتغال 1-0 في Qatar 2022",
    body=(
        "فاز منتخب المغرب على منتخب البرتغال بهدف دون رد في ربع نهائي كأس العالم"
        " FIFA World Cup 2022، وسجل الهدف يوسف النصيري في الدقيقة 42.\n\n"
        "وقال المدرب وليد الركراكي إن الفوز تاريخي للكرة العربية والأفريقية،"
        " وتابع المباراة أكثر من 44,000 متفرج في ملعب الثمامة.\n\n"
        "وتنشر النتائج الكاملة على الموقع https://www.fifa.com/worldcup للمتابعين."
    ),
    source="Sport <News> & Co",
    url='https://example.org/sport/morocco?x=<1>&y="2"',
    published="2022-12-10",
)


async def open_test_engine(path: Path, database_url: str = "") -> Engine:
    """Return an engine over the seed (given a test URL and date) and SECOND.

    The corpus is in the PostgreSQL database at database_url, or else a file in path.
    """
    store = await CorpusStore.open_location(database_url, path / "bot.db")
    engine = await Engine.open(
        store,
        HashingEmbedder(dim=DIM),
        path / "bot.faiss",
        answer=AnswerConfig(threshold=THRESHOLD),
    )
    seed = replace(read_article_file(SEED_FILE), url=SEED_URL, published="2019-09-02")
    await engine.ingest([seed, SECOND])
    return engine


def bot_settings(api: LocalBotApi, tmp_path: Path, **overrides: Any) -> Settings:
    """Return settings that point the bot at the local server."""
    values: dict[str, Any] = {
        "telegram_token": api.token,
        "telegram_base_url": api.base_url,
        "data_dir": tmp_path / "data",
        "rate_limit_count": 1000,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


StartBot = Callable[..., Awaitable[Application]]  # type: ignore[type-arg]


async def stop_app(app: Application, api: LocalBotApi) -> None:  # type: ignore[type-arg]
    """Stop polling (releasing the long poll at once), then the application."""
    assert app.updater is not None
    stopping = asyncio.create_task(app.updater.stop())
    await asyncio.sleep(0)
    await api.release()
    await stopping
    await app.stop()
    if app.post_stop is not None:
        await app.post_stop(app)
    await app.shutdown()
    if app.post_shutdown is not None:
        await app.post_shutdown(app)


# -- checks on what the bot sent ----------------------------------------------


class _TagChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def visible(html_text: str) -> str:
    """Return the text a client shows for Telegram HTML."""
    parser = _TagChecker()
    parser.feed(html_text)
    parser.close()
    return "".join(parser.text)


def check_message(html_text: str) -> str:
    """Assert Telegram would take this HTML and show it right-to-left; return its text."""
    assert 0 < utf16_len(html_text) <= MAX_MESSAGE
    parser = _TagChecker()
    parser.feed(html_text)
    parser.close()
    assert parser.stack == [], f"unclosed tags {parser.stack}"
    assert parser.tags <= ALLOWED_TAGS, parser.tags - ALLOWED_TAGS
    shown = "".join(parser.text)
    for line in shown.split("\n"):
        stripped = line.lstrip()
        if stripped:
            first = stripped[0]
            assert first == RLM or unicodedata.bidirectional(first) in ("R", "AL"), line
    return shown
