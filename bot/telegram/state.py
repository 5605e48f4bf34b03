"""The state every handler shares: settings, engine, rate limiter, answer sessions."""

from __future__ import annotations

from dataclasses import dataclass

from telegram.ext import ContextTypes

from bot.settings import Settings
from bot.telegram.ratelimit import RateLimiter
from bot.telegram.sessions import SessionStore
from retrieval.engine import Engine

STATE_KEY = "isnad"  # where the state sits in application.bot_data


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
