"""Build the Telegram application once, and run it by polling or by webhook."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import InvalidToken, NetworkError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder

from bot.errors import ConfigError
from bot.settings import Settings
from bot.telegram import admin_wiring as admin
from bot.telegram import questions as handlers
from bot.telegram import redaction
from bot.telegram import subscriptions as subscription_handlers
from bot.telegram.ratelimit import RateLimiter
from bot.telegram.sessions import SessionStore
from bot.telegram.state import STATE_KEY, BotState
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


async def _post_init(app: Application) -> None:  # type: ignore[type-arg]
    """Register the command menu and say, in one line, that the bot is ready."""
    await handlers.set_commands(app)
    st: BotState = app.bot_data[STATE_KEY]
    await admin.setup_admin_commands(app.bot, st.settings, admin.public_commands(app))
    stats = await st.engine.store.stats()
    logger.info(
        "isnad ready: @%s answers from %d articles (%d chunks) with %s",
        app.bot.username,
        stats.articles,
        stats.chunks,
        st.engine.embedder.name,
    )
    await subscription_handlers.start_background(app, st.engine, st.settings)


async def _post_stop(app: Application) -> None:  # type: ignore[type-arg]
    """Stop the feed poller, the alert sender and a running reindex."""
    await subscription_handlers.stop_background(app)
    await admin.shutdown_admin(app)


def build_application(settings: Settings, engine: Engine) -> Application:  # type: ignore[type-arg]
    """Build the application around a ready engine; nothing is sent yet."""
    token = bot_token(settings)
    secrets = [token]
    if settings.webhook_secret:
        secrets.append(settings.webhook_secret.get_secret_value())
    redaction.install(*secrets)
    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.telegram_base_url)
        .base_file_url(file_url(settings.telegram_base_url))
        .rate_limiter(MessageRateLimiter(max_retries=2))
        .concurrent_updates(CONCURRENT_UPDATES)
        .post_init(_post_init)
        .post_stop(_post_stop)
        .build()
    )
    app.bot_data[STATE_KEY] = BotState(
        settings=settings,
        engine=engine,
        limiter=RateLimiter(settings.rate_limit_count, settings.rate_limit_seconds),
        sessions=SessionStore(),
    )
    handlers.register(app)
    subscription_handlers.register(app, engine, settings)
    admin.register(app, settings=settings, engine=engine)
    return app


def webhook_url(settings: Settings) -> str:
    """Return the public URL Telegram posts to: ISNAD_WEBHOOK_URL, ending in the path."""
    url = settings.webhook_url.rstrip("/")
    path = settings.webhook_path.strip("/")
    return url if not path or url.endswith("/" + path) else f"{url}/{path}"


def run_bot(settings: Settings) -> None:
    """Load the model and index, then answer Telegram updates until stopped."""
    bot_token(settings)
    if not settings.db_path.exists():
        raise ConfigError(f"no corpus at {settings.db_path}: run `isnad setup` first")
    from bot.factory import load_embedder, open_engine  # heavy: torch comes with the model

    embedder = load_embedder(settings)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # PTB runs on the current loop, where the engine lives
    engine: Engine | None = None
    try:
        engine = loop.run_until_complete(open_engine(settings, embedder))
        app = build_application(settings, engine)
        if settings.webhook_url:
            secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
            app.run_webhook(
                listen=settings.webhook_listen,
                port=settings.webhook_port,
                url_path=settings.webhook_path.strip("/"),
                webhook_url=webhook_url(settings),
                secret_token=secret,
                close_loop=False,
            )
        else:
            app.run_polling(close_loop=False)
    except InvalidToken as exc:
        raise ConfigError(
            "Telegram refused ISNAD_TELEGRAM_TOKEN: check it with @BotFather (/token)"
        ) from exc
    except NetworkError as exc:
        raise ConfigError(
            f"cannot reach the Bot API at {settings.telegram_base_url}:"
            f" {redaction.redact(str(exc))}"
        ) from exc
    finally:
        if engine is not None:
            loop.run_until_complete(engine.close())
        loop.close()
