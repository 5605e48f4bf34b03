"""Giant sentences: cut in the splitter, quoted as a bounded span, a few messages at most."""

from __future__ import annotations

from pathlib import Path

from support.embedders import HashingEmbedder

from bot.telegram.formatting import answer_messages
from retrieval.answer import AnswerConfig
from retrieval.engine import Engine
from retrieval.models import ArticleDraft
from retrieval.quote import quote_span
from retrieval.sentences import split_sentences
from retrieval.store import CorpusStore


def test_short_sentence_is_quoted_whole() -> None:
    assert quote_span("ارتفع سعر الفائدة.", "سعر الفائدة", 600) == "ارتفع سعر الفائدة."


def test_long_sentence_is_cut_around_the_question_words() -> None:
    sentence = " ".join(["حشو"] * 30 + ["زلزال", "ملاطية", "قوي"] + ["حشو"] * 30)
    # 40 characters: the window holds both question words, centred, cut at spaces.
    assert quote_span(sentence, "زلزال ملاطية", 40) == "…حشو حشو حشو زلزال ملاطية قوي حشو حشو حشو…"
    # No question word at all: the opening of the sentence.
    assert quote_span(sentence, "طقس", 20) == "حشو حشو حشو حشو حشو…"
    # One word longer than the limit: a hard cut.
    assert quote_span("ا" * 50, "طقس", 10) == "ا" * 10 + "…"


def test_splitter_cuts_a_sentence_without_punctuation() -> None:
    text = " ".join(["كلمة"] * 1000)  # 4,999 characters, no sentence end
    pieces = split_sentences(text, max_chars=1000)
    assert [len(p.text) for p in pieces] == [999, 999, 999, 999, 999]
    assert all(text[p.start : p.end] == p.text for p in pieces)
    assert split_sentences("أولى. ثانية.", max_chars=1000)[1].text == "ثانية."


async def test_giant_sentence_is_answered_with_a_bounded_quote(tmp_path: Path) -> None:
    filler = "وقال المتحدث إن الوضع ما زال على حاله في المنطقة كلها "
    body = filler * 3000 + "وأعلنت الهيئة أن زلزال ملاطية بلغت قوته ست درجات " + filler * 3000
    assert len(body.encode()) > 368_000 and "." not in body
    store = await CorpusStore.open(tmp_path / "c.db")
    engine = await Engine.open(
        store, HashingEmbedder(), tmp_path / "c.faiss", answer=AnswerConfig(threshold=0.0)
    )
    try:
        await engine.ingest([ArticleDraft("خبر بلا نقاط", body, "مصدر")])
        answer = await engine.ask("ما قوة زلزال ملاطية؟")
    finally:
        await engine.close()
    assert answer.answered
    assert max(len(s.text) for s in answer.sentences) <= 602
    assert any("زلزال ملاطية بلغت قوته ست درجات" in s.text for s in answer.sentences)
    assert len(answer_messages(answer)) <= 3
