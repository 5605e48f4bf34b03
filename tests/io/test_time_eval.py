"""`isnad eval` on a time question file: two made-up news days, the hashing embedder."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

import bot.cli as cli

STORY = "أعلنت وزارة الصحة تسجيل إصابات جديدة بفيروس كورونا في مدينة الرياض"


def _day(folder: Path, day: str, figure: int) -> None:
    articles = [
        {
            "source": "was",
            "url": f"https://x.test/{day}",
            "date_extracted": f"{day} 20:00:00",
            "title": f"كورونا في الرياض {figure}",
            "content": f"{STORY}. وقالت الوزارة إن عدد الحالات بلغ {figure} حالة.",
        }
    ]
    with zipfile.ZipFile(folder / f"{day}.zip", "w") as zf:
        zf.writestr(f"{day}.json", json.dumps(articles, ensure_ascii=False))


def _questions(path: Path, questions: list[dict[str, object]]) -> None:
    path.write_text(
        json.dumps(
            {
                "version": "isnad-time-questions-1",
                "corpus": {"days": ["2015-07-22.zip", "2015-08-02.zip"], "per_source": 5},
                "questions": questions,
            },
            ensure_ascii=False,
        ),
        "utf-8",
    )


def test_time_eval_prints_the_in_window_share(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    news = env / "news"
    news.mkdir()
    _day(news, "2015-07-22", 3)
    _day(news, "2015-08-02", 7)
    qfile = env / "time.json"
    _questions(
        qfile,
        [
            {
                "id": "yesterday",
                "question": "كم عدد إصابات كورونا في الرياض أمس؟",
                "as_of": "2015-08-03T21:00",
                "window": ["2015-08-02T00:00", "2015-08-03T00:00"],
            },
            {
                "id": "old",
                "question": "كم عدد إصابات كورونا في الرياض في 22 يوليو؟",
                "as_of": "2015-08-03T21:00",
                "window": ["2015-07-22T00:00", "2015-07-23T00:00"],
            },
            {
                "id": "empty",
                "question": "كم عدد إصابات كورونا في الرياض الأسبوع الماضي؟",
                "as_of": "2015-08-03T21:00",
                "window": ["2015-07-26T00:00", "2015-08-02T00:00"],
                "expect": "empty",
            },
            {
                "id": "wrong-label",
                "question": "كم عدد إصابات كورونا في الرياض أمس؟",
                "as_of": "2015-07-23T21:00",
                "window": ["2015-08-02T00:00", "2015-08-03T00:00"],
            },
        ],
    )
    assert cli.main(["eval", str(qfile), "--news-dir", str(news), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["paragraphs"] == 2 and out["questions"] == 4
    assert out["in_window"] == 0.75 and out["read_right"] == 0.75
    assert [m["id"] for m in out["misses"]] == ["wrong-label"]
    assert out["misses"][0]["quoted"] == ["2015-07-22T20:00:00"]


def test_time_eval_missing_day_is_one_line(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    qfile = env / "time.json"
    _questions(qfile, [])
    assert cli.main(["eval", str(qfile), "--news-dir", str(env)]) == 1
    assert capsys.readouterr().err == (
        f"isnad: news day {env / '2015-07-22.zip'} not found: pass --news-dir\n"
    )
