"""Telegram HTML for the bot's replies: escaped text, links and the message layouts.

Everything here is pure: strings in, strings out. Telegram picks a paragraph's
direction from its first strong character, so Latin runs, URLs, commands and
numbers sit inside U+2068 ... U+2069 isolates that keep their own order inside
Arabic; `finish` then starts every line with an Arabic letter or U+200F and
splits the result into messages (bot.telegram.htmlsplit).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from bot.telegram import texts
from bot.telegram.htmlsplit import MAX_MESSAGE, rtl_html, split_html
from retrieval.models import Answer, AnswerSentence, Article, Citation, Hit
from retrieval.quote import quote_span
from retrieval.store import CorpusStats

# Supporting passages are cut to this many characters around the question's words, so
# that one answer stays a message or two even when an article has no punctuation.
PASSAGE_CHARS = 1500
FSI = "\u2068"
PDI = "\u2069"
# The tags Telegram's HTML parse mode understands; nothing else may be sent.
ALLOWED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)

# Bidi controls in corpus or user text could close our isolates early or flip a
# line; C0 controls other than tab and newline are not text.
_UNSAFE = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c\x00-\x08\x0b-\x1f\x7f]")
_URL = r"https?://[^\s<>\"\u00ab\u00bb\u201c\u201d]+"
_LATIN = "A-Za-z0-9\u00c0-\u024f"
# A URL, a /command or @mention, or a run of Latin letters and digits that may
# hold spaces and light punctuation between them ("Reuters 2024", "12:30").
_RUN = re.compile(
    rf"{_URL}|(?<![\w/<>])[/@][A-Za-z0-9_]+|[{_LATIN}](?:[{_LATIN} .,:/%+\-_'@#&]*[{_LATIN}%])?"
)
_URL_ONLY = re.compile(rf"^{_URL}$")
_MAX_URL = 2000


def clean(text: str) -> str:
    """Drop bidi and control characters that could break the layout."""
    return _UNSAFE.sub("", text)


def isolate(text: str) -> str:
    """Wrap Latin runs, URLs, commands and numbers in first-strong isolates."""
    return _RUN.sub(lambda m: f"{FSI}{m.group()}{PDI}", text)


def text(value: str) -> str:
    """Return user or corpus text as safe, right-to-left HTML."""
    return html.escape(isolate(clean(value)), quote=False)


def safe_url(url: str) -> str | None:
    """Return an http(s) URL fit for an href, or None."""
    url = clean(url).strip()
    if len(url) > _MAX_URL or not _URL_ONLY.match(url):
        return None
    return url


def link(url: str, anchor_html: str) -> str:
    """Put anchor text (already HTML) behind a link when the URL is usable."""
    href = safe_url(url)
    if href is None:
        return anchor_html
    return f'<a href="{html.escape(href, quote=True)}">{anchor_html}</a>'


def bold(value: str) -> str:
    """Return text in bold."""
    return f"<b>{text(value)}</b>"


def quote(body_html: str) -> str:
    """Return HTML in an expandable blockquote."""
    return f"<blockquote expandable>{body_html}</blockquote>"


def marker(n: int) -> str:
    """Return a citation marker [n]."""
    return text(f"[{n}]")


# -- whole messages ---------------------------------------------------------


def source_line(article: Article | Citation) -> str:
    """Return `title — source — date`, the title linked to the article."""
    title = text(article.title.strip() or texts.UNTITLED)
    parts = [
        link(article.url, title),
        text(article.source.strip() or texts.UNKNOWN_SOURCE),
        text(article.published[:10] or texts.UNKNOWN_DATE),
    ]
    return " — ".join(parts)


def finish(body: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Make every line right-to-left safe and split into messages within the limit."""
    return split_html(rtl_html(body.strip()), limit)


def plain_messages(*paragraphs: str) -> list[str]:
    """Return fixed Arabic paragraphs as safe HTML messages."""
    return finish("\n\n".join(text(p) for p in paragraphs))


def _note(note: str) -> list[str]:
    return [f"<i>{text(note)}</i>", ""] if note else []


def when(published: str) -> str:
    """Return an article's time as `YYYY-MM-DD hh:mm` (the date alone when that is all)."""
    return texts.stamp(published) or texts.UNKNOWN_DATE


def markers(sentence: AnswerSentence) -> str:
    """Return the markers of every article that reports a sentence: [1][3][4]."""
    return "".join(marker(n) for n in sentence.citations)


