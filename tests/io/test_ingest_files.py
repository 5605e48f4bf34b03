"""Ingesting hostile files: encodings, binary, empty, huge, bad dates, races, stops."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from support.embedders import HashingEmbedder

import bot.cli as cli
from retrieval.answer import AnswerConfig
from retrieval.embedding import Progress
from retrieval.engine import Engine
from retrieval.models import ArticleDraft
from retrieval.store import CorpusStore

ROOT = Path(__file__).resolve().parents[2]
CHILD = ROOT / "tests" / "support" / "ingest_child.py"
GOOD = "عنوان الخبر {n}\nقال مسؤول إن الأمطار الغزيرة أغلقت الطرق في المدينة رقم {n} صباح اليوم.\n"


def _folder(env: Path) -> Path:
    folder = env / "articles"
    folder.mkdir()
    (folder / "a_good.txt").write_text(GOOD.format(n=1), encoding="utf-8")
    (folder / "b_good.md").write_text(GOOD.format(n=2), encoding="utf-8")
    (folder / "c_binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    (folder / "d_arabic_1256.txt").write_bytes(GOOD.format(n=3).encode("cp1256"))
    (folder / "e_invalid.txt").write_bytes(b"caf\xe9 au lait \xff\xfe and more text\n")
    (folder / "f_empty.txt").write_text("\n  \n", encoding="utf-8")
    (folder / "g_header.txt").write_text("title: عنوان\nsource: مصدر\n---\n\n", encoding="utf-8")
    (folder / "h_huge.txt").write_text("كلمة " * 1500, encoding="utf-8")
    return folder


def test_one_bad_file_does_not_sink_the_run(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ISNAD_MAX_ARTICLE_BYTES", "5000")
    folder = _folder(env)
    assert cli.main(["ingest", str(folder)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "3 added, 5 skipped\n"
    lines = captured.err.splitlines()
    assert lines[:-1] == [
        f"skipped {folder / 'c_binary.txt'}: a binary file, not text",
        f"read {folder / 'd_arabic_1256.txt'} as windows-1256",
        f"skipped {folder / 'e_invalid.txt'}: not UTF-8 (bad byte at 3)"
        " nor windows-1256 Arabic text",
        f"skipped {folder / 'f_empty.txt'}: empty",
        f"skipped {folder / 'g_header.txt'}: only a header, no text",
        f"skipped {folder / 'h_huge.txt'}: 13,500 bytes, over the limit of 5,000"
        " (ISNAD_MAX_ARTICLE_BYTES)",
    ]
    assert lines[-1].startswith("ingest: 8/8 files, 3 articles added, 3 chunks, ")
    db = sqlite3.connect(env / "data" / "isnad.db")
    titles = [t for (t,) in db.execute("SELECT title FROM articles ORDER BY id")]
    db.close()
    assert titles == ["عنوان الخبر 1", "عنوان الخبر 2", "عنوان الخبر 3"]


def test_too_many_chunks_is_skipped_with_the_setting(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ISNAD_MAX_ARTICLE_CHUNKS", "2")
    monkeypatch.setenv("ISNAD_CHUNK_TOKENS", "16")
    long = env / "long.txt"
    long.write_text("عنوان\n" + "جملة فيها عشر كلمات عن الخبر الذي وقع أمس هنا. " * 20)
    assert cli.main(["ingest", str(long)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"skipped {long}: 20 chunks, over the limit of 2 (ISNAD_MAX_ARTICLE_CHUNKS)"


def test_ingest_checks_paths_and_database_before_the_model(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_model(settings: object) -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(cli, "load_embedder", no_model)
    db = env / "data" / "isnad.db"
    db.parent.mkdir()
    db.write_bytes(b"not a database at all, just some text" * 100)
    good = env / "good.txt"
    good.write_text(GOOD.format(n=1), encoding="utf-8")
    assert cli.main(["ingest", str(env / "missing")]) == 1
    assert capsys.readouterr().err == f"isnad: no such file or folder: {env / 'missing'}\n"
    assert cli.main(["ingest", str(good)]) == 1
    assert capsys.readouterr().err.startswith(f"isnad: {db} is damaged (file is not a database)")


def test_fifty_megabyte_line_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    # Before the size limit, the whole line became one chunk and one "sentence".
    big = tmp_path / "big.txt"
    big.write_text("عنوان\n" + "كلمة " * 5_555_555, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(CHILD), str(tmp_path / "data"), str(big)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    report = json.loads(done.stdout)
    assert report["status"] == 0
    assert report["stderr"] == [
        f"skipped {big}: 50,000,006 bytes, over the limit of 1,000,000 (ISNAD_MAX_ARTICLE_BYTES)"
    ]
    assert report["growth_mb"] < 100


@pytest.mark.parametrize("stated", ["zzzz", "9999-99-99T99:99", "3024-01-01"])
def test_unreadable_date_becomes_the_ingest_time(
    env: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, stated: str
) -> None:
    article = env / "dated.txt"
    article.write_text(f"title: عنوان\npublished: {stated}\n---\nنص الخبر هنا.\n", "utf-8")
    assert cli.main(["ingest", str(article)]) == 0
    db = sqlite3.connect(env / "data" / "isnad.db")
    row = db.execute("SELECT published, added_at, dated_at_ingest FROM articles").fetchone()
    db.close()
    assert row[0] == row[1] and row[2] == 1
    assert [r.getMessage() for r in caplog.records if "not a date" in r.getMessage()] == [
        f"dated: published {stated!r} is not a date: the article is dated with its ingest time"
    ]


async def _engine(path: Path, embedder: HashingEmbedder | None = None) -> Engine:
    store = await CorpusStore.open(path / "c.db")
    return await Engine.open(
        store, embedder or HashingEmbedder(), path / "c.faiss", answer=AnswerConfig()
    )


def _drafts(n: int) -> list[ArticleDraft]:
    return [ArticleDraft(f"خبر {i}", GOOD.format(n=i), "مصدر") for i in range(n)]


async def test_duplicate_found_at_commit_is_a_duplicate(tmp_path: Path) -> None:
    first = await _engine(tmp_path)
    second = await _engine(tmp_path)
    try:
        await first.ingest(_drafts(2))

        # The race: the other process commits between this one's check and its commit.
        async def not_yet(draft: ArticleDraft) -> int | None:
            return None

        checker = second.store.find_duplicate
        second.store.find_duplicate = not_yet  # type: ignore[method-assign]
        results = second.ingest(_drafts(4))
        second.store.find_duplicate = checker  # type: ignore[method-assign]
        out = await results
    finally:
        await first.close()
        await second.close()
    assert [(r.reason, r.duplicate_of, r.article is not None) for r in out] == [
        ("duplicate", 1, False),
        ("duplicate", 2, False),
        ("", None, True),
        ("", None, True),
    ]


class StoppingEmbedder(HashingEmbedder):
    """Fails on its second call to embed passages, as a stop mid-ingest would."""

    batches = 0

    def embed_documents(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        self.batches += 1
        if self.batches == 2:
            raise KeyboardInterrupt
        return super().embed_documents(texts, progress)


async def test_a_stop_loses_at_most_one_batch(tmp_path: Path) -> None:
    engine = await _engine(tmp_path, StoppingEmbedder())
    try:
        with pytest.raises(KeyboardInterrupt):
            await engine.ingest(_drafts(3), batch_chunks=1)
        stats = await engine.store.stats()
    finally:
        await engine.close()
    assert (stats.articles, stats.chunks) == (1, 1)
