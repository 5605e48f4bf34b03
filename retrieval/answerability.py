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

from retrieval.arabic import normalize, search_terms, words

Outcome = Literal["answered", "not_stated", "declined"]

WEIGHTS_PATH = Path(__file__).parent / "data" / "answerability.json"

# What a question asks for, read from its first words (normalised: ي for ى, ه for ة).
_ASKS_NUMBER = re.compile(
    r"^(كم|(ما|اي) ((هو|هي) )?(عدد|نسبه|مساحه|طول|ارتفاع|عمر|قيمه|حجم|مبلغ|سعر|مده))\b"
)
_ASKS_DATE = re.compile(
    r"^(متي|(في|منذ) (اي|ايه) (عام|سنه|يوم|شهر|تاريخ|قرن|وقت|ساعه)"
    r"|(ما|اي) ((هو|هي) )?(عام|سنه|تاريخ|يوم|موعد))\b"
)
_ASKS_REASON = re.compile(r"^(لماذا|(ما|و ?ما) ((هو|هي) )?(سبب|اسباب|الدافع|دوافع))\b")


def _folded_words(text: str) -> frozenset[str]:
    return frozenset(normalize(w) for w in text.split())


# Words that give a cause or a purpose (single words: "إن" and "بعد" alone give none).
_REASON_WORDS = _folded_words(
    "بسبب لأن لأنه لأنها لأنهم نتيجة إثر جراء بهدف سبب أسباب بدعوى بحجة نظرا نظراً"
    " لعدم لكون لكي تفاديا تفادياً"
)
_REASON_PHRASE = re.compile(r"\bبعد (ان|ما)\b")
_DIGITS = re.compile(r"\d+")
# Words that answer a count without digits.
_COUNT_WORDS = _folded_words(
    "واحد واحدة اثنان اثنين اثنتين ثلاث ثلاثة أربع أربعة خمس خمسة ست ستة سبع سبعة"
    " ثمان ثماني ثمانية تسع تسعة عشر عشرة عشرات عشرين ثلاثين أربعين خمسين مئة مائة"
    " مئات ألف آلاف مليون ملايين مليار مليارات نصف ربع ثلث ضعف"
)
# Words that answer a date or time without digits.
_DATE_WORDS = _folded_words(
    "يناير فبراير مارس أبريل ابريل مايو يونيو يوليو أغسطس سبتمبر أكتوبر نوفمبر ديسمبر"
    " محرم صفر ربيع جمادى رجب شعبان رمضان شوال القعدة الحجة"
    " السبت الأحد الاثنين الثلاثاء الأربعاء الخميس الجمعة أمس اليوم غدا الليلة صباح مساء"
)

FEATURES: tuple[str, ...] = (
    "passage_cosine",  # dense cosine of the best passage
    "sentence_cosine",  # cosine of the chosen sentence (with its headline) to the question
    "sentence_coverage",  # idf-weighted share of the question's words in the sentence + headline
    "passage_coverage",  # the same share over the best passages and their headlines
    "rarest_missing",  # idf of the rarest word the sentence lacks / the question's rarest
    "number_missing",  # the question names a number or year that no best passage holds
    "type_missing",  # the question asks for a count, date or cause and the sentence has none
    "lexical_top",  # 1 / lexical rank of the best passage (0: no word match at all)
    "score_gap",  # the best passage's score over the mean of the next four: does one stand out?
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


def asked_type(question: str) -> Literal["number", "date", "reason", "other"]:
    """Tell what kind of answer the question's first words ask for."""
    head = " ".join(words(question))
    if _ASKS_DATE.search(head):
        return "date"
    if _ASKS_NUMBER.search(head):
        return "number"
    if _ASKS_REASON.search(head):
        return "reason"
    return "other"


def _holds(kind: str, text: str) -> bool:
    """Tell whether text holds what a question of that kind asks for."""
    folded = normalize(text)
    found = set(words(folded))
    if kind == "reason":
        return bool(found & _REASON_WORDS) or bool(_REASON_PHRASE.search(folded))
    if kind == "number":
        return bool(_DIGITS.search(folded)) or bool(found & _COUNT_WORDS)
    if kind == "date":
        return bool(_DIGITS.search(folded)) or bool(found & (_DATE_WORDS | _COUNT_WORDS))
    return True


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
) -> Evidence:
    """Compute the features of a question against its chosen sentence and best passages.

    passages are (headline, text) of the best few passages, the sentence's own first.
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
    kind = asked_type(question)
    return Evidence(
        passage_cosine=passage_cosine,
        sentence_cosine=sentence_cosine,
        sentence_coverage=_share(q_terms, said, stats),
        passage_coverage=_share(q_terms, around, stats),
        rarest_missing=min(1.0, max((stats.idf(t) for t in missing), default=0.0) / scale),
        number_missing=float(bool(q_numbers - near_numbers)),
        type_missing=float(not _holds(kind, sentence)),
        lexical_top=1.0 / lexical_rank if lexical_rank else 0.0,
        score_gap=score_gap,
    )


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


@dataclass(frozen=True)
class AnswerabilityModel:
    """Two logistic scores: does the sentence answer, and is the corpus on the subject."""

    answer: LogisticScore
    topic: LogisticScore
    # The search and answer settings the weights were fitted under (by name).
    fitted_with: Mapping[str, object] = field(default_factory=dict)

    def decide(self, evidence: Evidence) -> Decision:
        """Decline off the corpus's subjects; on them, answer when the answer score passes,
        else say the articles do not state it."""
        a = self.answer.probability(evidence)
        t = self.topic.probability(evidence)
        if t < self.topic.threshold:
            outcome: Outcome = "declined"
        elif a >= self.answer.threshold:
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
        return cls(scores["answer"], scores["topic"], dict(raw.get("fitted_with", {})))


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
