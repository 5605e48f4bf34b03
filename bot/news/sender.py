"""Deliver queued alerts to Telegram within its limits, resuming after any restart.

Several senders (one per replica) share one outbox: each claims rows for a lease,
one per chat at a time, so every alert goes out through exactly one of them; a
sender that dies leaves its claims to lapse, and another picks the rows up. The
overall rate and each chat's pacing are kept in the database, for all of them.

Delivery is at least once with a minimal window: a row is marked sent in its own
commit right after Telegram accepts the message, so only a crash in those few
milliseconds (or a TimedOut whose message did arrive) can send one alert twice.
Nothing is ever lost: a row stays pending until it is sent, failed or dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.database import BotRepository
from bot.news import outbox
from bot.telegram import formatting, texts
from bot.telegram.delivery import NO_PREVIEW
from retrieval.models import Article
from retrieval.sentences import split_sentences

logger = logging.getLogger(__name__)

ASK_PREFIX = "ask:"
_LEAD_CHARS = 400


def lead(body: str, sentences: int = 2) -> str:
    """Return the first sentence or two of an article body, cut to a readable length."""
    picked = [s.text for s in split_sentences(body)[:sentences]]
    text = " ".join(picked) or body
    if len(text) > _LEAD_CHARS:
        text = text[:_LEAD_CHARS].rsplit(" ", 1)[0] + "…"
    return text


def alert_html(article: Article, outlets: Sequence[str] = ()) -> str:
    """Lay out an alert: headline, source and date, the story's outlets when several tell
    it, lead, and a link; RTL-safe HTML."""
    headline = formatting.bold(article.title.strip() or texts.UNTITLED)
    meta = " — ".join(
        [
            formatting.text(article.source.strip() or texts.UNKNOWN_SOURCE),
            formatting.text(article.published[:10] or texts.UNKNOWN_DATE),
        ]
    )
    lines = [f"{formatting.text(texts.ALERT_HEADING)}: {headline}", meta]
    if len(outlets) > 1:
        lines.append(
            formatting.text(
                texts.ALERT_OUTLETS.format(n=len(outlets), outlets=texts.LIST_SEP.join(outlets))
            )
        )
    lines += [
        "",
        formatting.text(lead(article.body)),
    ]
    if formatting.safe_url(article.url):
        lines += ["", formatting.link(article.url, formatting.text(texts.ALERT_READ_MORE))]
    return formatting.finish("\n".join(lines))[0]


def alert_markup(article_id: int) -> InlineKeyboardMarkup:
    """Return the button that lets the reader ask about this article."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts.BUTTON_ASK_ARTICLE, callback_data=f"{ASK_PREFIX}{article_id}"
                )
            ]
        ]
    )


async def move_chat(repo: BotRepository, old: int, new: int) -> tuple[int, int]:
    """Carry a chat's subscriptions and pending alerts to its new id; return both counts."""
    return (
        await repo.subscriptions.move_chat(old, new),
        await repo.outbox.move_chat(old, new),
    )


