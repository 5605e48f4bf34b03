"""Measure dateparser against isnad's time-word reader on the same expression table.

Run: `python tests/support/datebench.py [SQuAD files ...]` from the checkout. A window
case counts as read when a date dateparser finds falls in the expected window (a
point, generously); a case without time words counts when it finds none. With SQuAD
files (questions with no news time in mind), it also prints how many questions
each reader finds time words in.
"""

from __future__ import annotations

import json
import sys
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from retrieval.timewords import read_time  # noqa: E402

TABLE = ROOT / "tests" / "data" / "time_expressions.json"


def dateparser_dates(text: str, as_of: datetime) -> list[datetime]:
    """Return the dates dateparser's search finds in an Arabic text."""
    from dateparser.search import search_dates

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = search_dates(
            text,
            languages=["ar"],
            settings={"RELATIVE_BASE": as_of, "PREFER_DATES_FROM": "past", "DATE_ORDER": "DMY"},
        )
    return [d for _, d in found or []]


def score(cases: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Return (right, total) per kind of case, for dateparser and for the reader."""
    out: dict[str, list[int]] = {}
    for case in cases:
        as_of = datetime.fromisoformat(case["as_of"])
        dates = dateparser_dates(case["text"], as_of)
        reading = read_time(case["text"], as_of)
        kind = case["kind"]
        if kind == "window":
            start, end = (datetime.fromisoformat(case[k]) for k in ("start", "end"))
            theirs = any(start <= d < end for d in dates)
            ours = (reading.start, reading.end) == (start, end)
        elif kind == "latest":
            theirs, ours = False, reading.kind == "latest"  # dateparser has no "newest"
        else:
            theirs, ours = not dates, reading.kind == "none"
        for name, right in ((f"dateparser {kind}", theirs), (f"isnad {kind}", ours)):
            tally = out.setdefault(name, [0, 0])
            tally[0] += int(right)
            tally[1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def squad_questions(path: Path) -> list[str]:
    """Return the questions of a SQuAD-format file."""
    raw = json.loads(path.read_text("utf-8"))
    data = raw["data"] if isinstance(raw, dict) else raw
    return [qa["question"] for e in data for p in e["paragraphs"] for qa in p["qas"]]


def main(argv: list[str]) -> None:
    """Print the hit rates, then the share of SQuAD questions each finds time in."""
    cases = json.loads(TABLE.read_text("utf-8"))["cases"]
    for name, (right, total) in sorted(score(cases).items()):
        print(f"{name:<22} {right:>3}/{total:<3} {right / total:.3f}")
    as_of = datetime(2015, 8, 3, 21)
    for arg in argv:
        questions = squad_questions(Path(arg))
        theirs = sum(bool(dateparser_dates(q, as_of)) for q in questions)
        ours = sum(read_time(q, as_of).kind != "none" for q in questions)
        print(
            f"{Path(arg).name}: {len(questions)} questions, time words found by"
            f" dateparser {theirs}, isnad {ours}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
