"""The running bot's one state: settings, engine, the bot's tables and what handlers share.

PTB keeps it as `application.bot_data` (ContextTypes(bot_data=...)), so every
handler reaches it typed, as `context.bot_data`. It is built once with the
application; what needs the event loop (the engine, the bot's database
connection) is opened in post_init and closed in post_shutdown.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from telegram.ext import CallbackContext, ContextTypes, ExtBot

from bot.admin.corpus import Announce, Announcer, FetchLimits
from bot.admin.questionlog import QuestionLog
from bot.admin.reindex import BATCH, EDIT_EVERY, Reindexer
from bot.database import BotRepository
from bot.news.sender import AlertSender
from bot.news.subscriptions import TopicMatcher
from bot.settings import Settings
from bot.telegram.ratelimit import RateLimiter
from bot.telegram.sessions import SessionStore
from retrieval.engine import Engine
from retrieval.follower import IndexFollower

INLINE_SETTLE = 0.6  # seconds; Telegram sends a query at each pause in typing

# Opens the engine on the running loop (the CLI's `run`); tests pass an open engine.
EngineOpener = Callable[[], Awaitable[Engine]]


@dataclass(frozen=True)
class Resources:
    """What the state opens on the running loop, and what is built on top of it."""

    engine: Engine
    repo: BotRepository
    questions: QuestionLog
    matcher: TopicMatcher
    reindexer: Reindexer
    announce: Announce


class BotState:
    """Everything the running bot shares; one per application."""

    def __init__(self, settings: Settings, engine: Engine | EngineOpener):
        self.settings = settings
        self.limiter = RateLimiter(settings.rate_limit_count, settings.rate_limit_seconds)
        self.sessions = SessionStore()
        self.limits = FetchLimits(allow_private=settings.allow_private_urls)
        self.started = time.monotonic()
        self.poll_lock = asyncio.Lock()
        # Reindex pacing: progress edits and chunks per embedding call.
        self.edit_every = EDIT_EVERY
        self.reindex_batch = BATCH
        # Inline mode: seconds a query waits for the user to stop typing, and by user
        # the newest query id seen.
        self.inline_settle = INLINE_SETTLE
        self.inline_latest: dict[int, str] = {}
        self.sender: AlertSender | None = None
        self.sender_task: asyncio.Task[None] | None = None
        self.follower: IndexFollower | None = None
        self.follower_task: asyncio.Task[None] | None = None
        self._engine = engine
        self._resources: Resources | None = None

    async def open(self) -> None:
        """Open the engine (unless given open) and the bot's tables, migrated once."""
        if self._resources is not None:
            return
        engine = self._engine if isinstance(self._engine, Engine) else await self._engine()
        try:
            repo = await BotRepository.open_location(engine.store.url, engine.store.path)
        except BaseException:
            if engine is not self._engine:
                await engine.close()
            raise
        if self.settings.database_url:
            # Several replicas: a press or a question may land on any of them.
            self.sessions.backing = repo.session_table(self.sessions.ttl)
            self.limiter.backing = repo.hit_table(self.limiter.seconds)
        matcher = TopicMatcher(engine, repo.subscriptions)
        self._resources = Resources(
            engine=engine,
            repo=repo,
            questions=QuestionLog(repo.questions, self.settings.log_questions),
            matcher=matcher,
            reindexer=Reindexer(engine, edit_every=self.edit_every, batch=self.reindex_batch),
            announce=Announcer(engine, repo.outbox, matcher.chats_for, self.wake_sender),
        )

    async def close(self) -> None:
        """Stop a running reindex (the live index stays), close the tables and an own engine."""
        res = self._resources
        if res is None:
            return
        await res.reindexer.stop()  # its last audit entry is written before the tables close
        self._resources = None
        await res.repo.close()
        if res.engine is not self._engine:
            await res.engine.close()

    def wake_sender(self) -> None:
        """Have the alert sender look at the outbox now, if it runs."""
        if self.sender is not None:
            self.sender.wake()

    @property
    def resources(self) -> Resources:
        """Return what open() made; a handler never runs before post_init opens it."""
        if self._resources is None:
            raise RuntimeError("the bot's state is not open: post_init opens it")
        return self._resources

    @property
    def engine(self) -> Engine:
        """Return the QA engine."""
        return self.resources.engine

    @property
    def repo(self) -> BotRepository:
        """Return the bot's tables, one object per concern."""
        return self.resources.repo

    @property
    def questions(self) -> QuestionLog:
        """Return the question log."""
        return self.resources.questions

    @property
    def matcher(self) -> TopicMatcher:
        """Return the subscriptions' topic matcher."""
        return self.resources.matcher

    @property
    def reindexer(self) -> Reindexer:
        """Return the background reindexer."""
        return self.resources.reindexer


# The context every handler gets: PTB's own, with the state as bot_data.
BotContext = CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], BotState]


def context_types(bot_state: BotState) -> ContextTypes[BotContext, Any, Any, BotState]:
    """Return PTB's context types with this state as bot_data.

    PTB builds bot_data by calling the given type with no arguments: here that call
    returns the one state, built beforehand with what it needs.
    """
    return ContextTypes(bot_data=cast(type[BotState], lambda: bot_state))


def state(context: BotContext) -> BotState:
    """Return the bot's state."""
    return context.bot_data
