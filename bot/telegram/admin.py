"""Admin commands in Telegram: who may run them, the handlers, and the admins' menus."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC
from typing import Any

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, filters

from bot.admin import corpus as admin_corpus
from bot.admin import feeds as admin_feeds
from bot.admin.reindex import Kind, summary
from bot.admin.stats import gather
from bot.settings import Settings
from bot.telegram import admin_format, texts
from bot.telegram.commands import command_args
from bot.telegram.delivery import NO_PREVIEW, reply
from bot.telegram.state import BotContext, BotState, state

logger = logging.getLogger(__name__)

FIND_LIMIT = 15
AUDIT_LIMIT = 20


# An admin handler gets the parsed arguments and returns the result to audit (None
# when it audits by itself, as /reindex does) and the messages to reply with.
Done = tuple[str | None, list[str]]
AdminHandler = Callable[[Update, BotContext, BotState, str], Awaitable[Done]]


async def record(
    ctx: BotState, update: Update, command: str, args: str, allowed: bool, result: str
) -> int:
    """Write the audit row of an admin command."""
    user, chat = update.effective_user, update.effective_chat
    return await ctx.repo.audit.record(
        user_id=user.id if user else 0,
        user_name=(user.username or "") if user else "",
        chat_id=chat.id if chat else None,
        command=command,
        args=args,
        allowed=allowed,
        result=result,
    )


# -- the commands -------------------------------------------------------------
# Each returns (audit result, reply messages); the wrapper audits first, then replies,
# so the record exists even when the reply cannot be delivered.


async def stats_command(update: Update, context: BotContext, ctx: BotState, args: str) -> Done:
    """Show corpus, feed, subscriber, question, index and process figures."""
    report = await gather(ctx.engine, ctx.repo, ctx.questions, ctx.started)
    result = f"articles={report.articles} chunks={report.chunks} questions={report.questions.total}"
    return result, admin_format.stats_messages(report)


async def find_command(update: Update, context: BotContext, ctx: BotState, args: str) -> Done:
    """List articles matching the words, with their ids."""
    if not args:
        return "usage", admin_format.plain_messages(texts.FIND_USAGE)
    found = await admin_corpus.find(ctx.engine, args, FIND_LIMIT)
    stories = await ctx.engine.store.article_stories(a.id for a in found)
    outlets = await ctx.engine.store.story_sources(stories.values())
    return f"{len(found)} found", admin_format.find_messages(
        args, found, FIND_LIMIT, stories, outlets
    )


async def delete_command(update: Update, context: BotContext, ctx: BotState, args: str) -> Done:
    """Delete an article by id from the database, FTS5 and the vector index."""
    if not args.isdigit():
        return "usage", admin_format.plain_messages(texts.DELETE_USAGE)
    article = await admin_corpus.delete(ctx.engine, int(args))
    if article is None:
        return "missing", admin_format.plain_messages(texts.DELETE_MISSING.format(id=args))
    text = texts.DELETE_DONE.format(id=article.id, title=article.title or texts.UNTITLED)
    return f"deleted {article.id}", admin_format.plain_messages(text)


def forwarded_source(message: Message) -> tuple[str, str]:
    """Return (source, url) of a message: the forwarding channel or chat, else "Telegram"."""
    origin = message.forward_origin
    if isinstance(origin, MessageOriginChannel):
        url = (
            f"https://t.me/{origin.chat.username}/{origin.message_id}"
            if origin.chat.username
            else ""
        )
        return origin.chat.title or texts.SOURCE_TELEGRAM, url
    if isinstance(origin, MessageOriginChat):
        return origin.sender_chat.title or texts.SOURCE_TELEGRAM, ""
    return texts.SOURCE_TELEGRAM, ""


async def add_replied(ctx: BotState, replied: Message) -> admin_corpus.AddOutcome:
    """Ingest the text of a message (a forwarded post, or any text) as an article."""
    source, url = forwarded_source(replied)
    when = replied.forward_origin.date if replied.forward_origin else replied.date
    draft = admin_corpus.text_draft(
        replied.text or replied.caption or "",
        source=source,
        url=url,
        published=when.astimezone(UTC).isoformat(timespec="seconds"),
    )
    if draft is None:
        return admin_corpus.AddOutcome(None, reason="no_text")
    return await admin_corpus.ingest_one(ctx.engine, ctx.repo.feeds, draft, ctx.resources.announce)


async def add_command(update: Update, context: BotContext, ctx: BotState, args: str) -> Done:
    """Add an article from a URL, or from the message this command replies to."""
    assert update.effective_message is not None
    replied = update.effective_message.reply_to_message
    if args:
        outcome = await admin_corpus.add_url(
            ctx.engine, ctx.repo.feeds, args.split()[0], ctx.limits, ctx.resources.announce
        )
    elif replied is not None:
        outcome = await add_replied(ctx, replied)
    else:
        return "usage", admin_format.plain_messages(texts.ADD_USAGE)
    if outcome.article is not None:
        result = f"added {outcome.article.id} ({outcome.chunks} chunks)"
    else:
        dup = f" {outcome.duplicate_of}" if outcome.duplicate_of else ""
        result = f"refused: {outcome.reason}{dup}"
    return result, admin_format.add_messages(outcome)


async def feeds_command(update: Update, context: BotContext, ctx: BotState, args: str) -> Done:
    """List feeds, add one (fetched once to check it), or remove one by URL or id."""
    action, _, rest = args.partition(" ")
    action, rest = action.lower(), rest.strip()
    if not action:
        feeds = await admin_feeds.list_feeds(ctx.repo.feeds)
        return f"{len(feeds)} feeds", admin_format.feeds_messages(feeds)
    if action == "add" and rest:
        added = await admin_feeds.add_feed(ctx.repo.feeds, rest, ctx.limits)
        if added.feed is None:
            result = f"refused: {added.check.problem}"
        else:
            result = f"{'added' if added.new else 'exists'} {added.feed.id}"
        return result, admin_format.feed_add_messages(added)
    if action == "remove" and rest:
        removed = await admin_feeds.remove_feed(ctx.repo.feeds, rest)
        if removed is None:
            return "missing", admin_format.plain_messages(texts.FEED_MISSING)
        return f"removed {removed.id}", admin_format.plain_messages(texts.FEED_REMOVED)
    return "usage", admin_format.plain_messages(texts.FEEDS_USAGE)


async def reindex_command(update: Update, context: BotContext, ctx: BotState, args: str) -> Done:
    """Start a reindex (or a fast rebuild) in the background, with a live progress message."""
    message = update.effective_message
    assert message is not None
    kind: Kind | None = {"": "full", "fast": "fast"}.get(args.lower())  # type: ignore[assignment]
    if kind is None:
        return "usage", admin_format.plain_messages(texts.REINDEX_USAGE)
    # One reindex at a time across replicas too (a lock in the database when shared).
    if not await ctx.repo.reindexing.take():
        return "busy", admin_format.plain_messages(texts.REINDEX_BUSY)
    job = ctx.reindexer.claim(kind)
    if job is None:
        await ctx.repo.reindexing.release()
        return "busy", admin_format.plain_messages(texts.REINDEX_BUSY)
    try:
        # The first message already says how much there is to do.
        job.total = (await ctx.engine.store.stats()).chunks
        entry = await record(ctx, update, "reindex", args, True, "started")
        shown = await reply(
            update, context, [admin_format.progress_message(ctx.reindexer.render(job))], quote=True
        )
        assert shown is not None
    except BaseException:
        ctx.reindexer.release(job)
        await ctx.repo.reindexing.release()
        raise

    async def show(body: str) -> None:
        await context.bot.edit_message_text(
            admin_format.progress_message(body),
            chat_id=shown.chat_id,
            message_id=shown.message_id,
            parse_mode=ParseMode.HTML,
            link_preview_options=NO_PREVIEW,
        )

    async def finished() -> None:
        try:
            await ctx.repo.audit.set_result(entry, summary(job, time.monotonic()))
        finally:
            await ctx.repo.reindexing.release()

    ctx.reindexer.start(job, show, finished)
    return None, []  # audited above, and again with the outcome when the job ends


async def cancel_command(update: Update, context: BotContext, ctx: BotState, args: str) -> Done:
    """Ask the running reindex to stop; the live index stays as it was."""
    if ctx.reindexer.cancel():
        return "cancel requested", admin_format.plain_messages(texts.CANCEL_REQUESTED)
    return "nothing running", admin_format.plain_messages(texts.NOTHING_TO_CANCEL)


async def audit_command(update: Update, context: BotContext, ctx: BotState, args: str) -> Done:
    """Show the last 20 admin commands (this one included)."""
    shown = min(AUDIT_LIMIT, await ctx.repo.audit.count() + 1)
    result = f"{shown} shown"
    entry = await record(ctx, update, "audit", args, True, result)
    entries = await ctx.repo.audit.last(AUDIT_LIMIT)
    assert entries and entries[0].id == entry
    return None, admin_format.audit_messages(entries)


COMMANDS: dict[str, AdminHandler] = {
    "stats": stats_command,
    "find": find_command,
    "add": add_command,
    "delete": delete_command,
    "feeds": feeds_command,
    "reindex": reindex_command,
    "cancel": cancel_command,
    "audit": audit_command,
}


def is_admin(settings: Settings, user_id: int | None) -> bool:
    """Tell whether a Telegram user id is one of ISNAD_ADMIN_IDS."""
    return user_id is not None and user_id in settings.admin_ids


def admin_only(
    command: str, handler: AdminHandler
) -> Callable[[Update, BotContext], Coroutine[Any, Any, None]]:
    """Wrap an admin handler: refuse and audit anyone else; audit what admins did."""

    @functools.wraps(handler)
    async def wrapped(update: Update, context: BotContext) -> None:
        ctx = state(context)
        message = update.effective_message
        assert message is not None
        args = command_args(message)
        user = update.effective_user
        if not is_admin(ctx.settings, user.id if user else None):
            logger.info("refused /%s from user %s", command, user.id if user else None)
            await record(ctx, update, command, args, False, "refused")
            await reply(
                update, context, admin_format.plain_messages(texts.ADMIN_REFUSED), quote=True
            )
            return
        try:
            result, messages = await handler(update, context, ctx, args)
        except Exception as exc:
            await record(ctx, update, command, args, True, f"error: {type(exc).__name__}")
            raise
        if result is not None:
            await record(ctx, update, command, args, True, result)
        if messages:
            await reply(update, context, messages, quote=True)

    return wrapped


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Add the admin command handlers; the state they use is the application's."""
    for name, handler in COMMANDS.items():
        application.add_handler(
            CommandHandler(name, admin_only(name, handler), filters=filters.UpdateType.MESSAGE)
        )


async def setup_admin_commands(
    bot: Bot, settings: Settings, public: Sequence[BotCommand] | None = None
) -> None:
    """Show the admin commands in each admin's own chat menu, after the public ones.

    A chat-scoped menu replaces the default one in that chat, so it repeats the
    public commands: pass them (commands.public_commands(app)), or they are read back from
    Telegram with getMyCommands.
    """
    if public is None:
        public = await bot.get_my_commands()
    commands = list(public) + [
        BotCommand(name, description)
        for name, description in texts.ADMIN_COMMAND_DESCRIPTIONS.items()
    ]
    for admin_id in settings.admin_ids:
        try:
            await bot.set_my_commands(commands, scope=BotCommandScopeChat(admin_id))
        except TelegramError as exc:  # an admin who never opened the bot has no chat yet
            logger.warning("could not set the admin menu for %d: %s", admin_id, exc)
