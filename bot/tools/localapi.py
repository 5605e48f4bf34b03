"""A local stand-in for the Telegram Bot API, for tests and `isnad bench`.

An aiohttp server on 127.0.0.1 answers `/bot{token}/{method}` the way Telegram
does and records every request with its decoded parameters. Updates pushed by the
caller reach the bot the two ways Telegram offers: getUpdates (long polling), or,
once the bot has called setWebhook, POSTed as JSON to its URL (with the secret
token header when one was set), retried with a growing pause until the receiver
answers 2xx, as Telegram does. getUpdates is refused while a webhook is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.tools.localhttp import listen_local

if TYPE_CHECKING:  # aiohttp is imported when a server starts, not with the module
    from aiohttp import ClientSession, web

# Telegram's limits on setWebhook's parameters.
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


# Parameters that are plain strings even when they look like JSON.
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "callback_query_id",
        "parse_mode",
        "action",
        "url",
        "description",
        "short_description",
        "name",
        "language_code",
        "secret_token",
        "inline_message_id",
        "inline_query_id",
        "question",
        "data",
    }
)


@dataclass(frozen=True)
class ApiCall:
    """One request the bot made: method, decoded parameters, what we answered, when."""

    method: str
    params: dict[str, Any]
    result: Any = None
    at: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class Webhook:
    """Where updates go while a webhook is set (setWebhook's parameters)."""

    url: str
    secret_token: str | None = None
    max_connections: int = 40
    allowed_updates: tuple[str, ...] = ()  # empty: every kind


@dataclass(frozen=True)
class Delivery:
    """One POST of an update to the webhook: its HTTP status (0: no answer) and error."""

    update_id: int
    status: int
    error: str = ""
    at: float = field(default_factory=time.perf_counter)

    @property
    def ok(self) -> bool:
        """Tell whether the receiver took the update (2xx)."""
        return 200 <= self.status < 300


def decode_params(raw: dict[str, str]) -> dict[str, Any]:
    """Decode form fields as PTB sends them: nested objects and numbers as JSON text."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _STRING_PARAMS:
            out[key] = value
            continue
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


class LocalBotApi:
    """A Bot API server on 127.0.0.1 that the test or benchmark controls."""

    def __init__(
        self,
        token: str = "123:ABC",
        username: str = "isnad_test_bot",
        bot_id: int | None = None,
        retry_first: float = 0.2,
        retry_most: float = 5.0,
    ) -> None:
        self.token = token
        self.bot_id = bot_id or int(token.split(":")[0])
        self.username = username
        self.calls: list[ApiCall] = []
        self.errors: dict[str, tuple[int, str]] = {}  # method -> (status, description)
        # chat id -> (status, description, parameters): any method aimed at that chat fails
        self.chat_errors: dict[int, tuple[int, str, dict[str, Any]]] = {}
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._chats: dict[int, dict[str, Any]] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.port = 0
        # Webhook mode: failed deliveries wait retry_first, doubling up to retry_most.
        self.webhook: Webhook | None = None
        self.deliveries: list[Delivery] = []
        self.retry_first = retry_first
        self.retry_most = retry_most
        self._attempts: dict[int, int] = {}  # update id -> failed POSTs so far
        self._retry_at: dict[int, float] = {}  # update id -> monotonic time of the next try
        self._in_flight: set[int] = set()
        self._last_error: tuple[int, str] | None = None  # unix time, message
        self._deliverer: asyncio.Task[None] | None = None
        self._session: ClientSession | None = None

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        from aiohttp import web

        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner, self.port = await listen_local(app)

    async def release(self) -> None:
        """Answer pending and future long polls at once, so that the bot stops quickly."""
        self._closing = True
        await self._notify()

    async def stop(self) -> None:
        """Stop delivering and listening."""
        await self._stop_delivering()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        """Return the base URL PTB appends the token to."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        """Return the bot as a Telegram User object."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "إسناد",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
        }

    # -- what the caller pushes ----------------------------------------------

    def push(self, kind: str, payload: dict[str, Any]) -> int:
        """Queue an update of this kind (message, callback_query...); return its id."""
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, kind: payload})
        asyncio.get_running_loop().create_task(self._notify())
        return update_id

    def chat(self, chat_id: int, kind: str = "private", title: str = "") -> dict[str, Any]:
        """Return (and remember) a Chat object."""
        chat: dict[str, Any] = {"id": chat_id, "type": kind}
        if kind == "private":
            chat["first_name"] = f"user{chat_id}"
        else:
            chat["title"] = title or f"group{chat_id}"
        self._chats[chat_id] = chat
        return chat

    @staticmethod
    def user(user_id: int) -> dict[str, Any]:
        """Return a human User object."""
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": f"user{user_id}",
            "language_code": "ar",
        }

    def message(
        self,
        text: str | None,
        *,
        user_id: int = 1,
        chat_id: int | None = None,
        chat_type: str = "private",
        entities: list[dict[str, Any]] | None = None,
        reply_to: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Build a Message from a user; commands get their bot_command entity."""
        chat_id = user_id if chat_id is None else chat_id
        msg: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self.chat(chat_id, chat_type),
            "from": self.user(user_id),
        }
        if text is not None:
            msg["text"] = text
            if entities is None and text.startswith("/"):
                command = text.split(maxsplit=1)[0]
                entities = [{"type": "bot_command", "offset": 0, "length": _utf16(command)}]
            if entities:
                msg["entities"] = entities
        if reply_to is not None:
            msg["reply_to_message"] = reply_to
        msg.update(extra or {})
        return msg

    def send_text(self, text: str | None, **kwargs: Any) -> dict[str, Any]:
        """Push a message update and return the message."""
        msg = self.message(text, **kwargs)
        self.push("message", msg)
        return msg

    def bot_message(self, chat_id: int, text: str = "…") -> dict[str, Any]:
        """Return a Message as if the bot had sent it earlier in that chat."""
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self._chats.get(chat_id) or self.chat(chat_id),
            "from": self.bot_user,
            "text": text,
        }

    def press(self, message: dict[str, Any], data: str, user_id: int = 1) -> str:
        """Push a callback query for a button under a message; return the query id."""
        query_id = f"cq{next(self._update_ids)}"
        self.push(
            "callback_query",
            {
                "id": query_id,
                "from": self.user(user_id),
                "message": message,
                "chat_instance": f"ci{message['chat']['id']}",
                "data": data,
            },
        )
        return query_id

    def inline(self, query: str, user_id: int = 1, chat_type: str = "private") -> str:
        """Push an inline query (`@bot query` typed in a chat); return the query id."""
        query_id = f"iq{next(self._update_ids)}"
        self.push(
            "inline_query",
            {
                "id": query_id,
                "from": self.user(user_id),
                "query": query,
                "offset": "",
                "chat_type": chat_type,
            },
        )
        return query_id

    async def inline_answer(self, query_id: str, timeout: float = 10.0) -> ApiCall:
        """Wait for the bot's answerInlineQuery to that query; return it."""
        found = await self.wait_for(
            lambda c: (
                c.method == "answerInlineQuery" and c.params.get("inline_query_id") == query_id
            ),
            timeout=timeout,
        )
        return found[0]

    # -- what the caller checks -----------------------------------------------

    def requests(self, method: str | None = None, **match: Any) -> list[ApiCall]:
        """Return the recorded calls of a method whose parameters match."""
        return [
            c
            for c in self.calls
            if (method is None or c.method == method)
            and all(c.params.get(k) == v for k, v in match.items())
        ]

    async def wait_for(
        self,
        predicate: Callable[[ApiCall], bool],
        timeout: float = 10.0,
        count: int = 1,
    ) -> list[ApiCall]:
        """Wait until `count` recorded calls satisfy predicate; return them."""

        def found() -> list[ApiCall]:
            return [c for c in self.calls if predicate(c)]

        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(found()) >= count), timeout=timeout
            )
        return found()

    async def replies(self, chat_id: int, count: int = 1, timeout: float = 10.0) -> list[ApiCall]:
        """Wait for `count` sendMessage calls to a chat; return all of them so far."""
        return await self.wait_for(
            lambda c: c.method == "sendMessage" and c.params.get("chat_id") == chat_id,
            timeout=timeout,
            count=count,
        )

    @property
    def pending(self) -> int:
        """Return how many pushed updates the bot has not yet confirmed (or taken by webhook)."""
        return len(self._updates)

    async def delivered(self, count: int, timeout: float = 10.0) -> None:
        """Wait until the webhook has taken every pushed update and at least count in all."""

        def done() -> bool:
            return not self._updates and sum(d.ok for d in self.deliveries) >= count

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(done), timeout=timeout)

    # -- the server -----------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            body = await request.json() if request.can_read_body else {}
            return dict(body or {})
        form = await request.post()
        return decode_params({k: str(v) for k, v in form.items()})

    async def _handle(self, request: web.Request) -> web.Response:
        from aiohttp import web

        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params = await self._params(request)
        if method == "getUpdates":
            if self.webhook is not None:
                return web.json_response(
                    {
                        "ok": False,
                        "error_code": 409,
                        "description": "Conflict: can't use getUpdates method while webhook"
                        " is active; use deleteWebhook to delete the webhook first",
                    },
                    status=409,
                )
            return web.json_response({"ok": True, "result": await self._get_updates(params)})
        if method in ("setWebhook", "deleteWebhook"):
            refused = self._webhook_call(method, params)
            if refused:
                self.calls.append(ApiCall(method, params, None))
                await self._notify()
                return web.json_response(
                    {"ok": False, "error_code": 400, "description": refused}, status=400
                )
        error = self.errors.get(method)
        failure: tuple[int, str, dict[str, Any]] | None = (
            (error[0], error[1], {}) if error else None
        )
        chat = params.get("chat_id")
        if failure is None and isinstance(chat, int | str) and str(chat).lstrip("-").isdigit():
            failure = self.chat_errors.get(int(chat))
        result = None if failure else self._result(method, params)
        self.calls.append(ApiCall(method, params, result))
        await self._notify()
        if failure:
            status, description, parameters = failure
            body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
            if parameters:
                body["parameters"] = parameters
            return web.json_response(body, status=status)
        return web.json_response({"ok": True, "result": result})

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        # Updates below the offset are confirmed: Telegram forgets them.
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and timeout > 0 and not self._closing:
            async with self._changed:
                try:
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: bool(self._updates) or self._closing),
                        timeout,
                    )
                except TimeoutError:
                    pass
        return self._updates[:limit]

    # -- webhook mode -----------------------------------------------------------

    def _webhook_call(self, method: str, params: dict[str, Any]) -> str:
        """Set or delete the webhook as Telegram does; return why it was refused, or ""."""
        url = str(params.get("url") or "") if method == "setWebhook" else ""
        if url:
            if not url.startswith(("https://", "http://")):
                return "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            secret = params.get("secret_token")
            if secret is not None and not _SECRET.match(str(secret)):
                return "Bad Request: secret token contains unallowed characters"
            connections = int(params.get("max_connections") or 40)
            if not 1 <= connections <= 100:
                return "Bad Request: bad webhook: max_connections must be between 1 and 100"
        if params.get("drop_pending_updates") in (True, "true", "True"):
            self._updates.clear()
            self._attempts.clear()
            self._retry_at.clear()
        if not url:  # deleteWebhook, or setWebhook with an empty URL
            self.webhook = None
            self._last_error = None
            return ""
        allowed = params.get("allowed_updates") or []
        self.webhook = Webhook(
            url,
            str(params["secret_token"]) if params.get("secret_token") else None,
            int(params.get("max_connections") or 40),
            tuple(json.loads(allowed) if isinstance(allowed, str) else allowed),
        )
        if self._deliverer is None or self._deliverer.done():
            self._deliverer = asyncio.get_running_loop().create_task(self._deliver_updates())
        return ""

    def _webhook_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook.url if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook is not None:
            info["max_connections"] = self.webhook.max_connections
            if self.webhook.allowed_updates:
                info["allowed_updates"] = list(self.webhook.allowed_updates)
            if self._last_error is not None:
                info["last_error_date"], info["last_error_message"] = self._last_error
        return info

    def _next_due(self) -> tuple[dict[str, Any] | None, float]:
        """Return the oldest update due for a POST now, else None and seconds to the next."""
        now = time.monotonic()
        soonest = 1.0
        for update in self._updates:
            uid = update["update_id"]
            if uid in self._in_flight:
                continue
            at = self._retry_at.get(uid, 0.0)
            if at <= now:
                return update, 0.0
            soonest = min(soonest, at - now)
        return None, soonest

    async def _deliver_updates(self) -> None:
        """POST pending updates to the webhook while one is set, max_connections at a time."""
        from aiohttp import ClientSession

        self._session = self._session or ClientSession()
        posts: set[asyncio.Task[None]] = set()
        try:
            while self.webhook is not None:
                hook = self.webhook
                update, wait = (
                    self._next_due() if len(self._in_flight) < hook.max_connections else (None, 1.0)
                )
                if update is None:
                    async with self._changed:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._changed.wait(), wait)
                    continue
                kind = next(k for k in update if k != "update_id")
                if hook.allowed_updates and kind not in hook.allowed_updates:
                    self._updates.remove(update)  # Telegram does not send unwanted kinds
                    continue
                self._in_flight.add(update["update_id"])
                task = asyncio.create_task(self._post(hook, update))
                posts.add(task)
                task.add_done_callback(posts.discard)
        finally:
            for task in list(posts):
                task.cancel()
            await asyncio.gather(*posts, return_exceptions=True)

    async def _post(self, hook: Webhook, update: dict[str, Any]) -> None:
        """POST one update; take it off the queue on 2xx, else schedule another try."""
        from aiohttp import ClientError, ClientTimeout

        assert self._session is not None
        uid = update["update_id"]
        headers = {SECRET_HEADER: hook.secret_token} if hook.secret_token else {}
        status, error = 0, ""
        try:
            async with self._session.post(
                hook.url, json=update, headers=headers, timeout=ClientTimeout(total=30)
            ) as response:
                status = response.status
                if not 200 <= status < 300:
                    error = f"Wrong response from the webhook: {status} {response.reason}"
        except (ClientError, TimeoutError, OSError) as exc:
            error = f"Connection failed: {type(exc).__name__}"
        finally:
            self._in_flight.discard(uid)
        self.deliveries.append(Delivery(uid, status, error))
        if not error:
            self._updates = [u for u in self._updates if u["update_id"] != uid]
            self._attempts.pop(uid, None)
            self._retry_at.pop(uid, None)
        else:
            failed = self._attempts[uid] = self._attempts.get(uid, 0) + 1
            pause = min(self.retry_most, self.retry_first * 2 ** (failed - 1))
            self._retry_at[uid] = time.monotonic() + pause
            self._last_error = (int(time.time()), error)
        await self._notify()

    async def _stop_delivering(self) -> None:
        if self._deliverer is not None:
            self._deliverer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._deliverer
            self._deliverer = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return self.bot_user
        if method == "getWebhookInfo":
            return self._webhook_info()
        if method in ("sendMessage", "editMessageText", "sendPhoto", "sendDocument"):
            if method == "editMessageText" and "inline_message_id" in params:
                return True
            chat_id = int(params["chat_id"])
            msg: dict[str, Any] = {
                "message_id": int(params.get("message_id") or next(self._message_ids)),
                "date": int(time.time()),
                "chat": self._chats.get(chat_id) or {"id": chat_id, "type": "private"},
                "from": self.bot_user,
                "text": params.get("text", ""),
            }
            if "reply_markup" in params:
                msg["reply_markup"] = params["reply_markup"]
            return msg
        if method == "getMyCommands":
            return []
        if method == "getChatMember":
            return {"status": "member", "user": self.user(int(params.get("user_id") or 0))}
        return True


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
