"""The `isnad` command line: exit codes, error lines and the JSON shape."""

import io
import json
from datetime import datetime
from pathlib import Path

import pytest

import bot.cli as cli


def test_ask_without_corpus_is_one_line(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ask", "سؤال"]) == 1
    err = capsys.readouterr().err
    assert err == f"isnad: no corpus at {env / 'data' / 'isnad.db'}: run `isnad setup` first\n"


def test_bad_setting_is_one_line(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ISNAD_TOP_K", "many")
    assert cli.main(["stats"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("isnad: bad setting ISNAD_TOP_K: ") and err.count("\n") == 1


def test_model_verify_fails_on_empty_dir(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["model", "verify"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("isnad: model does not verify: ") and err.count("\n") == 1


def test_ingest_missing_path(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ingest", "nowhere"]) == 1
    assert capsys.readouterr().err == "isnad: no such file or folder: nowhere\n"


def test_setup_then_ask_json(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["setup"]) == 0
    assert "1 articles added" in capsys.readouterr().err
    # A second setup does no work: the seeds are already in.
    assert cli.main(["setup"]) == 0
    assert "up to date" in capsys.readouterr().err

    monkeypatch.setattr("sys.stdin", io.StringIO("روسيا تركيا إدلب\n\nحميميم\n"))
    assert cli.main(["ask", "--json", "-"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for line, question in zip(lines, ["روسيا تركيا إدلب", "حميميم"], strict=True):
        obj = json.loads(line)
        assert list(obj) == [
            "question",
            "answered",
            "stated",
            "outcome",
            "decision",
            "answer",
            "sentences",
            "reports_differ",
            "versions",
            "sources",
            "passages",
            "time",
            "ms",
        ]
        assert obj["question"] == question and obj["answered"] is True
        assert obj["stated"] is True and obj["outcome"] == "answered"
        assert set(obj["decision"]) == {"answer_score", "topic_score", "features"}
        assert obj["sentences"] and all(
            set(s) == {"text", "citation", "citations", "outlets"} for s in obj["sentences"]
        )
        # One seed article from one outlet: every quote is that outlet's alone, no versions.
        assert all(s["outlets"] == ["مدونة هادي العبد الله"] for s in obj["sentences"])
        assert obj["reports_differ"] is False and obj["versions"] == []
        assert obj["sources"][0]["title"] == "روسيا ترفض طلب تركي بخصوص مدينة إدلب وتركيا ترد"
        assert set(obj["sources"][0]) == {
            "n",
            "article_id",
            "title",
            "source",
            "outlet",
            "published",
            "dated_at_ingest",
            "url",
            "story",
        }
        assert isinstance(obj["sources"][0]["story"], int)
        # The seed states no date: it is dated with its ingest time, and says so.
        assert obj["sources"][0]["dated_at_ingest"] is True
        assert datetime.fromisoformat(obj["sources"][0]["published"]).year >= 2025
        assert obj["time"] is None  # no time words
        assert set(obj["passages"][0]) == {"chunk_id", "article_id", "text", "score"}
        assert isinstance(obj["ms"], float)

    assert cli.main(["stats"]) == 0
    out = capsys.readouterr().out
    assert "articles: 1\n" in out and "source: مدونة هادي العبد الله: 1" in out
    assert "stories: 1\n" in out


def test_setup_re_embeds_a_corpus_of_another_model(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["setup"]) == 0
    capsys.readouterr()
    # The configured backend now names another model: setup embeds the corpus again.
    monkeypatch.setattr(cli, "embedder_name", lambda settings: "another-model")
    assert cli.main(["setup"]) == 0
    err = capsys.readouterr().err
    assert "setup: re-embedded " in err and "with hashing-64" in err
