"""The news corroboration evaluation: question files, scoring, and `isnad eval` on one."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from support.embedders import HashingEmbedder

from bot import cli
from retrieval.corroboration_eval import FORMAT, is_corroboration_set, load_corroboration_set
from retrieval.newsdays import NewsSetError

NEWER = "وقالت مصادر أمنية إن 21 شخصا لقوا مصرعهم في غرق المركب في نهر النيل بمنطقة الوراق."
OLDER = "وأعلنت وزارة الداخلية أن 15 شخصا لقوا مصرعهم في غرق المركب في نهر النيل بمنطقة الوراق."
FACT = "وأحالت النيابة العامة 41 متهما إلى المحكمة الاتحادية العليا بتهمة تأسيس تنظيم سري."
ARTICLES = [
    ("sabq", "https://n.test/1", "2015-07-23 19:21:00", NEWER),
    ("alweeam", "https://n.test/2", "2015-07-23 17:25:00", OLDER),
    ("alriyadh", "https://n.test/3", "2015-08-02 10:00:00", FACT + " وجاء ذلك في بيان."),
    ("sabq", "https://n.test/4", "2015-08-02 11:00:00", "واس- أبوظبي: " + FACT),
    ("okaz", "https://n.test/5", "2015-08-02 09:00:00", "وافتتح المعرض الدولي للكتاب أبوابه."),
]


def write_day(folder: Path) -> None:
    rows = [
        {"source": s, "url": u, "date_extracted": d, "title": f"خبر {n}", "content": c}
        for n, (s, u, d, c) in enumerate(ARTICLES)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "2015-07-23.zip", "w") as zf:
        zf.writestr("2015-07-23.json", json.dumps(rows, ensure_ascii=False))


def question_file(path: Path, **change: Any) -> Path:
    raw: dict[str, Any] = {
        "version": FORMAT,
        "corpus": {"days": ["2015-07-23.zip"], "per_source": 0, "min_chars": 0},
        "questions": [
            {
                "id": "d-1",
                "kind": "differ",
                "question": "كم شخصا لقوا مصرعهم في غرق المركب في نهر النيل؟",
                "versions": [
                    {"answers": ["21"], "urls": ["https://n.test/1"]},
                    {"answers": ["15"], "urls": ["https://n.test/2"]},
                ],
            },
            {
                "id": "a-1",
                "kind": "agree",
                "question": "كم متهما أحالت النيابة العامة إلى المحكمة الاتحادية العليا؟",
                "versions": [{"answers": ["41"], "urls": ["https://n.test/3", "https://n.test/4"]}],
            },
        ],
    }
    raw.update(change)
    path.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    return path


def test_load_reads_the_named_articles_with_their_outlets(tmp_path: Path) -> None:
    write_day(tmp_path / "news")
    path = question_file(tmp_path / "q.json")
    assert is_corroboration_set(path)
    dataset = load_corroboration_set(path, tmp_path / "news")
    # per_source 0: no background, only the four named articles, outlets by name.
    assert [(a[2], a[3], a[4]) for a in dataset.articles] == [
        ("سبق", "https://n.test/1", "2015-07-23T19:21:00"),
        ("الوئام", "https://n.test/2", "2015-07-23T17:25:00"),
        ("الرياض", "https://n.test/3", "2015-08-02T10:00:00"),
        ("سبق", "https://n.test/4", "2015-08-02T11:00:00"),
    ]
    assert [(q.id, q.kind, len(q.versions)) for q in dataset.questions] == [
        ("d-1", "differ", 2),
        ("a-1", "agree", 1),
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"corpus": {"days": ["1999-01-01.zip"], "per_source": 0, "min_chars": 0}}, "not found"),
        (
            {"questions": [{"id": "x", "kind": "maybe", "question": "س", "versions": []}]},
            "unknown kind 'maybe'",
        ),
        (
            {
                "questions": [
                    {
                        "id": "x",
                        "kind": "differ",
                        "question": "س",
                        "versions": [{"answers": ["1"], "urls": ["https://n.test/1"]}],
                    }
                ]
            },
            "differ needs two versions",
        ),
        (
            {
                "questions": [
                    {
                        "id": "x",
                        "kind": "agree",
                        "question": "س",
                        "versions": [{"answers": ["1"], "urls": ["https://n.test/none"]}],
                    }
                ]
            },
            "1 named articles not found",
        ),
    ],
)
def test_bad_question_files_are_refused_with_the_reason(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    write_day(tmp_path / "news")
    with pytest.raises(NewsSetError, match=message):
        load_corroboration_set(question_file(tmp_path / "q.json", **change), tmp_path / "news")


def test_eval_command_prints_the_corroboration_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ISNAD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ISNAD_EMBEDDING_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ISNAD_ANSWER_THRESHOLD", "-1")
    monkeypatch.setattr(cli, "load_embedder", lambda settings: HashingEmbedder(256))
    write_day(tmp_path / "news")
    path = question_file(tmp_path / "q.json")
    argv = ["eval", str(path), "--news-dir", str(tmp_path / "news"), "--json"]
    assert cli.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["articles"] == 4 and out["questions"] == 2
    assert (out["agree_questions"], out["differ_questions"]) == (1, 1)
    # The toll question shows both versions; the agreed count is credited to both outlets
    # (the reprint in سبق counts as واس) and is not called differing.
    assert out["both_versions_shown"] == 1.0 and out["false_differ"] == 0.0
    assert out["several_outlets_questions"] == 2 and out["several_outlets_cited"] == 1.0
    assert out["answered_right"] == 1.0
    assert not (tmp_path / "data").exists()  # the bot's database is never touched
    # Without --json: one line per question, then the figures.
    assert cli.main(argv[:-1]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ok  d-1 differ: outlets 2/2, versions 2, differ True"
    assert lines[1] == "ok  a-1 agree: outlets 2/2, versions 0, differ False"
    assert lines[2].startswith("q.json: questions 2, ")
    # A missing news folder is one clear line and exit status 1.
    assert cli.main(["eval", str(path), "--news-dir", str(tmp_path / "none")]) == 1
    assert "not found: pass --news-dir" in capsys.readouterr().err
