"""Threads in the bot's tables, questions restricted to articles or outlets, and turns of a
conversation, on a real SQLite file with the hashing embedder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from support.embedders import HashingEmbedder

from bot.conversation.threads import THREAD_SECONDS, Thread, ThreadBook, scope
from bot.conversation.turn import answer_turn
from bot.database import BotRepository
from bot.telegram import texts
from retrieval.answer import AnswerConfig
from retrieval.engine import Engine
from retrieval.models import ArticleDraft
from retrieval.store import CorpusStore

OKAZ = ArticleDraft(
    title="هجوم على مركز للدرك شرق تركيا",
    body=(
        "قتل جنديان تركيان وأصيب 24 آخرون في هجوم انتحاري على مركز للدرك في ولاية أغري."
        " ونسبت السلطات الهجوم إلى حزب العمال الكردستاني."
    ),
    source="عكاظ",
    url="https://okaz.example/turkey",
    published="2015-08-02",
)
SABQ = ArticleDraft(
    title="تركيا: قتيلان في هجوم على الدرك",
    body=(
        "أعلنت السلطات التركية مقتل جنديين في هجوم بسيارة مفخخة على مركز للدرك شرق البلاد."
        " وقال الوالي إن المهاجمين من حزب العمال."
    ),
    source="www.sabq.org",
    url="https://sabq.example/turkey",
    published="2015-08-02",
)
RIYADH = ArticleDraft(
    title="موبايلي تخسر 945 مليون ريال",
    body=(
        "سجلت شركة موبايلي خسائر بلغت 945 مليون ريال خلال النصف الأول من العام."
        " وأرجعت الشركة الخسائر إلى تعديل القوائم المالية."
    ),
    source="الرياض",
    url="https://riyadh.example/mobily",
    published="2015-08-02",
)
SPORT = ArticleDraft(
    title="الهلال يلتقي العين اليوم",
    body=(
        "يلتقي فريق الهلال نظيره العين في مباراة ودية مساء اليوم."
        " ورفض مدرب الهلال نقل المباراة تلفزيونيا."
    ),
    source="Sport",
    url="https://sport.example/hilal",
    published="2015-08-02",
)
TOLL = "كم عدد قتلى الهجوم على مركز الدرك في تركيا؟"
WHO = "ومن نفذه؟"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def convo(tmp_path: Path) -> AsyncIterator[tuple[Engine, BotRepository, Clock]]:
    """The four articles in an engine, the bot's tables, and the threads' clock."""
    store = await CorpusStore.open(tmp_path / "c.db")
    engine = await Engine.open(
        store, HashingEmbedder(dim=4096), tmp_path / "c.faiss", answer=AnswerConfig(threshold=0.05)
    )
    await engine.ingest([OKAZ, SABQ, RIYADH, SPORT])
    repo = await BotRepository.open(tmp_path / "c.db")
    clock = Clock()
    repo.threads.clock = clock
    yield engine, repo, clock
    await repo.close()
    await engine.close()


async def ids(engine: Engine) -> dict[str, int]:
    """Return article ids by source."""
    return {a.source: a.id for a in await engine.store.latest_articles(10)}


async def test_a_thread_is_kept_ten_minutes_then_forgotten(
    convo: tuple[Engine, BotRepository, Clock],
) -> None:
    _, repo, clock = convo
    book: ThreadBook = repo.threads
    kept = await book.keep(7, question="q", subject=["الدرك"], articles=[3, 1, 3], title="t")
    assert kept.articles == (3, 1) and kept.updated_at == clock.now and kept.story_id is None
    clock.now += THREAD_SECONDS - 1
    assert await book.live(7) == kept
    clock.now += 2
    assert await book.live(7) is None
    async with repo.conn.execute("SELECT COUNT(*) FROM conversation_threads") as cur:
        assert (await cur.fetchone()) == (0,)
    # Every write clears the expired threads of all chats.
    await book.keep(8, question="a", subject=[], articles=[1], title="t")
    clock.now += THREAD_SECONDS + 1
    await book.keep(9, question="b", subject=[], articles=[2], title="t")
    async with repo.conn.execute("SELECT chat_id FROM conversation_threads") as cur:
        assert await cur.fetchall() == [(9,)]


async def test_a_question_is_restricted_to_articles_or_sources(
    convo: tuple[Engine, BotRepository, Clock],
) -> None:
    engine, _, _ = convo
    by = await ids(engine)
    everywhere = await engine.ask(TOLL)
    assert everywhere.answered and {c.source for c in everywhere.citations} == {"عكاظ"}
    sabq = await engine.ask(TOLL, sources=frozenset({"www.sabq.org"}))
    assert sabq.answered and {c.source for c in sabq.citations} == {"www.sabq.org"}
    okaz = await engine.ask(TOLL, within_articles=frozenset({by["عكاظ"]}))
    assert okaz.answered and {c.article_id for c in okaz.citations} == {by["عكاظ"]}
    both = await engine.ask(
        TOLL, within_articles=frozenset({by["عكاظ"]}), sources=frozenset({"www.sabq.org"})
    )
    assert not both.answered and both.hits == ()
    nothing = await engine.ask(TOLL, sources=frozenset({"لا مصدر بهذا الاسم"}))
    assert not nothing.answered and nothing.hits == ()
    assert (await engine.ask_within(TOLL, [by["عكاظ"]])).citations == okaz.citations


async def test_a_follow_up_is_read_against_the_thread_and_a_new_subject_starts_one(
    convo: tuple[Engine, BotRepository, Clock],
) -> None:
    engine, repo, _ = convo
    by = await ids(engine)
    first = await answer_turn(engine, repo.threads, 5, TOLL, private=True)
    assert first.answer is not None and first.answer.answered and first.notes == ()
    assert first.thread is not None and not first.follow_up
    assert first.thread.subject == "الهجوم مركز الدرك تركيا"
    assert set(first.thread.articles) == {c.article_id for c in first.answer.citations}
    story = first.thread.title
    assert story in (OKAZ.title, SABQ.title)

    who = await answer_turn(engine, repo.threads, 5, WHO, private=True)
    assert who.follow_up and who.query == "ومن نفذه؟ الهجوم مركز الدرك تركيا"
    assert who.notes == (texts.FOLLOW_UP.format(title=story),)
    assert who.answer is not None and who.answer.answered
    assert {c.article_id for c in who.answer.citations} <= set(first.thread.articles)
    assert who.thread is not None and who.thread.title == story

    # An outlet named alone asks the last question again, quoting that outlet only.
    said = await answer_turn(engine, repo.threads, 5, "ماذا قالت سبق؟", private=True)
    assert said.follow_up and said.notes == (texts.FOLLOW_UP.format(title=story),)
    assert said.query == who.query
    assert said.answer is not None and said.answer.answered
    assert {c.article_id for c in said.answer.citations} == {by["www.sabq.org"]}
    assert said.thread is not None and said.thread.question == WHO

    # So does a time alone, with its time words, read as of the moment asked.
    later = datetime(2015, 8, 3, 12)
    when = await answer_turn(engine, repo.threads, 5, "وماذا عن أمس؟", private=True, as_of=later)
    assert when.follow_up and when.query == "ومن نفذه؟ أمس الهجوم مركز الدرك تركيا"
    assert when.answer is not None and when.answer.time is not None
    assert when.answer.answered and when.answer.time.in_window

    fresh = await answer_turn(engine, repo.threads, 5, "كم خسرت شركة موبايلي؟", private=True)
    assert not fresh.follow_up and fresh.notes == ()
    assert fresh.thread is not None and fresh.thread.title == RIYADH.title
    assert fresh.thread.articles == (by["الرياض"],)


async def test_a_follow_up_after_ten_minutes_is_a_question_of_its_own(
    convo: tuple[Engine, BotRepository, Clock],
) -> None:
    engine, repo, clock = convo
    await answer_turn(engine, repo.threads, 5, TOLL, private=True)
    clock.now += THREAD_SECONDS + 1
    late = await answer_turn(engine, repo.threads, 5, WHO, private=True)
    assert not late.follow_up and late.notes == () and late.query == WHO


async def test_groups_keep_no_thread_but_a_buttons_holds_for_one_question(
    convo: tuple[Engine, BotRepository, Clock],
) -> None:
    engine, repo, _ = convo
    by = await ids(engine)
    await answer_turn(engine, repo.threads, -100, TOLL, private=False)
    assert await repo.threads.live(-100) is None
    await repo.threads.keep(
        -100,
        question="",
        subject=["الهلال"],
        articles=[by["Sport"]],
        title=SPORT.title,
        pinned=True,
    )
    pinned = await answer_turn(engine, repo.threads, -100, "من رفض نقل المباراة؟", private=False)
    assert pinned.follow_up and pinned.notes == (texts.FOLLOW_UP.format(title=SPORT.title),)
    assert pinned.answer is not None
    assert {c.article_id for c in pinned.answer.citations} == {by["Sport"]}
    assert await repo.threads.live(-100) is None


async def test_a_story_that_cannot_answer_says_so_and_answers_from_all_news(
    convo: tuple[Engine, BotRepository, Clock],
) -> None:
    engine, repo, _ = convo
    by = await ids(engine)
    await repo.threads.keep(
        5, question="", subject=[], articles=[by["Sport"]], title="t", pinned=True
    )
    turn = await answer_turn(engine, repo.threads, 5, "كم خسرت شركة موبايلي؟", private=True)
    assert not turn.follow_up and turn.notes == (texts.FOCUS_NOT_ANSWERED.format(title="t"),)
    assert turn.answer is not None and turn.answer.citations[0].article_id == by["الرياض"]
    # The thread is now the answer's, not the button's.
    assert turn.thread is not None and turn.thread.articles[0] == by["الرياض"]
    assert not turn.thread.pinned


async def test_a_thread_whose_articles_are_deleted_is_not_followed(
    convo: tuple[Engine, BotRepository, Clock],
) -> None:
    engine, repo, _ = convo
    by = await ids(engine)
    await repo.threads.keep(5, question=TOLL, subject=["الدرك"], articles=[by["عكاظ"]], title="t")
    assert await engine.delete_article(by["عكاظ"])
    turn = await answer_turn(engine, repo.threads, 5, WHO, private=True)
    assert not turn.follow_up and turn.notes == ()


async def test_an_outlet_the_corpus_lacks_or_without_an_answer_is_said_plainly(
    convo: tuple[Engine, BotRepository, Clock],
) -> None:
    engine, repo, _ = convo
    absent = await answer_turn(
        engine, repo.threads, 5, "ماذا قالت الجزيرة عن الهجوم؟", private=True
    )
    assert absent.answer is None
    assert absent.notes == (texts.OUTLET_NOT_IN_CORPUS.format(outlet="الجزيرة"),)
    assert await repo.threads.live(5) is None  # nothing changed

    silent = await answer_turn(engine, repo.threads, 5, "ماذا قالت الرياض عن الهلال؟", private=True)
    assert silent.answer is not None and not silent.answer.answered
    assert silent.notes == (texts.OUTLET_SILENT.format(outlet="الرياض"),)
    assert {h.article.source for h in silent.answer.hits} <= {"الرياض"}

    # An outlet nobody knows is no outlet: the question is asked of all news.
    unknown = await answer_turn(engine, repo.threads, 6, "ماذا قالت صحيفة الغارديان؟", private=True)
    assert unknown.notes == () and unknown.query == "ماذا قالت صحيفة الغارديان؟"


async def test_a_restricted_search_ranks_the_kept_passages_as_the_whole_search_does(
    convo: tuple[Engine, BotRepository, Clock],
) -> None:
    engine, _, _ = convo
    by = await ids(engine)
    story = frozenset({by["عكاظ"], by["www.sabq.org"]})
    kept = await engine.search(TOLL, 5, within_articles=story)
    everything = await engine.search(TOLL, 1000)
    assert {h.article.id for h in kept} == story
    order = [h.chunk.id for h in everything if h.article.id in story]
    assert [h.chunk.id for h in kept] == order[: len(kept)]


async def test_a_follow_up_searches_every_article_of_the_threads_story(
    convo: tuple[Engine, BotRepository, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _, _ = convo
    by = await ids(engine)
    okaz, sabq, riyadh = by["عكاظ"], by["www.sabq.org"], by["الرياض"]
    stories = {okaz: 1, sabq: 1, riyadh: 2}

    async def article_stories(articles: object) -> dict[int, int]:
        return {a: stories[a] for a in articles if a in stories}  # type: ignore[attr-defined]

    monkeypatch.setattr(engine.store, "article_stories", article_stories)
    told = Thread(5, "من نفذ الهجوم؟", "الهجوم", (okaz,), "الهجوم على مركز الدرك")
    real = await engine.store.get_articles([okaz, sabq])
    monkeypatch.setattr(
        engine.store, "story_articles", lambda story: _returns([real[okaz], real[sabq]])
    )
    assert await scope(told, engine.store) == {okaz, sabq}
    # An article outside any story stands for itself.
    monkeypatch.setattr(engine.store, "article_stories", lambda articles: _returns({}))
    assert await scope(told, engine.store) == {okaz}


async def _returns(value: object) -> object:
    return value
