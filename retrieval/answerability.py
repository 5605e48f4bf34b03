"""Answer or decline: does the chosen sentence answer the question, is the corpus on its subject?

A handful of features, each a share, a cosine or a yes/no, so that none depends on
how big the corpus is: idf weights are only ever compared with each other (a share
of the question's weight), never used as raw levels. Two logistic scores read
them: `topic` (do the articles speak of the question's subject at all?) and
`answer` (does the best sentence answer it?). That gives three outcomes:
declined, with the nearest headlines (off the subject); answered; "the
articles don't state this", with the closest sentences (on the subject, no
sentence answers).

The weights are data (`retrieval/data/answerability.json`), fitted by
`isnad fit-answerability` on features that `isnad eval --features` writes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from retrieval.arabic import normalize, search_terms
from retrieval.slots import asked_slot, fills

Outcome = Literal["answered", "not_stated", "declined"]

WEIGHTS_PATH = Path(__file__).parent / "data" / "answerability.json"

_DIGITS = re.compile(r"\d+")

FEATURES: tuple[str, ...] = (
    "passage_cosine",  # dense cosine of the best passage
    "sentence_cosine",  # cosine of the chosen sentence (with its headline) to the question
    "sentence_coverage",  # idf-weighted share of the question's words in the sentence + headline
    "passage_coverage",  # the same share over the best passages and their headlines
    "rarest_missing",  # idf of the rarest word the sentence lacks / the question's rarest
    "number_missing",  # the question names a number or year that no best passage holds
    "type_missing",  # the question asks for an age, count, sum, date, name... the sentence lacks
    "lexical_top",  # 1 / lexical rank of the best passage (0: no word match at all)
    "score_gap",  # the best passage's score over the mean of the next four: does one stand out?
    "year_after",  # the question names a year later than every best passage was published
)


@dataclass(frozen=True)
class Evidence:
    """The features of one question against the sentence and passages chosen for it."""

    passage_cosine: float
    sentence_cosine: float
    sentence_coverage: float
    passage_coverage: float
    rarest_missing: float
    number_missing: float
    type_missing: float
    lexical_top: float
    score_gap: float = 0.0
    year_after: float = 0.0

    def to_dict(self) -> dict[str, float]:
        """Return the features by name, rounded for printing."""
        return {k: round(v, 4) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class TermStats:
    """How many chunks hold each question term, and how many chunks there are."""

    documents: Mapping[str, int]
    total: int

    def idf(self, term: str) -> float:
        """Return a smoothed inverse document frequency; a term seen nowhere gets the most."""
        return math.log((self.total + 1) / (self.documents.get(term, 0) + 0.5))


def _share(question: set[str], held: set[str], stats: TermStats) -> float:
    total = math.fsum(stats.idf(t) for t in question)
    if not total:
        return 0.0
    return math.fsum(stats.idf(t) for t in question & held) / total


def measure(
    question: str,
    sentence: str,
    headline: str,
    passages: Sequence[tuple[str, str]],
    *,
    passage_cosine: float,
    sentence_cosine: float,
    lexical_rank: int | None,
    stats: TermStats,
    score_gap: float = 0.0,
    others: Sequence[str] = (),
    published: Sequence[str] = (),
) -> Evidence:
    """Compute the features of a question against its chosen sentence and best passages.

    passages are (headline, text) of the best few passages, the sentence's own first;
    others are the next best sentences (the slot the question asks for may be filled
    by one of them); published are the best passages' dates ("" when unknown).
    """
    q_terms = set(search_terms(question))
    said = set(search_terms(sentence)) | set(search_terms(headline))
    around = set(said)
    for title, text in passages:
        around |= set(search_terms(title)) | set(search_terms(text))
    missing = q_terms - said
    scale = max((stats.idf(t) for t in q_terms), default=0.0) or 1.0
    q_numbers = set(_DIGITS.findall(normalize(question)))
    near_numbers: set[str] = set()
    for title, text in passages:
        near_numbers |= set(_DIGITS.findall(normalize(f"{title} {text}")))
    return Evidence(
        passage_cosine=passage_cosine,
        sentence_cosine=sentence_cosine,
        sentence_coverage=_share(q_terms, said, stats),
        passage_coverage=_share(q_terms, around, stats),
        rarest_missing=min(1.0, max((stats.idf(t) for t in missing), default=0.0) / scale),
        number_missing=float(bool(q_numbers - near_numbers)),
        type_missing=float(slot_missing(question, [sentence, *others])),
        lexical_top=1.0 / lexical_rank if lexical_rank else 0.0,
        score_gap=score_gap,
        year_after=float(_year_after(question, published)),
    )


def slot_missing(question: str, sentences: Sequence[str]) -> bool:
    """Tell whether the question asks for a kind of thing none of the sentences holds."""
    slot = asked_slot(question)
    return slot.checkable and not any(fills(slot, s, question) for s in sentences)


_YEARS = re.compile(r"(?<!\d)(19\d\d|20\d\d)(?!\d)")


def _year_after(question: str, published: Sequence[str]) -> bool:
    """Tell whether the question names a year after the newest of the passages' dates.

    "من فاز بكأس آسيا 2019؟" cannot be answered by reports of 2015, whatever they
    say of the cup. Undated passages tell nothing.
    """
    years = [int(p[:4]) for p in published if p[:4].isdigit()]
    asked = [int(y) for y in _YEARS.findall(normalize(question))]
    return bool(years and asked) and max(asked) > max(years)


@dataclass(frozen=True)
class LogisticScore:
    """A logistic score over named features: sigmoid(bias + sum of weight x feature)."""

    bias: float
    weights: Mapping[str, float]
    threshold: float = 0.5

    def probability(self, evidence: Evidence) -> float:
        """Return the score in (0, 1)."""
        z = self.bias + sum(w * getattr(evidence, name) for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


@dataclass(frozen=True)
class Decision:
    """The outcome for one question and the scores and features behind it."""

    outcome: Outcome
    answer_score: float
    topic_score: float
    evidence: Evidence
    # The sentences the evidence was read from, best first (for inspection and fitting).
    texts: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnswerabilityModel:
    """Two logistic scores: does the sentence answer, and is the corpus on the subject."""

    answer: LogisticScore
    topic: LogisticScore
    # The search and answer settings the weights were fitted under (by name).
    fitted_with: Mapping[str, object] = field(default_factory=dict)
    # Yes/no features that, when set, keep an on-topic question from being answered:
    # the sentences do not hold what it asks for ("كم عمر…" and no age).
    veto: tuple[str, ...] = ()

    def decide(self, evidence: Evidence) -> Decision:
        """Decline off the corpus's subjects; on them, answer when the answer score passes,
        else say the articles do not state it."""
        a = self.answer.probability(evidence)
        t = self.topic.probability(evidence)
        if t < self.topic.threshold:
            outcome: Outcome = "declined"
        elif a >= self.answer.threshold and not any(
            getattr(evidence, name) >= 0.5 for name in self.veto
        ):
            outcome = "answered"
        else:
            outcome = "not_stated"
        return Decision(outcome, a, t, evidence)

    @classmethod
    def load(cls, path: Path = WEIGHTS_PATH) -> AnswerabilityModel:
        """Read fitted weights from a JSON file written by `isnad fit-answerability`."""
        raw = json.loads(path.read_text(encoding="utf-8"))
        scores = {}
        for key in ("answer", "topic"):
            part = raw[key]
            unknown = set(part["weights"]) - set(FEATURES)
            if unknown:
                raise ValueError(f"{path}: unknown features {sorted(unknown)}")
            scores[key] = LogisticScore(
                float(part["bias"]),
                {k: float(v) for k, v in part["weights"].items()},
                float(part["threshold"]),
            )
        veto = tuple(raw.get("veto", ()))
        if set(veto) - set(FEATURES):
            raise ValueError(f"{path}: unknown veto features {sorted(set(veto) - set(FEATURES))}")
        return cls(scores["answer"], scores["topic"], dict(raw.get("fitted_with", {})), veto)


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None = None,
    l2: float = 1.0,
    iterations: int = 50,
) -> tuple[float, np.ndarray]:
    """Fit a weighted, L2-regularised logistic regression by Newton's method.

    Returns (bias, weights). The bias is not penalised.
    """
    n, d = x.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
    design = np.hstack([np.ones((n, 1)), x])
    beta = np.zeros(d + 1)
    penalty = np.full(d + 1, l2)
    penalty[0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ beta, -60, 60)))
        grad = design.T @ (w * (p - y)) + penalty * beta
        hess = (design * (w * p * (1 - p))[:, None]).T @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return float(beta[0]), beta[1:]
