"""Fit the answerability model's weights from the features `isnad eval --features` writes.

Each row is one question asked in an evaluation run: its set, its kind, whether
its gold paragraphs were left out, and the features of the sentence the
composer would quote. Labels:
- answer score: 1 for answerable questions asked against the whole corpus,
  0 for the same questions with their gold paragraphs left out, for questions
  the articles leave unstated, and for off-topic ones;
- topic score: 1 for questions on the corpus's stories (answerable or
  unstated, news sets only), 0 for off-topic ones.
Every set weighs the same in each fit, whatever its size, so ARCD's 693
questions do not drown 50 news questions.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.answerability import FEATURES, fit_logistic


@dataclass(frozen=True)
class Row:
    """One question's features and what its right outcome is."""

    dataset: str
    kind: str
    gold_removed: bool
    features: tuple[float, ...]

    @property
    def group(self) -> str:
        """Return the group the row is scored in: set and kind."""
        kind = "gold_removed" if self.gold_removed else self.kind
        return f"{self.dataset}:{kind}"

    @property
    def should_answer(self) -> bool:
        """Tell whether the right outcome is an answer."""
        return self.kind == "answerable" and not self.gold_removed


def read_rows(paths: Iterable[Path]) -> list[Row]:
    """Read feature rows from JSON-lines files."""
    rows = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            if not item["features"]:
                continue  # declined before any sentence was weighed
            rows.append(
                Row(
                    item["dataset"],
                    item["kind"],
                    bool(item["gold_removed"]),
                    tuple(float(item["features"][f]) for f in FEATURES),
                )
            )
    return rows


def _balanced(rows: Sequence[Row]) -> np.ndarray:
    """Weight rows so that every group sums to the same total."""
    size: dict[str, int] = defaultdict(int)
    for r in rows:
        size[r.group] += 1
    return np.array([len(rows) / (len(size) * size[r.group]) for r in rows])


def _fit(rows: Sequence[Row], labels: np.ndarray, l2: float) -> tuple[float, dict[str, float]]:
    x = np.array([r.features for r in rows])
    bias, weights = fit_logistic(x, labels, _balanced(rows), l2=l2)
    return bias, {f: float(w) for f, w in zip(FEATURES, weights, strict=True)}


def _scores(rows: Sequence[Row], bias: float, weights: dict[str, float]) -> np.ndarray:
    x = np.array([r.features for r in rows])
    w = np.array([weights[f] for f in FEATURES])
    return 1.0 / (1.0 + np.exp(-np.clip(bias + x @ w, -60, 60)))


def group_rates(rows: Sequence[Row], passed: np.ndarray) -> dict[str, float]:
    """Return, per group, the share of rows that passed."""
    by: dict[str, list[bool]] = defaultdict(list)
    for r, p in zip(rows, passed, strict=True):
        by[r.group].append(bool(p))
    return {g: sum(v) / len(v) for g, v in sorted(by.items())}


def choose_threshold(rows: Sequence[Row], scores: np.ndarray, floor: float) -> float:
    """Pick the answer threshold: keep every answerable group at or above floor answered,
    then refuse as many of the rest as possible (mean over their groups)."""
    best, best_value = 0.5, -1.0
    for t in np.linspace(0.05, 0.95, 181):
        rates = group_rates(rows, scores >= t)
        keep = [v for g, v in rates.items() if g.endswith(":answerable")]
        refuse = [1 - v for g, v in rates.items() if not g.endswith(":answerable")]
        if keep and min(keep) < floor:
            continue
        value = float(np.mean(refuse)) if refuse else 0.0
        if value > best_value:
            best, best_value = float(t), value
    return best


def fit(rows: Sequence[Row], floor: float = 0.95, l2: float = 1.0) -> dict[str, object]:
    """Fit both scores and their thresholds; return the weights file's content."""
    if not rows:
        raise ValueError("no feature rows to fit on")
    labels = np.array([1.0 if r.should_answer else 0.0 for r in rows])
    a_bias, a_weights = _fit(rows, labels, l2)
    a_scores = _scores(rows, a_bias, a_weights)
    a_threshold = choose_threshold(rows, a_scores, floor)
    # The topic score is fitted where topic labels exist: news sets with off-topic questions.
    topical = [
        r for r in rows if not r.gold_removed and r.kind in ("answerable", "unstated", "offtopic")
    ]
    topical = [
        r for r in topical if any(x.dataset == r.dataset and x.kind == "offtopic" for x in rows)
    ]
    t_labels = np.array([0.0 if r.kind == "offtopic" else 1.0 for r in topical])
    t_bias, t_weights = _fit(topical, t_labels, l2) if len(set(t_labels)) == 2 else (0.0, {})
    return {
        "note": "fitted by `isnad fit-answerability`; features are described in"
        " retrieval/answerability.py",
        "rows": len(rows),
        "answer": {"bias": a_bias, "weights": a_weights, "threshold": a_threshold},
        "topic": {
            "bias": t_bias,
            "weights": t_weights or {f: 0.0 for f in FEATURES},
            "threshold": 0.5,
        },
        "answered_by_group": group_rates(rows, a_scores >= a_threshold),
    }
