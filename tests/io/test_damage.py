"""Damaged state: corrupt databases, a full disk, stale temp files, check and backup."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.embedders import HashingEmbedder

import bot.cli as cli
import retrieval.index as index_module
from retrieval.answer import AnswerConfig
from retrieval.embedding_cache import CachedEmbedder
from retrieval.engine import Engine
from retrieval.intake import read_article_file
from retrieval.store import CorpusStore

ROOT = Path(__file__).resolve().parents[2]
SEED = next((ROOT / "seeds").glob("*.txt"))

REMEDY = (
    "restore a backup made with `isnad backup`,"
    " or run `isnad setup` with ISNAD_DATA_DIR set to a fresh folder"
)
QUESTION = "روسيا تركيا إدلب"


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(np.random.default_rng(7).bytes(len(data)))


def _setup(env: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert cli.main(["setup"]) == 0
    capsys.readouterr()
    return env / "data"


@pytest.mark.parametrize("how", ["truncated", "random"])
@pytest.mark.parametrize("command", [["stats"], ["ask", QUESTION], ["ingest", str(SEED)]])
def test_damaged_database_is_one_line(
    env: Path, capsys: pytest.CaptureFixture[str], how: str, command: list[str]
) -> None:
    data = _setup(env, capsys)
    db = data / "isnad.db"
    _damage(db, how)
    assert cli.main(command) == 1
    # SQLite's own check: a file shorter than its header's page count is corrupt.
    detail = "database disk image is malformed" if how == "truncated" else "file is not a database"
    assert capsys.readouterr().err == f"isnad: {db} is damaged ({detail}): {REMEDY}\n"


@pytest.mark.parametrize(
    ("how", "detail"),
    [("truncated", "database disk image is malformed"), ("random", "file is not a database")],
)
def test_run_refuses_a_damaged_database(
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    how: str,
    detail: str,
) -> None:
    data = _setup(env, capsys)
    _damage(data / "isnad.db", how)
    monkeypatch.setenv("ISNAD_TELEGRAM_TOKEN", "123:abc")
    assert cli.main(["run"]) == 1
    err = capsys.readouterr().err
    assert err == f"isnad: {data / 'isnad.db'} is damaged ({detail}): {REMEDY}\n"


def test_damaged_database_ends_the_process(tmp_path: Path) -> None:
    # The connection opened before a failing PRAGMA used to stay open, and its worker
    # thread kept the process alive after the traceback.
    data = tmp_path / "data"
    data.mkdir()
    (data / "isnad.db").write_bytes(np.random.default_rng(1).bytes(8192))
    env = {**os.environ, "ISNAD_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main(['stats']))"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr == (
        f"isnad: {data / 'isnad.db'} is damaged (file is not a database): {REMEDY}\n"
    )


async def _engine(tmp_path: Path) -> Engine:
    store = await CorpusStore.open(tmp_path / "c.db")
    return await Engine.open(
        store,
        HashingEmbedder(),
        tmp_path / "c.faiss",
        answer=AnswerConfig(threshold=0.0),
        sentence_cache=tmp_path / "sentences.sqlite",
    )


async def _quoted(tmp_path: Path) -> tuple[str, ...]:
    engine = await _engine(tmp_path)
    try:
        answer = await engine.ask(QUESTION)
    finally:
        await engine.close()
    return tuple(s.text for s in answer.sentences)


@pytest.mark.parametrize("how", ["truncated", "random", "wrong vectors"])
async def test_damaged_sentence_cache_is_started_afresh(
    tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = await _engine(tmp_path)
    await engine.ingest([read_article_file(SEED)])
    await engine.close()
    expected = await _quoted(tmp_path)
    assert expected
    cache = tmp_path / "sentences.sqlite"
    if how == "wrong vectors":
        db = sqlite3.connect(cache)
        rng = np.random.default_rng(3)
        keys = [k for (k,) in db.execute("SELECT key FROM vectors")]
        for key in keys:
            vec = rng.normal(size=64).astype(np.float32)
            vec /= np.linalg.norm(vec)
            db.execute("UPDATE vectors SET vector = ? WHERE key = ?", (vec.tobytes(), key))
        db.commit()
        db.close()
    else:
        _damage(cache, how)
    assert await _quoted(tmp_path) == expected
    warned = [r.getMessage() for r in caplog.records if "embedding cache" in r.getMessage()]
    if how == "wrong vectors":
        assert warned == [
            f"embedding cache {cache} is emptied (cached vectors differ from the model's)"
        ]
    else:
        assert len(warned) == 1 and warned[0].startswith(f"embedding cache {cache} is damaged (")


def _disk_full(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_ask_works_on_a_full_disk(
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = _setup(env, capsys)
    (data / "index.faiss").unlink()  # the index must be rebuilt, and cannot be saved
    monkeypatch.setattr(index_module.faiss, "write_index", _disk_full)
    assert cli.main(["ask", QUESTION]) == 0
    assert capsys.readouterr().out.startswith(cli.texts.ANSWER_HEADING)
    assert [r.getMessage() for r in caplog.records if "disk full" in r.getMessage()] == [
        f"disk full: the rebuilt index is used from memory, not saved to {data / 'index.faiss'}"
    ]
    assert sorted(p.name for p in data.iterdir() if ".tmp" in p.name) == []


def test_writes_on_a_full_disk_are_one_line(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _setup(env, capsys)
    article = env / "new.txt"
    article.write_text("عنوان جديد\nنص خبر جديد عن الطقس في دمشق اليوم.\n", encoding="utf-8")
    monkeypatch.setattr(index_module.faiss, "write_index", _disk_full)
    assert cli.main(["ingest", str(article)]) == 1
    full = f"isnad: the disk is full: could not write to {data}; free some space and retry\n"
    assert capsys.readouterr().err == full
    assert cli.main(["reindex", "--fast"]) == 1
    assert capsys.readouterr().err == full

    def sqlite_full(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(CorpusStore, "add_article", sqlite_full)
    article.write_text("عنوان آخر\nنص خبر آخر عن الأمطار في حلب.\n", encoding="utf-8")
    assert cli.main(["ingest", str(article)]) == 1
    assert capsys.readouterr().err == full


async def test_stale_index_temp_files_are_removed(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "pass"], check=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    del gone
    stale = tmp_path / f"c.faiss.tmp{dead.pid}"
    live = tmp_path / f"c.faiss.tmp{os.getppid()}"
    stale.write_bytes(b"half an index")
    live.write_bytes(b"another process is saving")
    engine = await _engine(tmp_path)
    await engine.close()
    assert sorted(p.name for p in tmp_path.iterdir() if ".tmp" in p.name) == [live.name]


def test_check_and_backup(env: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = _setup(env, capsys)
    assert cli.main(["check"]) == 0
    out = capsys.readouterr().out
    assert out == (
        f"{data / 'isnad.db'}: ok\n{data / 'sentences.sqlite'}: ok\n"
        f"{data / 'index.faiss'}: ok (2 chunks)\n"
    )
    # A writer holds an open transaction: the online backup copies the committed state.
    writer = sqlite3.connect(data / "isnad.db")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO meta (key, value) VALUES ('pending', 'x')")
    copy = tmp_path / "backup.db"
    assert cli.main(["backup", str(copy)]) == 0
    writer.commit()
    writer.close()
    assert capsys.readouterr().out.startswith(f"backed up {data / 'isnad.db'} to {copy} (")
    db = sqlite3.connect(copy)
    assert db.execute("SELECT COUNT(*) FROM articles").fetchone() == (1,)
    assert db.execute("SELECT value FROM meta WHERE key = 'pending'").fetchone() is None
    db.close()
    assert cli.main(["backup", str(copy)]) == 1
    assert capsys.readouterr().err == f"isnad: {copy} already exists: choose another name\n"
    _damage(data / "isnad.db", "random")
    assert cli.main(["check"]) == 1
    captured = capsys.readouterr()
    assert (
        captured.out
        == f"{data / 'isnad.db'}: file is not a database\n{data / 'sentences.sqlite'}: ok\n"
    )
    assert captured.err == (
        f"isnad: {data / 'isnad.db'} is damaged (file is not a database): {REMEDY}\n"
    )


def test_check_names_a_damaged_sentence_cache_and_backup_into_a_folder(
    env: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = _setup(env, capsys)
    _damage(data / "sentences.sqlite", "random")
    (data / "index.faiss").unlink()
    assert cli.main(["check"]) == 1
    captured = capsys.readouterr()
    assert captured.out == (
        f"{data / 'isnad.db'}: ok\n{data / 'sentences.sqlite'}: file is not a database\n"
        f"{data / 'index.faiss'}: missing; rebuilt at next start (2 chunks)\n"
    )
    assert captured.err == (
        f"isnad: {data / 'sentences.sqlite'} is damaged: it is started afresh at the next start\n"
    )
    folder = tmp_path / "backups"
    folder.mkdir()
    assert cli.main(["backup", str(folder)]) == 0
    (copy,) = folder.iterdir()
    assert copy.name.startswith("isnad-") and copy.suffix == ".db"
    assert capsys.readouterr().out.startswith(f"backed up {data / 'isnad.db'} to {copy} (")


class _FullDisk:
    """A cache connection whose writes fail as on a full disk; reads go through."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def execute(self, *args: object) -> sqlite3.Cursor:
        return self.db.execute(*args)  # type: ignore[arg-type]

    def executemany(self, *args: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    def rollback(self) -> None:
        self.db.rollback()

    def close(self) -> None:
        self.db.close()


def test_embedding_cache_reads_on_a_full_disk(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = CachedEmbedder(HashingEmbedder(), tmp_path / "cache.sqlite")
    cache._db = _FullDisk(cache._db)  # type: ignore[assignment]
    first = cache.embed_documents(["خبر أول", "خبر ثان"])
    again = cache.embed_documents(["خبر أول", "خبر ثالث"])
    cache.close()
    assert np.array_equal(first[0], again[0]) and cache.misses == 4
    assert [r.getMessage() for r in caplog.records] == [
        f"disk full: embeddings are not kept in {tmp_path / 'cache.sqlite'}"
    ]
