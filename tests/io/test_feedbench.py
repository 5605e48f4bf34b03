"""The feeds-and-alerts bench, small: a few articles in, one alert to each of a few chats."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.embedders import HashingEmbedder

from bot.settings import Settings
from bot.tools.feedbench import feed_bench, make_articles, run_feed_bench

EVAL_FILE = Path(__file__).resolve().parents[3] / "shared" / "eval" / "arcd-train.json"


@pytest.mark.parametrize("eval_file", [None, EVAL_FILE])  # synthesised; SQuAD if present
def test_articles_distinct_and_long_enough(eval_file: Path | None) -> None:
    made = make_articles(5, eval_file)
    assert len({a.title for a in made}) == len({a.paragraphs for a in made}) == 5
    assert all(150 <= a.words <= 260 for a in made)


async def test_feed_bench_counts(settings: Settings) -> None:
    figures = await feed_bench(settings, HashingEmbedder(), articles=3, subscribers=20)
    assert figures["feed_articles_added"] == 3
    assert figures["alert_new_articles"] == 1
    assert figures["alerts_queued"] == 20
    assert figures["alerts_sent"] == 20
    assert figures["alert_sendmessage_calls"] == 20
    assert figures["alert_distinct_chats"] == 20
    assert figures["alerts_pending"] == 0
    assert figures["alert_all_sent"] is True
    assert isinstance(figures["feed_articles_per_min"], float)
    assert figures["feed_articles_per_min"] > 0


def test_run_feed_bench_sync_wrapper(settings: Settings) -> None:
    figures = run_feed_bench(settings, HashingEmbedder(), articles=2, subscribers=3, eval_file=None)
    assert (figures["feed_articles_added"], figures["alerts_sent"]) == (2, 3)
    assert not list(settings.data_dir.glob("*"))  # only a throwaway data dir was used
