"""Time in search: which articles a window holds, and the newest relevant reports first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from retrieval.models import Hit
from retrieval.store import CorpusStore
from retrieval.timewords import TimeReading, in_window, wall_clock

# Among hits this close (cosine) to the best one, the newest report comes first.
LATEST_MARGIN = 0.05


async def applies(store: CorpusStore, reading: TimeReading, as_of: datetime) -> bool:
    """Tell whether the reading's time words can narrow this corpus.

    They cannot when no article is dated, nor when a date as written ends before the
    oldest dated article: "حركة 8 شباط 1963" names an event, not when it was reported.
    """
    if reading.kind == "none":
        return False
    span = await store.dated_span()
    if span is None:
        return False
    if reading.kind == "window" and reading.stated and reading.end is not None:
        oldest = wall_clock(span[0], as_of)
        if oldest is not None and reading.end <= oldest[0]:
            return False
    return True


async def window_articles(store: CorpusStore, reading: TimeReading, as_of: datetime) -> set[int]:
    """Return the ids of the articles published in the reading's window."""
    assert reading.start is not None and reading.end is not None
    # Stored strings carry offsets of at most a day: narrow by the index with slack,
    # then read each time.
    low = (reading.start - timedelta(days=2)).date().isoformat()
    high = (reading.end + timedelta(days=2)).date().isoformat()
    rows = await store.published_between(low, high)
    return {i for i, published in rows if in_window(published, reading, as_of)}


def _moment(hit: Hit, as_of: datetime) -> datetime:
    parsed = wall_clock(hit.article.published, as_of)
    return parsed[0] if parsed else datetime.min


def _close(hits: Sequence[Hit], margin: float) -> list[Hit]:
    """Return the hits within margin of the best cosine, in their order."""
    scores = [h.dense_score for h in hits if h.dense_score is not None]
    if not scores:
        return []
    best = max(scores)
    return [h for h in hits if h.dense_score is not None and h.dense_score >= best - margin]


def newest_reports(
    hits: Sequence[Hit], as_of: datetime, margin: float = LATEST_MARGIN
) -> list[Hit]:
    """Return the hits within margin of the best cosine, newest first."""
    # Stable: reports of one moment keep their relevance order.
    return sorted(_close(hits, margin), key=lambda h: _moment(h, as_of), reverse=True)


def newest_first(hits: Sequence[Hit], as_of: datetime, margin: float = LATEST_MARGIN) -> list[Hit]:
    """Put the hits within margin of the best cosine newest first; the rest keep their
    order after them."""
    close = newest_reports(hits, as_of, margin)
    if not close:
        return list(hits)
    ids = {h.chunk.id for h in close}
    return close + [h for h in hits if h.chunk.id not in ids]
