"""Fit the answerability model's weights from the features `isnad eval --features` writes.

Each row is one question asked in an evaluation run: its set, its kind, whether
its gold paragraphs were left out, and the features of the sentence the
composer would quote. Labels:
- answer score: 1 for answerable questions asked against the whole corpus,
  0 for the same questions with their gold paragraphs left out, for questions
  the articles leave unstated, and for off-topic ones;
- topic score: 1 for every question asked against the whole corpus that is not
  off-topic (answerable, or unstated), 0 for off-topic ones; gold-removed runs
  have no topic label.
Every group (set and kind) weighs the same in each fit, whatever its size, so
ARCD's 693 questions do not drown 58 off-topic news questions.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.answerability import FEATURES, fit_logistic


@dataclass(frozen=True)
class Row:
    """One question's features and what its right outcome is."""

    dataset: str
    kind: str
    gold_removed: bool
    features: tuple[float, ...]
    question: str = ""  # the question's id in its set

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
                    str(item.get("id", "")),
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


def right_outcome(row: Row, answered: np.ndarray, declined: np.ndarray) -> np.ndarray:
    """Return, per threshold pair, whether the row got its right outcome."""
    if row.should_answer:
        return answered
    if row.kind == "offtopic":
        return declined
    return ~answered  # unstated or gold removed: "not stated" or declined


def vetoed(rows: Sequence[Row], veto: Sequence[str]) -> np.ndarray:
    """Return, per row, whether a veto feature is set (such a row is never answered)."""
    idx = [FEATURES.index(v) for v in veto]
    return np.array([any(r.features[i] >= 0.5 for i in idx) for r in rows], dtype=bool)


def choose_thresholds(
    rows: Sequence[Row],
    answer: np.ndarray,
    topic: np.ndarray,
    floor: float,
    floors: Mapping[str, float],
    grid: int = 91,
    veto: np.ndarray | None = None,
) -> tuple[float, float]:
    """Pick the (answer, topic) thresholds: every answerable set answered at or above its
    floor (floors by set name, floor for the others), then as many right outcomes as
    possible, averaged over the groups (off-topic: declined; unstated and gold removed:
    not answered)."""
    steps = np.linspace(0.02, 0.98, grid)
    # answered[i, j, r]: row r answered under answer threshold i and topic threshold j.
    on_topic = topic[None, :] >= steps[:, None]  # (topic threshold, row)
    passes = answer[None, :] >= steps[:, None]  # (answer threshold, row)
    answered = passes[:, None, :] & on_topic[None, :, :]
    if veto is not None:
        answered &= ~veto[None, None, :]
    declined = np.broadcast_to(~on_topic[None, :, :], answered.shape)
    groups: dict[str, list[int]] = defaultdict(list)
    for n, r in enumerate(rows):
        groups[r.group].append(n)
    ok = np.ones(answered.shape[:2], dtype=bool)
    value = np.zeros(answered.shape[:2])
    for group, members in groups.items():
        right = np.stack(
            [right_outcome(rows[n], answered[:, :, n], declined[:, :, n]) for n in members],
            axis=-1,
        ).mean(axis=-1)
        if group.endswith(":answerable"):
            ok &= right >= floors.get(group.split(":")[0], floor)
        else:
            value += right / len(groups)
    if not ok.any():
        raise ValueError("no thresholds keep every answerable set above its floor")
    value[~ok] = -1.0
    i, j = np.unravel_index(int(np.argmax(value)), value.shape)
    return float(steps[i]), float(steps[j])


def fit(
    rows: Sequence[Row],
    floor: float = 0.95,
    l2: float = 1.0,
    floors: Mapping[str, float] | None = None,
    veto: Sequence[str] = (),
) -> dict[str, object]:
    """Fit both scores and their thresholds; return the weights file's content.

    veto names yes/no features that, when set, make an on-topic question "not stated"
    whatever its answer score (the thresholds are chosen with the veto in place).
    """
    if not rows:
        raise ValueError("no feature rows to fit on")
    unknown = set(floors or {}) - {r.dataset for r in rows}
    if unknown:
        raise ValueError(f"floors for sets not in the feature files: {sorted(unknown)}")
    labels = np.array([1.0 if r.should_answer else 0.0 for r in rows])
    a_bias, a_weights = _fit(rows, labels, l2)
    a_scores = _scores(rows, a_bias, a_weights)
    # The topic score: every question asked on the corpus's subjects (answerable, or
    # unstated) against off-topic ones; gold-removed questions have no topic label.
    labelled = [r for r in rows if not r.gold_removed]
    t_labels = np.array([0.0 if r.kind == "offtopic" else 1.0 for r in labelled])
    if len(set(t_labels)) == 2:
        t_bias, t_weights = _fit(labelled, t_labels, l2)
    else:
        t_bias, t_weights = 10.0, dict.fromkeys(FEATURES, 0.0)  # no off-topic rows: always on
    t_scores = _scores(rows, t_bias, t_weights)
    unknown_veto = set(veto) - set(FEATURES)
    if unknown_veto:
        raise ValueError(f"unknown veto features: {sorted(unknown_veto)}")
    no = vetoed(rows, veto)
    a_threshold, t_threshold = choose_thresholds(
        rows, a_scores, t_scores, floor, floors or {}, veto=no
    )
    answered = (a_scores >= a_threshold) & (t_scores >= t_threshold) & ~no
    declined = t_scores < t_threshold
    return {
        "note": "fitted by `isnad fit-answerability`; features are described in"
        " retrieval/answerability.py",
        "rows": len(rows),
        "answer": {"bias": a_bias, "weights": a_weights, "threshold": a_threshold},
        "topic": {"bias": t_bias, "weights": t_weights, "threshold": t_threshold},
        "veto": list(veto),
        "floors": {"default": floor, **(floors or {})},
        "answered_by_group": group_rates(rows, answered),
        "declined_by_group": group_rates(rows, declined),
    }


def outcomes(fitted: dict[str, object], rows: Sequence[Row]) -> tuple[np.ndarray, np.ndarray]:
    """Return (answered, declined) per row under fitted weights."""
    scores = []
    for key in ("answer", "topic"):
        part = fitted[key]
        assert isinstance(part, dict)
        scores.append((_scores(rows, part["bias"], part["weights"]), part["threshold"]))
    (a, ta), (t, tt) = scores
    veto = fitted.get("veto", [])
    assert isinstance(veto, list)
    return (a >= ta) & (t >= tt) & ~vetoed(rows, veto), t < tt


def cross_validate(
    rows: Sequence[Row], folds: int = 2, **options: Any
) -> dict[str, dict[str, float]]:
    """Fit on all folds but one and score the one left out, in turn.

    A question's rows (whole corpus and gold removed) stay in one fold, chosen by a
    hash of its set and id. Returns the answered and declined shares of every group,
    each row scored by the fit that did not see it.
    """
    fold_of = [
        int(hashlib.sha1(f"{r.dataset}:{r.question}".encode()).hexdigest(), 16) % folds
        for r in rows
    ]
    answered = np.zeros(len(rows), dtype=bool)
    declined = np.zeros(len(rows), dtype=bool)
    for k in range(folds):
        train = [r for r, f in zip(rows, fold_of, strict=True) if f != k]
        test = [n for n, f in enumerate(fold_of) if f == k]
        a, d = outcomes(fit(train, **options), [rows[n] for n in test])
        answered[test], declined[test] = a, d
    return {
        "answered_by_group": group_rates(rows, answered),
        "declined_by_group": group_rates(rows, declined),
    }
