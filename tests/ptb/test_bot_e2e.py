"""End-to-end: the real application, polling a Bot API server on 127.0.0.1."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from support.botapi import (
    DIM,
    SEED_FILE,
    SEED_URL,
    THRESHOLD,
    TOKEN,
    StartBot,
    check_message,
)
from support.embedders import HashingEmbedder
from support.waiting import until
from telegram.ext import Application

from bot.conversation.followup import subject_words
from bot.settings import Settings
from bot.telegram import formatting, texts
from bot.telegram.app import ConfigError, run_bot, webhook_url
from bot.telegram.formatting import FSI, PDI
from bot.telegram.ratelimit import RateLimiter
from bot.telegram.sessions import SessionStore
from bot.tools.bench_bot import bench_bot, bench_table
from bot.tools.localapi import LocalBotApi
from retrieval.answer import AnswerConfig
from retrieval.embedding import Progress
from retrieval.engine import Engine
from retrieval.intake import read_article_file
from retrieval.store import CorpusStore

SEED_QUESTION = "بأي حجة تواصل روسيا التصعيد؟"
SEED_QUOTE = (
    "«وقالت الصحيفة بأن الضباط الأتراك قالوا للفصائل بأنهم لا زالوا على تواصل مع الجانب"
    " الروسي رغم تعثر المحادثات، وأن الروس مستمرون بالتصعيد بحجة حماية قاعدتهم في “حميميم”"
    " بريف اللاذقية.»"
)
SEED_LINK = (
    '<a href="https://example.com/news/idlib-russia?a=1&amp;b=2">'
    "روسيا ترفض طلب تركي بخصوص مدينة إدلب وتركيا ترد</a>"
)
OFF_TOPIC = "ما هي عاصمة اليابان؟"
HTML = {"parse_mode": "HTML", "link_preview_options": {"is_disabled": True}}
CALLBACK = re.compile(r"^q:[ms]:[A-Za-z0-9_-]{8}$")

PUBLIC_COMMANDS = [
    "start",
    "ask",
    "sources",
    "about",
    "help",
    "subscribe",
    "unsubscribe",
    "subscriptions",
]
WELCOME = (
    "أهلاً بك في «إسناد». أجيب عن أسئلتك عن الأخبار من مجموعة مقالات إخبارية: أقتبس الجمل"
    " كما وردت في الخبر، وأذكر مصدر كل جملة، ولا أكتب معلومات من عندي.\n\n"
    f"ما أعرفه الآن: عدد المقالات {FSI}2{PDI}، وعدد المصادر {FSI}2{PDI}. أحدث خبر لديّ بتاريخ"
    f" {FSI}2022-12-10{PDI}.\n\n"
    "اكتب سؤالك في رسالة، مثل: «ماذا قال وزير الدفاع التركي عن إدلب؟»، أو أرسله بعد الأمر"
    f" {FSI}/ask{PDI}.\n\n"
    f"في المجموعات: استعمل {FSI}/ask{PDI}، أو اذكرني بـ {FSI}@isnad_test_bot{PDI}، أو ردّ على"
    " إحدى رسائلي.\n\n"
    f"للتنبيه بالأخبار الجديدة: {FSI}/subscribe{PDI} لكل الأخبار، أو {FSI}/subscribe{PDI}"
    f" متبوعاً بموضوع، و {FSI}/unsubscribe{PDI} {FSI}all{PDI} لإيقاف كل التنبيهات.\n\n"
    f"للمساعدة: {FSI}/help{PDI}"
)


def sent(api: LocalBotApi, chat_id: int) -> list[dict[str, Any]]:
    """Return the parameters of every sendMessage to a chat."""
    return [c.params for c in api.requests("sendMessage", chat_id=chat_id)]


def reply_to(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "reply_parameters": {
            "message_id": message["message_id"],
            "allow_sending_without_reply": True,
        }
    }


def assert_all_valid(api: LocalBotApi) -> None:
    """Every message the bot sent is Telegram HTML, right-to-left, within 4096."""
    for call in api.requests("sendMessage"):
        check_message(call.params["text"])
        assert call.params["parse_mode"] == "HTML"
        assert call.params["link_preview_options"] == {"is_disabled": True}
        for row in call.params.get("reply_markup", {}).get("inline_keyboard", []):
            for button in row:
                assert len(button["callback_data"].encode()) <= 64


async def answer_texts(engine: Engine, question: str) -> list[str]:
    return formatting.answer_messages(await engine.ask(question))


async def settle(api: LocalBotApi, app: Application, user_id: int = 999) -> None:  # type: ignore[type-arg]
    """Wait until updates pushed before now have been handled (a /help round trip)."""
    api.send_text("/help", user_id=user_id)
    before = len(sent(api, user_id))
    await api.replies(user_id, count=before + 1)
    # Updates run side by side: the others may still be at work once /help is answered.
    await until(
        lambda: app.update_queue.empty() and app.update_processor.current_concurrent_updates == 0,
        what="every update handled",
    )


# -- commands -----------------------------------------------------------------


async def test_start_registers_commands_and_greets(
    start_bot: StartBot, botapi: LocalBotApi
) -> None:
    await start_bot()
    msg = botapi.send_text("/start", user_id=7)
    (call,) = await botapi.replies(7)
    assert call.params == {"chat_id": 7, "text": WELCOME, **HTML}
    assert [c.method for c in botapi.calls[:3]] == ["getMe", "setMyCommands", "deleteWebhook"]
    assert botapi.requests("setMyCommands")[0].params == {
        "commands": [
            {"command": "start", "description": "رسالة الترحيب"},
            {"command": "ask", "description": "اسأل عن خبر: /ask ثم سؤالك"},
            {"command": "sources", "description": "ما تحتويه مجموعة الأخبار"},
            {"command": "about", "description": "عن البوت وكيف تُبنى الإجابات"},
            {"command": "help", "description": "طريقة الاستعمال والأوامر"},
            {"command": "subscribe", "description": "اشترك في تنبيهات الأخبار الجديدة"},
            {"command": "unsubscribe", "description": "أوقف تنبيهات الأخبار"},
            {"command": "subscriptions", "description": "اشتراكاتك في التنبيهات"},
        ]
    }
    assert msg["text"] == "/start"
    assert_all_valid(botapi)


async def test_help_sources_about(
    start_bot: StartBot, botapi: LocalBotApi, bot_engine: Engine
) -> None:
    await start_bot()
    for user, command in ((11, "/help"), (12, "/sources"), (13, "/about")):
        botapi.send_text(command, user_id=user)
    (help_call,) = await botapi.replies(11)
    (sources_call,) = await botapi.replies(12)
    (about_call,) = await botapi.replies(13)
    stats = await bot_engine.store.stats()
    newest = (await bot_engine.store.latest_articles(1))[0]
    assert (
        help_call.params["text"] == formatting.help_messages("isnad_test_bot", PUBLIC_COMMANDS)[0]
    )
    assert f"{FSI}/ask{PDI} — اسأل عن خبر" in help_call.params["text"]
    assert sources_call.params["text"] == (
        "<b>ما تحتويه مجموعة الأخبار:</b>\n"
        f"عدد المقالات: {FSI}2{PDI}\n"
        f"أحدث مقال: منتخب المغرب يفوز على البرتغال {FSI}1-0{PDI} في {FSI}Qatar 2022{PDI}"
        f" — {FSI}Sport{PDI} &lt;{FSI}News{PDI}&gt; &amp; {FSI}Co{PDI} — {FSI}2022-12-10{PDI}\n\n"
        "<b>المصادر:</b>\n"
        f"\u200f• {FSI}Sport{PDI} &lt;{FSI}News{PDI}&gt; &amp; {FSI}Co: 1{PDI}\n"
        f"\u200f• مدونة هادي العبد الله: {FSI}1{PDI}"
    )
    assert sources_call.params["text"] == formatting.corpus_messages(stats, newest)[0]
    about = about_call.params["text"]
    assert about == formatting.about_messages(f"hashing-{DIM}", stats)[0]
    assert f"نموذج البحث بالمعنى: {FSI}hashing-{DIM}{PDI}" in about
    assert f"عدد المقالات {FSI}2{PDI}، وعدد المقاطع {FSI}{stats.chunks}{PDI}" in about
    assert_all_valid(botapi)


# -- answers ------------------------------------------------------------------


async def test_seed_question_is_answered_with_quote_link_and_buttons(
    start_bot: StartBot, botapi: LocalBotApi, bot_engine: Engine
) -> None:
    await start_bot()
    msg = botapi.send_text(SEED_QUESTION, user_id=21)
    (call,) = await botapi.replies(21)
    expected = await answer_texts(bot_engine, SEED_QUESTION)
    markup = call.params.pop("reply_markup")
    assert call.params == {"chat_id": 21, "text": expected[0], **HTML, **reply_to(msg)}
    text = call.params["text"]
    assert text.startswith("<b>الجواب:</b>\n\u200f" + SEED_QUOTE + f" [{FSI}1{PDI}]\n")
    # Sources are grouped by outlet: the outlet in bold, then its articles with their time.
    assert (
        f"<b>المصادر:</b>\n<b>مدونة هادي العبد الله</b>\n"
        f"\u200f[{FSI}1{PDI}] {SEED_LINK} — {FSI}2019-09-02{PDI}"
    ) in text
    assert "<blockquote expandable>" in text
    ((more, sources),) = markup["inline_keyboard"]
    assert more["text"] == "نتائج أخرى" and sources["text"] == "المصادر"
    assert CALLBACK.match(more["callback_data"]) and CALLBACK.match(sources["callback_data"])
    assert more["callback_data"][4:] == sources["callback_data"][4:]
    typing = botapi.requests("sendChatAction", chat_id=21)
    assert typing and typing[0].params == {"chat_id": 21, "action": "typing"}
    assert typing[0].at < call.at
    assert_all_valid(botapi)


async def test_no_answer_says_so_and_offers_headlines(
    start_bot: StartBot, botapi: LocalBotApi, bot_engine: Engine
) -> None:
    await start_bot()
    assert not (await bot_engine.ask(OFF_TOPIC)).answered
    msg = botapi.send_text(OFF_TOPIC, user_id=22)
    (call,) = await botapi.replies(22)
    expected = await answer_texts(bot_engine, OFF_TOPIC)
    assert call.params == {"chat_id": 22, "text": expected[0], **HTML, **reply_to(msg)}
    text = call.params["text"]
    assert text.startswith(texts.NO_ANSWER + "\n\n<b>أقرب العناوين إلى سؤالك:</b>\n\u200f• ")
    assert SEED_LINK in text
    assert_all_valid(botapi)


async def test_more_results_and_sources_buttons(
    start_bot: StartBot, botapi: LocalBotApi, bot_engine: Engine
) -> None:
    await start_bot()
    botapi.send_text(SEED_QUESTION, user_id=23)
    (answer_call,) = await botapi.replies(23)
    answer_msg = answer_call.result
    data = answer_call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    answer = await bot_engine.ask(SEED_QUESTION)
    shown = {h.chunk.id for _, h in formatting.quoted_passages(answer)}

    query_id = botapi.press(answer_msg, data, user_id=23)
    await botapi.replies(23, count=2)
    hits = await bot_engine.search(SEED_QUESTION, len(shown) + 3)
    fresh = [h for h in hits if h.chunk.id not in shown][:3]
    assert fresh
    more_call = sent(botapi, 23)[1]
    assert more_call == {
        "chat_id": 23,
        "text": formatting.more_messages(SEED_QUESTION, fresh)[0],
        **HTML,
        **reply_to(answer_msg),
        "reply_markup": answer_call.params["reply_markup"],
    }
    assert more_call["text"].startswith(
        f"<b>نتائج أخرى لسؤالك:</b> «{SEED_QUESTION}»\n\n<blockquote expandable>"
    )
    (answered,) = botapi.requests("answerCallbackQuery")
    assert answered.params == {"callback_query_id": query_id}  # no text: a message follows

    # Pressing until nothing is left ends with a polite notice, not a message.
    for _ in range(5):
        before = len(sent(botapi, 23))
        query_id = botapi.press(answer_msg, data, user_id=23)
        (done,) = await botapi.wait_for(
            lambda c, q=query_id: (
                c.method == "answerCallbackQuery"  # type: ignore[misc]
                and c.params["callback_query_id"] == q
            )
        )
        if done.params.get("text") == texts.NO_MORE_RESULTS:
            assert len(sent(botapi, 23)) == before
            break
    else:
        pytest.fail("more results never ran out")

    sources_data = data.replace("q:m:", "q:s:")
    query_id = botapi.press(answer_msg, sources_data, user_id=23)
    await botapi.wait_for(
        lambda c: c.method == "sendMessage" and c.params["text"].startswith("<b>المصادر التي")
    )
    sources_call = sent(botapi, 23)[-1]
    articles = await bot_engine.store.get_articles([1, 2])
    order = list(dict.fromkeys([h.article.id for h in answer.hits] + [h.article.id for h in hits]))
    assert sources_call == {
        "chat_id": 23,
        "text": formatting.sources_messages(SEED_QUESTION, [articles[i] for i in order])[0],
        **HTML,
        **reply_to(answer_msg),
    }
    assert SEED_LINK in sources_call["text"]
    assert_all_valid(botapi)


async def test_expired_or_forged_buttons_get_a_polite_answer(
    start_bot: StartBot, botapi: LocalBotApi
) -> None:
    app = await start_bot()
    app.bot_data.sessions = SessionStore(size=1)
    botapi.send_text(SEED_QUESTION, user_id=24)
    (first,) = await botapi.replies(24)
    botapi.send_text("من سجل هدف المغرب؟", user_id=24)
    await botapi.replies(24, count=2)
    old = first.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    # The second answer pushed the first out of a store of one.
    for data in (old, "q:m:AAAAAAAA", "q:s:", "q:zz", "q:m:" + "x" * 60):
        query_id = botapi.press(first.result, data, user_id=24)
        (call,) = await botapi.wait_for(
            lambda c, q=query_id: (
                c.method == "answerCallbackQuery"  # type: ignore[misc]
                and c.params["callback_query_id"] == q
            )
        )
        assert call.params == {"callback_query_id": query_id, "text": texts.BUTTON_EXPIRED}
    assert len(sent(botapi, 24)) == 2
    assert not botapi.requests("sendMessage", text=formatting.plain_messages(texts.APOLOGY)[0])


async def test_long_answer_is_split_buttons_on_last(
    start_bot: StartBot, botapi: LocalBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Passages are cut to PASSAGE_CHARS; let them run long enough to need a split.
    monkeypatch.setattr(formatting, "PASSAGE_CHARS", 20_000)
    store = await CorpusStore.open(tmp_path / "long.db")
    engine = await Engine.open(
        store,
        HashingEmbedder(DIM),
        tmp_path / "long.faiss",
        chunk_tokens=2000,
        answer=AnswerConfig(threshold=THRESHOLD),
    )
    seed = read_article_file(SEED_FILE)
    await engine.ingest([replace(seed, body="\n\n".join([seed.body] * 4), url=SEED_URL)])
    try:
        await start_bot(engine)
        msg = botapi.send_text(SEED_QUESTION, user_id=25)
        expected = await answer_texts(engine, SEED_QUESTION)
        assert len(expected) > 1
        calls = await botapi.replies(25, count=len(expected))
        assert [c.params["text"] for c in calls] == expected
        assert calls[0].params["reply_parameters"] == reply_to(msg)["reply_parameters"]
        assert all("reply_parameters" not in c.params for c in calls[1:])
        assert all("reply_markup" not in c.params for c in calls[:-1])
        assert "reply_markup" in calls[-1].params
        assert_all_valid(botapi)
    finally:
        await store.close()


# -- groups -------------------------------------------------------------------

GROUP = -100123


async def test_group_answers_only_when_addressed(
    start_bot: StartBot, botapi: LocalBotApi, bot_engine: Engine
) -> None:
    app = await start_bot()
    expected = (await answer_texts(bot_engine, SEED_QUESTION))[0]
    kw: dict[str, Any] = {"chat_id": GROUP, "chat_type": "supergroup", "user_id": 31}

    # Not addressed: plain text, another bot's command, a bare unknown command, media.
    botapi.send_text(SEED_QUESTION, **kw)
    botapi.send_text(f"/ask@other_bot {SEED_QUESTION}", **kw)
    botapi.send_text("/weather", **kw)
    botapi.send_text(None, extra={"sticker": STICKER}, **kw)
    botapi.send_text("رد على شخص آخر", reply_to=botapi.message("مرحبا", user_id=32), **kw)
    await settle(botapi, app)
    assert sent(botapi, GROUP) == []

    asked = [
        botapi.send_text(f"/ask {SEED_QUESTION}", **kw),
        botapi.send_text(f"/ask@isnad_test_bot {SEED_QUESTION}", **kw),
        botapi.send_text(
            f"@isnad_test_bot {SEED_QUESTION}",
            entities=[{"type": "mention", "offset": 0, "length": 15}],
            **kw,
        ),
        botapi.send_text(
            f"إسناد {SEED_QUESTION}",
            entities=[{"type": "text_mention", "offset": 0, "length": 5, "user": botapi.bot_user}],
            **kw,
        ),
        botapi.send_text(SEED_QUESTION, reply_to=botapi.bot_message(GROUP), **kw),
    ]
    calls = await botapi.replies(GROUP, count=len(asked))
    by_reply = {c.params["reply_parameters"]["message_id"]: c for c in calls}
    for msg in asked:
        call = by_reply[msg["message_id"]]
        assert call.params["text"] == expected
        assert "reply_markup" in call.params

    # Addressed but not answerable, in the group.
    mention = [{"type": "mention", "offset": 0, "length": 15}]
    cases = [
        (botapi.send_text("/ask", **kw), texts.ASK_USAGE.format(example=texts.EXAMPLE_QUESTION)),
        (
            botapi.send_text("@isnad_test_bot", entities=mention, **kw),
            texts.ASK_USAGE.format(example=texts.EXAMPLE_QUESTION),
        ),
        (
            botapi.send_text("/foo@isnad_test_bot", **kw),
            texts.UNKNOWN_COMMAND.format(command="/foo"),
        ),
        (
            botapi.send_text(
                None, extra={"sticker": STICKER}, reply_to=botapi.bot_message(GROUP), **kw
            ),
            texts.TEXT_ONLY,
        ),
    ]
    calls = await botapi.replies(GROUP, count=len(asked) + len(cases))
    by_reply = {c.params["reply_parameters"]["message_id"]: c for c in calls}
    for msg, text in cases:
        assert by_reply[msg["message_id"]].params == {
            "chat_id": GROUP,
            "text": formatting.plain_messages(text)[0],
            **HTML,
            **reply_to(msg),
        }
    assert_all_valid(botapi)


# -- limits and bad input -------------------------------------------------------


async def test_rate_limit_answers_politely(start_bot: StartBot, botapi: LocalBotApi) -> None:
    app = await start_bot(admin_ids=[42])
    app.bot_data.limiter = RateLimiter(2, 30, clock=lambda: 1000.0)
    for user in (41, 42):
        for i in range(3):
            botapi.send_text(f"سؤال رقم {i} عن روسيا", user_id=user)
            await botapi.replies(user, count=i + 1)
    limited = sent(botapi, 41)[2]
    assert (
        limited["text"]
        == f"أرسلت أسئلة كثيرة في وقت قصير. انتظر {FSI}30{PDI} ثانية ثم أعد المحاولة."
    )
    assert "reply_parameters" in limited
    assert all(texts.ANSWER_HEADING in m["text"] for m in sent(botapi, 42))  # admins exempt
    assert len(botapi.requests("sendChatAction", chat_id=41)) == 2


def test_rate_limiter_window() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 30, clock=lambda: now[0])
    assert [limiter.wait(1), limiter.wait(1), limiter.wait(1), limiter.wait(2)] == [0, 0, 30, 0]
    now[0] = 29.5
    assert limiter.wait(1) == 1
    now[0] = 30.0
    assert limiter.wait(1) == 0


STICKER = {
    "file_id": "CAAC",
    "file_unique_id": "u1",
    "type": "regular",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
}
PHOTO = [{"file_id": "AgAD", "file_unique_id": "u2", "width": 90, "height": 90}]
VOICE = {"file_id": "AwAD", "file_unique_id": "u3", "duration": 3}
EMPTY = texts.EMPTY_QUESTION.format(example=texts.EXAMPLE_QUESTION)
ASK_USAGE = texts.ASK_USAGE.format(example=texts.EXAMPLE_QUESTION)

BAD_INPUT: list[tuple[str, str | None, dict[str, Any], str]] = [
    ("whitespace", " \n\t  ", {}, EMPTY),
    ("only bidi controls", "\u202e\u2066\u200f\u2069\u202c", {}, EMPTY),
    ("only emoji", "😀🎉👍🏽", {}, texts.NO_WORDS),
    ("only punctuation", "؟!!... ،، *_[ ]", {}, texts.NO_WORDS),
    ("sticker", None, {"sticker": STICKER}, texts.TEXT_ONLY),
    ("photo", None, {"photo": PHOTO}, texts.TEXT_ONLY),
    ("voice", None, {"voice": VOICE}, texts.TEXT_ONLY),
    ("ask without question", "/ask", {}, texts.ASK_USAGE.format(example=texts.EXAMPLE_QUESTION)),
    ("ask with spaces only", "/ask   \u200b ", {}, ASK_USAGE),
    ("ask with only emoji", "/ask 🤔🤔", {}, texts.NO_WORDS),
    ("ask with junk", "/ask !!! ??? ***", {}, texts.NO_WORDS),
    ("unknown command", "/foo", {}, texts.UNKNOWN_COMMAND.format(command="/foo")),
    (
        "unknown command, junk",
        "/weather_now <b>x</b>",
        {},
        texts.UNKNOWN_COMMAND.format(command="/weather_now"),
    ),
]


@pytest.mark.parametrize(
    ("text", "extra", "reply"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT]
)
async def test_bad_input_gets_a_clear_arabic_reply(
    start_bot: StartBot, botapi: LocalBotApi, text: str | None, extra: dict[str, Any], reply: str
) -> None:
    app = await start_bot()
    botapi.send_text(text, user_id=51, extra=extra)
    (call,) = await botapi.replies(51)
    assert call.params["text"] == formatting.plain_messages(reply)[0]
    assert call.params["chat_id"] == 51
    await settle(botapi, app)
    assert len(sent(botapi, 51)) == 1
    assert not botapi.requests("sendChatAction", chat_id=51)
    assert_all_valid(botapi)


def test_bad_input_replies_are_exact_arabic() -> None:
    assert (
        EMPTY
        == "لم أجد سؤالاً في رسالتك. اكتب سؤالك عن خبر، مثل: «ماذا قال وزير الدفاع التركي عن إدلب؟»."
    )
    assert (
        texts.NO_WORDS
        == "رسالتك لا تحوي كلمات أبحث بها، بل رموزاً أو علامات فقط. اكتب سؤالك بالكلمات."
    )
    assert texts.TEXT_ONLY == "أفهم الرسائل النصية فقط. اكتب سؤالك نصاً وسأبحث لك في الأخبار."
    assert formatting.plain_messages(texts.UNKNOWN_COMMAND.format(command="/foo"))[0] == (
        f"لا أعرف الأمر {FSI}/foo{PDI}. الأوامر المتاحة: {FSI}/ask{PDI} و {FSI}/sources{PDI}"
        f" و {FSI}/about{PDI} و {FSI}/help{PDI}."
    )


async def test_commands_with_junk_arguments_still_work(
    start_bot: StartBot, botapi: LocalBotApi
) -> None:
    await start_bot()
    for user, command in ((52, "/start"), (53, "/help"), (54, "/sources"), (55, "/about")):
        botapi.send_text(command, user_id=user)
        botapi.send_text(f"{command} @@@ <b>junk</b> *_[ \u202e", user_id=user + 10)
    for user in (52, 53, 54, 55):
        (clean,) = await botapi.replies(user)
        (junk,) = await botapi.replies(user + 10)
        assert junk.params["text"] == clean.params["text"]
    assert sent(botapi, 62)[0]["text"] == WELCOME
    assert_all_valid(botapi)


async def test_long_question_is_cut_with_a_note(
    start_bot: StartBot, botapi: LocalBotApi, bot_engine: Engine
) -> None:
    await start_bot()
    question = ("روسيا التصعيد إدلب " * 1200)[:20_000]
    msg = botapi.send_text(question, user_id=56)
    (call,) = await botapi.replies(56)
    cut = question[:1000].rsplit(" ", 1)[0]
    note = texts.TRUNCATED.format(limit=1000)
    expected = formatting.answer_messages(await bot_engine.ask(cut), note)
    assert call.params["text"] == expected[0]
    assert call.params["text"].startswith(
        f"<i>سؤالك طويل، فاكتفيت بأول {FSI}1000{PDI} حرف منه.</i>"
    )
    assert call.params["reply_parameters"] == reply_to(msg)["reply_parameters"]
    assert_all_valid(botapi)


@pytest.mark.parametrize(
    ("raw", "same_as"),
    [
        ("<b>روسيا</b> </blockquote> *_[ إدلب", "<b>روسيا</b> </blockquote> *_[ إدلب"),
        ("\u202eبأي حجة\u202c تواصل روسيا \u2066التصعيد\u2069؟", SEED_QUESTION),
        ("بأي   حجة\u200b\nتواصل روسيا التصعيد؟\u200f", SEED_QUESTION),
        ("Why does Russia keep escalating in Idlib?", "Why does Russia keep escalating in Idlib?"),
        ("من سجل هدف المغرب في Qatar 2022؟", "من سجل هدف المغرب في Qatar 2022؟"),
    ],
    ids=[
        "html and markdown injection",
        "bidi controls",
        "zero-width and spaces",
        "english",
        "mixed",
    ],
)
async def test_odd_questions_are_answered_safely(
    start_bot: StartBot, botapi: LocalBotApi, bot_engine: Engine, raw: str, same_as: str
) -> None:
    await start_bot()
    botapi.send_text(raw, user_id=57)
    (call,) = await botapi.replies(57)
    assert call.params["text"] == (await answer_texts(bot_engine, same_as))[0]
    assert botapi.requests("sendChatAction", chat_id=57)
    assert_all_valid(botapi)


async def test_edited_message_is_not_answered_again(
    start_bot: StartBot, botapi: LocalBotApi
) -> None:
    app = await start_bot()
    msg = botapi.message(SEED_QUESTION, user_id=58)
    msg["edit_date"] = msg["date"] + 5
    botapi.push("edited_message", msg)
    (call,) = await botapi.replies(58)
    assert call.params == {
        "chat_id": 58,
        "text": "لا أعيد الإجابة عن الرسائل المعدّلة. أرسل سؤالك المعدّل في رسالة جديدة.",
        **HTML,
        **reply_to(msg),
    }
    edited_group = botapi.message(SEED_QUESTION, user_id=59, chat_id=GROUP, chat_type="group")
    botapi.push("edited_message", edited_group)
    await settle(botapi, app)
    assert sent(botapi, GROUP) == []
    assert not botapi.requests("sendChatAction")


# -- concurrency, errors, secrets -----------------------------------------------


class SlowEmbedder(HashingEmbedder):
    """The hashing embedder whose queries wait, off the event loop, until the test lets them."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.gate = threading.Event()

    def embed_query(self, text: str) -> np.ndarray:
        self.gate.wait(30)
        return super().embed_query(text)

    def embed_documents(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        return super().embed_documents(texts, progress)


async def test_slow_question_does_not_delay_start(
    start_bot: StartBot, botapi: LocalBotApi, tmp_path: Path
) -> None:
    store = await CorpusStore.open(tmp_path / "slow.db")
    embedder = SlowEmbedder(DIM)
    engine = await Engine.open(store, embedder, tmp_path / "slow.faiss")
    await engine.ingest([read_article_file(SEED_FILE)])
    try:
        await start_bot(engine)
        botapi.send_text(SEED_QUESTION, user_id=61)
        await botapi.wait_for(lambda c: c.method == "sendChatAction")
        botapi.send_text("/start", user_id=62)
        (start_reply,) = await botapi.replies(62)  # while the question is still held
        assert sent(botapi, 61) == []
        embedder.gate.set()
        (answer,) = await botapi.replies(61, timeout=20)
        assert answer.at > start_reply.at
    finally:
        embedder.gate.set()
        await store.close()


async def test_errors_are_logged_apologised_and_never_leak_the_token(
    start_bot: StartBot,
    botapi: LocalBotApi,
    bot_engine: Engine,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    caplog.set_level(logging.DEBUG, logger="telegram")

    async def explode(question: str, *args: object, **kwargs: object) -> None:
        raise RuntimeError(f"engine exploded while calling {botapi.base_url}{TOKEN}/getMe")

    monkeypatch.setattr(bot_engine, "ask", explode)
    await start_bot()
    msg = botapi.send_text(SEED_QUESTION, user_id=71)
    (call,) = await botapi.replies(71)
    assert call.params == {
        "chat_id": 71,
        "text": "عذراً، حدث خطأ أثناء معالجة طلبك. حاول مرة أخرى بعد قليل.",
        **HTML,
        **reply_to(msg),
    }
    errors = [
        r
        for r in caplog.records
        if r.levelno == logging.ERROR and r.name == "bot.telegram.questions"
    ]
    assert len(errors) == 1
    trace = errors[0].exc_text or ""
    assert trace.startswith("Traceback") and "RuntimeError: engine exploded" in trace
    secret = TOKEN.split(":")[1]
    assert TOKEN not in caplog.text and secret not in caplog.text
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in (record.exc_text or "")
    # httpx logs each URL, token included, at INFO: those lines are there, redacted.
    assert any(r.name == "httpx" and "<redacted>" in r.getMessage() for r in caplog.records)
    assert "<redacted>/getMe" in trace


# -- start-up ---------------------------------------------------------------------


def test_missing_or_malformed_token_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ISNAD_TELEGRAM_TOKEN", raising=False)
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="@BotFather") as info:
        run_bot(settings)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="does not look like a bot token"):
        run_bot(Settings(_env_file=None, data_dir=tmp_path, telegram_token="oops"))  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="isnad setup"):
        run_bot(Settings(_env_file=None, data_dir=tmp_path, telegram_token="1:A"))  # type: ignore[call-arg]


