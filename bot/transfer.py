"""`isnad migrate --to postgresql://…`: the corpus and the bot's tables, copied across."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.database import BotRepository
from retrieval.store import CorpusStore
from retrieval.transfer import TableCopy, TransferError, copy_tables

__all__ = ["TableCopy", "TransferError", "copy_to_postgres"]


async def copy_to_postgres(
    path: Path, url: str, progress: Callable[[str], None] = lambda line: None
) -> list[TableCopy]:
    """Copy the SQLite file at path into the PostgreSQL database at url; check the counts."""
    if not path.exists():
        raise TransferError(f"no corpus at {path}: nothing to migrate")
    # Both sides at this program's schema versions first: the columns then match.
    for opened in (
        await CorpusStore.open(path),
        await BotRepository.open(path),
        await CorpusStore.open_url(url),
        await BotRepository.open_url(url),
    ):
        await opened.close()
    return await copy_tables(path, url, progress)
