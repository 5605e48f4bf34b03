"""The state every handler shares: settings, engine, rate limiter, answer sessions."""

from __future__ import annotations

from dataclasses import dataclass

from telegram.ext import ContextTypes

from bot.settings import Settings
from bot.telegram.ratelimit import RateLimiter
from bot.telegram.sessions import SessionStore
from retrieval.engine import Engine

STATE_KEY = "isnad"  # where the state sits in application.bot_data
FOCUS_KEY = "focus"  # in chat_data: the article the chat's next question is about


@dataclass(frozen=True)
class Focus:
    """The article an alert's «ask about this» button points the next question at."""

    article_id: int
    title: str


@dataclass(frozen=True)
class BotState:
    """What every handler needs, built once with the application."""

    settings: Settings
    engine: Engine
    limiter: RateLimiter
    sessions: SessionStore


def state(context: ContextTypes.DEFAULT_TYPE) -> BotState:
    """Return the bot's shared state."""
    st: BotState = context.bot_data[STATE_KEY]
    return st


def set_focus(context: ContextTypes.DEFAULT_TYPE, focus: Focus) -> None:
    """Point the chat's next question at one article."""
    if context.chat_data is not None:
        context.chat_data[FOCUS_KEY] = focus


def take_focus(context: ContextTypes.DEFAULT_TYPE) -> Focus | None:
    """Return and forget the chat's focus: it holds for one question."""
    found = context.chat_data.pop(FOCUS_KEY, None) if context.chat_data is not None else None
    return found if isinstance(found, Focus) else None
