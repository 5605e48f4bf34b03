"""isnad eval-stories: labelled pairs of a (tiny, hand-made) news day, and bad input."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from support.embedders import KeyedEmbedder

from bot import cli

KEYS = {"سيول": [1.0, 0, 0, 0], "نجران": [0, 0, 0.6, 0], "مباراة": [0, 0, 0, 1.0]}
DAY = [
    {
        "source": "was",
        "url": "https://was.example/1",
        "date_extracted": "2015-08-02 10:00:00",
        "title": "سيول جازان",
        "author": "",
        "content": "أعلن الدفاع المدني في جازان وفاة 11 شخصا في سيول صامطة ونقل 45 أسرة.",
    },
    {
        "source": "okaz",
        "url": "https://okaz.example/2",
        "date_extracted": "2015-08-02 11:00:00",
        "title": "وفاة 11 بالسيول",
        "author": "",
        "content": "قال الدفاع المدني إن سيول صامطة بجازان أودت بحياة 11 شخصا وأخليت 45 أسرة.",
    },
    {
        "source": "alriyadh",
        "url": "https://alriyadh.example/3",
        "date_extracted": "2015-08-02 12:00:00",
        "title": "سيول نجران",
        "author": "",
        "content": "غرقت سيارتان في سيول نجران وأنقذ رجال الإنقاذ ثلاثة ركاب في بدر الجنوب.",
    },
    {
        "source": "arreyadi",
        "url": "https://arreyadi.example/4",
        "date_extracted": "2015-08-02 13:00:00",
        "title": "الديربي",
        "author": "",
        "content": "فاز الهلال على النصر في مباراة الديربي بهدفين نظيفين.",
    },
    {  # the same text as the first under another address: a duplicate, not stored twice
        "source": "sabq",
        "url": "https://sabq.example/5",
        "date_extracted": "2015-08-02 14:00:00",
        "title": "سيول جازان",
        "author": "",
        "content": "أعلن الدفاع المدني في جازان وفاة 11 شخصا في سيول صامطة ونقل 45 أسرة.",
    },
]


def pair(a: int, b: int, same: bool, note: str) -> dict[str, object]:
    return {"a": DAY[a]["url"], "b": DAY[b]["url"], "same": same, "note": note}


@pytest.fixture
def news(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A news folder with one hand-made day, the CLI on a keyed embedder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ISNAD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ISNAD_EMBEDDING_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cli, "load_embedder", lambda settings: KeyedEmbedder(KEYS, dim=4))
    folder = tmp_path / "news"
    folder.mkdir()
    with zipfile.ZipFile(folder / "2015-08-02.zip", "w") as zf:
        zf.writestr("2015-08-02.json", json.dumps(DAY, ensure_ascii=False))
    return folder


def write(path: Path, pairs: list[dict[str, object]], **extra: object) -> Path:
    doc = {"format": "isnad-story-pairs-1", "days": ["2015-08-02.zip"], "pairs": pairs}
    path.write_text(json.dumps({**doc, **extra}, ensure_ascii=False), encoding="utf-8")
    return path


def test_pairs_scored_against_assigned_stories(
    news: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = [
        pair(0, 1, True, "Jazan floods"),
        pair(0, 2, False, "floods in two regions"),
        pair(0, 3, False, "flood vs match"),
        pair(2, 3, True, "a wrong label"),
        pair(4, 1, True, "a duplicate is the article it repeats"),
    ]
    path = write(tmp_path / "pairs.json", pairs)
    assert cli.main(["eval-stories", str(path), "--news-dir", str(news)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "pairs: 5 (same story: 3)",
        "precision: 1.000 (2/2)",
        "recall: 0.667 (2/3)",
        "articles: 4  stories: 3  copies: 0",
        f"  apart: a wrong label ({DAY[2]['url']} {DAY[3]['url']})",
    ]
    assert not (tmp_path / "data").exists()  # the bot's database is never touched


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON"),
        ('{"format": "other"}', "is not a isnad-story-pairs-1 file"),
        ('{"format": "isnad-story-pairs-1", "days": ["2015-08-02.zip"]}', "a field is missing"),
        (
            '{"format": "isnad-story-pairs-1", "days": ["2015-08-02.zip"], "pairs": []}',
            "holds no pairs",
        ),
        (
            '{"format": "isnad-story-pairs-1", "days": ["2015-08-09.zip"],'
            ' "pairs": [{"a": "x", "b": "y", "same": true}]}',
            "2015-08-09.zip not found: pass --news-dir",
        ),
        (
            '{"format": "isnad-story-pairs-1", "days": ["2015-08-02.zip"],'
            ' "pairs": [{"a": "https://nowhere/1", "b": "https://was.example/1", "same": true}]}',
            "1 articles not in the days, first https://nowhere/1",
        ),
    ],
)
def test_bad_pairs_file_is_one_line(
    news: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "pairs.json"
    path.write_text(content, encoding="utf-8")
    assert cli.main(["eval-stories", str(path), "--news-dir", str(news)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("isnad: ") and message in line


def test_missing_pairs_file(news: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["eval-stories", "nowhere.json", "--news-dir", str(news)]) == 1
    assert capsys.readouterr().err == "isnad: cannot read nowhere.json: No such file or directory\n"
