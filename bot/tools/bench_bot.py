"""Measure the bot end to end: questions per second and update-to-reply latency.

The real application polls a local Bot API server (bot.tools.localapi); simulated
users each ask a question, wait for the answer, and ask the next one. Latency
runs from the moment an update is queued to the moment its reply reaches the
server, so it includes long polling, the handler, the engine and PTB's rate
limiter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr

from bot.admin.questionlog import percentile
from bot.settings import Settings
from bot.telegram import texts
from retrieval.engine import Engine

BENCH_TOKEN = "123456:bench-token-not-secret"


async def bench_bot(
    settings: Settings,
    engine: Engine,
    questions: Sequence[str],
    users: Sequence[int] = (1, 8, 32),
    per_user: int = 4,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Run the bot against a local server with 1, 8 and 32 concurrent users.

    Each user asks `per_user` questions one after another. Questions are taken
    in turn from `questions`; give at least max(users) * per_user distinct ones,
    or repeats hit the engine's query cache. The per-user question limit is
    lifted; PTB's outgoing rate limiter stays as in production. While the
    largest group is asking, one more user sends /start: `start_ms` is how long
    that took.
    """
    from bot.telegram.app import build_application
    from bot.tools.localapi import ApiCall, LocalBotApi

    if not questions:
        raise ValueError("bench_bot needs at least one question")
    api = LocalBotApi(token=BENCH_TOKEN, username="isnad_bench_bot")
    await api.start()
    run_settings = settings.model_copy(
        update={
            "telegram_token": SecretStr(BENCH_TOKEN),
            "telegram_base_url": api.base_url,
            "rate_limit_count": 1_000_000,
        }
    )
    app = build_application(run_settings, engine)
    await app.initialize()
    # The state opens as in post_init; the feed poller and alert sender are not started.
    await app.bot_data.open()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=10)
    await app.start()
    turn = 0

    async def ask(chat_id: int, question: str) -> float:
        msg = api.send_text(question, user_id=chat_id)
        queued = time.perf_counter()

        def is_reply(c: ApiCall) -> bool:
            return (
                c.method == "sendMessage"
                and c.params.get("chat_id") == chat_id
                and c.params.get("reply_parameters", {}).get("message_id") == msg["message_id"]
            )

        (reply,) = await api.wait_for(is_reply, timeout=timeout)
        return reply.at - queued

    async def user(chat_id: int, start: int) -> list[float]:
        return [
            await ask(chat_id, questions[(start + i) % len(questions)]) for i in range(per_user)
        ]

    async def start_command(chat_id: int) -> float:
        await asyncio.sleep(0.2)  # let the questions queue up first
        before = len(api.requests("sendMessage", chat_id=chat_id))
        queued = time.perf_counter()
        api.send_text("/start", user_id=chat_id)
        calls = await api.replies(chat_id, count=before + 1, timeout=timeout)
        return calls[-1].at - queued

    levels: list[dict[str, Any]] = []
    try:
        for n in users:
            base = 1_000 * (len(levels) + 1)
            started = time.perf_counter()
            probe = asyncio.create_task(start_command(base + 999)) if n == max(users) else None
            results = await asyncio.gather(*(user(base + u, turn + u * per_user) for u in range(n)))
            seconds = time.perf_counter() - started
            turn += n * per_user
            latencies = [x for r in results for x in r]
            level: dict[str, Any] = {
                "users": n,
                "questions": len(latencies),
                "seconds": round(seconds, 3),
                "questions_per_s": round(len(latencies) / seconds, 2),
                "p50_ms": round(percentile(latencies, 50) * 1000, 1),
                "p95_ms": round(percentile(latencies, 95) * 1000, 1),
            }
            if probe is not None:
                level["start_ms"] = round(await probe * 1000, 1)
            levels.append(level)
    finally:
        stopping = asyncio.create_task(app.updater.stop())
        await asyncio.sleep(0)
        await api.release()
        await stopping
        await app.stop()
        await app.shutdown()
        await app.bot_data.close()
        apologies = sum(texts.APOLOGY in c.params["text"] for c in api.requests("sendMessage"))
        await api.stop()
    # An apology is a failed question: figures with any are not the bot's speed.
    return {
        "model": engine.embedder.name,
        "per_user": per_user,
        "levels": levels,
        "apologies": apologies,
    }


def bench_table(result: dict[str, Any]) -> str:
    """Return the figures as a Markdown table for the README."""
    lines = [
        "| users | questions | questions/s | p50 ms | p95 ms | /start while busy ms |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for lv in result["levels"]:
        start = lv.get("start_ms", "")
        lines.append(
            f"| {lv['users']} | {lv['questions']} | {lv['questions_per_s']} |"
            f" {lv['p50_ms']} | {lv['p95_ms']} | {start} |"
        )
    return "\n".join(lines)
