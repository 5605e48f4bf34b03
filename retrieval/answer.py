"""Extractive answers: pick the sentences that answer a question, quote them, cite them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from retrieval.answerability import AnswerabilityModel, Decision, Outcome, TermStats, measure
from retrieval.arabic import normalize, search_terms, words
from retrieval.corroboration import (
    CorroborationConfig,
    Corroborator,
    Report,
    SentenceVectors,
    diversify,
    reports,
    settle,
)
from retrieval.counts import figure_label
from retrieval.evidence import idf_overlaps
from retrieval.models import Answer, AnswerSentence, Article, Citation, Hit, Version
from retrieval.outlets import outlet
from retrieval.quote import quote_span
from retrieval.sentences import split_sentences
from retrieval.slots import asked_slot, fills

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
    # The best sentences searched for what the question asks (an age, a name...): the
    # first that holds it is always quoted.
    slot_sentences: int = 3


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
        dated_at_ingest=article.dated_at_ingest,
        outlet=outlet(article),
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
        vectors: SentenceVectors | None = None,
        corroboration: CorroborationConfig | None = None,
    ):
        self.config = config or AnswerConfig()
        self.scorer = scorer
        self.corroborator = Corroborator(corroboration, vectors)
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
        self,
        question: str,
        hits: Sequence[Hit],
        ranked: Sequence[_Candidate],
        stats: TermStats | None,
    ) -> Decision | None:
        """Weigh the evidence of the best sentences with the answerability model."""
        if self.model is None or stats is None:
            return None
        cfg = self.config
        best = ranked[0]
        texts = [c.text for c in ranked[:5]]
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
            others=[c.text for c in ranked[1 : cfg.slot_sentences]],
            published=[h.article.published for h in hits[: cfg.passages]],
        )
        decision = self.model.decide(evidence)
        return replace(decision, texts=tuple(texts))

    @staticmethod
    def _with_slot(
        question: str, chosen: list[_Candidate], best: Sequence[_Candidate], most: int
    ) -> list[_Candidate]:
        """Make sure a sentence that holds what the question asks for is quoted."""
        slot = asked_slot(question)
        if not slot.checkable or any(fills(slot, c.text, question) for c in chosen):
            return chosen
        for cand in best:
            if cand.text not in {c.text for c in chosen} and fills(slot, cand.text, question):
                return [*chosen[: most - 1], cand]
        return chosen

    def compose(
        self,
        question: str,
        hits: Sequence[Hit],
        stats: TermStats | None = None,
        support: Sequence[Hit] = (),
        stories: Mapping[int, int] | None = None,
    ) -> Answer:
        """Build the answer, a "not stated" reply with the closest sentences, or a refusal
        with the nearest headlines.

        support holds further passages (the hits first, then more of the ranking):
        the quoted sentences come from the best of them, diversified across copies
        and stories (stories maps article id to story id), and all of them are
        searched for other outlets that report what a quoted sentence says.
        """
        cfg = self.config
        conf = confidence(hits)
        pool = list(support) or list(hits)
        passages = diversify(pool, cfg.passages, stories or {}, self.corroborator.config)
        cands = self.candidates(question, passages) if conf >= cfg.threshold else []
        ranked = sorted(cands, key=lambda c: (-c.score, c.passage, c.position))
        decision = self.decide(question, hits, ranked, stats) if ranked else None
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
        if outcome == "answered":
            chosen = self._with_slot(question, chosen, ranked[: cfg.slot_sentences], most)
        # Read in the order the passages and sentences came, not by score.
        chosen.sort(key=lambda c: (c.passage, c.position))
        everything = reports(pool)
        groups = self._groups(chosen, everything)
        numbers: dict[int, int] = {}
        citations: list[Citation] = []

        def number(article: Article) -> int:
            if article.id not in numbers:
                numbers[article.id] = len(numbers) + 1
                citations.append(_citation(numbers[article.id], article))
            return numbers[article.id]

        for cand, _ in groups:  # the quoted articles are numbered first, as they read
            number(cand.hit.article)
        sentences = [
            self._sentence(quote_span(cand.text, question), cand.hit, others, number)
            for cand, others in groups
        ]
        versions: tuple[Version, ...] = ()
        numeric = bool(_NUMERIC_QUESTION.search(" ".join(words(question))))
        if outcome == "answered" and numeric:
            versions = self._versions(question, ranked[0], everything, number)
        if versions:
            # The asked count is shown as versions only, never as one outlet's quote.
            asked = self.corroborator.asked_counts
            sentences = [s for s in sentences if not asked(words(question), s.text)]
        return Answer(
            question=question,
            answered=outcome == "answered",
            sentences=tuple(sentences),
            citations=tuple(citations),
            hits=tuple(hits),
            confidence=conf,
            outcome=outcome,
            decision=decision,
            versions=versions,
        )

    def _groups(
        self, chosen: Sequence[_Candidate], pool: Sequence[Report]
    ) -> list[tuple[_Candidate, list[Report]]]:
        """Pair each chosen sentence with the reports of other articles that say the same;
        a chosen sentence that reprints an earlier one in another outlet is dropped (one
        outlet's own near-identical sentences, an article and its update, both stay)."""
        out: list[tuple[_Candidate, list[Report]]] = []
        covered: set[tuple[int, str]] = set()
        for cand in chosen:
            if (cand.hit.article.id, cand.text) in covered:
                continue
            others = self.corroborator.same(Report.of(cand.text, cand.hit), pool)
            source = cand.hit.article.source
            covered |= {
                (r.hit.article.id, r.text) for r in others if r.hit.article.source != source
            }
            out.append((cand, others))
        return out

    @staticmethod
    def _sentence(
        text: str, hit: Hit, others: Sequence[Report], number: Callable[[Article], int]
    ) -> AnswerSentence:
        """Quote a sentence with every article that reports it, and their outlets."""
        articles = list({a.id: a for a in [hit.article, *(r.hit.article for r in others)]}.values())
        return AnswerSentence(
            text,
            number(hit.article),
            hit.chunk.id,
            tuple(number(a) for a in articles),
            tuple(dict.fromkeys(outlet(a) for a in articles)),
        )

    def _versions(
        self,
        question: str,
        best: _Candidate,
        pool: Sequence[Report],
        number: Callable[[Article], int],
    ) -> tuple[Version, ...]:
        """Return the differing versions of the asked count in the best sentence and
        other reports of it, newest first (none: they agree)."""
        scorer = self.scorer

        def relevance(reports: Sequence[Report]) -> list[float]:
            return scorer(question, [r.pair for r in reports]) if scorer else [0.0] * len(reports)

        found = self.corroborator.differing(
            words(question), Report.of(best.text, best.hit), pool, relevance
        )
        groups = settle(
            [
                # Whoever retells a version's sentence reports that version too.
                given
                + [
                    r
                    for r in self.corroborator.same(given[0], pool)
                    if all(r.hit.article.id != g.hit.article.id for g in given)
                ]
                for given in found.values()
            ]
        )
        kept = [(value, group) for value, group in zip(found, groups, strict=True) if group]
        told = [frozenset(outlet(r.hit.article) for r in group) for _, group in kept]
        if len(kept) < 2 or len(frozenset().union(*told)) < 2:
            return ()  # one outlet's own figures are not differing reports
        if len(set(told)) == 1:
            return ()  # every outlet gives every figure: parts of one report, not versions
        out = []
        for value, group in kept:
            first, *others = group
            sentence = self._sentence(quote_span(first.text, question), first.hit, others, number)
            newest = max(r.hit.article.published for r in group)
            out.append(Version(figure_label(first.text, value), sentence, newest))
        out.sort(key=lambda v: v.published, reverse=True)
        return tuple(out)
