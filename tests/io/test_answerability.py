"""Answer or decline: features, the logistic scores, fitting, and the news question files."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from retrieval.answerability import (
    FEATURES,
    AnswerabilityModel,
    Evidence,
    LogisticScore,
    TermStats,
    fit_logistic,
    measure,
)
from retrieval.calibration import Row, fit
from retrieval.engine import Engine
from retrieval.newsdays import NewsSetError, load_news_questions

STATS = TermStats({"زلزال": 2, "ملاط": 1, "ضحايا": 3, "عدد": 40}, total=100)


def test_type_missing_for_an_age_and_a_name() -> None:
    args = dict(passage_cosine=0.5, sentence_cosine=0.5, lexical_rank=1, stats=STATS)
    q = "كم عمر منفذ التفجير؟"
    given = measure(q, "فجر المنفذ (21 عاماً) نفسه في المسجد.", "", [], **args)  # type: ignore[arg-type]
    missing = measure(q, "فجر منفذ التفجير نفسه في المسجد.", "", [], **args)  # type: ignore[arg-type]
    assert (given.type_missing, missing.type_missing) == (0.0, 1.0)
    q = "ما اسم إمام المسجد؟"
    named = measure(q, "وأم المصلين إمام المسجد الشيخ صالح.", "", [], **args)  # type: ignore[arg-type]
    unnamed = measure(q, "وأم المصلين إمام المسجد بعد الحادث.", "", [], **args)  # type: ignore[arg-type]
    assert (named.type_missing, unnamed.type_missing) == (0.0, 1.0)


def test_a_further_sentence_can_hold_the_slot() -> None:
    args = dict(passage_cosine=0.5, sentence_cosine=0.5, lexical_rank=1, stats=STATS)
    q = "كم عمر منفذ التفجير؟"
    best = "فجر منفذ التفجير نفسه في المسجد."
    alone = measure(q, best, "", [], **args)  # type: ignore[arg-type]
    helped = measure(q, best, "", [], others=["ويبلغ المنفذ من العمر 21 عاماً."], **args)  # type: ignore[arg-type]
    assert (alone.type_missing, helped.type_missing) == (1.0, 0.0)


def test_a_cause_is_not_checked() -> None:
    """Causes are given in too many ways ("لسوء الأحوال"، "للوقوف بجانب أسرته") to check."""
    args = dict(passage_cosine=0.5, sentence_cosine=0.5, lexical_rank=1, stats=STATS)
    ev = measure("لماذا استقال الوزير؟", "استقال الوزير أمس.", "", [], **args)  # type: ignore[arg-type]
    assert ev.type_missing == 0.0
    when = measure("متى استقال الوزير؟", "استقال الوزير اليوم.", "", [], **args)  # type: ignore[arg-type]
    assert when.type_missing == 0.0


def test_a_year_after_every_report() -> None:
    args = dict(passage_cosine=0.5, sentence_cosine=0.5, lexical_rank=1, stats=STATS)
    q = "من فاز بكأس آسيا 2019؟"
    s = "وتستعد اللجنة المنظمة لكأس آسيا 2019."
    late = measure(q, s, "", [], published=["2015-08-02T10:00:00", ""], **args)  # type: ignore[arg-type]
    same = measure(q, s, "", [], published=["2019-02-02"], **args)  # type: ignore[arg-type]
    undated = measure(q, s, "", [], published=["", ""], **args)  # type: ignore[arg-type]
    assert (late.year_after, same.year_after, undated.year_after) == (1.0, 0.0, 0.0)


def test_measure_a_sentence_that_holds_the_answer() -> None:
    ev = measure(
        "كم عدد ضحايا زلزال ملاطية؟",
        "بلغ عدد ضحايا زلزال ملاطية 12 شخصا.",
        "زلزال في تركيا",
        [("زلزال في تركيا", "بلغ عدد ضحايا زلزال ملاطية 12 شخصا.")],
        passage_cosine=0.6,
        sentence_cosine=0.7,
        lexical_rank=1,
        stats=STATS,
    )
    assert ev == Evidence(0.6, 0.7, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def test_measure_a_sentence_without_the_number_or_the_rare_word() -> None:
    ev = measure(
        "كم عدد ضحايا زلزال ملاطية عام 2022؟",
        "ضرب زلزال المنطقة فجر اليوم.",
        "",
        [("", "ضرب زلزال المنطقة فجر اليوم. وتحدث السكان عن ضحايا.")],
        passage_cosine=0.5,
        sentence_cosine=0.4,
        lexical_rank=None,
        stats=STATS,
    )
    assert ev.number_missing == 1.0  # 2022 is in no passage
    assert ev.type_missing == 1.0  # a count is asked: "اليوم" is a time, not a count
    assert ev.lexical_top == 0.0
    assert 0 < ev.sentence_coverage < ev.passage_coverage < 1
    # 2022, in no chunk at all, is the question's rarest word, and the sentence lacks it.
    assert ev.rarest_missing == 1.0
    ev = measure(
        "عدد ضحايا زلزال ملاطية",
        "ضحايا زلزال",
        "",
        [],
        passage_cosine=0.5,
        sentence_cosine=0.4,
        lexical_rank=None,
        stats=STATS,
    )
    # The question's rarest word, ملاطية (in one chunk of 100), is the one it lacks.
    assert ev.rarest_missing == 1.0
    assert STATS.idf("ملاط") > STATS.idf("زلزال") > STATS.idf("عدد")


def test_type_missing_when_a_count_is_asked_and_none_is_given() -> None:
    ev = measure(
        "كم عدد ضحايا الزلزال؟",
        "ضرب زلزال المنطقة وسقط ضحايا.",
        "",
        [],
        passage_cosine=0.5,
        sentence_cosine=0.5,
        lexical_rank=2,
        stats=STATS,
    )
    assert ev.type_missing == 1.0
    assert ev.lexical_top == 0.5


def test_features_are_shares_so_corpus_size_scales_out() -> None:
    """The same question and sentence give the same coverage in a corpus 1,000 times bigger."""
    small = TermStats({"زلزال": 20, "ملاط": 2}, total=100)
    big = TermStats({"زلزال": 20_000, "ملاط": 2000}, total=100_000)
    args = dict(passage_cosine=0.5, sentence_cosine=0.5, lexical_rank=1)
    a = measure("زلزال ملاطية", "زلزال قوي", "", [], stats=small, **args)  # type: ignore[arg-type]
    b = measure("زلزال ملاطية", "زلزال قوي", "", [], stats=big, **args)  # type: ignore[arg-type]
    assert a.sentence_coverage == pytest.approx(b.sentence_coverage, abs=0.01)
    assert a.rarest_missing == pytest.approx(b.rarest_missing, abs=0.1)


def test_model_gives_three_outcomes() -> None:
    model = AnswerabilityModel(
        answer=LogisticScore(-5.0, {"sentence_coverage": 10.0}, 0.5),
        topic=LogisticScore(-5.0, {"passage_coverage": 10.0}, 0.5),
    )
    ev = Evidence(0.5, 0.5, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    assert model.decide(ev).outcome == "answered"
    ev = Evidence(0.5, 0.5, 0.2, 1.0, 0.0, 0.0, 0.0, 1.0)
    assert model.decide(ev).outcome == "not_stated"
    ev = Evidence(0.5, 0.5, 0.2, 0.2, 0.0, 0.0, 0.0, 1.0)
    decision = model.decide(ev)
    assert decision.outcome == "declined"
    assert decision.answer_score == pytest.approx(1 / (1 + np.exp(3.0)))


def test_the_veto_turns_an_answer_into_not_stated() -> None:
    answer = LogisticScore(-5.0, {"sentence_coverage": 10.0}, 0.5)
    topic = LogisticScore(-5.0, {"passage_coverage": 10.0}, 0.5)
    ev = Evidence(0.5, 0.5, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0)  # type_missing set
    assert AnswerabilityModel(answer, topic).decide(ev).outcome == "answered"
    vetoed = AnswerabilityModel(answer, topic, veto=("type_missing",))
    assert vetoed.decide(ev).outcome == "not_stated"
    # Off the subject it is still declined, not "not stated".
    off = Evidence(0.5, 0.5, 1.0, 0.2, 0.0, 0.0, 1.0, 1.0)
    assert vetoed.decide(off).outcome == "declined"


def test_weights_with_an_unknown_veto_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    part = {"bias": 0, "weights": {"sentence_cosine": 1}, "threshold": 0.5}
    path.write_text(json.dumps({"answer": part, "topic": part, "veto": ["shoe_size"]}))
    with pytest.raises(ValueError, match="shoe_size"):
        AnswerabilityModel.load(path)


def test_fit_with_a_veto_chooses_thresholds_with_it_in_place() -> None:
    rng = np.random.default_rng(2)
    rows = [_row("a", "answerable", False, float(c)) for c in rng.uniform(0.4, 1.0, 200)]
    rows += [_row("a", "answerable", True, float(c)) for c in rng.uniform(0.0, 0.6, 200)]
    rows += [_row("n", "offtopic", False, float(c)) for c in rng.uniform(0.0, 0.3, 40)]
    # A tenth of the answerable rows carry the veto feature: no threshold answers them,
    # so no floor above .9 can be kept, and the fit says so.
    flagged = [replace(r, features=_with(r.features, "type_missing", 1.0)) for r in rows[:20]]
    rows = flagged + rows[20:]
    with pytest.raises(ValueError, match="floor"):
        fit(rows, floor=0.95, veto=("type_missing",))
    fitted = fit(rows, floor=0.85, veto=("type_missing",))
    answered = fitted["answered_by_group"]
    assert isinstance(answered, dict) and 0.85 <= answered["a:answerable"] <= 0.9
    assert fitted["veto"] == ["type_missing"]
    with pytest.raises(ValueError, match="unknown veto"):
        fit(rows, floor=0.85, veto=("shoe_size",))


def _with(features: tuple[float, ...], name: str, value: float) -> tuple[float, ...]:
    out = list(features)
    out[FEATURES.index(name)] = value
    return tuple(out)


def test_shipped_weights_load_and_name_known_features() -> None:
    model = AnswerabilityModel.load()
    assert set(model.answer.weights) <= set(FEATURES)
    assert 0 < model.answer.threshold < 1


def test_weights_with_an_unknown_feature_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    part = {"bias": 0, "weights": {"shoe_size": 1}, "threshold": 0.5}
    path.write_text(json.dumps({"answer": part, "topic": part}))
    with pytest.raises(ValueError, match="shoe_size"):
        AnswerabilityModel.load(path)


def test_fit_logistic_finds_the_separating_direction() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] - 0.5 * x[:, 1] + rng.normal(scale=0.3, size=400) > 0).astype(float)
    bias, w = fit_logistic(x, y, l2=0.1)
    assert w[0] > 2 and w[1] < -0.5 and abs(bias) < 0.5


def _row(dataset: str, kind: str, removed: bool, coverage: float) -> Row:
    values = dict.fromkeys(FEATURES, 0.0) | {"sentence_coverage": coverage}
    return Row(dataset, kind, removed, tuple(values[f] for f in FEATURES))


def test_fit_keeps_answerable_sets_above_the_floor() -> None:
    rng = np.random.default_rng(1)
    rows = [_row("a", "answerable", False, float(c)) for c in rng.uniform(0.4, 1.0, 200)]
    rows += [_row("a", "answerable", True, float(c)) for c in rng.uniform(0.0, 0.6, 200)]
    rows += [_row("n", "answerable", False, float(c)) for c in rng.uniform(0.5, 1.0, 40)]
    rows += [_row("n", "offtopic", False, float(c)) for c in rng.uniform(0.0, 0.3, 40)]
    fitted = fit(rows, floor=0.95)
    answered = fitted["answered_by_group"]
    assert isinstance(answered, dict)
    assert answered["a:answerable"] >= 0.95 and answered["n:answerable"] >= 0.95
    assert answered["n:offtopic"] == 0.0
    assert answered["a:gold_removed"] < 0.6
    weights = fitted["answer"]
    assert isinstance(weights, dict) and weights["weights"]["sentence_coverage"] > 0


def _day(tmp_path: Path) -> Path:
    articles = [
        {"source": "okaz", "url": "http://o/1", "date_extracted": "2015-08-02 22:00:00",
         "title": "أمطار على جدة", "author": "", "content": "هطلت أمطار غزيرة على جدة. " * 5},
        {"source": "okaz", "url": "http://o/2", "date_extracted": "2015-08-02 22:10:00",
         "title": "قصير", "author": "", "content": "سطر"},
        {"source": "okaz", "url": "http://o/3", "date_extracted": "2015-08-02 22:20:00",
         "title": "ثالث", "author": "", "content": "خبر ثالث طويل بما يكفي هنا. " * 5},
        {"source": "sabq", "url": "http://s/1", "date_extracted": "2015-08-02 23:00:00",
         "title": "مرور", "author": "", "content": "أعلنت إدارة المرور خطة جديدة. " * 5},
    ]  # fmt: skip
    path = tmp_path / "2015-08-02.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("2015-08-02.json", json.dumps(articles, ensure_ascii=False))
    return path


def _questions(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "q.json"
    path.write_text(
        json.dumps(
            {
                "version": "isnad-news-questions-1",
                "corpus": {"day": "2015-08-02.zip", "per_source": 1, "min_chars": 20},
                "questions": [
                    {
                        "id": "a",
                        "kind": "answerable",
                        "question": " - أين هطلت الأمطار؟ ",
                        "url": url,
                        "answers": ["جدة"],
                    },
                    {"id": "u", "kind": "unstated", "question": "كم ملم هطل؟", "url": url},
                    {"id": "o", "kind": "offtopic", "question": "ما عاصمة اليابان؟"},
                ],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    return path


def test_news_questions_pick_articles_and_map_answers(tmp_path: Path) -> None:
    _day(tmp_path)
    dataset = load_news_questions(_questions(tmp_path, "http://o/1"), tmp_path)
    # One per outlet with 20 characters or more: okaz's first long one and sabq's.
    assert [t for t, _ in dataset.paragraphs] == ["أمطار على جدة", "مرور"]
    assert dataset.origins[0] == ("عكاظ", "http://o/1", "2015-08-02T22:00:00")
    kinds = [(q.id, q.kind, q.paragraph, q.answers) for q in dataset.questions]
    assert kinds == [
        ("a", "answerable", 0, ("جدة",)),
        ("u", "unstated", None, ()),
        ("o", "offtopic", None, ()),
    ]
    assert dataset.questions[0].text == "أين هطلت الأمطار؟"


def test_news_questions_refuse_an_article_outside_the_picked_ones(tmp_path: Path) -> None:
    _day(tmp_path)
    with pytest.raises(NewsSetError, match="names an article not in"):
        load_news_questions(_questions(tmp_path, "http://o/3"), tmp_path)


def test_news_questions_need_the_day(tmp_path: Path) -> None:
    with pytest.raises(NewsSetError, match="not found: pass --news-dir"):
        load_news_questions(_questions(tmp_path, "http://o/1"), tmp_path)


async def test_search_can_leave_articles_out(seed_engine: Engine) -> None:
    hits = await seed_engine.search("روسيا")
    assert hits
    article = hits[0].article.id
    left = await seed_engine.search("روسيا", exclude=frozenset({article}))
    assert all(h.article.id != article for h in left)
    answer = await seed_engine.ask("روسيا", exclude=frozenset({article}))
    assert answer.outcome == "declined" and not answer.sentences


def test_gold_removal_hides_whole_word_answers_only() -> None:
    from retrieval.evaluation import EvalQuestion, EvalSet, removal_sets

    dataset = EvalSet(
        "s",
        (("", "بلغ العدد 20 شخصا."), ("", "في عام 2015 تغير كل شيء."), ("", "نحو 20 قتيلا.")),
        (EvalQuestion("q", "كم العدد؟", 0, ("20",)),),
    )
    # "20" stands alone in the first and third paragraphs; "2015" does not hold it.
    assert removal_sets(dataset, [11, 12, 13]) == {"q": frozenset({11, 13})}


async def test_term_counts_leave_hidden_chunks_out(seed_engine: Engine) -> None:
    store = seed_engine.store
    counts, total = await store.term_counts(["روسيا", "لاوجودله"])
    assert total == len(await store.chunk_ids()) and counts["لاوجودله"] == 0
    assert counts["روسيا"] >= 1
    hidden = await store.article_chunk_ids([(await store.latest_articles(1))[0].id])
    counts_h, total_h = await store.term_counts(["روسيا"], hidden)
    assert (counts_h["روسيا"], total_h) == (0, total - len(hidden))


def test_thresholds_keep_floors_and_decline_off_topic() -> None:
    from retrieval.calibration import choose_thresholds

    rows = [_row("a", "answerable", False, 1.0)] * 10 + [_row("a", "offtopic", False, 0.0)] * 10
    answer = np.array([0.9] * 10 + [0.9] * 10)  # the answer score cannot tell them apart
    topic = np.array([0.8] * 10 + [0.1] * 10)  # the topic score can
    a, t = choose_thresholds(rows, answer, topic, floor=0.95, floors={})
    assert a <= 0.9 and 0.1 < t <= 0.8
    with pytest.raises(ValueError, match="no thresholds"):
        choose_thresholds(rows, answer, np.zeros(20), floor=0.95, floors={})


def test_fit_refuses_a_floor_for_an_unknown_set() -> None:
    rows = [_row("a", "answerable", False, 1.0), _row("a", "answerable", True, 0.0)]
    with pytest.raises(ValueError, match=r"floors for sets not in the feature files: \['b'\]"):
        fit(rows, floors={"b": 0.9})


def test_weights_fitted_under_other_settings_warn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import bot.factory as factory
    from bot.settings import Settings

    part = {"bias": 0, "weights": {}, "threshold": 0.5}
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"answer": part, "topic": part, "fitted_with": {"top_k": 3}}))
    monkeypatch.setattr(factory, "AnswerabilityModel", _Loader(path))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    factory.load_answerability(settings)
    assert "top_k=3 (now 5)" in caplog.text and "refit" in caplog.text
    caplog.clear()
    factory.load_answerability(settings.model_copy(update={"top_k": 3}))
    assert caplog.text == ""


class _Loader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> AnswerabilityModel:
        return AnswerabilityModel.load(self.path)


def test_json_of_a_not_stated_reply_has_no_answer_text() -> None:
    from bot.cli import answer_json
    from retrieval.models import Answer, AnswerSentence

    sentence = AnswerSentence("أقرب جملة.", 1, 3)
    answer = Answer("س", False, (sentence,), (), (), 0.5, outcome="not_stated")
    out = answer_json(answer)
    assert (out["answered"], out["stated"], out["outcome"], out["answer"]) == (
        False,
        False,
        "not_stated",
        "",
    )
    assert out["sentences"] == [
        {"text": "أقرب جملة.", "citation": 1, "citations": [1], "outlets": []}
    ]


def test_cross_validation_scores_each_question_by_a_fit_that_did_not_see_it() -> None:
    from retrieval.calibration import cross_validate

    rng = np.random.default_rng(2)
    rows = [
        replace(_row("a", "answerable", removed, float(c)), question=f"q{n}")
        for n, c in enumerate(rng.uniform(0.5, 1.0, 100))
        for removed in (False, True)
    ]
    rows = [replace(r, features=(0.0,) * len(FEATURES)) if r.gold_removed else r for r in rows]
    out = cross_validate(rows, folds=2)
    assert set(out) == {"answered_by_group", "declined_by_group"}
    assert out["answered_by_group"]["a:answerable"] >= 0.9
    assert out["answered_by_group"]["a:gold_removed"] == 0.0