def quoted_line(sentence: AnswerSentence) -> str:
    """Return a quote, its markers and, when several outlets report it, how many."""
    line = f"{text('«' + sentence.text + '»')} {markers(sentence)}"
    if len(sentence.outlets) > 1:
        line += f" — {text(texts.reported_by(len(sentence.outlets)))}"
    return line


def version_lines(answer: Answer) -> list[str]:
    """Lay out differing reports: one line saying so, then each version, newest first."""
    if not answer.versions:
        return []
    lines = [text(texts.REPORTS_DIFFER)]
    for v in answer.versions:
        outlets = texts.LIST_JOIN.join(v.sentence.outlets)
        lines.append(
            f"• {text('«' + v.sentence.text + '»')} {markers(v.sentence)}"
            f" — {text(outlets)} — {text(when(v.published))}"
        )
    return lines


def grouped_sources(citations: Sequence[Citation]) -> list[str]:
    """List sources grouped by outlet: the outlet in bold, then its articles with time
    and link; a reprint says which agency it credits."""
    groups: dict[str, list[Citation]] = {}
    for c in citations:
        groups.setdefault(c.source.strip() or texts.UNKNOWN_SOURCE, []).append(c)
    lines = []
    for source, members in groups.items():
        lines.append(bold(source))
        for c in members:
            title = link(c.url, text(c.title.strip() or texts.UNTITLED))
            line = f"{marker(c.n)} {title} — {text(when(c.published))}"
            if c.outlet and c.outlet != c.source:
                line += f" {text(texts.CREDITED.format(agency=c.outlet))}"
            lines.append(line)
    return lines


def answer_messages(answer: Answer, note: str = "") -> list[str]:
    """Lay out an answer: quoted sentences with every outlet that reports them, differing
    reports side by side, sources grouped by outlet, supporting passages.

    When the articles speak of the subject without stating the answer, say so first
    and show the closest sentences they hold as what they are, not as an answer.
    """
    if answer.time is not None and not answer.time.in_window:
        # Nothing from the asked time: the newest reports on the subject, dated, and
        # never quoted as if they were from then.
        lines = [
            *_note(note),
            text(texts.TIME_NOTHING_IN_WINDOW.format(when=texts.when(answer.time))),
        ]
        if answer.headlines:
            newest = answer.time.elsewhere
            lines += ["", bold(texts.TIME_NEWEST_HEADING if newest else texts.NEAREST_HEADLINES)]
            lines += [f"• {source_line(h)}" for h in answer.headlines]
        return finish("\n".join(lines))
    if not answer.answered and answer.outcome != "not_stated":
        lines = [*_note(note), text(texts.NO_ANSWER)]
        if answer.headlines:
            lines += ["", bold(texts.NEAREST_HEADLINES)]
            lines += [f"• {source_line(h)}" for h in answer.headlines]
        return finish("\n".join(lines))
    if answer.outcome == "not_stated":
        lines = [*_note(note), text(texts.NOT_STATED), "", bold(texts.CLOSEST_HEADING)]
    else:
        lines = [*_note(note), bold(texts.ANSWER_HEADING)]
    if scoped := texts.time_note(answer):
        lines.insert(len(lines) - 1, f"<i>{text(scoped)}</i>")
    # A time question's quotes carry their article's date and time.
    dates = {c.n: c.published for c in answer.citations} if answer.time else {}
    lines += version_lines(answer)
    in_versions = {v.sentence.text for v in answer.versions}
    rest = [s for s in answer.sentences if s.text not in in_versions]
    if rest and answer.versions:
        lines.append("")
    lines += [quoted_line(s) + _dated(dates.get(s.citation, "")) for s in rest]
    lines += ["", bold(texts.SOURCES_HEADING)]
    lines += grouped_sources(answer.citations)
    passages = quoted_passages(answer)
    if passages:
        lines += ["", bold(texts.PASSAGES_HEADING)]
        lines += [
            quote(f"{marker(n)} {text(quote_span(h.chunk.text, answer.question, PASSAGE_CHARS))}")
            for n, h in passages
        ]
    return finish("\n".join(lines))


def _dated(published: str) -> str:
    """Return ' (date time)' for a quote of a time question; '' when there is no date."""
    return f" {text('(' + texts.stamp(published) + ')')}" if published else ""


