"""The admin tables: the audit log and the question log."""

from __future__ import annotations

COMPONENT = "admin"

# Each step moves the admin schema up one version; never edit a shipped step.
ADMIN_STEPS: tuple[str, ...] = (
    """
    CREATE TABLE admin_audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,  -- UTC, ISO 8601
        user_id INTEGER NOT NULL,
        user_name TEXT NOT NULL DEFAULT '',
        chat_id INTEGER,
        command TEXT NOT NULL,
        args TEXT NOT NULL DEFAULT '',
        allowed INTEGER NOT NULL,
        result TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE questions (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,  -- UTC, ISO 8601
        chat_kind TEXT NOT NULL,
        answered INTEGER NOT NULL,
        latency_ms REAL NOT NULL,
        question TEXT  -- NULL unless ISNAD_LOG_QUESTIONS=true
    );
    CREATE INDEX questions_at ON questions (at);
    """,
)
