"""Measure corroboration and differing reports on real news days.

A question file (format `isnad-news-corroboration-1`) names the days, how many
articles of each outlet to take from each as background, and questions of two
kinds: `agree` (every outlet that reports the fact gives the same answer; the
file lists those articles) and `differ` (outlets give different figures; the
file lists each version's figure and the articles that give it). The articles
named by the questions join the background; nothing of theirs is shipped.

Figures: answered right (the answer quotes an expected figure or span), two or
more outlets cited where two or more report it, both versions shown (two of the
expected figures among the answer's versions) and false "reports differ" (any
versions on an `agree` question).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.answer import AnswerConfig
from retrieval.arabic import normalize
from retrieval.embedding import Embedder, Progress
from retrieval.engine import SearchConfig
from retrieval.evaluation import EvalSet, build_corpus, clean_question, throwaway_engine
from retrieval.models import Answer, AnswerSentence
from retrieval.newsdays import OUTLETS, NewsSetError, pick_articles, read_day
from retrieval.outlets import credited_agency

FORMAT = "isnad-news-corroboration-1"


@dataclass(frozen=True)
class CorroborationQuestion:
    """A question, the answers expected, and the articles that report each."""

    id: str
    kind: str  # "agree" or "differ"
    text: str
    # For agree: one entry (the answers, the urls). For differ: one per version.
    versions: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]


@dataclass(frozen=True)
class CorroborationSet:
    """Articles (title, body, outlet, url, published) and the questions asked on them."""

    name: str
    articles: tuple[tuple[str, str, str, str, str], ...]
    questions: tuple[CorroborationQuestion, ...]


@dataclass(frozen=True)
class CorroborationResult:
    """What the engine made of one question."""

    question: CorroborationQuestion
    right: bool
    outlets_expected: int
    outlets_cited: int
    versions_shown: int
    differ_said: bool
    answer: Answer = field(repr=False)


def is_corroboration_set(path: Path) -> bool:
    """Tell whether a JSON file is a corroboration question set."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(raw, dict) and raw.get("version") == FORMAT


def load_corroboration_set(path: Path, news_dir: Path) -> CorroborationSet:
    """Read a question file and the articles of the days it names."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("version") != FORMAT:
        raise NewsSetError(f"{path} is not a {FORMAT} file")
    corpus = raw["corpus"]
    wanted = {u for q in raw["questions"] for v in q["versions"] for u in v["urls"]}
    articles: dict[str, tuple[str, str, str, str, str]] = {}
    for day in corpus["days"]:
        zip_path = news_dir / str(day)
        if not zip_path.is_file():
            raise NewsSetError(f"news day {zip_path} not found: pass --news-dir")
        every = read_day(zip_path)
        picked = pick_articles(every, int(corpus["per_source"]), int(corpus["min_chars"]))
        picked += [a for a in every if str(a.get("url")) in wanted]
        for a in picked:
            url = str(a["url"])
            articles.setdefault(
                url,
                (
                    str(a.get("title") or ""),
                    str(a["content"]),
                    OUTLETS.get(str(a.get("source")), str(a.get("source", ""))),
                    url,
                    str(a.get("date_extracted", "")).replace(" ", "T"),
                ),
            )
    missing = wanted - set(articles)
    if missing:
        raise NewsSetError(f"{path}: {len(missing)} named articles not found, e.g. {min(missing)}")
    questions = []
    for q in raw["questions"]:
        if q["kind"] not in ("agree", "differ"):
            raise NewsSetError(f"{path}: question {q.get('id')} has unknown kind {q['kind']!r}")
        versions = tuple(
            (tuple(str(x) for x in v["answers"]), tuple(str(u) for u in v["urls"]))
            for v in q["versions"]
        )
        if (q["kind"] == "differ") != (len(versions) > 1):
            raise NewsSetError(f"{path}: question {q['id']}: differ needs two versions or more")
        questions.append(
            CorroborationQuestion(str(q["id"]), q["kind"], clean_question(q["question"]), versions)
        )
    return CorroborationSet(path.name, tuple(articles.values()), tuple(questions))


def _folded(text: str) -> str:
    return " ".join(normalize(text).split())


def _holds(text: str, answers: Sequence[str]) -> bool:
    """Tell whether text holds one of the answers as whole words."""
    folded = _folded(text)
    return any(
        re.search(rf"(?<![\w.]){re.escape(_folded(a))}(?![\w])", folded) for a in answers if a
    )


def score(
    q: CorroborationQuestion, answer: Answer, outlet_of: dict[str, str]
) -> CorroborationResult:
    """Judge one answer against the question's expectations."""
    quoted: list[AnswerSentence] = list(answer.sentences) + [v.sentence for v in answer.versions]
    answers = [a for expected, _ in q.versions for a in expected]
    right = answer.answered and any(_holds(s.text, answers) for s in quoted)
    # Outlets cited for the expected fact: those of the quotes that hold it.
    outlets: set[str] = set()
    for s in quoted:
        if _holds(s.text, answers):
            outlets |= set(s.outlets)
    expected = len({outlet_of[u] for _, urls in q.versions for u in urls})
    shown = sum(
        any(_holds(v.sentence.text, expected_answers) for v in answer.versions)
        for expected_answers, _ in q.versions
    )
    return CorroborationResult(
        q, right, expected, len(outlets), shown, bool(answer.versions), answer
    )


