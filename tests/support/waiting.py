"""Waiting on a condition with a generous timeout, instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

TIMEOUT = 20.0  # generous: a loaded machine is slow, never wrong


async def until(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = TIMEOUT, what: str = ""
) -> None:
    """Return as soon as check() holds; fail after timeout seconds."""

    async def holds() -> bool:
        result = check()
        return bool(await result) if inspect.isawaitable(result) else bool(result)

    async def wait() -> None:
        while not await holds():
            await asyncio.sleep(0.01)  # a tick to let the bot run, not a guess at its speed

    try:
        await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        raise AssertionError(f"not within {timeout:g} s: {what or check}") from None
