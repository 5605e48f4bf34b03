"""Question admission: cleaning, the letters check, the rate limit with admins exempt, cutting."""

from __future__ import annotations

from bot.telegram import texts
from bot.telegram.admission import Admission, admit
from bot.telegram.ratelimit import RateLimiter


def limiter(count: int = 2) -> RateLimiter:
    return RateLimiter(count, 30, clock=lambda: 1000.0)


def test_a_question_is_cleaned_of_invisible_characters() -> None:
    raw = "\u200fماذا\u200b قال\u2066 الوزير؟\n\t"
    assert admit(raw, user_id=1, admin_ids=(), limiter=limiter(), max_chars=100) == Admission(
        "ماذا قال الوزير؟"
    )


def test_nothing_or_no_letters_is_refused_with_a_hint() -> None:
    common = {"user_id": 1, "admin_ids": (), "limiter": limiter(), "max_chars": 100}
    empty = admit(" \u200b ", usage=texts.EMPTY_QUESTION, **common)  # type: ignore[arg-type]
    assert empty == Admission(refusal=texts.EMPTY_QUESTION.format(example=texts.EXAMPLE_QUESTION))
    assert admit("؟؟ !! …", **common) == Admission(refusal=texts.NO_WORDS)  # type: ignore[arg-type]


def test_rate_limit_counts_users_but_not_admins() -> None:
    shared = limiter(2)
    asks = [admit("سؤال", user_id=5, admin_ids=(9,), limiter=shared, max_chars=100) for _ in "abc"]
    assert [a.admitted for a in asks] == [True, True, False]
    assert asks[2] == Admission(refusal=texts.RATE_LIMITED.format(seconds=30), limited=True)
    admins = [
        admit("سؤال", user_id=9, admin_ids=(9,), limiter=shared, max_chars=100) for _ in "abc"
    ]
    assert all(a.admitted for a in admins)
    # Refused questions never reach the limit: the letters check comes first.
    assert admit("!!", user_id=6, admin_ids=(), limiter=limiter(0), max_chars=100).limited is False


def test_a_long_question_is_cut_at_a_word_with_a_note() -> None:
    taken = admit("كلمة " * 30, user_id=1, admin_ids=(), limiter=limiter(), max_chars=52)
    assert taken == Admission(" ".join(["كلمة"] * 10), note=texts.TRUNCATED.format(limit=52))