def test_webhook_url_ends_in_the_path() -> None:
    def url(base: str, path: str) -> str:
        s = Settings(_env_file=None, webhook_url=base, webhook_path=path)  # type: ignore[call-arg]
        return webhook_url(s)

    assert url("https://bot.example.com", "telegram") == "https://bot.example.com/telegram"
    assert (
        url("https://bot.example.com/telegram/", "/telegram") == "https://bot.example.com/telegram"
    )
    assert url("https://bot.example.com/hook", "") == "https://bot.example.com/hook"


@pytest.mark.model
async def test_real_model_answers_seed_question_through_the_bot(
    start_bot: StartBot, botapi: LocalBotApi, tmp_path: Path, real_embedder: Any
) -> None:
    store = await CorpusStore.open(tmp_path / "real.db")
    engine = await Engine.open(store, real_embedder, tmp_path / "real.faiss")
    await engine.ingest([replace(read_article_file(SEED_FILE), url=SEED_URL)])
    try:
        await start_bot(engine)
        botapi.send_text(SEED_QUESTION, user_id=81)
        (call,) = await botapi.replies(81, timeout=60)
        text = call.params["text"]
        assert text.startswith("<b>الجواب:</b>")
        assert "حميميم" in text and SEED_LINK in text
        assert "reply_markup" in call.params
        # The model is multilingual: an English question is answered from Arabic text.
        botapi.send_text("Why does Russia keep escalating in Idlib?", user_id=82)
        (english,) = await botapi.replies(82, timeout=60)
        assert english.params["text"].startswith("<b>الجواب:</b>") and SEED_LINK in text
        botapi.send_text(OFF_TOPIC, user_id=83)
        (refused,) = await botapi.replies(83, timeout=60)
        assert refused.params["text"].startswith(texts.NO_ANSWER)
        assert_all_valid(botapi)
    finally:
        await store.close()