def _seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB warns that the type becomes timedelta; both work
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class AlertSender:
    """Sends pending outbox rows: ~30/s overall, 1/s per chat, 20/min per group."""

    def __init__(
        self,
        bot: Any,  # telegram.Bot, or anything with its send_message
        repo: BotRepository,
        article: outbox.ArticleLookup,
        *,
        outlets: outbox.OutletLookup | None = None,
        update_interval: float = 3600.0,
        per_second: float = 30.0,
        chat_interval: float = 1.0,
        group_interval: float = 3.0,
        max_attempts: int = 5,
        backoff: float = 2.0,
        max_backoff: float = 600.0,
        idle_wait: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        lease: float = 60.0,
        batch: int = 500,
    ):
        self.bot = bot
        self.repo = repo
        self.article = article
        self.outlets = outlets
        self.update_interval = update_interval
        self.interval = 1.0 / per_second
        self.chat_interval = chat_interval
        self.group_interval = group_interval
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.idle_wait = idle_wait
        self.clock = clock
        # Longer than one send with its timeouts: a live holder never loses its claim.
        self.lease = lease
        self.batch = batch  # rows claimed at a time
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.sent = 0
        self._next_global = 0.0
        self._next_chat: dict[int, float] = {}
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look at the outbox now rather than at the next idle tick."""
        self._wake.set()

    async def run(self) -> None:
        """Send alerts until cancelled; pending rows left by a previous run go first.

        Any step may fail (a locked or broken database): the sender logs it, backs
        off and goes on, so one error never stops alerts for good.
        """
        failures = 0
        while True:
            self._wake.clear()  # a wake from here on is not lost: the wait sees it
            try:
                if await self.drain_once():
                    failures = 0
                    continue
                idle = await self._idle_for()
                failures = 0
            except Exception:
                failures += 1
                idle = min(self.max_backoff, self.backoff * 2 ** (failures - 1))
                logger.exception("alert sender step failed; next try in %.1f s", idle)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), idle)

    async def _idle_for(self) -> float:
        due_at = await self.repo.outbox.next_due_time()
        now = self.clock()
        self._next_chat = {c: t for c, t in self._next_chat.items() if t > now}
        soonest = min(self._next_chat.values(), default=now + self.idle_wait)
        waits = [self.idle_wait, max(0.05, soonest - now)]
        # Rows already due wait only for their chat's turn, counted in soonest.
        if due_at is not None and due_at > time.time():
            waits.append(due_at - time.time())
        return min(waits)

    async def drain_once(self) -> int:
        """Send every due alert whose chat may receive one now; return how many were sent."""
        sent = 0
        busy: set[int] = set()
        rows = await self.repo.outbox.claim(self.holder, self.lease, self.batch)
        # Edits are not claimed: two replicas editing one message to the same text
        # change nothing ("not modified"), as a repeat after a crash does.
        updates = await self.repo.outbox.due_updates(self.update_interval)
        unsettled = {row.id for row in rows}
        try:
            for row, edit in [(r, False) for r in rows] + [(r, True) for r in updates]:
                now = self.clock()
                if row.chat_id in busy or self._next_chat.get(row.chat_id, 0.0) > now:
                    continue  # this chat's turn comes later; others go first
                busy.add(row.chat_id)
                if self._next_global > now:  # Telegram asked this sender to wait
                    await asyncio.sleep(self._next_global - now)
                # The overall pace is a slot shared with the other senders: Telegram's
                # limit is per bot, not per replica.
                slot = await self.repo.outbox.take_slot(self.interval)
                if slot > time.time():
                    await asyncio.sleep(slot - time.time())
                if not edit:
                    unsettled.discard(row.id)
                    if not await self.repo.outbox.confirm(row.id, self.holder, self.lease):
                        logger.info("alert %d went to another sender (this one was slow)", row.id)
                        continue
                if await (self._edit(row) if edit else self._deliver(row)):
                    sent += 1
        finally:
            if unsettled:  # skipped, or stopped: let any sender have them at once
                with contextlib.suppress(Exception):
                    await self.repo.outbox.release(sorted(unsettled))
        return sent

    async def _message(self, row: outbox.OutboxRow, article: Article) -> dict[str, Any]:
        """Return the alert's message for send or edit, and take the chat's turn."""
        outlets = []
        if row.story_id is not None and self.outlets is not None:
            outlets = await self.outlets(row.story_id)
        gap = self.group_interval if row.chat_id < 0 else self.chat_interval
        self._next_chat[row.chat_id] = self.clock() + gap
        return {
            "chat_id": row.chat_id,
            "text": alert_html(article, outlets),
            "parse_mode": ParseMode.HTML,
            "reply_markup": alert_markup(article.id),
            "link_preview_options": NO_PREVIEW,
        }

    async def _edit(self, row: outbox.OutboxRow) -> bool:
        """Bring a sent story alert up to date with its story's outlets; True when edited.

        Editing to what the message already says is harmless (Telegram answers "not
        modified"), so an edit repeated after a crash changes nothing.
        """
        article = await self.article(row.article_id)
        if article is None or row.message_id is None:
            await self.repo.outbox.mark_edited(row.id, row.seen)  # nothing left to edit
            return False
        try:
            await self.bot.edit_message_text(
                message_id=row.message_id, **await self._message(row, article)
            )
        except RetryAfter as exc:
            wait = _seconds(exc)
            self._next_global = self.clock() + wait
            logger.warning("Telegram asks to wait %g s before the next edit", wait)
            return False
        except Forbidden as exc:
            await self._chat_gone(row, exc)
            return False
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                # Deleted by the reader, or no longer editable: the update is dropped.
                logger.info("alert %d in %d not edited: %s", row.id, row.chat_id, exc.message)
            await self.repo.outbox.mark_edited(row.id, row.seen)
            return False
        except TelegramError as exc:  # NetworkError included: tried again after the interval
            logger.warning("alert %d in %d not edited: %s", row.id, row.chat_id, exc)
            await self.repo.outbox.mark_edited(row.id, row.shown)
            return False
        await self.repo.outbox.mark_edited(row.id, row.seen)
        return True

    async def _deliver(self, row: outbox.OutboxRow) -> bool:
        article = await self.article(row.article_id)
        if article is None:
            await self.repo.outbox.give_up(row.id, "dropped", "article deleted")
            return False
        try:
            message = await self.bot.send_message(**await self._message(row, article))
        except RetryAfter as exc:
            wait = _seconds(exc)
            # Flood control is per bot: every chat waits, and the try does not count.
            self._next_global = self.clock() + wait
            await self.repo.outbox.hold_all(time.time() + wait)
            await self.repo.outbox.postpone(row.id, wait, f"RetryAfter {wait:g}", count=False)
            logger.warning("Telegram asks to wait %g s before the next alert", wait)
            return False
        except ChatMigrated as exc:
            # A group became a supergroup: its subscriptions and alerts follow it, and this
            # alert goes out again to the new id (the try does not count).
            await move_chat(self.repo, row.chat_id, int(exc.new_chat_id))
            logger.info("chat %d is now %d: alerts follow it", row.chat_id, exc.new_chat_id)
            return False
        except Forbidden as exc:
            await self._chat_gone(row, exc)
            return False
        except BadRequest as exc:
            if "chat not found" in exc.message.lower():
                await self._chat_gone(row, exc)
            else:
                logger.error("alert %d to %d refused: %s", row.id, row.chat_id, exc.message)
                await self.repo.outbox.give_up(row.id, "failed", exc.message)
            return False
        except NetworkError as exc:  # TimedOut included
            if row.attempts + 1 >= self.max_attempts:
                logger.error("alert %d to %d failed for good: %s", row.id, row.chat_id, exc)
                await self.repo.outbox.give_up(row.id, "failed", str(exc))
            else:
                delay = min(self.max_backoff, self.backoff * 2**row.attempts)
                logger.warning(
                    "alert %d to %d: %s; again in %.0f s", row.id, row.chat_id, exc, delay
                )
                await self.repo.outbox.postpone(row.id, delay, str(exc))
            return False
        except TelegramError as exc:
            logger.error("alert %d to %d failed: %s", row.id, row.chat_id, exc)
            await self.repo.outbox.give_up(row.id, "failed", str(exc))
            return False
        # Marked at once, in its own commit: the only window for a repeat.
        await self.repo.outbox.mark_sent(row.id, getattr(message, "message_id", None), row.seen)
        self.sent += 1
        # The chat's pacing, for every sender: its next alert waits this long.
        gap = self.group_interval if row.chat_id < 0 else self.chat_interval
        await self.repo.outbox.space_chat(row.chat_id, time.time() + gap)
        return True

    async def _chat_gone(self, row: outbox.OutboxRow, exc: TelegramError) -> None:
        """Stop alerting a chat that blocked the bot or no longer exists."""
        subs = await self.repo.subscriptions.deactivate_chat(row.chat_id)
        await self.repo.outbox.give_up(row.id, "dropped", exc.message)
        dropped = await self.repo.outbox.drop_chat(row.chat_id, exc.message)
        logger.info(
            "chat %d is gone (%s): %d subscriptions stopped, %d alerts dropped",
            row.chat_id,
            exc.message,
            subs,
            dropped + 1,
        )
