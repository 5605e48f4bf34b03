"""Schema versions and migrations of the SQLite file, per component."""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite

# Each step moves the corpus schema up one version; never edit a shipped step.
CORPUS_STEPS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE articles (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT '',
        url TEXT NOT NULL DEFAULT '',
        canonical_url TEXT UNIQUE,
        published TEXT NOT NULL DEFAULT '',
        content_hash TEXT NOT NULL UNIQUE,
        added_at TEXT NOT NULL,
        author TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX articles_published ON articles (published);
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY,
        article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
        ord INTEGER NOT NULL,
        start INTEGER NOT NULL,
        end INTEGER NOT NULL,
        text TEXT NOT NULL,
        vector BLOB NOT NULL,
        model TEXT NOT NULL
    );
    CREATE INDEX chunks_article ON chunks (article_id);
    -- Normalised, stemmed text: FTS5's tokenizer does not fold Arabic letters.
    CREATE VIRTUAL TABLE chunks_fts USING fts5 (norm, tokenize = 'unicode61');
    """,
    # 2: an article whose stated date could not be read is dated with its ingest time,
    # and marked so (it is not the publication date).
    """
    ALTER TABLE articles ADD COLUMN dated_at_ingest INTEGER NOT NULL DEFAULT 0;
    """,
    # 3: stories. Every article joins one story (the same event told by several outlets);
    # copy_of names the article whose text it reprints. A story whose last article is
    # deleted goes with it. Ids are never reused: an alert names a story by its id.
    """
    CREATE TABLE stories (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE article_stories (
        article_id INTEGER PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
        story_id INTEGER NOT NULL REFERENCES stories (id),
        copy_of INTEGER,  -- an article id; re-pointed when the original is deleted
        simhash INTEGER NOT NULL,
        words INTEGER NOT NULL,
        keys TEXT NOT NULL,  -- names and numbers of the headline and lead, space-separated
        cosine REAL NOT NULL DEFAULT 0
    );
    CREATE INDEX article_stories_story ON article_stories (story_id);
    CREATE INDEX article_stories_copy ON article_stories (copy_of);
    CREATE TRIGGER article_stories_gone AFTER DELETE ON article_stories
    WHEN NOT EXISTS (SELECT 1 FROM article_stories WHERE story_id = OLD.story_id)
    BEGIN
        DELETE FROM stories WHERE id = OLD.story_id;
    END;
    """,
)


async def migrate(
    db: aiosqlite.Connection, steps: Sequence[str] = CORPUS_STEPS, component: str = "corpus"
) -> int:
    """Apply the steps a database lacks for component; return its schema version."""
    await db.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (component TEXT PRIMARY KEY, version INTEGER)"
    )
    async with db.execute(
        "SELECT version FROM schema_version WHERE component = ?", (component,)
    ) as cur:
        row = await cur.fetchone()
    version = int(row[0]) if row else 0
    if version > len(steps):
        raise RuntimeError(
            f"the database schema ({component} v{version}) is newer than this program"
            f" (v{len(steps)}): upgrade isnad"
        )
    for number in range(version + 1, len(steps) + 1):
        # executescript commits first; the step and its version bump land together.
        await db.executescript(
            "BEGIN;\n"
            + steps[number - 1]
            + f"\nINSERT INTO schema_version (component, version) VALUES ('{component}', {number})"
            f" ON CONFLICT(component) DO UPDATE SET version = {number};\nCOMMIT;"
        )
    return len(steps)
