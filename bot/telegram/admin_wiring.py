"""Admin commands in Telegram: who may run them, wiring, and the menus only admins see."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from telegram import Bot, BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, ContextTypes, filters

from bot.admin.corpus import Announce, Announcer, FetchLimits
from bot.admin.questionlog import QUESTION_LOG_KEY, QuestionLog
from bot.admin.reindex import BATCH, EDIT_EVERY, Reindexer
from bot.admin.schema import AdminDb
from bot.news.subscriptions import TopicMatcher
from bot.settings import Settings
from bot.telegram import admin_format, texts
from bot.telegram.admin import (
    ADMIN_KEY,
    COMMANDS,
    AdminContext,
    AdminHandler,
    admin_context,
    answer,
    command_args,
    record,
)
from bot.telegram.questions import registered_commands
from bot.telegram.subscriptions import NEWS_KEY, NewsState
from retrieval.engine import Engine

logger = logging.getLogger(__name__)

__all__ = [
    "AdminContext",
    "public_commands",
    "register",
    "setup_admin_commands",
    "shutdown_admin",
]


def is_admin(settings: Settings, user_id: int | None) -> bool:
    """Tell whether a Telegram user id is one of ISNAD_ADMIN_IDS."""
    return user_id is not None and user_id in settings.admin_ids


def admin_only(
    command: str, handler: AdminHandler
) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
    """Wrap an admin handler: refuse and audit anyone else; audit what admins did."""

    @functools.wraps(handler)
    async def wrapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        ctx = admin_context(context)
        message = update.effective_message
        assert message is not None
        args = command_args(message)
        user = update.effective_user
        if not is_admin(ctx.settings, user.id if user else None):
            logger.info("refused /%s from user %s", command, user.id if user else None)
            await record(ctx, update, command, args, False, "refused")
            await answer(message, admin_format.plain_messages(texts.ADMIN_REFUSED))
            return
        try:
            result, messages = await handler(update, context, ctx, args)
        except Exception as exc:
            await record(ctx, update, command, args, True, f"error: {type(exc).__name__}")
            raise
        if result is not None:
            await record(ctx, update, command, args, True, result)
        if messages:
            await answer(message, messages)

    return wrapped


def register(
    application: Application,  # type: ignore[type-arg]
    *,
    settings: Settings,
    engine: Engine,
    announce: Announce | None = None,
    wake_alerts: Callable[[], None] | None = None,
    limits: FetchLimits | None = None,
    edit_every: float = EDIT_EVERY,
    batch: int = BATCH,
) -> AdminContext:
    """Add the admin command handlers and the question log to the application.

    Articles added with /add are queued for subscribers like feed articles; pass
    wake_alerts to wake a sender of your own (by default the alert sender that
    subscription_handlers.start_background runs is woken), or announce to replace
    that step entirely.
    """
    db = AdminDb(engine.store.path)
    ctx = AdminContext(
        settings=settings,
        engine=engine,
        db=db,
        questions=QuestionLog(db, settings.log_questions),
        reindexer=Reindexer(engine, edit_every=edit_every, batch=batch),
        limits=limits or FetchLimits(allow_private=settings.allow_private_urls),
        announce=announce
        or Announcer(engine, TopicMatcher(engine).chats_for, wake_alerts or _waker(application)),
        started=time.monotonic(),
    )
    application.bot_data[ADMIN_KEY] = ctx
    application.bot_data[QUESTION_LOG_KEY] = ctx.questions
    for name, handler in COMMANDS.items():
        application.add_handler(
            CommandHandler(name, admin_only(name, handler), filters=filters.UpdateType.MESSAGE)
        )
    return ctx


def _waker(application: Application) -> Callable[[], None]:  # type: ignore[type-arg]
    """Return a function that wakes the running alert sender, if there is one."""

    def wake() -> None:
        # Looked up at call time: the sender starts in post_init, after register().
        news = application.bot_data.get(NEWS_KEY)
        if isinstance(news, NewsState) and news.sender is not None:
            news.sender.wake()

    return wake


def public_commands(application: Application) -> list[BotCommand]:  # type: ignore[type-arg]
    """Return the menu everyone sees, as handlers.set_commands registers it."""
    return [
        BotCommand(c, texts.COMMAND_DESCRIPTIONS[c])
        for c in registered_commands(application)
        if c in texts.COMMAND_DESCRIPTIONS
    ]


async def setup_admin_commands(
    bot: Bot, settings: Settings, public: Sequence[BotCommand] | None = None
) -> None:
    """Show the admin commands in each admin's own chat menu, after the public ones.

    A chat-scoped menu replaces the default one in that chat, so it repeats the
    public commands: pass them (public_commands(app)), or they are read back from
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


async def shutdown_admin(application: Application) -> None:  # type: ignore[type-arg]
    """Stop a running reindex (the live index stays) and close the admin connection."""
    ctx = application.bot_data.get(ADMIN_KEY)
    if isinstance(ctx, AdminContext):
        await ctx.reindexer.stop()
        await ctx.db.close()
