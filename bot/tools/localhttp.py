"""Serve an aiohttp application on 127.0.0.1, as the local test servers do."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # aiohttp is imported when a server starts, not with the module
    from aiohttp import web


async def listen_local(app: web.Application, port: int = 0) -> tuple[web.AppRunner, int]:
    """Start serving app on 127.0.0.1 (a free port unless given); return its runner and port."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, int(runner.addresses[0][1])
