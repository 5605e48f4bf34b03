"""Every string a user reads, in Arabic, and the plain-text answer layout."""

from __future__ import annotations

from retrieval.models import Answer, Citation

ANSWER_HEADING = "الجواب:"
SOURCES_HEADING = "المصادر:"
NO_ANSWER = "لا أجد في الأخبار المتوفرة لديّ جواباً عن هذا السؤال."
NEAREST_HEADLINES = "أقرب العناوين إلى سؤالك:"
UNKNOWN_DATE = "تاريخ غير معروف"
UNKNOWN_SOURCE = "مصدر غير معروف"


def citation_line(c: Citation) -> str:
    """Return one source as `[n] title - source - date - url`."""
    parts = [c.title, c.source or UNKNOWN_SOURCE, c.published[:10] or UNKNOWN_DATE]
    if c.url:
        parts.append(c.url)
    return f"[{c.n}] " + " - ".join(parts)


def plain_answer(answer: Answer) -> str:
    """Lay out an answer as plain text for the terminal."""
    if not answer.answered:
        lines = [NO_ANSWER]
        if answer.headlines:
            lines += ["", NEAREST_HEADLINES]
            lines += [f"- {c.title} ({c.source or UNKNOWN_SOURCE})" for c in answer.headlines]
        return "\n".join(lines) + "\n"
    lines = [ANSWER_HEADING]
    lines += [f"«{s.text}» [{s.citation}]" for s in answer.sentences]
    lines += ["", SOURCES_HEADING]
    lines += [citation_line(c) for c in answer.citations]
    return "\n".join(lines) + "\n"
