"""`isnad run` as one replica, for the end-to-end test of several (tests/io/test_replicas_e2e.py).

Usage: python replica_child.py, with the replica's ISNAD_* settings in the environment
(ISNAD_DATABASE_URL, ISNAD_WEBHOOK_URL, ISNAD_WEBHOOK_PORT...). It runs the real CLI
entry point (`bot.cli.main(["-v", "run"])`) with three test-only stand-ins, set here
and nowhere in the bot:

- the hashing embedder instead of the model (plumbing, not answer quality; two
  processes loading the model would take most of the test's time);
- the always-answer model of tests/conftest.py instead of the fitted
  answer-or-decline weights, whose cosines mean nothing with that embedder;
- alert claims of 20 rows for a 5 s lease (the bot's defaults: 500 rows, 60 s), so
  that the rows of a replica killed mid-send lapse to the other within the test.
"""

from __future__ import annotations

import functools
import sys

import bot.cli as cli
import bot.factory as factory
import bot.telegram.subscriptions as subscriptions
import retrieval.engine as engine
from retrieval.answerability import AnswerabilityModel, LogisticScore
from support.botapi import DIM
from support.embedders import HashingEmbedder

LEASE = 5.0
BATCH = 20


class AlwaysAnswer:
    """Answer whatever clears the threshold (as tests/conftest.py's plumbing_answers)."""

    @staticmethod
    def load() -> AnswerabilityModel:
        return AnswerabilityModel(LogisticScore(30.0, {}), LogisticScore(30.0, {}))


def hashing(settings: object, backend: str | None = None) -> HashingEmbedder:
    """Stand in for load_embedder: the embedder the test's corpus was ingested with."""
    return HashingEmbedder(dim=DIM)


if __name__ == "__main__":
    factory.load_embedder = hashing  # type: ignore[assignment]
    factory.AnswerabilityModel = AlwaysAnswer  # type: ignore[assignment,misc]
    engine.AnswerabilityModel = AlwaysAnswer  # type: ignore[assignment,misc]
    subscriptions.AlertSender = functools.partial(  # type: ignore[misc,assignment]
        subscriptions.AlertSender, lease=LEASE, batch=BATCH
    )
    sys.exit(cli.main(["-v", "run"]))
