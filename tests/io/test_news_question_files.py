"""The committed news question files: well formed, and true to the day they name.

The shape is checked everywhere; the answers are checked against the day's
articles (SaudiNewsNet days read from ../shared/eval/news, not shipped), so that
part is skipped where the days are not at hand.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from retrieval.newsdays import FORMAT, KINDS, load_news_questions

ROOT = Path(__file__).resolve().parents[2]
NEWS_DIR = ROOT.parent / "shared" / "eval" / "news"
FILES = (
    ROOT / "retrieval" / "data" / "news_questions.json",
    ROOT / "retrieval" / "data" / "news_questions_0803.json",
    ROOT / "retrieval" / "data" / "news_questions_0722.json",
)
NEEDS = {"answerable": {"url", "answers"}, "unstated": {"why"}, "offtopic": set()}


def _raw(path: Path) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return raw


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_question_file_is_well_formed(path: Path) -> None:
    raw = _raw(path)
    assert raw["version"] == FORMAT
    questions = raw["questions"]
    ids = [q["id"] for q in questions]
    assert len(set(ids)) == len(ids), [i for i, n in Counter(ids).items() if n > 1]
    kinds = Counter(q["kind"] for q in questions)
    assert set(kinds) == set(KINDS)
    assert min(kinds.values()) >= 40, kinds
    for q in questions:
        missing = NEEDS[q["kind"]] - set(q)
        assert not missing, (q["id"], missing)
        assert q["question"].strip(), q["id"]
        if q["kind"] == "answerable":
            assert q["answers"] and all(a.strip() for a in q["answers"]), q["id"]


@pytest.mark.skipif(not NEWS_DIR.is_dir(), reason="no news days")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_gold_answers_stand_verbatim_in_their_article(path: Path) -> None:
    raw = _raw(path)
    if not (NEWS_DIR / raw["corpus"]["day"]).is_file():
        pytest.skip(f"no news day {raw['corpus']['day']}")
    dataset = load_news_questions(path, NEWS_DIR)
    wrong = [
        (q.id, answer)
        for q in dataset.questions
        if q.paragraph is not None
        for answer in q.answers
        if answer not in dataset.paragraphs[q.paragraph][1]
    ]
    assert wrong == []
    answerable = sum(1 for q in dataset.questions if q.kind == "answerable")
    assert sum(1 for q in dataset.questions if q.paragraph is not None) == answerable
