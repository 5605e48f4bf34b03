"""The bot's tables beside the corpus: feeds, seen entries, news rows, subscriptions, outbox."""

from __future__ import annotations

from retrieval.postgres import Database

COMPONENT = "bot"

# Each step moves the bot's schema up one version; never edit a shipped step.
BOT_STEPS: tuple[str, ...] = (
    """
    CREATE TABLE feeds (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        etag TEXT,
        last_modified TEXT,
        last_polled TEXT,
        last_error TEXT NOT NULL DEFAULT '',
        failures INTEGER NOT NULL DEFAULT 0,
        next_attempt REAL NOT NULL DEFAULT 0,  -- unix time; backoff after failures
        first_polled INTEGER NOT NULL DEFAULT 0,  -- 1 once its existing entries are in
        articles INTEGER NOT NULL DEFAULT 0,
        from_settings INTEGER NOT NULL DEFAULT 0,
        added_at TEXT NOT NULL
    );
    CREATE TABLE feed_entries (
        feed_id INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
        entry_key TEXT NOT NULL,
        outcome TEXT NOT NULL,
        article_id INTEGER REFERENCES articles (id) ON DELETE SET NULL,
        seen_at TEXT NOT NULL,
        PRIMARY KEY (feed_id, entry_key)
    );
    -- One row per article the bot knows: its simhash, and whether alerts are due.
    CREATE TABLE news_articles (
        article_id INTEGER PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
        simhash INTEGER NOT NULL,
        alert INTEGER NOT NULL,
        fanned_out INTEGER NOT NULL DEFAULT 0,
        origin TEXT NOT NULL DEFAULT '',
        added_at TEXT NOT NULL
    );
    CREATE INDEX news_articles_fan_out ON news_articles (fanned_out, alert);
    CREATE TABLE news_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE subscriptions (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        topic TEXT NOT NULL,  -- as typed; '' means all news
        topic_norm TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        UNIQUE (chat_id, topic_norm)
    );
    CREATE INDEX subscriptions_active ON subscriptions (active);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'sent', 'failed', 'dropped')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt REAL NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        sent_at TEXT,
        UNIQUE (chat_id, article_id)  -- the guarantee of one alert per chat and article
    );
    CREATE INDEX outbox_due ON outbox (status, next_attempt);
    """,
    # Conversation threads: one per chat, forgotten 10 minutes after its last question.
    """
    CREATE TABLE conversation_threads (
        chat_id INTEGER PRIMARY KEY,
        question TEXT NOT NULL,  -- the last question of the thread; '' when a button began it
        subject TEXT NOT NULL,  -- its subject words, as written, space-separated
        articles TEXT NOT NULL,  -- cited article ids, best first, comma-separated
        story_id INTEGER,  -- the story those articles tell, once stories are kept
        title TEXT NOT NULL,  -- the story's headline, named in follow-up replies
        pinned INTEGER NOT NULL DEFAULT 0,  -- 1: the next question is read against it
        updated_at REAL NOT NULL  -- unix time of its last question or button
    );
    CREATE INDEX conversation_threads_updated ON conversation_threads (updated_at);
    """,
    # 3: alerts by story. A chat gets one alert per story (story_id set), whose message
    # is edited as more outlets tell the story; a chat with an every_article subscription
    # gets one per article as before (story_id NULL).
    """
    ALTER TABLE subscriptions ADD COLUMN every_article INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE outbox ADD COLUMN story_id INTEGER;
    ALTER TABLE outbox ADD COLUMN message_id INTEGER;  -- Telegram's id of the sent alert
    ALTER TABLE outbox ADD COLUMN sent_unix REAL;
    -- Articles of the story noted for this chat, and how many the message shows: an
    -- edit is due while seen > shown. An edit shows what it read, so a repeat is harmless.
    ALTER TABLE outbox ADD COLUMN seen INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE outbox ADD COLUMN shown INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE outbox ADD COLUMN edited_unix REAL;
    -- The guarantee of one alert per chat and story.
    CREATE UNIQUE INDEX outbox_chat_story ON outbox (chat_id, story_id)
        WHERE story_id IS NOT NULL;
    CREATE INDEX outbox_updates ON outbox (status, seen, shown);
    """,
    # 4: several senders (replicas) share the outbox: a row is claimed by one for a
    # lease, which lapses if its holder dies; one row paces every sender together.
    """
    ALTER TABLE outbox ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE outbox ADD COLUMN claimed_until REAL NOT NULL DEFAULT 0;
    CREATE TABLE send_pace (name TEXT PRIMARY KEY, next_at REAL NOT NULL);
    INSERT INTO send_pace (name, next_at) VALUES ('alerts', 0);
    """,
    # 5: answer-button sessions and question counts, shared by replicas (only written
    # when the bot runs on PostgreSQL; one bot keeps them in memory).
    """
    CREATE TABLE answer_sessions (
        sid TEXT PRIMARY KEY,
        question TEXT NOT NULL,
        shown TEXT NOT NULL,  -- chunk ids, comma-separated
        articles TEXT NOT NULL,  -- article ids, comma-separated
        created_at REAL NOT NULL  -- unix time
    );
    CREATE INDEX answer_sessions_created ON answer_sessions (created_at);
    CREATE TABLE question_hits (user_id INTEGER NOT NULL, at REAL NOT NULL);
    CREATE INDEX question_hits_user ON question_hits (user_id, at);
    """,
)


async def bump(db: Database, counts: dict[str, int]) -> None:
    """Add to the named stats counters (not committed: the caller's transaction)."""
    await db.executemany(
        "INSERT INTO news_counters (name, value) VALUES (?, ?)"
        " ON CONFLICT(name) DO UPDATE SET value = news_counters.value + excluded.value",
        [(k, v) for k, v in counts.items() if v],
    )


async def counters(db: Database) -> dict[str, int]:
    """Return every stats counter of feeds and alerts."""
    async with db.execute("SELECT name, value FROM news_counters ORDER BY name") as cur:
        return {str(n): int(v) for n, v in await cur.fetchall()}


class NewsCounters:
    """The news pipeline's running counters, on the bot's one connection."""

    def __init__(self, db: Database):
        self._db = db

    async def bump(self, counts: dict[str, int]) -> None:
        """Add to the counters; see `bump`."""
        await bump(self._db, counts)

    async def read(self) -> dict[str, int]:
        """Return every counter by name."""
        return await counters(self._db)
