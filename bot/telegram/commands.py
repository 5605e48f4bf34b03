"""Bot commands: the arguments after one, and the menus of those the application answers."""

from __future__ import annotations

from telegram import BotCommand, Message, MessageEntity
from telegram.ext import Application, CommandHandler

from bot.telegram import texts


def command_args(message: Message, *, strip: bool = True) -> str:
    """Return what follows the /command (and any @bot suffix) in a message.

    The one parser of command arguments: questions after /ask keep their lines
    (strip=False; admission cleans them), everything else is stripped.
    """
    body = message.text or ""
    entity = message.entities[0] if message.entities else None
    if entity is not None and entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
        # Commands are ASCII, so the UTF-16 entity length is also a str index.
        rest = body[entity.length :]
    else:
        rest = body.partition(" ")[2]
    return rest.strip() if strip else rest


def registered_commands(app: Application) -> list[str]:  # type: ignore[type-arg]
    """Return every command any handler answers, menu order first."""
    found: set[str] = set()
    for group in app.handlers.values():
        for handler in group:
            if isinstance(handler, CommandHandler):
                found.update(handler.commands)
    ordered = [c for c in texts.COMMAND_DESCRIPTIONS if c in found]
    return ordered + sorted(found - set(ordered))


def public_commands(app: Application) -> list[BotCommand]:  # type: ignore[type-arg]
    """Return the menu everyone sees: the answered commands that have a description."""
    return [
        BotCommand(c, texts.COMMAND_DESCRIPTIONS[c])
        for c in registered_commands(app)
        if c in texts.COMMAND_DESCRIPTIONS
    ]


async def set_commands(app: Application) -> None:  # type: ignore[type-arg]
    """Register the public menu with its Arabic descriptions."""
    await app.bot.set_my_commands(public_commands(app))
