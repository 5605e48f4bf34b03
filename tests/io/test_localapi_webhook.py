"""The local Bot API server in webhook mode, as Telegram behaves: set, post, retry, delete."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from support.botapi import TOKEN, bot_settings
from support.waiting import until
from telegram import Bot
from telegram.error import BadRequest, Conflict

from bot.telegram.app import build_application
from bot.tools.localapi import SECRET_HEADER, LocalBotApi
from bot.tools.localhttp import listen_local
from retrieval.engine import Engine


@dataclass
class Receiver:
    """A webhook endpoint that answers each POST with the next status of a script."""

    statuses: list[int] = field(default_factory=list)  # then 200
    posts: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    port: int = 0
    runner: web.AppRunner | None = None

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner, self.port = await listen_local(app, port)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def handle(self, request: web.Request) -> web.Response:
        self.posts.append((await request.json(), request.headers.get(SECRET_HEADER)))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
async def api() -> AsyncIterator[LocalBotApi]:
    server = LocalBotApi(token=TOKEN, retry_first=0.05, retry_most=0.4)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    await hook.start()
    yield hook
    await hook.stop()


async def test_updates_are_posted_with_the_secret_and_polling_is_refused(
    api: LocalBotApi, receiver: Receiver
) -> None:
    async with Bot(TOKEN, base_url=api.base_url) as bot:
        assert (await bot.get_webhook_info()).url == ""
        assert await bot.set_webhook(receiver.url, secret_token="s3cret_-x", max_connections=3)
        msg = api.send_text("مرحبا", user_id=5)
        await api.delivered(1)
        [(update, secret)] = receiver.posts
        assert secret == "s3cret_-x"
        assert update["message"]["text"] == "مرحبا" and update["message"] == msg
        info = await bot.get_webhook_info()
        assert (info.url, info.pending_update_count, info.max_connections) == (receiver.url, 0, 3)
        with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
            await bot.get_updates()


async def test_a_failing_webhook_is_retried_until_it_takes_the_update(
    api: LocalBotApi, receiver: Receiver
) -> None:
    receiver.statuses = [500, 502, 200]
    async with Bot(TOKEN, base_url=api.base_url) as bot:
        await bot.set_webhook(receiver.url)
        api.send_text("أولى", user_id=5)
        await until(lambda: len(api.deliveries) == 2, what="two failed posts")
        info = await bot.get_webhook_info()
        assert info.pending_update_count == 1
        assert info.last_error_message == "Wrong response from the webhook: 502 Bad Gateway"
        await api.delivered(1)
        statuses = [d.status for d in api.deliveries]
        assert statuses == [500, 502, 200]
        # The same update each time, and a longer pause before each new try.
        assert len({p["update_id"] for p, _ in receiver.posts}) == 1
        gaps = [b.at - a.at for a, b in zip(api.deliveries, api.deliveries[1:], strict=False)]
        assert 0.04 <= gaps[0] < gaps[1]
        assert (await bot.get_webhook_info()).pending_update_count == 0


async def test_a_webhook_that_is_down_gets_its_updates_when_it_comes_back(
    api: LocalBotApi,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    hook = Receiver()
    async with Bot(TOKEN, base_url=api.base_url) as bot:
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook")
        api.send_text("واحد", user_id=5)
        api.send_text("اثنان", user_id=6)
        await until(lambda: len(api.deliveries) >= 4, what="posts that found nobody")
        assert {d.status for d in api.deliveries} == {0}
        assert api.deliveries[0].error.startswith("Connection failed")
        assert api.pending == 2
        await hook.start(port)
        try:
            await api.delivered(2)
        finally:
            await hook.stop()
    assert sorted(p["message"]["text"] for p, _ in hook.posts) == ["اثنان", "واحد"]


async def test_delete_webhook_goes_back_to_polling(api: LocalBotApi, receiver: Receiver) -> None:
    receiver.statuses = [500] * 1000  # never takes anything
    async with Bot(TOKEN, base_url=api.base_url) as bot:
        await bot.set_webhook(receiver.url)
        api.send_text("باقية", user_id=5)
        await until(lambda: len(receiver.posts) >= 1, what="a try")
        assert await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""
        [kept] = await bot.get_updates()
        assert kept.message is not None and kept.message.text == "باقية"
        await bot.set_webhook(receiver.url, drop_pending_updates=True)
        assert (await bot.get_webhook_info()).pending_update_count == 0


async def test_bad_webhook_settings_are_refused_and_change_nothing(
    api: LocalBotApi, receiver: Receiver
) -> None:
    async with Bot(TOKEN, base_url=api.base_url) as bot:
        with pytest.raises(BadRequest, match="Secret token contains unallowed characters"):
            await bot.set_webhook(receiver.url, secret_token="no spaces")
        with pytest.raises(BadRequest, match="max_connections must be between 1 and 100"):
            await bot.set_webhook(receiver.url, max_connections=101)
        with pytest.raises(BadRequest, match=r"(?i)an https url must be provided"):
            await bot.set_webhook("ftp://127.0.0.1/hook")
        assert (await bot.get_webhook_info()).url == ""
        assert api.webhook is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_bot_answers_in_webhook_mode(
    botapi: LocalBotApi, bot_engine: Engine, tmp_path: Path
) -> None:
    """The real application behind its own webhook server: the secret is checked."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    url = f"http://127.0.0.1:{port}/telegram"
    app = build_application(bot_settings(botapi, tmp_path), bot_engine)
    await app.initialize()
    assert app.post_init is not None and app.updater is not None
    await app.post_init(app)
    await app.updater.start_webhook(
        listen="127.0.0.1", port=port, url_path="telegram", webhook_url=url, secret_token="k_1"
    )
    await app.start()
    try:
        assert botapi.requests("setWebhook")[-1].params["secret_token"] == "k_1"
        botapi.send_text("/help", user_id=8)
        await botapi.replies(8)
        async with ClientSession() as session:
            forged = {"update_id": 99, "message": botapi.message("/help", user_id=9)}
            async with session.post(url, json=forged, headers={SECRET_HEADER: "wrong"}) as answer:
                assert answer.status == 403
        assert botapi.requests("sendMessage", chat_id=9) == []
    finally:
        await app.updater.stop()
        await app.stop()
        assert app.post_stop is not None and app.post_shutdown is not None
        await app.post_stop(app)
        await app.shutdown()
        await app.post_shutdown(app)
