"""Sending replies: HTML without link previews, quoting, and "typing..." while busy."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters, Update
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import CallbackContext

logger = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
TYPING_EVERY = 4.5  # Telegram shows "typing" for about five seconds


def thread_of(message: Message) -> int | None:
    """Return the forum topic a message belongs to, if any."""
    return message.message_thread_id if message.is_topic_message else None


async def send(
    bot: Bot,
    chat_id: int,
    messages: Sequence[str],
    *,
    reply_to: int | None = None,
    markup: InlineKeyboardMarkup | None = None,
    thread_id: int | None = None,
) -> Message | None:
    """Send HTML messages in order: the first replies, the last carries the buttons.

    Returns the last message sent (None for none), for a caller that edits it later.
    """
    sent: Message | None = None
    for i, html in enumerate(messages):
        sent = await bot.send_message(
            chat_id=chat_id,
            text=html,
            parse_mode=ParseMode.HTML,
            link_preview_options=NO_PREVIEW,
            reply_parameters=(
                ReplyParameters(reply_to, allow_sending_without_reply=True)
                if reply_to is not None and i == 0
                else None
            ),
            reply_markup=markup if i == len(messages) - 1 else None,
            message_thread_id=thread_id,
        )
    return sent


async def reply(
    update: Update,
    context: CallbackContext[Any, Any, Any, Any],
    messages: Sequence[str],
    *,
    quote: bool | None = None,
    markup: InlineKeyboardMarkup | None = None,
) -> Message | None:
    """Reply in the update's chat; in groups the reply quotes the message by default.

    The one way the bot answers an update; returns the last message sent.
    """
    message = update.effective_message
    chat = update.effective_chat
    assert message is not None and chat is not None
    if quote is None:
        quote = chat.type != ChatType.PRIVATE
    return await send(
        context.bot,
        chat.id,
        messages,
        reply_to=message.message_id if quote else None,
        markup=markup,
        thread_id=thread_of(message),
    )


async def _keep_typing(bot: Bot, chat_id: int, thread_id: int | None, done: asyncio.Event) -> None:
    while not done.is_set():
        try:
            await bot.send_chat_action(chat_id, ChatAction.TYPING, message_thread_id=thread_id)
        except TelegramError as exc:  # a hint only: never fail the answer over it
            logger.debug("chat action failed: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), TYPING_EVERY)


_typing_tasks: set[asyncio.Task[None]] = set()


@contextlib.asynccontextmanager
async def typing(bot: Bot, chat_id: int, thread_id: int | None) -> AsyncIterator[None]:
    """Show "typing..." in the chat until the block ends."""
    done = asyncio.Event()
    task = asyncio.create_task(_keep_typing(bot, chat_id, thread_id, done))
    # Not cancelled: a request cut mid-flight only makes noise; it ends by itself.
    _typing_tasks.add(task)
    task.add_done_callback(_typing_tasks.discard)
    try:
        yield
    finally:
        done.set()