async def test_bench_measures_throughput_and_latency(bot_engine: Engine, tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    questions = [f"سؤال {i} عن روسيا وإدلب" for i in range(10)]
    result = await bench_bot(settings, bot_engine, questions, users=(1, 3), per_user=2)
    assert result["model"] == f"hashing-{DIM}" and result["apologies"] == 0
    one, three = result["levels"]
    assert (one["users"], one["questions"], three["users"], three["questions"]) == (1, 2, 3, 6)
    assert 0 < three["p50_ms"] <= three["p95_ms"] < 10_000
    assert three["questions_per_s"] > 0 and "start_ms" in three and "start_ms" not in one
    assert bench_table(result).splitlines()[2].startswith("| 1 | 2 | ")


FOOTBALL_QUESTION = "ماذا قال وليد الركراكي؟"


async def test_ask_about_this_article_begins_a_thread_on_it(
    start_bot: StartBot, botapi: LocalBotApi, bot_engine: Engine
) -> None:
    await start_bot()
    seed, second = sorted(await bot_engine.store.latest_articles(5), key=lambda a: a.id)
    general = await bot_engine.ask(FOOTBALL_QUESTION)
    assert general.answered and general.citations[0].article_id == second.id

    # The button begins a thread on the Idlib article: the next question, whatever its
    # words, is searched there with the headline's words, and the reply names the story.
    botapi.press(botapi.bot_message(31), f"ask:{seed.id}", user_id=31)
    (prompt,) = await botapi.replies(31)
    assert texts.ASK_ARTICLE.format(title=seed.title) in prompt.params["text"]
    botapi.send_text(FOOTBALL_QUESTION, user_id=31)
    reply = (await botapi.replies(31, count=2))[-1].params["text"]
    query = " ".join([FOOTBALL_QUESTION, *subject_words(seed.title)])
    within = await bot_engine.ask(query, within_articles=frozenset({seed.id}))
    assert within.answered and {c.article_id for c in within.citations} == {seed.id}
    follow = texts.FOLLOW_UP.format(title=seed.title)
    assert reply == formatting.answer_messages(within, follow)[0]
    assert reply.startswith(f"<i>{formatting.text(follow)}</i>")

    # The thread then follows the rule: the coach's name is not in the Idlib story, so
    # the same question again is a new subject, answered from all news.
    botapi.send_text(FOOTBALL_QUESTION, user_id=31)
    reply = (await botapi.replies(31, count=3))[-1].params["text"]
    assert reply == formatting.answer_messages(general)[0]

    # On the football article, a bare follow-up is read against it.
    botapi.press(botapi.bot_message(31), f"ask:{second.id}", user_id=31)
    await botapi.replies(31, count=4)
    botapi.send_text("ومن سجل الهدف؟", user_id=31)
    reply = (await botapi.replies(31, count=5))[-1].params["text"]
    query = " ".join(["ومن سجل الهدف؟", *subject_words(second.title)])
    focused = await bot_engine.ask(query, within_articles=frozenset({second.id}))
    assert focused.answered and {c.article_id for c in focused.citations} == {second.id}
    follow = texts.FOLLOW_UP.format(title=second.title)
    assert reply == formatting.answer_messages(focused, follow)[0]
    assert_all_valid(botapi)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_database_lost_mid_run_costs_an_apology_then_heals(
    start_bot: StartBot, botapi: LocalBotApi, bot_engine: Engine, database_url: str
) -> None:
    await start_bot(database_url=database_url)  # as a replica: sessions and limits shared
    botapi.send_text(SEED_QUESTION, user_id=31)
    (first,) = await botapi.replies(31)
    assert first.params["text"].startswith("<b>الجواب:</b>")
    # Every connection to the database is cut, as by a failover or a restart.
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    answers = []
    for n in range(3):  # each cut connection fails once, then opens again by itself
        botapi.send_text(SEED_QUESTION, user_id=31)
        calls = await botapi.replies(31, count=n + 2)
        answers.append(calls[-1].params["text"])
        if "<b>الجواب:</b>" in answers[-1]:  # (a follow-up of the first, marked so)
            break
    apology = formatting.plain_messages(texts.APOLOGY)[0]
    assert set(answers[:-1]) <= {apology} and "<b>الجواب:</b>" in answers[-1]
