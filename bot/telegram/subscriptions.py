"""Telegram side of alerts: /subscribe, /unsubscribe, /subscriptions, buttons, background work."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.conversation.followup import subject_words
from bot.news import subscriptions
from bot.news.poller import PollConfig, poll_once
from bot.news.sender import ASK_PREFIX, AlertSender, move_chat
from bot.telegram import formatting, texts
from bot.telegram.commands import command_args
from bot.telegram.delivery import NO_PREVIEW, reply
from bot.telegram.state import BotContext, BotState, state
from retrieval.follower import IndexFollower

logger = logging.getLogger(__name__)

POLL_JOB = "feed-poll"
UNSUB_PREFIX = "unsub:"
MAX_TOPIC_CHARS = 80
_ALL_WORDS = frozenset({"all", "الكل", "كل", "الجميع"})
# First word of /subscribe: an alert per article, or (back to) one per story.
_EVERY_WORDS = frozenset({"كل", "every"})
_STORY_WORDS = frozenset({"قصص", "stories"})


async def may_manage(update: Update, context: BotContext) -> bool:
    """Tell whether this sender may change the chat's subscriptions (groups: admins only)."""
    chat, user, msg = update.effective_chat, update.effective_user, update.effective_message
    if chat is None or chat.type in (ChatType.PRIVATE, ChatType.CHANNEL):
        return chat is not None
    if msg is not None and msg.sender_chat is not None and msg.sender_chat.id == chat.id:
        return True  # an anonymous admin writes as the group itself
    if user is None:
        return False
    try:
        member = await context.bot.get_chat_member(chat.id, user.id)
    except TelegramError:
        logger.warning("cannot check admin rights in chat %d", chat.id)
        return False
    return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)


async def subscribe_command(update: Update, context: BotContext) -> None:
    """Subscribe this chat to all news, or to the topic after the command."""
    if update.effective_chat is None or not await may_manage(update, context):
        await reply(update, context, formatting.plain_messages(texts.ADMINS_ONLY))
        return
    assert update.effective_message is not None  # a command handler: there is one
    words = command_args(update.effective_message).split()
    every: bool | None = None
    if words and words[0].lower() in _EVERY_WORDS | _STORY_WORDS:
        every = words.pop(0).lower() in _EVERY_WORDS
    topic = " ".join(words)
    if len(topic) > MAX_TOPIC_CHARS:
        await reply(update, context, formatting.plain_messages(texts.TOPIC_TOO_LONG))
        return
    if not subscriptions.topic_key(topic):
        topic = subscriptions.ALL_NEWS  # no words (or none at all): all news
    new = await state(context).repo.subscriptions.subscribe(update.effective_chat.id, topic, every)
    if topic:
        msg = texts.SUBSCRIBED_TOPIC if new else texts.ALREADY_TOPIC
    else:
        msg = texts.SUBSCRIBED_ALL if new else texts.ALREADY_ALL
    lines = [msg.format(topic=topic)]
    if every is not None:
        lines.append(texts.SUBSCRIBED_EVERY if every else texts.SUBSCRIBED_STORIES)
    await reply(update, context, formatting.plain_messages("\n".join(lines)))


async def unsubscribe_command(update: Update, context: BotContext) -> None:
    """Stop one topic, or with no topic (or `all`) every alert of this chat."""
    if update.effective_chat is None or not await may_manage(update, context):
        await reply(update, context, formatting.plain_messages(texts.ADMINS_ONLY))
        return
    book = state(context).repo.subscriptions
    chat_id = update.effective_chat.id
    assert update.effective_message is not None  # a command handler: there is one
    topic = " ".join(command_args(update.effective_message).split())
    if not topic or topic.lower() in _ALL_WORDS:
        await book.deactivate_chat(chat_id)
        await reply(update, context, formatting.plain_messages(texts.UNSUBSCRIBED_ALL))
    elif await book.unsubscribe(chat_id, topic):
        await reply(
            update, context, formatting.plain_messages(texts.UNSUBSCRIBED_TOPIC.format(topic=topic))
        )
    else:
        await reply(update, context, formatting.plain_messages(texts.NOT_SUBSCRIBED))


def subscriptions_view(
    subs: list[subscriptions.Subscription],
) -> tuple[str, InlineKeyboardMarkup | None]:
    """Return the list of a chat's subscriptions as HTML, with one remove button each."""
    if not subs:
        return formatting.finish(formatting.text(texts.NO_SUBSCRIPTIONS))[0], None
    names = [s.topic or texts.SUBSCRIPTION_ALL for s in subs]
    lines = [formatting.bold(texts.SUBSCRIPTIONS_HEADING)]
    lines += [f"• {formatting.text(n)}" for n in names]
    buttons = [
        [
            InlineKeyboardButton(
                texts.BUTTON_UNSUBSCRIBE.format(topic=n[:40]), callback_data=f"{UNSUB_PREFIX}{s.id}"
            )
        ]
        for s, n in zip(subs, names, strict=True)
    ]
    return formatting.finish("\n".join(lines))[0], InlineKeyboardMarkup(buttons)


async def subscriptions_command(update: Update, context: BotContext) -> None:
    """List this chat's subscriptions with buttons to remove them."""
    if update.effective_chat is None or update.effective_message is None:
        return
    subs = await state(context).repo.subscriptions.of_chat(update.effective_chat.id)
    body, markup = subscriptions_view(subs)
    await reply(update, context, [body], markup=markup)


