"""A tiny round-robin HTTP balancer on 127.0.0.1, for tests of several replicas.

It stands where an operator's load balancer stands in front of `isnad run`
replicas in webhook mode: each request goes to the next backend in turn, with
its method, path, headers and body; a backend that does not answer (a replica
killed or restarting) is skipped for the next, as a balancer's passive health
check does, and when none answers the caller gets 502 (Telegram then retries).
Every request is recorded with the backend that took it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.tools.localhttp import listen_local

if TYPE_CHECKING:  # aiohttp is imported when a server starts, not with the module
    from aiohttp import ClientSession, web

# Hop-by-hop headers a proxy does not pass on, and those aiohttp sets itself.
_DROPPED = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "host", "content-length", "upgrade"}
)


@dataclass(frozen=True)
class Routed:
    """One request: its path and body, the backend that answered it (-1: none), the status."""

    path: str
    body: bytes
    backend: int
    status: int


@dataclass
class Balancer:
    """Spreads requests over backends (base URLs such as http://127.0.0.1:8001)."""

    backends: list[str]
    routed: list[Routed] = field(default_factory=list)
    port: int = 0
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    _runner: web.AppRunner | None = None
    _session: ClientSession | None = None

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        from aiohttp import ClientSession, web

        self._session = ClientSession()
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner, self.port = await listen_local(app)

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def url(self, path: str = "") -> str:
        """Return the public URL of a path, as the balancer's clients see it."""
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def counts(self) -> list[int]:
        """Return how many requests each backend answered."""
        return [sum(1 for r in self.routed if r.backend == i) for i in range(len(self.backends))]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import ClientError, ClientTimeout, web

        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROPPED}
        first = next(self._turn)
        for step in range(len(self.backends)):
            backend = (first + step) % len(self.backends)
            target = self.backends[backend].rstrip("/") + request.path_qs
            try:
                async with self._session.request(
                    request.method,
                    target,
                    data=body,
                    headers=headers,
                    timeout=ClientTimeout(total=30, connect=2),
                ) as answer:
                    payload = await answer.read()
                    self.routed.append(Routed(request.path, body, backend, answer.status))
                    return web.Response(
                        status=answer.status,
                        body=payload,
                        content_type=answer.content_type,
                    )
            except (ClientError, TimeoutError, OSError):
                continue  # down: the next backend
        self.routed.append(Routed(request.path, body, -1, 502))
        return web.Response(status=502, text="no backend answered")
