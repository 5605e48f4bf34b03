"""One question in a conversation: read it against the chat's thread, answer, carry the thread.

Telegram-free: the private chat handler and inline mode call it with the engine
and the bot's thread table, and lay out what it returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bot.conversation.followup import (
    asks_nothing_new,
    read_against,
    subject_words,
    time_words,
    vocabulary_of,
)
from bot.conversation.outlets import find_outlet, match_sources
from bot.conversation.threads import Thread, ThreadBook, scope
from bot.telegram import texts
from retrieval.arabic import has_letters
from retrieval.engine import Engine
from retrieval.models import Answer

# How much of the thread's articles the follow-up rule reads: a few leads are enough.
VOCABULARY_ARTICLES = 6
VOCABULARY_CHARS = 4000


@dataclass(frozen=True)
class Turn:
    """What one question came to: the answer (None when there is nothing to search), the
    notes said above it, the words searched, and the thread that holds afterwards."""

    answer: Answer | None
    notes: tuple[str, ...]
    query: str
    thread: Thread | None = None
    follow_up: bool = False  # answered as a follow-up of the thread's story


def _join(notes: list[str]) -> str:
    return "\n".join(n for n in notes if n)


async def _still_there(engine: Engine, thread: Thread) -> tuple[Thread | None, list[str]]:
    """Return the thread without its deleted articles (None when none is left), and the
    heads of its first articles, for the follow-up rule."""
    found = await engine.store.get_articles(thread.articles)
    ids = tuple(i for i in thread.articles if i in found)
    if not ids:
        return None, []
    leads = [
        found[i].title + " " + found[i].body[:VOCABULARY_CHARS] for i in ids[:VOCABULARY_ARTICLES]
    ]
    return replace(thread, articles=ids), leads


def _title(answer: Answer) -> str:
    return next((c.title.strip() for c in answer.citations if c.title.strip()), texts.UNTITLED)


def is_follow_up(thread: Thread, question: str, leads: Sequence[str]) -> bool:
    """Tell whether a question reads against the thread (a button's thread always does)."""
    if thread.pinned or not has_letters(question):
        return True
    vocabulary = vocabulary_of(thread.subject, thread.title, *leads)
    return read_against(question, vocabulary).follow_up


async def answer_turn(
    engine: Engine,
    threads: ThreadBook | None,
    chat_id: int,
    question: str,
    *,
    private: bool,
    note: str = "",
    as_of: datetime | None = None,
) -> Turn:
    """Answer a question in a chat, as a follow-up of its thread or as a new subject.

    In a private chat a follow-up is read against the thread's story and subject; in
    any chat, a thread begun by a button holds for the next question. A named outlet
    restricts the quotes to its articles. threads=None (inline mode) keeps no thread.
    Time words are read against as_of (default: now).
    """
    notes = [note]
    mention = find_outlet(question)
    text = mention.rest if mention else question
    sources: frozenset[str] | None = None
    if mention is not None:
        stats = await engine.store.stats()
        sources = match_sources(mention.outlet, (s for s, _ in stats.sources))
        if not sources:
            notes.append(texts.OUTLET_NOT_IN_CORPUS.format(outlet=mention.outlet.name))
            return Turn(None, tuple(n for n in notes if n), text)
    thread = await threads.live(chat_id) if threads is not None else None
    leads: list[str] = []
    if thread is not None:
        thread, leads = await _still_there(engine, thread)
    follow = False
    if thread is not None and (private or thread.pinned):
        follow = is_follow_up(thread, text, leads)
    kept_story = False
    asked = question
    if thread is not None and follow:
        if thread.question and asks_nothing_new(text):
            # "ماذا قالت عكاظ؟"، "وماذا عن أمس؟": the last question again, from that
            # outlet or for that time.
            asked = thread.question
            text = " ".join([thread.question, *time_words(text)])
        own = subject_words(text)
        query = " ".join([text, *(w for w in thread.subject.split() if w not in own)]).strip()
        if sources is not None:
            answer = await engine.ask(query, sources=sources, as_of=as_of)
            kept_story = True
        else:
            answer = await engine.ask(
                query, within_articles=await scope(thread, engine.store), as_of=as_of
            )
            kept_story = answer.answered
            if not kept_story:
                # The story does not answer it: a question with words of its own is
                # searched as asked, one leaning on the thread with the thread's words.
                query = text if own else query
                answer = await engine.ask(query, as_of=as_of)
        missed = texts.FOCUS_NOT_ANSWERED.format(title=thread.title)
        notes.append(texts.FOLLOW_UP.format(title=thread.title) if kept_story else missed)
    else:
        query = text if has_letters(text) else question
        answer = await engine.ask(query, sources=sources, as_of=as_of)
    if sources is not None and mention is not None and not answer.answered:
        notes.append(texts.OUTLET_SILENT.format(outlet=mention.outlet.name))
    kept: Thread | None = None
    followed = thread if kept_story else None
    if threads is not None and private:
        kept = await _carry(threads, chat_id, asked, text, answer, followed)
    elif threads is not None and thread is not None and follow:
        await threads.forget(chat_id)  # in a group, a button's thread holds for one question
    return Turn(answer, tuple(n for n in notes if n), query, kept, kept_story)


async def _carry(
    threads: ThreadBook,
    chat_id: int,
    question: str,
    text: str,
    answer: Answer,
    followed: Thread | None,
) -> Thread | None:
    """Keep the thread going after a follow-up, start one after a new subject, or end it."""
    cited = [c.article_id for c in answer.citations]
    if followed is not None:
        return await threads.keep(
            chat_id,
            question=question,
            subject=followed.subject.split() or subject_words(text),
            articles=[*followed.articles, *cited],
            title=followed.title,
            story_id=followed.story_id,
        )
    if not cited:
        await threads.forget(chat_id)
        return None
    return await threads.keep(
        chat_id,
        question=question,
        subject=subject_words(text),
        articles=cited,
        title=_title(answer),
    )
