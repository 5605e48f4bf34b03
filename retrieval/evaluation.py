"""Measure retrieval and answers on SQuAD-format question sets.

A set's unique paragraphs become the articles of a throwaway corpus (a real store
and engine in a temporary folder, never the bot's database); every question then
goes through the engine's own search and answer code.

The news-domain check uses the same format with one extension taken from SQuAD
2.0: a question with `"is_impossible": true` (or no answers) has no gold passage
and must be refused; such questions count only towards `refused_rate`.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from retrieval.answer import AnswerConfig
from retrieval.answerability import AnswerabilityModel
from retrieval.arabic import normalize
from retrieval.embedding import Embedder, Progress
from retrieval.engine import Engine, SearchConfig, SearchMode
from retrieval.identity import content_hash
from retrieval.index import IndexConfig
from retrieval.models import Answer, ArticleDraft, Hit
from retrieval.store import CorpusStore

SYSTEMS: tuple[SearchMode, ...] = ("lexical", "dense", "hybrid")
RECALL_AT = (1, 5, 20)
# Chunks fetched per question and system: enough distinct articles for recall@20.
RANK_DEPTH = 100
OUTCOMES = ("answered", "not_stated", "declined")


# What the right outcome of a question is: answerable (quote the gold answer);
# unstated (the corpus speaks of its subject but does not say); offtopic (decline).
Kind = Literal["answerable", "unstated", "offtopic"]


@dataclass(frozen=True)
class EvalQuestion:
    """A question, the paragraph it was asked on (None: unanswerable) and gold answers."""

    id: str
    text: str
    paragraph: int | None
    answers: tuple[str, ...]
    kind: Kind = "answerable"


@dataclass(frozen=True)
class EvalSet:
    """Unique paragraphs as (title, context) and the questions asked on them."""

    name: str
    paragraphs: tuple[tuple[str, str], ...]
    questions: tuple[EvalQuestion, ...]
    # Per paragraph (source, url, published) when the set has them (news days).
    origins: tuple[tuple[str, str, str], ...] = ()

    def asked_at(self) -> datetime | None:
        """Return the moment a news set's questions are asked: its newest report's
        publication (time words read against it); None for a set without dates."""
        dates = []
        for _, _, published in self.origins:
            try:
                dates.append(datetime.fromisoformat(published.strip().replace(" ", "T", 1)))
            except ValueError:
                continue
        return max(dates) if dates else None

    @property
    def answerable(self) -> list[EvalQuestion]:
        """Return the questions that have a gold paragraph."""
        return [q for q in self.questions if q.paragraph is not None]


def clean_question(text: str) -> str:
    """Strip the stray spaces and leading dashes some sets carry (" - من هو ...؟ ")."""
    return re.sub(r"\s+", " ", text).strip().lstrip("-–— ").strip()


def load_squad(path: Path, max_paragraphs: int | None = None) -> EvalSet:
    """Read a SQuAD-format file; identical contexts become one paragraph with all questions."""
    with path.open(encoding="utf-8") as fh:
        raw = json.load(fh)
    data = raw["data"] if isinstance(raw, dict) else raw
    slot: dict[str, int] = {}
    paragraphs: list[tuple[str, str]] = []
    questions: list[EvalQuestion] = []
    for entry in data:
        title = str(entry.get("title") or "").strip()
        for para in entry.get("paragraphs", []):
            context = str(para["context"])
            if context not in slot:
                if max_paragraphs is not None and len(paragraphs) >= max_paragraphs:
                    continue
                slot[context] = len(paragraphs)
                paragraphs.append((title, context))
            for qa in para.get("qas", []):
                answers = tuple(
                    dict.fromkeys(str(a["text"]) for a in qa.get("answers", []) if a.get("text"))
                )
                answerable = bool(answers) and not qa.get("is_impossible", False)
                questions.append(
                    EvalQuestion(
                        id=str(qa.get("id", len(questions))),
                        text=clean_question(str(qa["question"])),
                        paragraph=slot[context] if answerable else None,
                        answers=answers if answerable else (),
                        kind="answerable" if answerable else "offtopic",
                    )
                )
    return EvalSet(path.name, tuple(paragraphs), tuple(q for q in questions if q.text))


# -- metrics (pure) -----------------------------------------------------------


def rank_of(ranking: Sequence[int], gold: int) -> int | None:
    """Return the 1-based rank of gold in ranking, or None when it is absent."""
    for n, item in enumerate(ranking, start=1):
        if item == gold:
            return n
    return None


def retrieval_metrics(rankings: Sequence[Sequence[int]], golds: Sequence[int]) -> dict[str, float]:
    """Return recall@1/5/20, mrr@10 and ndcg@10 of ranked ids against one gold id each.

    With one relevant item the ideal DCG is 1, so ndcg@10 is 1/log2(rank + 1).
    """
    if len(rankings) != len(golds):
        raise ValueError("one ranking per gold id is needed")
    n = len(golds)
    ranks = [rank_of(r, g) for r, g in zip(rankings, golds, strict=True)]
    out: dict[str, float] = {}
    for k in RECALL_AT:
        out[f"recall@{k}"] = sum(1 for r in ranks if r is not None and r <= k) / n if n else 0.0
    out["mrr@10"] = sum(1 / r for r in ranks if r is not None and r <= 10) / n if n else 0.0
    out["ndcg@10"] = (
        sum(1 / math.log2(r + 1) for r in ranks if r is not None and r <= 10) / n if n else 0.0
    )
    return out


def _folded(text: str) -> str:
    return " ".join(normalize(text).split())


def contains_answer(sentences: Iterable[str], answers: Iterable[str]) -> bool:
    """Tell whether the quoted sentences hold one of the gold answers, after normalisation."""
    quoted = _folded(" ".join(sentences))
    return any(a for a in (_folded(x) for x in answers) if a and a in quoted)


# -- running ------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionResult:
    """What happened to one question: article rankings per system and the answer."""

    question: EvalQuestion
    rankings: dict[str, tuple[int, ...]]
    answered: bool
    contained: bool
    confidence: float
    sentences: tuple[str, ...]
    outcome: str = "answered"
    features: dict[str, float] = field(default_factory=dict)
    # Asked with its gold paragraph(s) left out of the corpus: the right outcome is
    # "not stated" or a refusal.
    gold_removed: bool = False
    # The sentences the answer decision read, best first.
    texts: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvalReport:
    """Figures of one run, and the per-question results behind them."""

    dataset: str
    paragraphs: int
    questions: int
    systems: dict[str, dict[str, float]]
    answer: dict[str, float]
    seconds: float
    results: tuple[QuestionResult, ...] = field(default=(), repr=False)

    def to_json(self) -> dict[str, object]:
        """Return the object printed by `isnad eval --json`."""
        return {
            "dataset": self.dataset,
            "paragraphs": self.paragraphs,
            "questions": self.questions,
            "systems": {s: {k: round(v, 4) for k, v in m.items()} for s, m in self.systems.items()},
            "answer": {k: round(v, 4) for k, v in self.answer.items()},
            "seconds": round(self.seconds, 1),
        }


def article_ranking(hits: Sequence[Hit]) -> tuple[int, ...]:
    """Return article ids in the order of their best chunk."""
    return tuple(dict.fromkeys(h.article.id for h in hits))


async def build_corpus(
    engine: Engine, dataset: EvalSet, progress: Progress | None = None
) -> list[int]:
    """Ingest each paragraph as an article; return the article id of each paragraph."""
    origins = dataset.origins or ((dataset.name, "", ""),) * len(dataset.paragraphs)
    drafts = [
        ArticleDraft(
            title=title or f"{dataset.name} #{n + 1}",
            body=context,
            source=source,
            url=url,
            published=published,
        )
        for n, ((title, context), (source, url, published)) in enumerate(
            zip(dataset.paragraphs, origins, strict=True)
        )
    ]
    results = await engine.ingest(drafts, progress)
    by_hash = {content_hash(r.draft.body): r.article.id for r in results if r.article}
    ids: list[int] = []
    for r in results:
        if r.article is not None:
            ids.append(r.article.id)
        elif r.duplicate_of is not None:
            ids.append(r.duplicate_of)
        else:
            ids.append(by_hash.get(content_hash(r.draft.body), -1))
    return ids


def _result(
    q: EvalQuestion, answer: Answer, rankings: dict[str, tuple[int, ...]], removed: bool = False
) -> QuestionResult:
    # Differing reports of the asked count are quoted as versions, not as sentences.
    quoted = tuple(s.text for s in answer.sentences) + tuple(
        v.sentence.text for v in answer.versions
    )
    return QuestionResult(
        question=q,
        rankings=rankings,
        answered=answer.answered,
        contained=answer.answered and contains_answer(quoted, q.answers),
        confidence=answer.confidence,
        sentences=quoted,
        outcome=answer.outcome,
        features=answer.decision.evidence.to_dict() if answer.decision else {},
        gold_removed=removed,
        texts=answer.decision.texts if answer.decision else (),
    )


def removal_sets(dataset: EvalSet, article_ids: Sequence[int]) -> dict[str, frozenset[int]]:
    """Return, per answerable question, the articles its gold-removed run leaves out.

    They are its own paragraph and every paragraph that holds one of its gold answers
    as whole words ("20" is not found in "2015").
    """
    folded = [_folded(context) for _, context in dataset.paragraphs]
    out = {}
    for q in dataset.answerable:
        patterns = [
            re.compile(rf"(?<!\w){re.escape(a)}(?!\w)")
            for a in (_folded(x) for x in q.answers)
            if a
        ]
        hold = {n for n, text in enumerate(folded) if any(p.search(text) for p in patterns)}
        own = {q.paragraph} if q.paragraph is not None else set()
        out[q.id] = frozenset(article_ids[n] for n in hold | own)
    return out


async def run_questions(
    engine: Engine,
    dataset: EvalSet,
    article_ids: Sequence[int],
    systems: Sequence[SearchMode] = SYSTEMS,
    gold_removed: bool = False,
) -> list[QuestionResult]:
    """Run every question through search (per system) and the answer pipeline.

    With gold_removed, every answerable question is asked once more without the
    paragraphs that answer it.
    """
    results = []
    as_of = dataset.asked_at()
    for q in dataset.questions:
        rankings: dict[str, tuple[int, ...]] = {}
        if q.paragraph is not None:
            for system in systems:
                hits = await engine.search(q.text, RANK_DEPTH, mode=system)
                rankings[system] = article_ranking(hits)
        results.append(_result(q, await engine.ask(q.text, as_of=as_of), rankings))
    if gold_removed:
        for qid, hidden in removal_sets(dataset, article_ids).items():
            q = next(x for x in dataset.questions if x.id == qid)
            answer = await engine.ask(q.text, exclude=hidden, as_of=as_of)
            results.append(_result(q, answer, {}, True))
    return results


def summarise(
    dataset: EvalSet,
    article_ids: Sequence[int],
    results: Sequence[QuestionResult],
    systems: Sequence[str],
    seconds: float,
) -> EvalReport:
    """Turn per-question results into the report's figures."""
    everything = tuple(results)
    removed = [r for r in results if r.gold_removed]
    results = [r for r in results if not r.gold_removed]
    answerable = [r for r in results if r.question.paragraph is not None]
    golds = [
        article_ids[r.question.paragraph] for r in answerable if r.question.paragraph is not None
    ]
    figures = {s: retrieval_metrics([r.rankings[s] for r in answerable], golds) for s in systems}
    n = len(answerable)
    answer = {
        "containment": sum(r.contained for r in answerable) / n if n else 0.0,
        "answered_rate": sum(r.answered for r in answerable) / n if n else 0.0,
    }
    unanswerable = [r for r in results if r.question.paragraph is None]
    if unanswerable:
        answer["unanswerable"] = len(unanswerable)
        answer["refused_rate"] = sum(not r.answered for r in unanswerable) / len(unanswerable)
    answer.update(outcome_rates("", answerable))
    for kind in ("unstated", "offtopic"):
        answer.update(outcome_rates(kind + "_", [r for r in results if r.question.kind == kind]))
    answer.update(outcome_rates("gold_removed_", removed))
    return EvalReport(
        dataset=dataset.name,
        paragraphs=len(dataset.paragraphs),
        questions=len(results),
        systems=figures,
        answer=answer,
        seconds=seconds,
        results=everything,
    )


