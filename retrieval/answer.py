"""Extractive answers: pick the sentences that answer a question, quote them, cite them."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from retrieval.answerability import AnswerabilityModel, Decision, Outcome, TermStats, measure
from retrieval.arabic import normalize, search_terms, words
from retrieval.evidence import idf_overlaps
from retrieval.models import Answer, AnswerSentence, Article, Citation, Hit
from retrieval.quote import quote_span
from retrieval.sentences import split_sentences

# Cosine of each candidate sentence, given as (headline, sentence), to the question.
SentenceScorer = Callable[[str, list[tuple[str, str]]], list[float]]

# Questions whose answer is a date or a count (after normalisation: ي for ى, ه for ة).
_NUMERIC_QUESTION = re.compile(
    r"^(متي|كم|(في|منذ) (اي|ايه) (عام|سنه|يوم|شهر|تاريخ|قرن)"
    r"|(ما|اي) ((هو|هي) )?(عدد|عام|سنه|تاريخ|نسبه|مساحه|طول|ارتفاع|عمر))\b"
)
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class AnswerConfig:
    """Knobs of answer extraction; defaults are tuned with `isnad eval`."""

    # Dense cosine of the best passage below which we decline without looking further;
    # the answer-or-decline decision itself is the answerability model's.
    threshold: float = 0.1
    passages: int = 3  # how many top passages supply candidate sentences
    max_sentences: int = 3
    keep_ratio: float = 0.8  # a further sentence must score this share of the best
    lexical_weight: float = 1.0  # share of the question's words in the sentence, idf-weighted
    dense_weight: float = 3.0  # cosine of the sentence to the question (needs a scorer)
    rank_weight: float = 0.15  # bonus of sentences from higher-ranked passages
    number_weight: float = 0.3  # bonus of sentences with a digit, for when/how-many questions
    headlines: int = 3
    not_stated_sentences: int = 2  # closest sentences shown when the answer is not stated


@dataclass(frozen=True)
class _Candidate:
    text: str
    hit: Hit
    passage: int
    position: int
    score: float
    cosine: float = 0.0


def _citation(n: int, article: Article) -> Citation:
    return Citation(
        n,
        article.id,
        article.title,
        article.source,
        article.published,
        article.url,
        article.dated_at_ingest,
    )


def headlines(hits: Sequence[Hit], limit: int) -> tuple[Citation, ...]:
    """Return the distinct articles of hits, best first, as numbered citations."""
    seen: dict[int, Article] = {}
    for hit in hits:
        seen.setdefault(hit.article.id, hit.article)
    return tuple(_citation(n, a) for n, a in enumerate(list(seen.values())[:limit], start=1))


def confidence(hits: Sequence[Hit]) -> float:
    """Return the best dense cosine among the hits: how close the corpus came."""
    scores = [h.dense_score for h in hits if h.dense_score is not None]
    return max(scores) if scores else 0.0


def score_gap(hits: Sequence[Hit], following: int = 4) -> float:
    """Return how far the best hit's score stands above the mean of the next few."""
    rest = [h.score for h in hits[1 : 1 + following]]
    return hits[0].score - sum(rest) / len(rest) if hits and rest else 0.0


