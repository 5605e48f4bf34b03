"""Build the Telegram application once, and run it by polling or by webhook."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import InvalidToken, NetworkError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
)

from bot.errors import ConfigError
from bot.settings import Settings
from bot.telegram import admin, commands, inline, questions, redaction, subscriptions
from bot.telegram.state import BotState, EngineOpener, context_types
from retrieval.dbhealth import DamagedDatabaseError, integrity_problems
from retrieval.engine import Engine

logger = logging.getLogger(__name__)

_TOKEN_SHAPE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
# Updates handled at once; model work is serialised in its own thread anyway,
# so this mostly lets /start and buttons through while questions wait.
CONCURRENT_UPDATES = 64


class MessageRateLimiter(AIORateLimiter):
    """PTB's limiter for everything but chat actions, which skip its queue.

    "Typing..." is a hint: spending one of Telegram's ~30 messages a second on
    it would halve the answers sent under load, and a refused one is dropped.
    """

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        """Send chat actions at once; queue everything else."""
        if endpoint == "sendChatAction":
            return await callback(*args, **kwargs)
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )


def bot_token(settings: Settings) -> str:
    """Return the bot token, or explain in one line how to get one."""
    secret = settings.telegram_token.get_secret_value().strip() if settings.telegram_token else ""
    if not secret:
        raise ConfigError(
            "ISNAD_TELEGRAM_TOKEN is not set: create a bot with @BotFather in Telegram"
            " (/newbot), then put its token in ISNAD_TELEGRAM_TOKEN or in .env"
        )
    if not _TOKEN_SHAPE.match(secret):
        raise ConfigError(
            "ISNAD_TELEGRAM_TOKEN does not look like a bot token (<digits>:<letters>):"
            " copy it again from @BotFather"
        )
    return secret


def file_url(base_url: str) -> str:
    """Return the file download base that goes with an API base URL."""
    if base_url.endswith("/bot"):
        return base_url[: -len("bot")] + "file/bot"
    return base_url


# The application, typed by its state (bot_data); the rest as PTB builds it.
App = Application[Any, Any, Any, Any, BotState, Any]


async def _post_init(app: App) -> None:
    """Open the state, register the menus, start alerts and polls, and say the bot is ready."""
    st = app.bot_data
    await st.open()
    await commands.set_commands(app)
    await admin.setup_admin_commands(app.bot, st.settings, commands.public_commands(app))
    stats = await st.engine.store.stats()
    logger.info(
        "isnad ready: @%s answers from %d articles (%d chunks) with %s",
        app.bot.username,
        stats.articles,
        stats.chunks,
        st.engine.embedder.name,
    )
    await subscriptions.start_background(app)


async def _post_stop(app: App) -> None:
    """Stop the feed poller and the alert sender."""
    await subscriptions.stop_background(app)


async def _post_shutdown(app: App) -> None:
    """Stop a running reindex, then close the bot's tables and the engine it opened."""
    await app.bot_data.close()


def build_application(settings: Settings, engine: Engine | EngineOpener) -> App:
    """Build the application around an engine, or what opens one; nothing is sent yet."""
    token = bot_token(settings)
    secrets = [token]
    if settings.webhook_secret:
        secrets.append(settings.webhook_secret.get_secret_value())
    redaction.install(*secrets)
    bot_state = BotState(settings, engine)
    app: App = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.telegram_base_url)
        .base_file_url(file_url(settings.telegram_base_url))
        .rate_limiter(MessageRateLimiter(max_retries=2))
        .concurrent_updates(CONCURRENT_UPDATES)
        .context_types(context_types(bot_state))
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
        .build()
    )
    questions.register(app)
    subscriptions.register(app)
    admin.register(app)
    inline.register(app)
    return app


def webhook_url(settings: Settings) -> str:
    """Return the public URL Telegram posts to: ISNAD_WEBHOOK_URL, ending in the path."""
    url = settings.webhook_url.rstrip("/")
    path = settings.webhook_path.strip("/")
    return url if not path or url.endswith("/" + path) else f"{url}/{path}"


def run_bot(settings: Settings) -> None:
    """Load the model, then answer Telegram updates until stopped.

    PTB owns the event loop: the engine and the bot's tables open in post_init, on
    that loop, and close in post_shutdown.
    """
    bot_token(settings)
    from bot.factory import check_corpus, load_embedder, open_engine  # heavy: torch

    if settings.database_url:
        # Unreachable or refusing: one line now, before the model loads.
        asyncio.run(check_corpus(settings))
    else:
        if not settings.db_path.exists():
            raise ConfigError(f"no corpus at {settings.db_path}: run `isnad setup` first")
        # The bot runs for days: read every page once now rather than fail mid-answer.
        problems = integrity_problems(settings.db_path, quick=True)
        if problems:
            raise DamagedDatabaseError(settings.db_path, problems[0])

    embedder = load_embedder(settings)
    app = build_application(settings, lambda: open_engine(settings, embedder))
    try:
        if settings.webhook_url:
            secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
            app.run_webhook(
                listen=settings.webhook_listen,
                port=settings.webhook_port,
                url_path=settings.webhook_path.strip("/"),
                webhook_url=webhook_url(settings),
                secret_token=secret,
            )
        else:
            app.run_polling()
    except InvalidToken as exc:
        raise ConfigError(
            "Telegram refused ISNAD_TELEGRAM_TOKEN: check it with @BotFather (/token)"
        ) from exc
    except NetworkError as exc:
        raise ConfigError(
            f"cannot reach the Bot API at {settings.telegram_base_url}:"
            f" {redaction.redact(str(exc))}"
        ) from exc
