"""An alert sender in a process of its own, as a replica runs it, for tests that kill it.

Usage: python sender_child.py DATABASE_URL BOT_API_BASE_URL TOKEN [PER_SECOND]
"""

from __future__ import annotations

import asyncio
import sys

from telegram import Bot

from bot.database import BotRepository
from bot.news.sender import AlertSender
from retrieval.store import CorpusStore


async def main(url: str, base_url: str, token: str, per_second: str = "400") -> None:
    store = await CorpusStore.open_url(url)
    repo = await BotRepository.open_url(url)
    async with Bot(token, base_url=base_url) as bot:
        sender = AlertSender(
            bot,
            repo,
            store.get_article,
            per_second=float(per_second),
            chat_interval=0.0,
            idle_wait=0.1,
            lease=2.0,  # short: the test waits for a dead sender's claims to lapse
            batch=20,
        )
        print("sending", flush=True)
        await sender.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