class AnswerComposer:
    """Choose one to three sentences from the best passages and cite their articles."""

    def __init__(
        self,
        config: AnswerConfig | None = None,
        scorer: SentenceScorer | None = None,
        model: AnswerabilityModel | None = None,
    ):
        self.config = config or AnswerConfig()
        self.scorer = scorer
        # Without a model (or term statistics), the best passage's cosine alone decides.
        self.model = model

    def candidates(self, question: str, hits: Sequence[Hit]) -> list[_Candidate]:
        """Score every sentence of the top passages against the question."""
        cfg = self.config
        q_terms = set(search_terms(question))
        numeric = bool(_NUMERIC_QUESTION.search(" ".join(words(question))))
        raw: list[tuple[str, Hit, int, int, set[str]]] = []
        for p, hit in enumerate(hits[: cfg.passages]):
            for pos, sentence in enumerate(split_sentences(hit.chunk.text)):
                raw.append((sentence.text, hit, p, pos, set(search_terms(sentence.text))))
        # A question word found in every candidate (the story's subject) tells the
        # sentences apart less than one found in a single sentence: weight by idf.
        overlaps = idf_overlaps(q_terms, [r[4] for r in raw])
        dense = [0.0] * len(raw)
        if self.scorer and raw and cfg.dense_weight:
            dense = self.scorer(question, [(r[1].article.title, r[0]) for r in raw])
        out = []
        for (text, hit, p, pos, _terms), d, overlap in zip(raw, dense, overlaps, strict=True):
            score = cfg.lexical_weight * overlap + cfg.dense_weight * d + cfg.rank_weight / (1 + p)
            if numeric and _DIGIT.search(normalize(text)):
                score += cfg.number_weight
            out.append(_Candidate(text, hit, p, pos, score, d))
        return out

    def decide(
        self, question: str, hits: Sequence[Hit], best: _Candidate, stats: TermStats | None
    ) -> Decision | None:
        """Weigh the evidence of the best sentence with the answerability model."""
        if self.model is None or stats is None:
            return None
        cfg = self.config
        top = [(h.article.title, h.chunk.text) for h in hits[: cfg.passages]]
        evidence = measure(
            question,
            best.text,
            best.hit.article.title,
            top,
            passage_cosine=confidence(hits),
            sentence_cosine=best.cosine,
            lexical_rank=hits[0].lexical_rank if hits else None,
            stats=stats,
            score_gap=score_gap(hits),
        )
        return self.model.decide(evidence)

    def compose(self, question: str, hits: Sequence[Hit], stats: TermStats | None = None) -> Answer:
        """Build the answer, a "not stated" reply with the closest sentences, or a refusal
        with the nearest headlines."""
        cfg = self.config
        conf = confidence(hits)
        cands = self.candidates(question, hits) if conf >= cfg.threshold else []
        ranked = sorted(cands, key=lambda c: (-c.score, c.passage, c.position))
        decision = self.decide(question, hits, ranked[0], stats) if ranked else None
        outcome: Outcome
        if not ranked:
            outcome = "declined"
        elif decision is not None:
            outcome = decision.outcome
        else:
            outcome = "answered"
        if outcome == "declined":
            return Answer(
                question=question,
                answered=False,
                sentences=(),
                citations=(),
                hits=tuple(hits),
                confidence=conf,
                headlines=headlines(hits, cfg.headlines),
                outcome=outcome,
                decision=decision,
            )
        best = ranked[0].score
        most = cfg.max_sentences if outcome == "answered" else cfg.not_stated_sentences
        chosen: list[_Candidate] = []
        seen: set[str] = set()
        for cand in ranked:
            if len(chosen) == most or (chosen and cand.score < cfg.keep_ratio * best):
                break
            if cand.text in seen:
                continue  # the same sentence in two overlapping chunks
            seen.add(cand.text)
            chosen.append(cand)
        # Read in the order the passages and sentences came, not by score.
        chosen.sort(key=lambda c: (c.passage, c.position))
        numbers: dict[int, int] = {}
        citations: list[Citation] = []
        sentences: list[AnswerSentence] = []
        for cand in chosen:
            article = cand.hit.article
            if article.id not in numbers:
                numbers[article.id] = len(numbers) + 1
                citations.append(_citation(numbers[article.id], article))
            sentences.append(
                AnswerSentence(
                    quote_span(cand.text, question), numbers[article.id], cand.hit.chunk.id
                )
            )
        return Answer(
            question=question,
            answered=outcome == "answered",
            sentences=tuple(sentences),
            citations=tuple(citations),
            hits=tuple(hits),
            confidence=conf,
            outcome=outcome,
            decision=decision,
        )