def outcome_rates(prefix: str, results: Sequence[QuestionResult]) -> dict[str, float]:
    """Return the share of each outcome among results (nothing when there are none)."""
    if not results:
        return {}
    n = len(results)
    out = {f"{prefix}{o}": sum(r.outcome == o for r in results) / n for o in OUTCOMES}
    out[f"{prefix}questions"] = n
    return out


@asynccontextmanager
async def throwaway_engine(
    embedder: Embedder, database_url: str = "", **options: Any
) -> AsyncIterator[Engine]:
    """Open an engine (Engine.open's options) on a new corpus in a temporary folder,
    never the bot's database; close and remove it after. With database_url, the corpus
    is that PostgreSQL database instead, which must be empty (to measure that backend)."""
    with tempfile.TemporaryDirectory(prefix="isnad-eval-") as tmp:
        store = await CorpusStore.open_location(database_url, Path(tmp) / "eval.db")
        try:
            if database_url and (await store.stats()).articles:
                raise ValueError("isnad eval needs an empty database: create a new one")
            yield await Engine.open(store, embedder, Path(tmp) / "index.faiss", **options)
        finally:
            await store.close()


async def evaluate(
    dataset: EvalSet,
    embedder: Embedder,
    *,
    systems: Sequence[SearchMode] = SYSTEMS,
    chunk_tokens: int = 200,
    chunk_overlap: int = 1,
    search: SearchConfig | None = None,
    answer: AnswerConfig | None = None,
    index: IndexConfig | None = None,
    progress: Progress | None = None,
    gold_removed: bool = False,
    answerability: AnswerabilityModel | None = None,
    database_url: str = "",
) -> EvalReport:
    """Build a throwaway corpus from the set, ask every question, and score the results.

    The corpus is an SQLite file in a temporary folder, or the empty PostgreSQL
    database at database_url (to measure that backend).
    """
    start = time.perf_counter()
    async with throwaway_engine(
        embedder,
        database_url,
        chunk_tokens=chunk_tokens,
        chunk_overlap=chunk_overlap,
        search=search,
        answer=answer,
        index_config=index,
        answerability=answerability,
    ) as engine:
        article_ids = await build_corpus(engine, dataset, progress)
        results = await run_questions(engine, dataset, article_ids, systems, gold_removed)
    return summarise(dataset, article_ids, results, systems, time.perf_counter() - start)


def report_table(report: EvalReport) -> str:
    """Lay out a report as an aligned plain-text table."""
    names = ["recall@1", "recall@5", "recall@20", "mrr@10", "ndcg@10"]
    lines = [
        f"{report.dataset}: {report.paragraphs} paragraphs, {report.questions} questions,"
        f" {report.seconds:.1f} s",
        f"{'system':<8} " + " ".join(f"{n:>9}" for n in names),
    ]
    for system, figures in report.systems.items():
        lines.append(f"{system:<8} " + " ".join(f"{figures[n]:>9.3f}" for n in names))
    lines.append(
        "answer   "
        + ", ".join(
            f"{k} {v:.3f}"
            if k != "unanswerable" and not k.endswith("questions")
            else f"{k} {v:.0f}"
            for k, v in report.answer.items()
        )
    )
    return "\n".join(lines)
