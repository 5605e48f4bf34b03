"""A real thread of three questions on a development news day, with the real model.

About fifty articles of SaudiNewsNet's 2015-08-02 (read from ../shared/eval/news,
not shipped; skipped without it): every article on the burning of the Dawabsha
family's house in Duma, and the day's first other articles around them. One
private chat asks what happened, who did it, and what one outlet said; run with
`pytest -s -m model tests/model/test_conversation_model.py` to read the replies.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.conversation.turn import answer_turn
from bot.database import BotRepository
from bot.factory import answer_config, search_config
from bot.settings import Settings
from bot.telegram import texts
from retrieval.embedding import Embedder
from retrieval.engine import Engine
from retrieval.models import ArticleDraft
from retrieval.newsdays import OUTLETS, read_day
from retrieval.store import CorpusStore

ROOT = Path(__file__).resolve().parents[2]
DAY = ROOT.parent / "shared" / "eval" / "news" / "2015-08-02.zip"
STORY_WORD = "دوابشة"
OTHERS = 40
QUESTIONS = ("ماذا حدث لعائلة دوابشة في قرية دوما؟", "ومن نفذه؟", "ماذا قالت الشرق الأوسط؟")

pytestmark = [pytest.mark.model, pytest.mark.skipif(not DAY.is_file(), reason="no news days")]


def drafts() -> list[ArticleDraft]:
    """Return the story's articles and the day's first others with some text."""
    day = [a for a in read_day(DAY) if len(str(a.get("content", "")).strip()) >= 300]
    story = [a for a in day if STORY_WORD in a["content"] or STORY_WORD in a["title"]]
    others = [a for a in day if a not in story][:OTHERS]
    return [
        ArticleDraft(
            title=str(a.get("title") or ""),
            body=str(a["content"]),
            source=OUTLETS.get(str(a["source"]), str(a["source"])),
            url=str(a["url"]),
            published=str(a["date_extracted"]).replace(" ", "T"),
        )
        for a in story + others
    ]


async def test_a_thread_of_three_questions(real_embedder: Embedder, tmp_path: Path) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    store = await CorpusStore.open(tmp_path / "news.db")
    engine = await Engine.open(
        store,
        real_embedder,
        tmp_path / "news.faiss",
        search=search_config(settings),
        answer=answer_config(settings),
    )
    repo = await BotRepository.open(tmp_path / "news.db")
    try:
        stored = [r for r in await engine.ingest(drafts()) if r.article is not None]
        print(f"\n{len(stored)} articles of {DAY.name}")
        turns = []
        for question in QUESTIONS:
            turn = await answer_turn(engine, repo.threads, 1, question, private=True)
            turns.append(turn)
            print(f"\n>>> {question}")
            print("\n".join(turn.notes))
            if turn.answer is not None:
                print(texts.plain_answer(turn.answer), end="")
        first, who, outlet = turns
        assert first.answer is not None and first.answer.answered and not first.follow_up
        assert first.thread is not None
        story = first.thread.title
        assert who.follow_up and who.notes[0] == texts.FOLLOW_UP.format(title=story)
        assert outlet.follow_up and outlet.answer is not None
        assert {c.source for c in outlet.answer.citations} <= {"الشرق الأوسط"}
    finally:
        await repo.close()
        await engine.close()
