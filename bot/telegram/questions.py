"""Telegram handlers: commands, questions, answer buttons and the error handler."""

from __future__ import annotations

import logging
import time

from telegram import Bot, Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.admin import questionlog
from bot.conversation.turn import answer_turn
from bot.telegram import formatting, texts
from bot.telegram.admission import admit
from bot.telegram.buttons import CALLBACK_PREFIX, keyboard, on_button
from bot.telegram.commands import command_args, registered_commands
from bot.telegram.delivery import reply, thread_of, typing
from bot.telegram.state import BotContext, state

logger = logging.getLogger(__name__)

# Catch-all handlers (questions as plain text, unknown commands, media) live in a
# later group so that handlers other modules add to group 0 are tried first.
FALLBACK_GROUP = 1


# -- who is talking to us ---------------------------------------------------


def is_private(update: Update) -> bool:
    """Tell whether the update comes from a private chat."""
    return update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE


def addressed_text(message: Message, bot: Bot, private: bool) -> str | None:
    """Return the message text if it is meant for the bot, without the mention; else None.

    In a private chat every message is; in a group, a reply to one of the bot's
    messages or a message that mentions the bot.
    """
    body = message.text or message.caption or ""
    if private:
        return body
    replied = message.reply_to_message
    if replied and replied.from_user and replied.from_user.id == bot.id:
        return body
    kinds: list[str | None] = [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]
    entities = (
        message.parse_entities(kinds) if message.text else message.parse_caption_entities(kinds)
    )
    own = f"@{bot.username}".lower()
    for entity, value in entities.items():
        if (entity.type == MessageEntity.MENTION and value.lower() == own) or (
            entity.user is not None and entity.user.id == bot.id
        ):
            return body.replace(value, " ")
    return None


# -- commands ---------------------------------------------------------------


async def start(update: Update, context: BotContext) -> None:
    """Greet: what the bot knows, how to ask, how to subscribe."""
    store = state(context).engine.store
    stats = await store.stats()
    newest = await store.latest_articles(1)
    messages = formatting.welcome_messages(
        stats,
        newest[0] if newest else None,
        context.bot.username,
        registered_commands(context.application),
    )
    await reply(update, context, messages)


async def help_command(update: Update, context: BotContext) -> None:
    """Explain how to ask and list the commands."""
    commands = registered_commands(context.application)
    await reply(update, context, formatting.help_messages(context.bot.username, commands))


async def sources_command(update: Update, context: BotContext) -> None:
    """Describe the corpus: sources, article count, newest article."""
    store = state(context).engine.store
    stats = await store.stats()
    newest = await store.latest_articles(1)
    await reply(update, context, formatting.corpus_messages(stats, newest[0] if newest else None))


async def about_command(update: Update, context: BotContext) -> None:
    """Name the model, the corpus size and how answers are built."""
    engine = state(context).engine
    stats = await engine.store.stats()
    await reply(update, context, formatting.about_messages(engine.embedder.name, stats))


async def ask_command(update: Update, context: BotContext) -> None:
    """Answer the question written after /ask."""
    assert update.effective_message is not None
    question = command_args(update.effective_message, strip=False)
    await answer_question(update, context, question, usage=texts.ASK_USAGE)


# -- questions --------------------------------------------------------------


async def on_text(update: Update, context: BotContext) -> None:
    """Answer a private message, or a group message addressed to the bot."""
    assert update.effective_message is not None
    private = is_private(update)
    question = addressed_text(update.effective_message, context.bot, private)
    if question is not None:
        usage = texts.EMPTY_QUESTION if private else texts.ASK_USAGE
        await answer_question(update, context, question, usage=usage)


