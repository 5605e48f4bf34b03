"""Time questions over several real news days: does the quoted article fall in the asked window?

A question file names the days (read from their zips at run time, as in
retrieval.newsdays), and per question the moment it is asked and the window
[start, end) its time words mean. Every question goes through the engine's own
`ask(as_of=...)`; it counts as in its window when the answer quotes sentences and
every quoted article was published in the labelled window (for "latest"
questions, the lead quote's: the newest report comes first), or, for a window the
corpus has nothing in ("expect": "empty"), when the reply says so. The same
questions without their time words give the baseline.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from retrieval.embedding import Embedder, Progress
from retrieval.engine import Engine, SearchConfig
from retrieval.evaluation import EvalSet, build_corpus, throwaway_engine
from retrieval.models import Answer
from retrieval.newsdays import OUTLETS, NewsSetError, pick_articles, read_day
from retrieval.timewords import TimeReading, in_window, read_time

FORMAT = "isnad-time-questions-1"
Expect = Literal["window", "empty", "latest"]


@dataclass(frozen=True)
class TimeQuestion:
    """A question asked at a moment, and the window its time words mean."""

    id: str
    text: str
    as_of: datetime
    start: datetime
    end: datetime
    expect: Expect = "window"


@dataclass(frozen=True)
class TimeSet:
    """The articles of the named days and the time questions asked on them."""

    name: str
    corpus: EvalSet
    questions: tuple[TimeQuestion, ...]


@dataclass(frozen=True)
class TimeResult:
    """What one question got: whether the reader read the labelled window, and whether
    the quoted articles (or the "nothing then" reply) keep to it, with and without time."""

    question: TimeQuestion
    read_right: bool
    in_window: bool
    baseline_in_window: bool
    every_quote_in_window: bool
    outcome: str
    quoted: tuple[str, ...] = field(default_factory=tuple)  # published of quoted articles


def is_time_questions(path: Path) -> bool:
    """Tell whether a JSON file is a time question set."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(raw, dict) and raw.get("version") == FORMAT


def _moment(value: str, path: Path, qid: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise NewsSetError(f"{path}: question {qid} has a bad time {value!r}") from exc


def load_time_questions(path: Path, news_dir: Path) -> TimeSet:
    """Read a time question file and the articles of the days it names."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("version") != FORMAT:
        raise NewsSetError(f"{path} is not a {FORMAT} file")
    corpus = raw["corpus"]
    articles: list[dict[str, str]] = []
    for day in corpus["days"]:
        zip_path = news_dir / str(day)
        if not zip_path.is_file():
            raise NewsSetError(f"news day {zip_path} not found: pass --news-dir")
        articles += pick_articles(
            read_day(zip_path), int(corpus["per_source"]), int(corpus.get("min_chars", 0))
        )
    questions = []
    for item in raw["questions"]:
        qid = str(item["id"])
        start, end = item["window"]
        expect = item.get("expect", "window")
        if expect not in ("window", "empty", "latest"):
            raise NewsSetError(f"{path}: question {qid} has unknown expect {expect!r}")
        questions.append(
            TimeQuestion(
                qid,
                str(item["question"]),
                _moment(item["as_of"], path, qid),
                _moment(start, path, qid),
                _moment(end, path, qid),
                expect,
            )
        )
    dataset = EvalSet(
        name=path.name,
        paragraphs=tuple((str(a.get("title") or ""), str(a["content"])) for a in articles),
        questions=(),
        origins=tuple(
            (
                OUTLETS.get(str(a.get("source")), str(a.get("source", ""))),
                str(a.get("url", "")),
                str(a.get("date_extracted", "")).replace(" ", "T"),
            )
            for a in articles
        ),
    )
    return TimeSet(path.name, dataset, tuple(questions))


def _window(q: TimeQuestion) -> TimeReading:
    return TimeReading("window", q.text, q.start, q.end)


def keeps_to(answer: Answer, q: TimeQuestion, every_quote: bool = False) -> bool:
    """Tell whether an answer keeps to the question's window (see the module doc).

    For a "latest" question the lead quote counts (the newest report comes first, the
    earlier ones follow with their dates), unless every_quote.
    """
    if q.expect == "empty":
        return answer.time is not None and not answer.time.in_window
    if not answer.sentences:
        return False
    lead = q.expect == "latest" and not every_quote
    quoted = {answer.sentences[0].citation} if lead else {s.citation for s in answer.sentences}
    return all(
        in_window(c.published, _window(q), q.as_of) for c in answer.citations if c.n in quoted
    )


def read_right(q: TimeQuestion) -> bool:
    """Tell whether the reader gives the labelled window (or "latest")."""
    reading = read_time(q.text, q.as_of)
    if q.expect == "latest":
        return reading.kind == "latest"
    return reading.kind == "window" and (reading.start, reading.end) == (q.start, q.end)


async def run_time_questions(engine: Engine, dataset: TimeSet) -> list[TimeResult]:
    """Ask every question at its moment, and once more without its time words."""
    out = []
    for q in dataset.questions:
        answer = await engine.ask(q.text, as_of=q.as_of)
        rest = read_time(q.text, q.as_of).rest
        plain = await engine.ask(rest, as_of=q.as_of) if rest.strip(" ؟?") else answer
        quoted = {s.citation for s in answer.sentences}
        out.append(
            TimeResult(
                q,
                read_right(q),
                keeps_to(answer, q),
                keeps_to(plain, q) if q.expect != "empty" else False,
                keeps_to(answer, q, every_quote=True),
                answer.outcome if answer.time is None or answer.time.in_window else "nothing_then",
                tuple(c.published for c in answer.citations if c.n in quoted),
            )
        )
    return out


def summarise_time(results: list[TimeResult]) -> dict[str, float]:
    """Return the shares the time questions are judged by."""
    n = len(results)
    if not n:
        return {"questions": 0}
    return {
        "questions": n,
        "in_window": sum(r.in_window for r in results) / n,
        "every_quote_in_window": sum(r.every_quote_in_window for r in results) / n,
        "read_right": sum(r.read_right for r in results) / n,
        "baseline_in_window": sum(r.baseline_in_window for r in results) / n,
        "answered": sum(r.outcome == "answered" for r in results) / n,
    }


async def evaluate_time(
    dataset: TimeSet,
    embedder: Embedder,
    *,
    chunk_tokens: int = 200,
    chunk_overlap: int = 1,
    search: SearchConfig | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, float], list[TimeResult], float]:
    """Build a throwaway corpus of the days, ask every question; return figures, results
    and seconds."""
    started = time.perf_counter()
    async with throwaway_engine(
        embedder, chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap, search=search
    ) as engine:
        await build_corpus(engine, dataset.corpus, progress)
        results = await run_time_questions(engine, dataset)
    return summarise_time(results), results, time.perf_counter() - started