def figures(results: Sequence[CorroborationResult]) -> dict[str, float]:
    """Return the evaluation's figures."""
    agree = [r for r in results if r.question.kind == "agree"]
    differ = [r for r in results if r.question.kind == "differ"]
    several = [r for r in results if r.outlets_expected >= 2 and r.right]

    def share(xs: Sequence[bool]) -> float:
        return sum(xs) / len(xs) if xs else 0.0

    return {
        "questions": len(results),
        "agree_questions": len(agree),
        "differ_questions": len(differ),
        "answered_right": share([r.right for r in results]),
        "several_outlets_questions": len(several),
        "several_outlets_cited": share([r.outlets_cited >= 2 for r in several]),
        "both_versions_shown": share([r.versions_shown >= 2 for r in differ]),
        "false_differ": share([r.differ_said for r in agree]),
    }


async def evaluate_corroboration(
    dataset: CorroborationSet,
    embedder: Embedder,
    *,
    chunk_tokens: int = 200,
    chunk_overlap: int = 1,
    search: SearchConfig | None = None,
    answer: AnswerConfig | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, float], list[CorroborationResult]]:
    """Build a throwaway corpus from the days, ask every question, return figures."""
    start = time.perf_counter()
    as_set = EvalSet(
        dataset.name,
        tuple((t, b) for t, b, _, _, _ in dataset.articles),
        (),
        tuple((o, u, p) for _, _, o, u, p in dataset.articles),
    )
    outlet_of = {u: credited_agency(b) or o for _, b, o, u, _ in dataset.articles}
    results = []
    async with throwaway_engine(
        embedder,
        chunk_tokens=chunk_tokens,
        chunk_overlap=chunk_overlap,
        search=search,
        answer=answer,
    ) as engine:
        await build_corpus(engine, as_set, progress)
        as_of = as_set.asked_at()  # asked on the last day of the reports
        for q in dataset.questions:
            results.append(score(q, await engine.ask(q.text, as_of=as_of), outlet_of))
    out = figures(results)
    out["articles"] = len(dataset.articles)
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out, results


def result_line(r: CorroborationResult) -> str:
    """Return one question's outcome on a line, for reading the failures."""
    mark = "ok " if r.right else "BAD"
    return (
        f"{mark} {r.question.id} {r.question.kind}: outlets {r.outlets_cited}/"
        f"{r.outlets_expected}, versions {r.versions_shown}, differ {r.differ_said}"
    )
