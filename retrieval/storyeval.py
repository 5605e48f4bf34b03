"""Story assignment measured on labelled article pairs from real news days.

A pairs file names news days (SaudiNewsNet zips, read from a folder given at run
time), article pairs by URL with a label (same story or not) and a short note,
and how many other articles of those days to ingest beside them, so that the
window holds a realistic crowd. The articles are ingested in publication order
and the stories they get are compared with the labels, pair by pair.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from retrieval.models import ArticleDraft
from retrieval.newsdays import OUTLETS, NewsSetError, read_day

FORMAT = "isnad-story-pairs-1"


class StoryPairsError(ValueError):
    """A pairs file that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class StoryPair:
    """Two articles (by URL) and whether they tell one story."""

    a: str
    b: str
    same: bool
    note: str


@dataclass(frozen=True)
class StoryPairSet:
    """The labelled pairs and the drafts to ingest, in publication order."""

    pairs: tuple[StoryPair, ...]
    drafts: tuple[ArticleDraft, ...]


@dataclass(frozen=True)
class StoryReport:
    """Pairwise agreement of assigned stories with the labels."""

    pairs: int
    true_pos: int
    false_pos: int
    false_neg: int
    true_neg: int
    articles: int
    stories: int
    copies: int
    misses: tuple[tuple[StoryPair, bool], ...]  # (pair, assigned same) where it disagrees

    @property
    def precision(self) -> float:
        """Share of pairs put in one story that are labelled one story."""
        judged = self.true_pos + self.false_pos
        return self.true_pos / judged if judged else 1.0

    @property
    def recall(self) -> float:
        """Share of pairs labelled one story that were put in one story."""
        labelled = self.true_pos + self.false_neg
        return self.true_pos / labelled if labelled else 1.0


def _draft(item: dict[str, str]) -> ArticleDraft:
    return ArticleDraft(
        title=str(item.get("title") or "").strip(),
        body=str(item.get("content", "")),
        source=OUTLETS.get(str(item.get("source")), str(item.get("source", ""))),
        url=str(item.get("url", "")),
        published=str(item.get("date_extracted", "")).replace(" ", "T"),
        author=str(item.get("author") or ""),
    )


def load_story_pairs(path: Path, news_dir: Path, others: int | None = None) -> StoryPairSet:
    """Read a pairs file and pick the drafts to ingest from the days it names; others
    overrides the file's number of other articles."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StoryPairsError(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise StoryPairsError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise StoryPairsError(f"{path} is not a {FORMAT} file")
    try:
        days = [str(d) for d in raw["days"]]
        others = int(raw.get("others", 0)) if others is None else others
        min_chars = int(raw.get("min_chars", 0))
        pairs = tuple(
            StoryPair(str(p["a"]), str(p["b"]), bool(p["same"]), str(p.get("note", "")))
            for p in raw["pairs"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StoryPairsError(f"{path}: a field is missing or of the wrong kind ({exc})") from exc
    if not pairs:
        raise StoryPairsError(f"{path} holds no pairs")
    articles: dict[str, dict[str, str]] = {}
    for day in days:
        zip_path = news_dir / day
        if not zip_path.is_file():
            raise StoryPairsError(f"news day {zip_path} not found: pass --news-dir")
        try:
            for item in read_day(zip_path):
                articles.setdefault(str(item.get("url", "")), item)
        except NewsSetError as exc:
            raise StoryPairsError(str(exc)) from exc
    wanted = {u for p in pairs for u in (p.a, p.b)}
    missing = sorted(wanted - articles.keys())
    if missing:
        raise StoryPairsError(
            f"{path}: {len(missing)} articles not in the days, first {missing[0]}"
        )
    # The others: every n-th article with enough text, spread over the days.
    rest = [
        u
        for u, a in articles.items()
        if u not in wanted and len(str(a.get("content", "")).strip()) >= min_chars
    ]
    step = max(1, len(rest) // others) if others else 0
    chosen = wanted | (set(rest[::step][:others]) if step else set())
    drafts = sorted((_draft(articles[u]) for u in chosen), key=lambda d: (d.published, d.url))
    return StoryPairSet(pairs, tuple(drafts))


def score_stories(
    pairs: tuple[StoryPair, ...],
    story_of: dict[str, int],
    *,
    articles: int = 0,
    copies: int = 0,
) -> StoryReport:
    """Compare assigned stories (by URL) with the labels."""
    tp = fp = fn = tn = 0
    misses: list[tuple[StoryPair, bool]] = []
    for pair in pairs:
        a, b = story_of.get(pair.a), story_of.get(pair.b)
        together = a is not None and a == b
        if together and pair.same:
            tp += 1
        elif together:
            fp += 1
        elif pair.same:
            fn += 1
        else:
            tn += 1
        if together != pair.same:
            misses.append((pair, together))
    return StoryReport(
        len(pairs), tp, fp, fn, tn, articles, len(set(story_of.values())), copies, tuple(misses)
    )


def report_lines(report: StoryReport) -> list[str]:
    """Lay the report out as lines of text, misjudged pairs last."""
    joined = report.true_pos + report.false_pos
    labelled = report.true_pos + report.false_neg
    lines = [
        f"pairs: {report.pairs} (same story: {labelled})",
        f"precision: {report.precision:.3f} ({report.true_pos}/{joined})",
        f"recall: {report.recall:.3f} ({report.true_pos}/{labelled})",
        f"articles: {report.articles}  stories: {report.stories}  copies: {report.copies}",
    ]
    for pair, together in report.misses:
        verdict = "joined" if together else "apart"
        lines.append(f"  {verdict}: {pair.note} ({pair.a} {pair.b})")
    return lines
