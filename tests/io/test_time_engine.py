"""Time words through the engine: a real SQLite file, the hashing embedder."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from support.embedders import HashingEmbedder

from bot.cli import answer_json
from bot.telegram import formatting, texts
from retrieval.answer import AnswerConfig
from retrieval.engine import Engine, SearchConfig
from retrieval.models import ArticleDraft, TimeScope
from retrieval.store import CorpusStore

AS_OF = datetime(2015, 8, 3, 21, 0)  # a Monday evening

# The same story on three days; the older reports match the question's words better.
STORY = "أعلنت وزارة الصحة تسجيل إصابات جديدة بفيروس كورونا في مدينة الرياض"


def _report(day: str, n: int, extra: str = "") -> ArticleDraft:
    body = (
        f"{STORY} {extra}. وقالت الوزارة إن عدد الحالات بلغ {n} حالة"
        f" وإن المرضى يتلقون العلاج في المستشفيات."
    )
    return ArticleDraft(
        f"كورونا في الرياض {n}", body, "واس", url=f"https://x.test/{n}", published=day
    )


BACKEND = {"url": ""}


@pytest.fixture(autouse=True)
def backend(database_url: str) -> None:
    """Every test here on each backend in turn."""
    BACKEND["url"] = database_url


async def _engine(
    tmp_path: Path,
    drafts: list[ArticleDraft],
    candidates: int = 100,
    answer: AnswerConfig | None = None,
) -> Engine:
    store = await CorpusStore.open_location(BACKEND["url"], tmp_path / "c.db")
    engine = await Engine.open(
        store,
        HashingEmbedder(),
        tmp_path / "c.faiss",
        answer=answer or AnswerConfig(),
        search=SearchConfig(candidates=candidates, top_k=3),
    )
    results = await engine.ingest(drafts)
    assert all(r.article is not None for r in results)
    return engine


def _older(n: int) -> ArticleDraft:
    # Richer in the question's words than the in-window report: they win unrestricted.
    return _report(f"2015-07-2{n % 5}T10:00:00", 100 + n, "كورونا الرياض إصابات كورونا")


async def test_window_finds_in_window_reports_that_score_lower(tmp_path: Path) -> None:
    recent = _report("2015-08-02T22:40:00", 7)
    # Candidate depth 5 and 12 better-matching older reports: an unrestricted search
    # never even sees the report from yesterday.
    engine = await _engine(tmp_path, [recent] + [_older(n) for n in range(12)], candidates=5)
    try:
        plain = await engine.search("كم عدد إصابات كورونا في الرياض؟", 5)
        assert "https://x.test/7" not in {h.article.url for h in plain}
        answer = await engine.ask("كم عدد إصابات كورونا في الرياض أمس؟", as_of=AS_OF)
        assert answer.answered
        assert {c.url for c in answer.citations} == {"https://x.test/7"}
        assert {h.article.url for h in answer.hits} == {"https://x.test/7"}
        assert answer.question == "كم عدد إصابات كورونا في الرياض أمس؟"
        assert answer.time is not None and answer.time.in_window
        assert (answer.time.start, answer.time.end) == (
            datetime(2015, 8, 2),
            datetime(2015, 8, 3),
        )
        assert answer.time.phrases == ("أمس",)
        html = "\n".join(formatting.answer_messages(answer))
        note = texts.TIME_WINDOW_NOTE.format(when=texts.TIME_DAY.format(day="2015-08-02"))
        assert f"<i>{formatting.text(note)}</i>\n<b>{texts.ANSWER_HEADING}</b>" in html
        assert formatting.text("(2015-08-02 22:40)") in html
    finally:
        await engine.close()


async def test_lexical_side_is_restricted_too(tmp_path: Path) -> None:
    engine = await _engine(tmp_path, [_report("2015-08-02T22:40:00", 7), _older(1)])
    try:
        ids = await engine.store.chunks_of({1})
        found = await engine.store.lexical_search(["كورونا"], 10, within=ids)
        assert {i for i, _ in found} == ids
        assert len(await engine.store.lexical_search(["كورونا"], 10)) == 2
    finally:
        await engine.close()


async def test_nothing_in_window_offers_the_newest_reports(tmp_path: Path) -> None:
    drafts = [_report("2015-07-22T10:00:00", 1), _report("2015-08-02T23:00:00", 2)]
    engine = await _engine(tmp_path, drafts)
    try:
        answer = await engine.ask("كم عدد إصابات كورونا في الرياض الأسبوع الماضي؟", as_of=AS_OF)
        assert answer.outcome == "declined" and not answer.sentences and not answer.citations
        assert answer.time is not None and not answer.time.in_window
        assert [(h.n, h.published) for h in answer.headlines] == [
            (1, "2015-08-02T23:00:00"),
            (2, "2015-07-22T10:00:00"),
        ]
        html = "\n".join(formatting.answer_messages(answer))
        when = texts.TIME_DAYS.format(start="2015-07-26", end="2015-08-01")
        assert formatting.text(texts.TIME_NOTHING_IN_WINDOW.format(when=when)) in html
        assert texts.TIME_NEWEST_HEADING in html and texts.NO_ANSWER not in html
        plain = texts.plain_answer(answer)
        assert plain.startswith(texts.TIME_NOTHING_IN_WINDOW.format(when=when) + "\n")
        assert answer_json(answer)["time"] == {
            "kind": "window",
            "phrases": ["الأسبوع الماضي"],
            "as_of": "2015-08-03T21:00",
            "start": "2015-07-26T00:00",
            "end": "2015-08-02T00:00",
            "in_window": False,
            "elsewhere": True,
        }
    finally:
        await engine.close()


async def test_latest_puts_the_newest_report_first(tmp_path: Path) -> None:
    drafts = [
        _report("2015-07-22T10:00:00", 1),
        _report("2015-08-03T20:00:00", 3),
        _report("2015-07-24T10:00:00", 2),
    ]
    engine = await _engine(tmp_path, drafts)
    try:
        answer = await engine.ask("ما آخر أخبار إصابات كورونا في الرياض؟", as_of=AS_OF)
        assert answer.time is not None and answer.time.kind == "latest"
        assert answer.citations[0].published == "2015-08-03T20:00:00"
        assert [h.article.published[:10] for h in answer.hits] == [
            "2015-08-03",
            "2015-07-24",
            "2015-07-22",
        ]
        html = "\n".join(formatting.answer_messages(answer))
        assert formatting.text(texts.TIME_LATEST_NOTE) in html
        # A quote of a time question shows its article's date and time.
        assert formatting.text("(2015-08-03 20:00)") in html
        plain = texts.plain_answer(answer)
        assert plain.startswith(texts.TIME_LATEST_NOTE + "\n" + texts.ANSWER_HEADING + "\n«")
        assert "[1][2][3] (2015-08-03 20:00)\n" in plain
    finally:
        await engine.close()


async def test_question_without_time_words_takes_the_old_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drafts = [_report("2015-07-22T10:00:00", 1), _report("2015-08-02T23:00:00", 2)]
    engine = await _engine(tmp_path, drafts)
    try:
        question = "كم عدد إصابات كورونا في الرياض؟"
        hits = await engine.search(question)
        before = await engine._compose(question, hits)

        async def never(*args: object, **kwargs: object) -> None:
            raise AssertionError("the time path was taken")

        monkeypatch.setattr(engine, "_ask_in_time", never)
        for as_of in (None, AS_OF, datetime(2030, 1, 1)):
            answer = await engine.ask(question, as_of=as_of)
            assert answer.time is None
            got, want = answer_json(answer), answer_json(before)
            got.pop("ms"), want.pop("ms")
            assert got == want
    finally:
        await engine.close()


async def test_undated_corpus_ignores_time_words(tmp_path: Path) -> None:
    # Evaluation sets (ARCD, TyDi) store no dates: "اليوم" there means "nowadays".
    drafts = [ArticleDraft("الكعبة", "بنيت الكعبة بالشكل الذي هي عليه اليوم بعد ترميمها.")]
    engine = await _engine(tmp_path, drafts)
    try:
        answer = await engine.ask("كيف بنيت الكعبة بالشكل الذي هي عليه اليوم؟", as_of=AS_OF)
        assert answer.time is None and answer.answered
    finally:
        await engine.close()


async def test_date_before_the_corpus_names_an_event(tmp_path: Path) -> None:
    drafts = [_report("2015-07-22T10:00:00", 1)]
    engine = await _engine(tmp_path, drafts)
    try:
        history = await engine.ask("ما هي حركة 8 شباط 1963؟", as_of=AS_OF)
        assert history.time is None
        news = await engine.ask("ماذا حدث في 30 يوليو 2015 في الرياض؟", as_of=AS_OF)
        assert news.time is not None and not news.time.in_window
    finally:
        await engine.close()


async def test_aware_times_compare_in_the_as_of_zone(tmp_path: Path) -> None:
    # 22:30 UTC on 2 August is 01:30 on 3 August in Riyadh: "today" there.
    from zoneinfo import ZoneInfo

    engine = await _engine(tmp_path, [_report("2015-08-02T22:30:00+00:00", 5)])
    try:
        riyadh = datetime(2015, 8, 3, 21, 0, tzinfo=ZoneInfo("Asia/Riyadh"))
        today = await engine.ask("كم عدد إصابات كورونا في الرياض اليوم؟", as_of=riyadh)
        assert today.time is not None and today.time.in_window
        yesterday = await engine.ask("كم عدد إصابات كورونا في الرياض أمس؟", as_of=riyadh)
        assert yesterday.time is not None and not yesterday.time.in_window
    finally:
        await engine.close()


@pytest.mark.parametrize(
    ("start", "end", "said"),
    [
        (datetime(2015, 8, 2), datetime(2015, 8, 3), "يوم 2015-08-02"),
        (datetime(2015, 8, 3), datetime(2015, 8, 3, 21, 0, 1), "يوم 2015-08-03"),
        (datetime(2015, 7, 26), datetime(2015, 8, 2), "بين 2015-07-26 و 2015-08-01"),
        (
            datetime(2015, 8, 2, 21),
            datetime(2015, 8, 3, 21, 0, 1),
            "بين 2015-08-02 21:00 و 2015-08-03 21:00",
        ),
    ],
)
def test_window_said_in_words(start: datetime, end: datetime, said: str) -> None:
    scope = TimeScope("window", ("x",), AS_OF, start, end)
    assert texts.when(scope) == said


async def test_more_results_keep_to_the_window(tmp_path: Path) -> None:
    engine = await _engine(
        tmp_path, [_report("2015-08-02T22:40:00", 7)] + [_older(n) for n in range(4)]
    )
    try:
        question = "كم عدد إصابات كورونا في الرياض أمس؟"
        hits = await engine.search_as_asked(question, 10, as_of=AS_OF)
        assert {h.article.url for h in hits} == {"https://x.test/7"}
        later = datetime(2015, 8, 20, 12)  # yesterday now holds nothing
        assert await engine.search_as_asked(question, 10, as_of=later) == []
        plain = await engine.search_as_asked("كم عدد إصابات كورونا في الرياض؟", 10, as_of=AS_OF)
        assert len({h.article.url for h in plain}) == 5
    finally:
        await engine.close()


async def test_nothing_on_the_subject_at_any_time_lists_the_nearest(tmp_path: Path) -> None:
    # A threshold no passage reaches: declined in the window and at every other time.
    strict = AnswerConfig(threshold=0.99)
    engine = await _engine(tmp_path, [_report("2015-08-03T10:00:00", 1)], answer=strict)
    try:
        answer = await engine.ask("ما أفضل وصفة لتحضير الكنافة اليوم؟", as_of=AS_OF)
        assert answer.time is not None and not answer.time.in_window
        assert not answer.time.elsewhere and not answer.sentences
        plain = texts.plain_answer(answer)
        assert texts.NEAREST_HEADLINES in plain and texts.TIME_NEWEST_HEADING not in plain
    finally:
        await engine.close()