def quoted_passages(answer: Answer) -> list[tuple[int, Hit]]:
    """Return the passages the answer quotes, with their citation numbers, in order."""
    by_chunk = {h.chunk.id: h for h in answer.hits}
    out: dict[int, tuple[int, Hit]] = {}
    for s in [*answer.sentences, *(v.sentence for v in answer.versions)]:
        hit = by_chunk.get(s.chunk_id)
        if hit is not None and s.chunk_id not in out:
            out[s.chunk_id] = (s.citation, hit)
    return list(out.values())


def more_messages(question: str, hits: Sequence[Hit]) -> list[str]:
    """Lay out further passages for a question, each followed by its source."""
    lines = [f"{bold(texts.MORE_HEADING)} {text(excerpt(question))}"]
    for hit in hits:
        passage = quote_span(hit.chunk.text, question, PASSAGE_CHARS)
        lines += ["", quote(text(passage)), f"— {source_line(hit.article)}"]
    return finish("\n".join(lines))


def sources_messages(question: str, articles: Sequence[Article]) -> list[str]:
    """List every source found for a question."""
    lines = [f"{bold(texts.ALL_SOURCES_HEADING)} {text(excerpt(question))}", ""]
    lines += [f"{marker(n)} {source_line(a)}" for n, a in enumerate(articles, start=1)]
    return finish("\n".join(lines))


def welcome_messages(
    stats: CorpusStats, newest: Article | None, username: str, commands: Sequence[str]
) -> list[str]:
    """Greet: what the bot knows, how to ask, how to subscribe."""
    if stats.articles:
        knows = texts.WELCOME_KNOWS.format(articles=stats.articles, sources=len(stats.sources))
        if newest is not None and newest.published:
            knows += " " + texts.WELCOME_NEWEST.format(newest=newest.published[:10])
    else:
        knows = texts.WELCOME_EMPTY
    paragraphs = [
        texts.WELCOME,
        knows,
        texts.HOW_TO_ASK.format(example=texts.EXAMPLE_QUESTION),
        texts.IN_GROUPS.format(mention=f"@{username}"),
    ]
    if "subscribe" in commands:  # said only once the subscriptions module is there
        paragraphs.append(texts.HOW_TO_SUBSCRIBE)
    paragraphs.append(texts.SEE_HELP)
    return plain_messages(*paragraphs)


def help_messages(username: str, commands: Sequence[str]) -> list[str]:
    """Explain how to ask and list the commands with their descriptions."""
    lines = [bold(texts.HELP_HEADING)]
    lines += [text(f"• {p}") for p in texts.HELP_POINTS]
    lines += ["", text(texts.IN_GROUPS.format(mention=f"@{username}")), ""]
    lines.append(bold(texts.COMMANDS_HEADING))
    lines += [
        f"{text('/' + c)} — {text(texts.COMMAND_DESCRIPTIONS[c])}"
        for c in commands
        if c in texts.COMMAND_DESCRIPTIONS
    ]
    return finish("\n".join(lines))


def corpus_messages(stats: CorpusStats, newest: Article | None) -> list[str]:
    """Describe the corpus: article count, newest article, sources with counts."""
    if not stats.articles:
        return plain_messages(texts.CORPUS_EMPTY)
    lines = [
        bold(texts.CORPUS_HEADING),
        text(texts.CORPUS_ARTICLES.format(articles=stats.articles)),
    ]
    if newest is not None:
        lines.append(f"{text(texts.CORPUS_NEWEST)} {source_line(newest)}")
    lines += ["", bold(texts.CORPUS_SOURCES)]
    lines += [
        text(texts.CORPUS_SOURCE_LINE.format(source=s or texts.UNKNOWN_SOURCE, count=n))
        for s, n in stats.sources
    ]
    return finish("\n".join(lines))


def about_messages(model: str, stats: CorpusStats) -> list[str]:
    """Say which model answers, how big the corpus is and how answers are built."""
    lines = [
        bold(texts.ABOUT_HEADING),
        text(texts.ABOUT_MODEL.format(model=model)),
        text(texts.ABOUT_SIZE.format(articles=stats.articles, chunks=stats.chunks)),
        "",
        text(texts.ABOUT_HOW),
    ]
    return finish("\n".join(lines))


def excerpt(question: str, limit: int = 200) -> str:
    """Return a question on one line, cut to a readable length, in «quotes»."""
    q = " ".join(question.split())
    if len(q) > limit:
        q = q[:limit].rsplit(" ", 1)[0] + "…"
    return f"«{q}»"