async def on_unsubscribe_button(update: Update, context: BotContext) -> None:
    """Remove the subscription under a /subscriptions button and refresh the list."""
    query = update.callback_query
    if query is None or update.effective_chat is None:
        return
    if not await may_manage(update, context):
        await query.answer(texts.ADMINS_ONLY, show_alert=True)
        return
    book = state(context).repo.subscriptions
    sub_id = (query.data or "").removeprefix(UNSUB_PREFIX)
    gone = (
        await book.unsubscribe_id(update.effective_chat.id, int(sub_id))
        if sub_id.isdigit()
        else None
    )
    name = (gone.topic or texts.SUBSCRIPTION_ALL) if gone else ""
    await query.answer(
        texts.UNSUBSCRIBED_TOPIC.format(topic=name) if gone else texts.NOT_SUBSCRIBED
    )
    body, markup = subscriptions_view(await book.of_chat(update.effective_chat.id))
    try:
        await query.edit_message_text(
            body, parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=NO_PREVIEW
        )
    except BadRequest as exc:
        if not unchanged(exc):
            raise  # blocked, gone or unreachable: the error handler logs it


def unchanged(exc: BadRequest) -> bool:
    """Tell whether Telegram refused an edit only because it would change nothing."""
    return "message is not modified" in exc.message.lower()


async def on_ask_button(update: Update, context: BotContext) -> None:
    """Begin a thread on the alerted article and tell the reader to ask about it now."""
    query = update.callback_query
    if query is None:
        return
    raw = (query.data or "").removeprefix(ASK_PREFIX)
    article = await state(context).engine.store.get_article(int(raw)) if raw.isdigit() else None
    await query.answer()
    if article is None:
        await reply(update, context, formatting.plain_messages(texts.ARTICLE_GONE))
        return
    chat = update.effective_chat
    if chat is not None:
        title = article.title.strip() or texts.UNTITLED
        await state(context).repo.threads.keep(
            chat.id,
            question="",
            subject=subject_words(article.title),
            articles=[article.id],
            title=title,
            pinned=True,
        )
    await reply(
        update,
        context,
        formatting.plain_messages(
            texts.ASK_ARTICLE.format(title=article.title.strip() or texts.UNTITLED)
        ),
    )


async def on_migrate(update: Update, context: BotContext) -> None:
    """Follow a group that became a supergroup: its subscriptions and alerts move with it."""
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id:
        old, new = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id:
        old, new = message.migrate_from_chat_id, message.chat.id
    else:
        return
    subs, alerts = await move_chat(state(context).repo, old, new)
    logger.info("chat %d is now %d: %d subscriptions, %d alerts moved", old, new, subs, alerts)


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Add the subscription commands and alert buttons (group 0, before catch-alls)."""
    message = filters.UpdateType.MESSAGE
    application.add_handler(CommandHandler("subscribe", subscribe_command, filters=message))
    application.add_handler(CommandHandler("unsubscribe", unsubscribe_command, filters=message))
    application.add_handler(CommandHandler("subscriptions", subscriptions_command, filters=message))
    application.add_handler(
        CallbackQueryHandler(on_unsubscribe_button, pattern=rf"^{UNSUB_PREFIX}\d+$")
    )
    application.add_handler(CallbackQueryHandler(on_ask_button, pattern=rf"^{ASK_PREFIX}\d+$"))
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, on_migrate))


async def poll_job(context: BotContext) -> None:
    """Run one feed poll unless one is still running, then wake the alert sender."""
    st = state(context)
    if not await st.repo.poller.held():
        return  # another replica polls the feeds
    if st.poll_lock.locked():
        logger.info("previous feed poll still running; skipping this one")
        return
    async with st.poll_lock:
        report = await poll_once(
            st.engine,
            st.repo,
            PollConfig.from_settings(st.settings),
            match=st.matcher.chats_for,
        )
    logger.info(
        "feed poll: %d articles added, %d alerts queued", len(report.added), report.alerts_queued
    )
    if report.alerts_queued:
        st.wake_sender()


async def start_background(application: Application) -> None:  # type: ignore[type-arg]
    """Start the alert sender and the feed-poll job; call from post_init, once the state is open."""
    st: BotState = application.bot_data
    await st.repo.feeds.sync_settings_feeds(st.settings.feeds)
    # Articles noted but not yet queued (a stop between the two) are queued now.
    await st.repo.outbox.fan_out(st.engine.store.get_article, st.matcher.chats_for)
    st.sender = AlertSender(
        application.bot,
        st.repo,
        st.engine.store.get_article,
        outlets=st.engine.store.story_outlets,
        update_interval=st.settings.story_update_seconds,
    )
    st.sender_task = asyncio.create_task(st.sender.run(), name="isnad-alert-sender")
    # Articles other replicas (or `isnad ingest`) add reach this replica's index.
    st.follower = IndexFollower(st.engine, st.settings.database_url)
    st.follower_task = asyncio.create_task(st.follower.run(), name="isnad-index-follower")
    jq = application.job_queue
    if jq is None:
        logger.error("no JobQueue (install python-telegram-bot[job-queue]): feeds are not polled")
        return
    for job in jq.get_jobs_by_name(POLL_JOB):
        job.schedule_removal()
    jq.run_repeating(
        poll_job,
        interval=st.settings.feed_poll_seconds,
        first=1.0,
        name=POLL_JOB,
        job_kwargs={"max_instances": 1, "coalesce": True},
    )


async def stop_background(application: Application) -> None:  # type: ignore[type-arg]
    """Stop the poll job and the alert sender; call from post_stop (or before it)."""
    st: BotState = application.bot_data
    if application.job_queue is not None:
        for job in application.job_queue.get_jobs_by_name(POLL_JOB):
            job.schedule_removal()
    for task in (st.sender_task, st.follower_task):
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    st.sender_task, st.sender, st.follower_task, st.follower = None, None, None, None
