"""Database health: tell damage and a full disk from other errors, check, back up online."""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from pathlib import Path

logger = logging.getLogger(__name__)

# SQLite primary result codes (the low byte of an extended code).
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_NOTADB = 26


class DamagedDatabaseError(Exception):
    """A database file is corrupt; the message names it and the remedy."""

    def __init__(self, path: Path, detail: str):
        super().__init__(
            f"{path} is damaged ({detail}): restore a backup made with `isnad backup`,"
            " or run `isnad setup` with ISNAD_DATA_DIR set to a fresh folder"
        )
        self.path = path


class DiskFullError(Exception):
    """A write failed because the disk is full; the message names where."""

    def __init__(self, where: Path):
        super().__init__(f"the disk is full: could not write to {where}; free some space and retry")
        self.where = where


def _code(exc: BaseException) -> int:
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def is_damage(exc: BaseException) -> bool:
    """Tell whether an SQLite error says the file is corrupt or not a database at all."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    if _code(exc) in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return True
    text = str(exc)
    return "malformed" in text or "not a database" in text


def is_disk_full(exc: BaseException) -> bool:
    """Tell whether an error is a full disk: ENOSPC, or SQLite's SQLITE_FULL."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return isinstance(exc, sqlite3.Error) and (
        _code(exc) == SQLITE_FULL or "database or disk is full" in str(exc)
    )


def integrity_problems(path: Path, *, quick: bool = False) -> list[str]:
    """Return what SQLite's integrity check finds wrong with the file ([] when sound)."""
    if not path.exists():
        return [f"{path} does not exist"]
    pragma = "quick_check" if quick else "integrity_check"
    try:
        db = sqlite3.connect(path)
        try:
            rows = [str(r[0]) for r in db.execute(f"PRAGMA {pragma}(20)")]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [] if rows == ["ok"] else rows


def backup(source: Path, dest: Path, pages: int = 1024) -> None:
    """Copy a database with SQLite's online backup API, safe while others write to it.

    The copy goes to a temp file beside dest and is moved into place when complete,
    so an interrupted backup never leaves a half-written file under dest's name.
    """
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    src = sqlite3.connect(source)
    try:
        out = sqlite3.connect(tmp)
        try:
            # A few pages at a time: writers are never held off for the whole copy.
            src.backup(out, pages=pages)
        finally:
            out.close()
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        src.close()


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Delete `<name>.tmp<pid>` files beside path left by processes no longer running."""
    removed = []
    for tmp in path.parent.glob(path.name + ".tmp*"):
        pid = tmp.name[len(path.name) + 4 :]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            try:
                tmp.unlink()
            except OSError as exc:
                logger.warning("cannot remove stale %s: %s", tmp, exc)
                continue
            removed.append(tmp)
    if removed:
        logger.info("removed %d stale temporary file(s) beside %s", len(removed), path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True
