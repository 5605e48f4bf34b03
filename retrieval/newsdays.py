"""Question sets over real news days: our own questions on articles read from a day's zip.

The articles are not ours to ship, so a question file names the day and how to
pick its articles; the day's zip (SaudiNewsNet format: a JSON array of articles
with source, url, date_extracted, title, content) is read from a folder given
at run time. Questions come in three kinds: answerable (with the article that
answers and gold spans quoted from it), unstated (on a story the articles tell,
asking what none of them states) and offtopic.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from retrieval.evaluation import EvalQuestion, EvalSet, Kind, clean_question

FORMAT = "isnad-news-questions-1"
KINDS: tuple[Kind, ...] = ("answerable", "unstated", "offtopic")

# SaudiNewsNet's outlet ids and the names readers know them by.
OUTLETS = {
    "aawsat": "الشرق الأوسط",
    "aleqtisadiya": "الاقتصادية",
    "aljazirah": "الجزيرة",
    "almadina": "المدينة",
    "alriyadh": "الرياض",
    "alwatan": "الوطن",
    "alweeam": "الوئام",
    "alyaum": "اليوم",
    "arreyadi": "الرياضي",
    "okaz": "عكاظ",
    "sabq": "سبق",
    "3alyoum": "عين اليوم",
    "was": "واس",
}


class NewsSetError(ValueError):
    """A question file or news day that cannot be read; the message says which and why."""


def is_news_questions(path: Path) -> bool:
    """Tell whether a JSON file is a news question set rather than SQuAD."""
    try:
        with path.open(encoding="utf-8") as fh:
            raw = json.load(fh)
    except (OSError, ValueError):
        return False
    return isinstance(raw, dict) and raw.get("version") == FORMAT


def read_day(zip_path: Path) -> list[dict[str, str]]:
    """Return the articles of one day's zip."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            names = [n for n in zf.namelist() if n.endswith(".json")]
            if len(names) != 1:
                raise NewsSetError(f"{zip_path} should hold one JSON file, not {len(names)}")
            articles = json.loads(zf.read(names[0]).decode("utf-8"))
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise NewsSetError(f"cannot read news day {zip_path}: {exc}") from exc
    if not isinstance(articles, list):
        raise NewsSetError(f"{zip_path}: expected a JSON array of articles")
    return articles


def pick_articles(
    articles: list[dict[str, str]], per_source: int, min_chars: int
) -> list[dict[str, str]]:
    """Keep, in file order, at most per_source articles of each outlet with enough text."""
    kept: list[dict[str, str]] = []
    count: dict[str, int] = {}
    for article in articles:
        if len(str(article.get("content", "")).strip()) < min_chars:
            continue
        source = str(article.get("source", ""))
        if count.get(source, 0) >= per_source:
            continue
        count[source] = count.get(source, 0) + 1
        kept.append(article)
    return kept


def load_news_questions(path: Path, news_dir: Path) -> EvalSet:
    """Read a question file and the articles of the day it names."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("version") != FORMAT:
        raise NewsSetError(f"{path} is not a {FORMAT} file")
    corpus = raw["corpus"]
    day = news_dir / str(corpus["day"])
    if not day.is_file():
        raise NewsSetError(f"news day {day} not found: pass --news-dir")
    articles = pick_articles(
        read_day(day), int(corpus.get("per_source", 10**9)), int(corpus.get("min_chars", 0))
    )
    by_url = {str(a["url"]): n for n, a in enumerate(articles)}
    questions = []
    for item in raw["questions"]:
        kind = item["kind"]
        if kind not in KINDS:
            raise NewsSetError(f"{path}: question {item.get('id')} has unknown kind {kind!r}")
        paragraph = None
        answers: tuple[str, ...] = ()
        if kind == "answerable":
            url = str(item["url"])
            if url not in by_url:
                raise NewsSetError(f"{path}: question {item['id']} names an article not in {day}")
            paragraph = by_url[url]
            answers = tuple(str(a) for a in item["answers"])
        questions.append(
            EvalQuestion(
                str(item["id"]), clean_question(str(item["question"])), paragraph, answers, kind
            )
        )
    return EvalSet(
        name=path.name,
        paragraphs=tuple((str(a.get("title") or ""), str(a["content"])) for a in articles),
        questions=tuple(questions),
        origins=tuple(
            (
                OUTLETS.get(str(a.get("source")), str(a.get("source", ""))),
                str(a.get("url", "")),
                str(a.get("date_extracted", "")).replace(" ", "T"),
            )
            for a in articles
        ),
    )
