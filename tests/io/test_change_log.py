"""The change log of the chunks stays bounded, and followers stay right as it is pruned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.articles import filler
from support.embedders import HashingEmbedder

from bot.settings import Settings
from retrieval.answer import AnswerConfig
from retrieval.engine import Engine
from retrieval.models import ChunkSpan
from retrieval.store import KEEP_CHANGES, CorpusStore

KEEP = 10


async def open_follower(path: Path, index: Path, keep: int = KEEP) -> Engine:
    """An engine on the shared file with an index file of its own, as a replica has."""
    store = await CorpusStore.open(path, keep_changes=keep)
    return await Engine.open(store, HashingEmbedder(), index, answer=AnswerConfig(threshold=0.0))


async def logged(store: CorpusStore) -> list[int]:
    return [seq for seq, _, _ in await store.changes_since(0, 100_000)]


def test_the_setting_defaults_to_the_stores_default() -> None:
    assert Settings(_env_file=None).change_log_rows == KEEP_CHANGES  # type: ignore[call-arg]


async def test_keeping_no_changes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keep_changes must be at least 1, not 0"):
        await CorpusStore.open(tmp_path / "c.db", keep_changes=0)
    assert not (tmp_path / "c.db").exists()


async def test_the_log_keeps_its_newest_changes_and_no_more(tmp_path: Path) -> None:
    store = await CorpusStore.open(tmp_path / "c.db", keep_changes=KEEP)
    logged_in_all = 0
    article_ids = []
    for i in range(40):
        draft = filler(i)
        parts = 1 + i % 3  # one to three chunks, so a write logs several changes
        spans = [ChunkSpan(n, 0, len(draft.body), f"{draft.body} {n}") for n in range(parts)]
        article, _ = await store.add_article(draft, spans, np.eye(parts, 4, dtype=np.float32), "m")
        article_ids.append(article.id)
        logged_in_all += parts
        if i % 7 == 6:
            logged_in_all += len(await store.delete_article(article_ids.pop(0)))
        seqs = await logged(store)
        newest, through = await store.last_change(), await store.changes_pruned_through()
        assert newest == logged_in_all  # nothing pruned ever goes missing from the count
        assert seqs == list(range(through + 1, newest + 1))  # the newest, none skipped
        # At most a tenth more than kept, plus what one write logs; never below what is kept.
        assert min(KEEP, newest) <= len(seqs) <= KEEP + KEEP // 10 + 3
    assert await store.changes_pruned_through() > 0
    await store.close()
    # The store opened again with the default keeps what is there.
    store = await CorpusStore.open(tmp_path / "c.db")
    assert await logged(store) == seqs
    await store.close()


async def test_a_follower_behind_the_pruned_log_rebuilds(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    one = await open_follower(db, tmp_path / "one.faiss")
    two = await open_follower(db, tmp_path / "two.faiss")
    await one.ingest([filler(i) for i in range(3)])
    assert await two.follow_changes() == 3
    added = await one.ingest([filler(i) for i in range(3, 30)])
    for result in added[:4]:
        assert result.article is not None
        await one.delete_article(result.article.id)
    newest = await one.store.last_change()
    assert await two.store.changes_pruned_through() > two.applied_change == 3
    before = two.index
    assert await two.follow_changes() == newest - 3
    assert two.index is not before  # rebuilt from the stored vectors
    assert two.index.ids().tolist() == await one.store.chunk_ids() == one.index.ids().tolist()
    assert two.applied_change == newest
    assert await two.follow_changes() == 0
    # From there on it replays again.
    rebuilt = two.index
    await one.ingest([filler(30)])
    assert await two.follow_changes() == 1 and two.index is rebuilt
    assert two.index.ids().tolist() == await one.store.chunk_ids()
    # A replica starting now reads the log from its newest change: nothing to rebuild.
    three = await open_follower(db, tmp_path / "three.faiss")
    assert three.applied_change == await one.store.last_change()
    index = three.index
    assert await three.follow_changes() == 0 and three.index is index
    assert three.index.ids().tolist() == await one.store.chunk_ids()
    for engine in (one, two, three):
        await engine.close()


async def test_a_follower_keeping_up_replays_without_rebuilding(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    one = await open_follower(db, tmp_path / "one.faiss")
    two = await open_follower(db, tmp_path / "two.faiss")
    index = two.index
    for i in range(3 * KEEP):
        (result,) = await one.ingest([filler(i)])
        assert await two.follow_changes() == 1
        if i % 4 == 3:
            assert result.article is not None
            await one.delete_article(result.article.id)
            assert await two.follow_changes() == 1
        assert two.index is index  # the same index, changed in place
        assert two.index.ids().tolist() == await one.store.chunk_ids()
        assert two.applied_change == await one.store.last_change()
    assert await two.store.changes_pruned_through() > 0
    await one.close()
    await two.close()
