"""End-to-end: inline mode and the answer buttons' threads, through the local Bot API server."""

from __future__ import annotations

import asyncio
from typing import Any

from support.botapi import StartBot, check_message

from bot.conversation.followup import subject_words
from bot.telegram import formatting, texts
from bot.telegram.inline import CACHE_SECONDS
from bot.tools.localapi import ApiCall, LocalBotApi
from retrieval.engine import Engine

SEED_QUESTION = "بأي حجة تواصل روسيا التصعيد؟"
FOOTBALL_QUESTION = "ماذا قال وليد الركراكي؟"
CONTENT = {"parse_mode": "HTML", "link_preview_options": {"is_disabled": True}}


def only_result(call: ApiCall) -> dict[str, Any]:
    """Return the one result of an answerInlineQuery, its message checked as Telegram HTML."""
    (result,) = call.params["results"]
    assert result["type"] == "article" and len(result["id"].encode()) <= 64
    check_message(result["input_message_content"]["message_text"])
    return dict(result)


async def test_an_inline_question_offers_the_cited_answer(
    start_bot: StartBot, botapi: LocalBotApi, bot_engine: Engine
) -> None:
    app = await start_bot()
    app.bot_data.inline_settle = 0.0
    query_id = botapi.inline(SEED_QUESTION, user_id=51)
    call = await botapi.inline_answer(query_id)
    answer = await bot_engine.ask(SEED_QUESTION)
    assert answer.answered
    result = only_result(call)
    assert call.params["cache_time"] == CACHE_SECONDS and "is_personal" not in call.params
    assert result["title"] == SEED_QUESTION
    first = " ".join(answer.sentences[0].text.split())
    assert result["description"] == first[:119].rstrip() + "…"
    html = formatting.answer_messages(answer)[0]
    assert result["input_message_content"] == {"message_text": html, **CONTENT}
    seed = answer.citations[0]
    assert f'<a href="{seed.url.replace("&", "&amp;")}">' in html  # sources as links
    # Nothing is sent to a chat: the user picks the result and Telegram posts it.
    assert botapi.requests("sendMessage") == []


async def test_an_empty_or_short_inline_query_offers_help(
    start_bot: StartBot, botapi: LocalBotApi
) -> None:
    await start_bot()
    for query in ("", "  ", "اب"):
        call = await botapi.inline_answer(botapi.inline(query, user_id=52))
        result = only_result(call)
        assert (call.params["cache_time"], call.params["is_personal"]) == (0, True)
        assert result["title"] == texts.INLINE_HELP_TITLE
        help_text = texts.INLINE_HELP_TEXT.format(
            bot="isnad_test_bot", example=texts.EXAMPLE_QUESTION
        )
        assert result["input_message_content"] == {
            "message_text": formatting.plain_messages(help_text)[0],
            **CONTENT,
        }


async def test_inline_questions_keep_the_rate_limit_and_the_length_limit(
    start_bot: StartBot, botapi: LocalBotApi, bot_engine: Engine
) -> None:
    app = await start_bot(rate_limit_count=1, max_question_chars=20)
    app.bot_data.inline_settle = 0.0
    long = SEED_QUESTION + " " + "وماذا بعد ذلك كله"
    first = only_result(await botapi.inline_answer(botapi.inline(long, user_id=53)))
    cut = "بأي حجة تواصل روسيا"
    note = texts.TRUNCATED.format(limit=20)
    expected = formatting.answer_messages(await bot_engine.ask(cut), note)[0]
    assert first["input_message_content"]["message_text"] == expected
    call = await botapi.inline_answer(botapi.inline(SEED_QUESTION, user_id=53))
    refused = only_result(call)
    assert (call.params["cache_time"], call.params["is_personal"]) == (0, True)
    assert refused["title"] == texts.INLINE_REFUSED_TITLE
    assert refused["description"].startswith("أرسلت أسئلة كثيرة")


async def test_only_the_last_of_quickly_typed_inline_queries_is_answered(
    start_bot: StartBot, botapi: LocalBotApi
) -> None:
    app = await start_bot(rate_limit_count=1)
    app.bot_data.inline_settle = 0.3
    early = botapi.inline("بأي حجة", user_id=54)
    await asyncio.sleep(0.05)
    late = botapi.inline(SEED_QUESTION, user_id=54)
    call = await botapi.inline_answer(late)
    assert only_result(call)["title"] == SEED_QUESTION  # not refused: one question counted
    await asyncio.sleep(0.4)
    assert botapi.requests("answerInlineQuery", inline_query_id=early) == []


async def test_an_inline_question_naming_an_outlet_the_corpus_lacks_says_so(
    start_bot: StartBot, botapi: LocalBotApi
) -> None:
    app = await start_bot()
    app.bot_data.inline_settle = 0.0
    call = await botapi.inline_answer(botapi.inline("ماذا قالت عكاظ عن إدلب؟", user_id=55))
    result = only_result(call)
    said = texts.OUTLET_NOT_IN_CORPUS.format(outlet="عكاظ")
    assert result["title"] == texts.INLINE_NO_ANSWER_TITLE
    assert result["input_message_content"]["message_text"] == formatting.plain_messages(said)[0]


async def test_an_answer_button_makes_its_answer_the_thread_again(
    start_bot: StartBot, botapi: LocalBotApi, bot_engine: Engine
) -> None:
    await start_bot()
    seed = next(a for a in await bot_engine.store.latest_articles(5) if "إدلب" in a.title)
    botapi.send_text(SEED_QUESTION, user_id=56)
    (first,) = await botapi.replies(56)
    sources = first.params["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
    # A question on another subject starts another thread...
    botapi.send_text(FOOTBALL_QUESTION, user_id=56)
    second = (await botapi.replies(56, count=2))[-1].params["text"]
    assert not second.startswith("<i>")
    # ... and the «sources» button under the first answer brings its thread back.
    botapi.press(first.result, sources, user_id=56)
    await botapi.replies(56, count=3)
    botapi.send_text("وما حجتها؟", user_id=56)
    reply = (await botapi.replies(56, count=4))[-1].params["text"]
    follow = texts.FOLLOW_UP.format(title=seed.title)
    assert reply.startswith(f"<i>{formatting.text(follow)}</i>")
    query = " ".join(["وما حجتها؟", *subject_words(SEED_QUESTION)])
    thread = await bot_engine.ask(query, within_articles=frozenset({seed.id}))
    assert reply == formatting.answer_messages(thread, follow)[0]
