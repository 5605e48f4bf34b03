"""`isnad ask --as-of`: time words read at a given moment, dates in the JSON, bad values."""

import json
from pathlib import Path

import pytest

import bot.cli as cli


def _article(folder: Path, name: str, published: str, figure: int) -> None:
    (folder / f"{name}.txt").write_text(
        f"title: إصابات كورونا في الرياض {figure}\nsource: واس\npublished: {published}\n---\n"
        f"أعلنت وزارة الصحة تسجيل {figure} إصابات جديدة بفيروس كورونا في مدينة الرياض."
        " وقالت الوزارة إن المرضى يتلقون العلاج في المستشفيات.\n",
        "utf-8",
    )


def test_ask_as_of_restricts_to_the_window_and_dates_sources(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    news = env / "news"
    news.mkdir()
    _article(news, "old", "2015-07-22T10:00:00", 3)
    _article(news, "new", "2015-08-02T22:40:00", 7)
    (news / "undated.txt").write_text(
        "title: بلا تاريخ\n---\nخبر عن الطقس الحار في المنطقة الشرقية اليوم.\n", "utf-8"
    )
    assert cli.main(["ingest", str(news)]) == 0
    capsys.readouterr()
    question = "كم عدد إصابات كورونا في الرياض أمس؟"
    assert cli.main(["ask", "--json", "--as-of", "2015-08-03T21:00", question]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert [(s["published"], s["dated_at_ingest"]) for s in obj["sources"]] == [
        ("2015-08-02T22:40:00", False)
    ]
    assert obj["time"] == {
        "kind": "window",
        "phrases": ["أمس"],
        "as_of": "2015-08-03T21:00",
        "start": "2015-08-02T00:00",
        "end": "2015-08-03T00:00",
        "in_window": True,
        "elsewhere": False,
    }
    # A day alone is asked at its end; the week before holds nothing.
    assert cli.main(["ask", "--as-of", "2015-08-03", "ما أخبار كورونا الأسبوع الماضي؟"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "لا أجد في الأخبار المتوفرة لديّ عن هذا الموضوع خبراً نُشر بين 2015-07-26 و 2015-08-01."
    )
    assert "[1] إصابات كورونا في الرياض 7 - واس - 2015-08-02" in out
    # The undated article is dated with its ingest time, and says so.
    assert cli.main(["ask", "--json", "الطقس الحار في المنطقة الشرقية"]) == 0
    source = json.loads(capsys.readouterr().out)["sources"][0]
    assert source["title"] == "بلا تاريخ" and source["dated_at_ingest"] is True


@pytest.mark.parametrize("value", ["2015-13-45", "yesterday", "2015-08-03 21:00", "03/08/2015"])
def test_bad_as_of_is_one_line(env: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    assert cli.main(["ask", "--as-of", value, "سؤال"]) == 1
    assert capsys.readouterr().err == (
        f"isnad: bad --as-of: as-of {value!r} is not YYYY-MM-DD or YYYY-MM-DDTHH:MM\n"
    )


def test_bad_as_of_setting_is_one_line(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ISNAD_AS_OF", "soon")
    assert cli.main(["stats"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("isnad: bad setting ISNAD_AS_OF: ") and err.count("\n") == 1
    monkeypatch.delenv("ISNAD_AS_OF")
    monkeypatch.setenv("ISNAD_TIME_ZONE", "Mars/Olympus")
    assert cli.main(["stats"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("isnad: bad setting ISNAD_TIME_ZONE: ") and "Asia/Riyadh" in err
