"""The time-word reader on a table of expressions, and publication times against windows."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from retrieval.timewords import TimeReading, in_window, read_time, wall_clock

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent.parent / "data" / "time_expressions.json").read_text("utf-8")
)["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["text"] for c in CASES])
def test_expression_table(case: dict[str, Any]) -> None:
    reading = read_time(case["text"], datetime.fromisoformat(case["as_of"]))
    want_start = datetime.fromisoformat(case["start"]) if "start" in case else None
    want_end = datetime.fromisoformat(case["end"]) if "end" in case else None
    assert (reading.kind, reading.start, reading.end, reading.rest) == (
        case["kind"],
        want_start,
        want_end,
        case["rest"],
    )


def test_table_covers_every_month_name_in_both_sets_and_both_digit_systems() -> None:
    texts = " ".join(c["text"] for c in CASES)
    for name in ("يناير", "ديسمبر", "كانون الثاني", "كانون الأول", "آب", "تموز", "يوليه"):
        assert name in texts
    assert "٢٠١٥" in texts and "2015" in texts


def test_longer_expression_wins_and_phrases_are_kept() -> None:
    reading = read_time("ما آخر أخبار جدة أول أمس؟", datetime(2015, 8, 3, 9))
    assert reading.kind == "window" and reading.latest
    assert reading.phrases == ("آخر أخبار", "أول أمس")
    assert (reading.start, reading.end) == (datetime(2015, 8, 1), datetime(2015, 8, 2))
    assert reading.rest == "ما جدة؟"


def test_stated_dates_are_marked() -> None:
    assert read_time("ماذا حدث في 2/8/2015؟", datetime(2015, 8, 3)).stated
    assert not read_time("ماذا حدث أمس؟", datetime(2015, 8, 3)).stated


def test_as_of_zone_does_not_move_the_wall_clock() -> None:
    riyadh = datetime(2015, 8, 3, 1, 30, tzinfo=ZoneInfo("Asia/Riyadh"))
    reading = read_time("ماذا حدث اليوم؟", riyadh)
    assert (reading.start, reading.end) == (
        datetime(2015, 8, 3),
        datetime(2015, 8, 3, 1, 30, 1),
    )


WINDOW = TimeReading("window", "", datetime(2015, 8, 2), datetime(2015, 8, 3))


@pytest.mark.parametrize(
    ("published", "zone", "inside"),
    [
        ("2015-08-02T23:59:59", None, True),
        ("2015-08-03T00:00:00", None, False),
        ("2015-08-02", None, True),  # a date alone is its whole day
        ("2015-08-01", None, False),
        ("2015-08-01T22:00:00+00:00", "Asia/Riyadh", True),  # 01:00 on 2 August there
        ("2015-08-02T22:00:00+00:00", "Asia/Riyadh", False),
        ("2015-08-02T22:00:00Z", None, True),  # naive as-of: UTC
        ("", None, False),
        ("yesterday", None, False),
    ],
)
def test_published_in_window(published: str, zone: str | None, inside: bool) -> None:
    as_of = datetime(2015, 8, 3, 12, tzinfo=ZoneInfo(zone) if zone else None)
    assert in_window(published, WINDOW, as_of) is inside


def test_wall_clock_tells_a_date_alone() -> None:
    assert wall_clock("2015-08-02", datetime(2015, 8, 3)) == (datetime(2015, 8, 2), True)
    assert wall_clock("2015-08-02T10:00", datetime(2015, 8, 3)) == (
        datetime(2015, 8, 2, 10),
        False,
    )
