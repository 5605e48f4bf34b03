"""Values that cross module boundaries: articles, chunks, hits and answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from retrieval.answerability import Decision


@dataclass(frozen=True)
class ArticleDraft:
    """An article as parsed, before the store gives it an id."""

    title: str
    body: str
    source: str = ""
    url: str = ""
    published: str = ""  # ISO 8601 date or datetime, "" when unknown
    author: str = ""
    # The stated date was unreadable and dropped: the store dates the article at ingest.
    dated_at_ingest: bool = False


@dataclass(frozen=True)
class Article:
    """A stored article."""

    id: int
    title: str
    body: str
    source: str
    url: str
    published: str
    content_hash: str
    added_at: str
    author: str = ""
    dated_at_ingest: bool = False  # published is the ingest time, not a stated date


@dataclass(frozen=True)
class ChunkSpan:
    """A chunk as cut from an article body: text and character offsets."""

    order: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Chunk:
    """A stored chunk of an article."""

    id: int
    article_id: int
    order: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk with its fused score and the ranks it got."""

    chunk: Chunk
    article: Article
    score: float
    dense_rank: int | None = None  # 1-based rank in the dense list
    lexical_rank: int | None = None  # 1-based rank in the FTS5 list
    dense_score: float | None = None  # cosine similarity to the question


@dataclass(frozen=True)
class Citation:
    """A source cited by an answer; n is the marker shown as [n]."""

    n: int
    article_id: int
    title: str
    source: str
    published: str
    url: str
    dated_at_ingest: bool = False  # published is the ingest time, not a stated date
    # The outlet counted when reports are counted: the publisher, or the agency a
    # reprint credits in its text (a wire copy in a paper counts as the agency's).
    outlet: str = ""


@dataclass(frozen=True)
class TimeScope:
    """The time a question asked about, as read against its as-of moment.

    kind "window": reports published in [start, end) (wall-clock time); "latest": the
    newest reports on the subject first. in_window False says no report from the
    window is on the subject: the answer then quotes nothing and its headlines are the
    newest reports on the subject, from outside the window (elsewhere), or, when no
    report anywhere is on it, the nearest headlines.
    """

    kind: Literal["window", "latest"]
    phrases: tuple[str, ...]
    as_of: datetime
    start: datetime | None = None
    end: datetime | None = None
    in_window: bool = True
    elsewhere: bool = False  # not in_window, but the subject is reported at other times


@dataclass(frozen=True)
class AnswerSentence:
    """A sentence quoted verbatim from a passage, with its citation marker.

    citations holds the markers of every article that reports the same thing (the
    quoted one first), outlets the distinct outlets among them.
    """

    text: str
    citation: int
    chunk_id: int
    citations: tuple[int, ...] = ()
    outlets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.citations:
            object.__setattr__(self, "citations", (self.citation,))


@dataclass(frozen=True)
class Version:
    """One of differing reports of the asked figure: its value, a sentence that gives it
    (with every article that gives it) and the newest time it was reported."""

    figure: str
    sentence: AnswerSentence
    published: str


@dataclass(frozen=True)
class Answer:
    """The engine's reply to one question."""

    question: str
    answered: bool
    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]
    hits: tuple[Hit, ...]
    confidence: float
    ms: float = 0.0
    headlines: tuple[Citation, ...] = field(default_factory=tuple)
    # answered: quoted sentences answer the question; not_stated: the articles speak of
    # its subject but do not state the answer (sentences are the closest they hold);
    # declined: nothing on the subject (headlines are the nearest articles).
    outcome: Literal["answered", "not_stated", "declined"] = "answered"
    decision: Decision | None = None
    # What the question's time words asked for; None when it has none (or the corpus
    # holds no dated article, so time cannot narrow anything).
    time: TimeScope | None = None
    # Outlets give different figures for what was asked: each version, newest first.
    versions: tuple[Version, ...] = ()

    def __post_init__(self) -> None:
        if not self.answered and self.outcome == "answered":
            object.__setattr__(self, "outcome", "declined")

    @property
    def stated(self) -> bool | None:
        """True when answered, False when the articles do not state it, None when declined."""
        return {"answered": True, "not_stated": False}.get(self.outcome)
