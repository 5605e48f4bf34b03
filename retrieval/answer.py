"""Extractive answers: pick the sentences that answer a question, quote them, cite them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from retrieval.arabic import search_terms
from retrieval.models import Answer, AnswerSentence, Article, Citation, Hit
from retrieval.sentences import split_sentences

# Cosine of each candidate sentence to the question, in the candidates' order.
SentenceScorer = Callable[[str, list[str]], list[float]]


@dataclass(frozen=True)
class AnswerConfig:
    """Knobs of answer extraction; defaults are tuned with `isnad eval`."""

    threshold: float = 0.30  # dense cosine of the best passage below which we refuse
    passages: int = 3  # how many top passages supply candidate sentences
    max_sentences: int = 3
    keep_ratio: float = 0.75  # a further sentence must score this share of the best
    lexical_weight: float = 1.0
    dense_weight: float = 1.0
    rank_weight: float = 0.15
    headlines: int = 3


@dataclass(frozen=True)
class _Candidate:
    text: str
    hit: Hit
    passage: int
    position: int
    score: float


def _citation(n: int, article: Article) -> Citation:
    return Citation(n, article.id, article.title, article.source, article.published, article.url)


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


class AnswerComposer:
    """Choose one to three sentences from the best passages and cite their articles."""

    def __init__(self, config: AnswerConfig | None = None, scorer: SentenceScorer | None = None):
        self.config = config or AnswerConfig()
        self.scorer = scorer

    def candidates(self, question: str, hits: Sequence[Hit]) -> list[_Candidate]:
        """Score every sentence of the top passages against the question."""
        cfg = self.config
        q_terms = set(search_terms(question))
        raw: list[tuple[str, Hit, int, int, float]] = []
        for p, hit in enumerate(hits[: cfg.passages]):
            for pos, sentence in enumerate(split_sentences(hit.chunk.text)):
                terms = set(search_terms(sentence.text))
                overlap = len(q_terms & terms) / len(q_terms) if q_terms else 0.0
                raw.append((sentence.text, hit, p, pos, overlap))
        dense = [0.0] * len(raw)
        if self.scorer and raw and cfg.dense_weight:
            dense = self.scorer(question, [r[0] for r in raw])
        out = []
        for (text, hit, p, pos, overlap), d in zip(raw, dense, strict=True):
            score = cfg.lexical_weight * overlap + cfg.dense_weight * d + cfg.rank_weight / (1 + p)
            out.append(_Candidate(text, hit, p, pos, score))
        return out

    def compose(self, question: str, hits: Sequence[Hit]) -> Answer:
        """Build the answer, or a refusal with the nearest headlines when evidence is weak."""
        cfg = self.config
        conf = confidence(hits)
        cands = self.candidates(question, hits) if conf >= cfg.threshold else []
        if not cands:
            return Answer(
                question=question,
                answered=False,
                sentences=(),
                citations=(),
                hits=tuple(hits),
                confidence=conf,
                headlines=headlines(hits, cfg.headlines),
            )
        ranked = sorted(cands, key=lambda c: (-c.score, c.passage, c.position))
        best = ranked[0].score
        chosen: list[_Candidate] = []
        seen: set[str] = set()
        for cand in ranked:
            if len(chosen) == cfg.max_sentences or cand.score < cfg.keep_ratio * best:
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
            sentences.append(AnswerSentence(cand.text, numbers[article.id], cand.hit.chunk.id))
        return Answer(
            question=question,
            answered=True,
            sentences=tuple(sentences),
            citations=tuple(citations),
            hits=tuple(hits),
            confidence=conf,
        )