async def answer_question(update: Update, context: BotContext, raw: str, usage: str) -> None:
    """Check the question, search, and reply with the answer and its buttons.

    `usage` is the hint sent when there is no question at all.
    """
    st = state(context)
    message, chat, user = update.effective_message, update.effective_chat, update.effective_user
    assert message is not None and chat is not None
    if user is not None:
        await st.limiter.refresh(user.id)
    taken = admit(
        raw,
        user_id=user.id if user else None,
        admin_ids=st.settings.admin_ids,
        limiter=st.limiter,
        max_chars=st.settings.max_question_chars,
        usage=usage,
    )
    if not taken.admitted:
        quote = True if taken.limited else None
        await reply(update, context, formatting.plain_messages(taken.refusal), quote=quote)
        return
    question = taken.question
    started = time.perf_counter()
    async with typing(context.bot, chat.id, thread_of(message)):
        turn = await answer_turn(
            st.engine,
            st.repo.threads,
            chat.id,
            question,
            private=is_private(update),
            note=taken.note,
            as_of=st.settings.moment(),
        )
    answer, note = turn.answer, "\n".join(turn.notes)
    if answer is None:  # nothing to search: an outlet the corpus does not hold
        await reply(update, context, formatting.plain_messages(note), quote=True)
    else:
        markup = None
        if answer.sentences:  # answered, or the closest sentences of a "not stated" reply
            shown = tuple(h.chunk.id for _, h in formatting.quoted_passages(answer))
            articles = tuple(dict.fromkeys(h.article.id for h in answer.hits))
            markup = keyboard(st.sessions.add(turn.query, shown, articles))
            await st.sessions.shared()  # on every replica before its buttons are seen
        messages = formatting.answer_messages(answer, note)
        await reply(update, context, messages, quote=True, markup=markup)
    await questionlog.record_question(
        st.questions,
        chat_kind=chat.type,
        answered=answer is not None and answer.answered,
        latency_ms=(time.perf_counter() - started) * 1000,
        question=question,
    )


# -- everything else ----------------------------------------------------------


async def on_unknown_command(update: Update, context: BotContext) -> None:
    """List the commands when someone uses one the bot does not have."""
    message = update.effective_message
    assert message is not None and message.text is not None
    command, _, target = message.text.split(maxsplit=1)[0][1:].partition("@")
    if target and target.lower() != (context.bot.username or "").lower():
        return  # meant for another bot
    if not target and not is_private(update):
        return  # in a group, a bare command may be another bot's
    if command.lower() in registered_commands(context.application):
        return  # answered by a handler in another group
    text = texts.UNKNOWN_COMMAND.format(command="/" + command[:32])
    await reply(update, context, formatting.plain_messages(text))


async def on_other(update: Update, context: BotContext) -> None:
    """Ask for text when a sticker, photo, voice note or other media is sent to the bot."""
    message = update.effective_message
    assert message is not None
    if addressed_text(message, context.bot, is_private(update)) is not None:
        await reply(update, context, formatting.plain_messages(texts.TEXT_ONLY))


async def on_edited(update: Update, context: BotContext) -> None:
    """Say that edited messages are not answered again, and stop there."""
    message = update.effective_message
    if message is not None and addressed_text(message, context.bot, is_private(update)) is not None:
        await reply(update, context, formatting.plain_messages(texts.EDITED), quote=True)
    raise ApplicationHandlerStop


async def on_error(update: object, context: BotContext) -> None:
    """Log the error with its traceback and apologise to the user in Arabic."""
    update_id = update.update_id if isinstance(update, Update) else None
    logger.error("error while handling update %s", update_id, exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(texts.APOLOGY)
        else:
            await reply(update, context, formatting.plain_messages(texts.APOLOGY), quote=True)
    except TelegramError as exc:
        logger.warning("could not send the apology: %s", exc)


def register(app: Application) -> None:  # type: ignore[type-arg]
    """Add the question-answering handlers and the error handler."""
    message = filters.UpdateType.MESSAGE
    app.add_handler(MessageHandler(filters.UpdateType.EDITED, on_edited), group=-1)
    app.add_handler(CommandHandler("start", start, filters=message))
    app.add_handler(CommandHandler("help", help_command, filters=message))
    app.add_handler(CommandHandler("ask", ask_command, filters=message))
    app.add_handler(CommandHandler("sources", sources_command, filters=message))
    app.add_handler(CommandHandler("about", about_command, filters=message))
    app.add_handler(CallbackQueryHandler(on_button, pattern=f"^{CALLBACK_PREFIX}"))
    app.add_handler(
        MessageHandler(message & filters.TEXT & ~filters.COMMAND, on_text), group=FALLBACK_GROUP
    )
    app.add_handler(MessageHandler(message & filters.COMMAND, on_unknown_command), FALLBACK_GROUP)
    app.add_handler(
        MessageHandler(message & ~filters.TEXT & ~filters.StatusUpdate.ALL, on_other),
        group=FALLBACK_GROUP,
    )
    app.add_error_handler(on_error)
