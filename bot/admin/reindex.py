"""Reindex in the background: one job at a time, progress for a message, cancel, summary."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from bot.telegram import texts
from retrieval.engine import Engine

logger = logging.getLogger(__name__)

Kind = Literal["full", "fast"]
State = Literal["running", "done", "cancelled", "failed"]
Show = Callable[[str], Awaitable[None]]

EDIT_EVERY = 3.0  # seconds between progress edits: Telegram frowns on faster edits
# Chunks per embedding call: small enough that progress moves and questions get the
# model between batches (~6 s of EmbeddingGemma on 2 cores), big enough to batch well.
BATCH = 16
BAR_WIDTH = 20


@dataclass
class ReindexJob:
    """The state of the running (or just finished) reindex; mutated by the job only."""

    kind: Kind
    started: float
    done: int = 0
    total: int = 0
    chunks: int = 0
    state: State = "running"
    cancel_requested: bool = False
    ended: float | None = None

    def update(self, done: int, total: int) -> None:
        """Take a progress report from the engine."""
        self.done, self.total = done, total


def duration(seconds: float) -> str:
    """Return a duration in Arabic: seconds, minutes and seconds, or hours and minutes."""
    s = max(0, round(seconds))
    if s < 60:
        return texts.SECONDS.format(n=s)
    if s < 3600:
        return texts.MINUTES.format(m=s // 60, s=s % 60)
    return texts.HOURS.format(h=s // 3600, m=s % 3600 // 60)


def bar_cells(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """Return a bar of width cells and the percentage, like `█████░░░░░ 50%`."""
    share = min(1.0, done / total) if total > 0 else 0.0
    full = int(share * width)
    return "█" * full + "░" * (width - full) + f" {int(share * 100)}%"


def eta(done: int, total: int, elapsed: float) -> float | None:
    """Return the seconds left at the rate so far, None before the first batch."""
    if done <= 0 or total <= 0:
        return None
    return elapsed / done * max(0, total - done)


def progress_lines(job: ReindexJob, now: float) -> list[str]:
    """Return the lines of the progress message (plain text)."""
    elapsed = (job.ended or now) - job.started
    if job.state == "done":
        template = texts.REINDEX_FAST_DONE if job.kind == "fast" else texts.REINDEX_DONE
        return [template.format(chunks=job.chunks, elapsed=duration(elapsed))]
    if job.state == "cancelled":
        return [texts.REINDEX_CANCELLED.format(done=job.done, total=job.total)]
    if job.state == "failed":
        return [texts.REINDEX_FAILED]
    if job.kind == "fast":
        return [texts.REINDEX_FAST_RUNNING]
    left = eta(job.done, job.total, elapsed)
    return [
        texts.REINDEX_RUNNING,
        bar_cells(job.done, job.total),
        texts.REINDEX_COUNTS.format(done=job.done, total=job.total),
        texts.REINDEX_TIMES.format(
            elapsed=duration(elapsed),
            eta=duration(left) if left is not None else texts.REINDEX_ETA_UNKNOWN,
        ),
        texts.REINDEX_CANCEL_HINT,
    ]


def summary(job: ReindexJob, now: float) -> str:
    """Return the job's outcome in one line for the audit log."""
    elapsed = (job.ended or now) - job.started
    if job.state == "done":
        return f"done: {job.chunks} chunks in {elapsed:.1f} s ({job.kind})"
    if job.state == "cancelled":
        return f"cancelled after {job.done}/{job.total} chunks"
    return job.state


class Reindexer:
    """Runs at most one reindex of an engine at a time."""

    def __init__(
        self,
        engine: Engine,
        *,
        edit_every: float = EDIT_EVERY,
        batch: int = BATCH,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.engine = engine
        self.edit_every = edit_every
        self.batch = batch
        self.clock = clock
        self.job: ReindexJob | None = None
        self.task: asyncio.Task[ReindexJob] | None = None

    @property
    def busy(self) -> bool:
        """Tell whether a reindex is running."""
        return self.job is not None and self.job.state == "running"

    def claim(self, kind: Kind) -> ReindexJob | None:
        """Reserve the reindexer for a new job, or return None when one is running."""
        if self.busy:
            return None
        self.job = ReindexJob(kind, self.clock())
        return self.job

    def release(self, job: ReindexJob) -> None:
        """Give up a claimed job that never started (its message could not be sent)."""
        if self.job is job:
            job.state, job.ended = "failed", self.clock()

    def cancel(self) -> bool:
        """Ask the running reindex to stop; return False when none runs (or it cannot stop)."""
        if not self.busy or self.job is None or self.job.kind == "fast":
            return False
        self.job.cancel_requested = True
        return True

    def render(self, job: ReindexJob) -> str:
        """Return the progress message text for the job now."""
        return "\n".join(progress_lines(job, self.clock()))

    def start(
        self, job: ReindexJob, show: Show, finished: Callable[[], Awaitable[None]] | None = None
    ) -> asyncio.Task[ReindexJob]:
        """Run a claimed job as a task of its own (not the bot's: stopping must not wait on it)."""

        async def go() -> ReindexJob:
            await self.run(job, show)
            if finished is not None:
                try:
                    await finished()
                except Exception:
                    logger.exception("after reindex")
            return job

        self.task = asyncio.create_task(go(), name="isnad-reindex")
        return self.task

    async def stop(self, timeout: float = 60.0) -> None:
        """Cancel a running reindex and wait for it to leave the live index as it was."""
        task = self.task
        if task is None or task.done():
            return
        self.cancel()
        try:
            # The job stops between batches; shield it so a timeout here does not kill a swap.
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            logger.warning("reindex did not stop within %g s", timeout)

    async def run(self, job: ReindexJob, show: Show) -> ReindexJob:
        """Run a claimed job to its end, showing progress every few seconds, then the summary."""
        ticker = asyncio.create_task(self._tick(job, show))
        try:
            if job.kind == "fast":
                job.chunks = await self.engine.rebuild_index()
                job.done = job.total = job.chunks
            else:
                job.chunks = await self.engine.reembed(
                    progress=job.update, cancelled=lambda: job.cancel_requested, batch=self.batch
                )
                if job.cancel_requested and job.chunks == 0:
                    job.state = "cancelled"
            if job.state == "running":
                job.state = "done"
        except Exception:
            logger.exception("reindex failed")
            job.state = "failed"
        finally:
            job.ended = self.clock()
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        logger.info("reindex %s", summary(job, self.clock()))
        await self._show(show, self.render(job))
        return job

    async def _tick(self, job: ReindexJob, show: Show) -> None:
        shown = ""
        while True:
            await asyncio.sleep(self.edit_every)
            text = self.render(job)
            if text != shown:  # Telegram refuses an edit that changes nothing
                await self._show(show, text)
                shown = text

    async def _show(self, show: Show, text: str) -> None:
        try:
            await show(text)
        except Exception as exc:  # progress is a courtesy: the job goes on without it
            logger.warning("could not show reindex progress: %s", exc)
