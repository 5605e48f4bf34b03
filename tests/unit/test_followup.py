"""The follow-up rule and outlet names: pure functions, and the measured table of pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.conversation.followup import (
    asks_nothing_new,
    forms,
    read_against,
    starts_with_conjunction,
    subject_words,
    time_words,
    vocabulary_of,
)
from bot.conversation.outlets import find_outlet, match_sources, outlet_of_source
from retrieval.newsdays import read_day

ROOT = Path(__file__).resolve().parents[2]
NEWS_DIR = ROOT.parent / "shared" / "eval" / "news"
TABLE = ROOT / "tests" / "data" / "followups.json"

STORY = vocabulary_of(
    "هجوم مركز الدرك تركيا",
    "قتيلان وعشرات الجرحى شرق تركيا بهجوم على مركز للدرك نسب إلى المقاتلين الأكراد",
    "قتل جنديان تركيان وأصيب 24 آخرون في هجوم انتحاري بسيارة مفخخة على مركز للدرك"
    " في ولاية أغري، ونسبت السلطات الهجوم إلى حزب العمال الكردستاني.",
)


@pytest.mark.parametrize(
    "question",
    [
        "ومن نفذه؟",
        "وكم عدد المصابين؟",
        "وماذا عن أمس؟",
        "وهل أعلن حزب العمال مسؤوليته؟",
        "أين وقع الهجوم؟",
        "وما عدد الجنود الذين قتلوا؟",
        "؟",
    ],
)
def test_questions_without_a_subject_of_their_own_follow_the_thread(question: str) -> None:
    reading = read_against(question, STORY)
    assert reading.follow_up, reading
    assert reading.new_words == ()


@pytest.mark.parametrize(
    ("question", "new"),
    [
        ("ماذا قال وزير الخارجية الأمريكي عن إيران؟", ("وزير", "الخارجيه", "الامريكي", "ايران")),
        ("وماذا عن الهلال؟", ("الهلال",)),
        ("كم خسرت موبايلي في النصف الأول؟", ("خسرت", "موبايلي", "النصف")),
    ],
)
def test_a_question_naming_what_the_story_lacks_is_a_new_subject(
    question: str, new: tuple[str, ...]
) -> None:
    reading = read_against(question, STORY)
    assert not reading.follow_up
    assert reading.new_words == new


def test_a_long_question_on_the_story_without_a_conjunction_is_read_on_its_own() -> None:
    long = "ما هي الولاية التي وقع فيها الهجوم على مركز الدرك في تركيا؟"
    assert not read_against(long, STORY).follow_up  # eleven words, not joined to the last
    assert read_against("و" + long, STORY).follow_up


def test_a_short_joined_question_may_bring_one_word_beside_the_storys() -> None:
    assert read_against("وما رتبة الجنديين؟", STORY).follow_up
    assert not read_against("ما رتبة الجنديين؟", STORY).follow_up
    assert not read_against("وما رتبة الطيار؟", STORY).follow_up


def test_subject_words_keep_the_named_things_as_written() -> None:
    assert subject_words("ما آخر أخبار إحراق الرضيع دوابشة؟") == ["إحراق", "الرضيع", "دوابشة"]
    assert subject_words("وكم عدد المصابين أمس؟") == []
    assert starts_with_conjunction("ومن نفذه؟") and starts_with_conjunction("فكم")
    assert not starts_with_conjunction("وزير الدفاع") and not starts_with_conjunction("")


def test_a_question_naming_only_an_outlet_or_a_time_asks_nothing_new() -> None:
    assert asks_nothing_new("ماذا") and asks_nothing_new("وماذا عن أمس؟")
    assert asks_nothing_new("وماذا نشرت صحيفة")
    assert not asks_nothing_new("ومن نفذه؟") and not asks_nothing_new("وماذا حدث أمس؟")
    assert time_words("وماذا عن الأسبوع الماضي؟") == ["الأسبوع", "الماضي"]
    assert time_words("ومن نفذه؟") == []


def test_word_shapes_meet_across_affixes() -> None:
    assert forms("أغلق") & forms("إغلاق")
    assert forms("استقبله") & forms("استقبال")
    assert forms("والديه") & forms("والد")
    assert not forms("الهلال") & forms("هلكوبتر")
    assert all(len(f) >= 3 for f in forms("ومن"))


@pytest.mark.parametrize(
    ("question", "outlet", "rest"),
    [
        ("ماذا قالت الجزيرة عن الهجوم؟", "aljazirah", "ماذا عن الهجوم"),
        ("حسب عكاظ كم عدد القتلى", "okaz", "كم عدد القتلى"),
        ("ماذا قالت صحيفة الرياض؟", "alriyadh", "ماذا"),
        ("ماذا نشرت صحيفة اليوم عن الحادث؟", "alyaum", "ماذا عن الحادث"),
        ("وماذا نشرت سبق؟", "sabq", "وماذا"),
        ("ماذا ذكرت الشرق الأوسط عن تركيا", "aawsat", "ماذا عن تركيا"),
        ("ماذا قالت عين اليوم", "3alyoum", "ماذا"),
        ("وفق واس", "was", ""),
        ("عكاظ؟", "okaz", ""),
    ],
)
def test_outlets_are_found_in_outlet_phrasing(question: str, outlet: str, rest: str) -> None:
    mention = find_outlet(question)
    assert mention is not None
    assert (mention.outlet.id, mention.rest) == (outlet, rest)


@pytest.mark.parametrize(
    "question",
    [
        "ما الطقس في الرياض اليوم؟",
        "ماذا حدث اليوم في المدينة المنورة؟",
        "ما الأوضاع الاقتصادية في مصر؟",
        "ما الوضع في الشرق الأوسط؟",
        "هل سبق أن زار الملك المغرب؟",
        "ماذا قالت صحيفة الغارديان؟",
    ],
)
def test_ordinary_words_and_unknown_outlets_name_no_outlet(question: str) -> None:
    assert find_outlet(question) is None


def test_sources_match_ids_display_names_feed_titles_and_hosts() -> None:
    corpus = ["اليوم", "عين اليوم", "www.alyaum.com", "alyaum", "صحيفة اليوم", "عكاظ", "okaz"]
    yaum = outlet_of_source("alyaum")
    assert yaum is not None and yaum.id == "alyaum"
    assert match_sources(yaum, corpus) == {"اليوم", "www.alyaum.com", "alyaum", "صحيفة اليوم"}
    okaz = outlet_of_source("صحيفة عكاظ")
    assert okaz is not None and match_sources(okaz, corpus) == {"عكاظ", "okaz"}
    assert outlet_of_source("Sport <News> & Co") is None


def load_table() -> list[tuple[str, str, bool, bool]]:
    """Return (thread, question, labelled follow-up, read as follow-up) for every pair."""
    table = json.loads(TABLE.read_text(encoding="utf-8"))
    day = {a["url"]: a for a in read_day(NEWS_DIR / table["day"])}
    rows = []
    for thread in table["threads"]:
        articles = [day[u] for u in thread["urls"]]
        vocabulary = vocabulary_of(
            " ".join(subject_words(thread["question"])),
            *(a["title"] + " " + a["content"][:4000] for a in articles),
        )
        for label, questions in ((True, thread["follow_up"]), (False, thread["new"])):
            for question in questions:
                mention = find_outlet(question)
                text = mention.rest if mention else question
                follows = read_against(text, vocabulary).follow_up
                rows.append((thread["id"], question, label, follows))
    return rows


@pytest.mark.skipif(not (NEWS_DIR / "2015-08-02.zip").is_file(), reason="no news days")
def test_the_rule_on_the_news_day_table() -> None:
    """Prints the figures docs/conversation.md gives (pytest -s)."""
    rows = load_table()
    follow = [r for r in rows if r[2]]
    new = [r for r in rows if not r[2]]
    assert len(follow) >= 20 and len(new) >= 20
    kept = sum(r[3] for r in follow)
    started = sum(not r[3] for r in new)
    print(f"\nfollow-ups read as follow-ups: {kept}/{len(follow)}")
    print(f"new subjects read as new: {started}/{len(new)}")
    for thread, question, label, follows in rows:
        if label != follows:
            print(f"  missed ({thread}): {question} -> {'follow-up' if follows else 'new'}")
    assert kept / len(follow) >= 0.9
    assert started / len(new) >= 0.95
