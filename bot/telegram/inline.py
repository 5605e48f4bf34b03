"""Inline mode: `@bot question` in any chat offers the cited answer as a result to share.

Telegram sends an inline query at every pause in typing; a query is answered only
once the user has stopped for a moment (a newer query from the same user wins),
so that half-typed questions neither reach the engine nor count against the
user's limit. Inline mode must be switched on with BotFather's /setinline.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

from telegram import (
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import Application, InlineQueryHandler

from bot.conversation.turn import answer_turn
from bot.telegram import formatting, texts
from bot.telegram.admission import admit, strip_invisible
from bot.telegram.state import BotContext, state
from retrieval.models import Answer

logger = logging.getLogger(__name__)

MIN_QUERY_CHARS = 3  # shorter queries get the help result
CACHE_SECONDS = 60  # Telegram may reuse an answer for the same query this long
TITLE_CHARS = 64
DESCRIPTION_CHARS = 120


def _cut(line: str, limit: int) -> str:
    line = " ".join(line.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def article_result(key: str, title: str, description: str, html: str) -> InlineQueryResultArticle:
    """Return one inline result that sends this HTML when chosen."""
    return InlineQueryResultArticle(
        id=hashlib.sha256(key.encode("utf-8")).hexdigest()[:32],
        title=_cut(title, TITLE_CHARS),
        description=_cut(description, DESCRIPTION_CHARS),
        input_message_content=InputTextMessageContent(
            html,
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        ),
    )


def help_result(username: str | None) -> InlineQueryResultArticle:
    """Return the result offered for an empty or too short query: how to ask inline."""
    bot = username or texts.BOT_NAME
    return article_result(
        "help",
        texts.INLINE_HELP_TITLE,
        texts.INLINE_HELP_DESCRIPTION.format(bot=bot, example=texts.EXAMPLE_QUESTION),
        formatting.plain_messages(
            texts.INLINE_HELP_TEXT.format(bot=bot, example=texts.EXAMPLE_QUESTION)
        )[0],
    )


def answer_result(question: str, answer: Answer | None, note: str) -> InlineQueryResultArticle:
    """Return the result that shares an answer: the private reply's first message."""
    if answer is None:
        html = formatting.plain_messages(note)[0]
        return article_result("n:" + question, texts.INLINE_NO_ANSWER_TITLE, note, html)
    html = formatting.answer_messages(answer, note)[0]
    if answer.answered or answer.outcome == "not_stated":
        first = answer.sentences[0].text if answer.sentences else ""
        title = question
    else:
        first, title = question, texts.INLINE_NO_ANSWER_TITLE
    return article_result("a:" + question, title, first, html)


async def on_inline_query(update: Update, context: BotContext) -> None:
    """Offer the cited answer to an inline question, or help for an empty or short one."""
    st = state(context)
    query = update.inline_query
    if query is None:
        return
    raw = strip_invisible(query.query)
    if len(raw) < MIN_QUERY_CHARS:
        await query.answer([help_result(context.bot.username)], cache_time=0, is_personal=True)
        return
    latest = st.inline_latest
    latest[query.from_user.id] = query.id
    await asyncio.sleep(st.inline_settle)
    if latest.get(query.from_user.id) != query.id:
        return  # the user typed on: the newer query is answered instead
    latest.pop(query.from_user.id, None)
    taken = admit(
        raw,
        user_id=query.from_user.id,
        admin_ids=st.settings.admin_ids,
        limiter=st.limiter,
        max_chars=st.settings.max_question_chars,
    )
    if not taken.admitted:
        html = formatting.plain_messages(taken.refusal)[0]
        refused = article_result("r:" + raw, texts.INLINE_REFUSED_TITLE, taken.refusal, html)
        await query.answer([refused], cache_time=0, is_personal=True)
        return
    turn = await answer_turn(
        st.engine,
        None,
        0,
        taken.question,
        private=False,
        note=taken.note,
        as_of=st.settings.moment(),
    )
    result = answer_result(taken.question, turn.answer, "\n".join(turn.notes))
    await query.answer([result], cache_time=CACHE_SECONDS)


def register(app: Application) -> None:  # type: ignore[type-arg]
    """Add the inline query handler."""
    app.add_handler(InlineQueryHandler(on_inline_query))
