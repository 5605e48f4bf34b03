"""Pure formatting: escaping, right-to-left marks, links, the 4096 split, layouts."""

from __future__ import annotations

import random

import pytest
from support.botapi import check_message, visible

from bot.telegram import formatting, texts
from bot.telegram.formatting import FSI, PDI
from bot.telegram.htmlsplit import RLM, rtl_html, split_html, utf16_len
from retrieval.models import Answer, AnswerSentence, Article, Chunk, Citation, Hit
from retrieval.store import CorpusStats


def test_isolate_wraps_latin_runs_numbers_urls_commands_and_mentions() -> None:
    got = formatting.isolate("قالت Reuters 2024 في https://x.com/a?b=1 عبر /ask و @isnad_bot")
    assert got == (
        f"قالت {FSI}Reuters 2024{PDI} في {FSI}https://x.com/a?b=1{PDI}"
        f" عبر {FSI}/ask{PDI} و {FSI}@isnad_bot{PDI}"
    )


def test_isolate_leaves_arabic_alone() -> None:
    assert formatting.isolate("روسيا ترفض طلب تركيا") == "روسيا ترفض طلب تركيا"


def test_clean_drops_bidi_and_control_characters() -> None:
    assert formatting.clean("\u202eمرحبا\u202c \u2066x\u2069\u200f\x00") == "مرحبا x"


def test_text_escapes_markup_and_keeps_markdown_as_is() -> None:
    got = formatting.text("<b>روسيا</b> & </blockquote> *_[")
    assert (
        got
        == f"&lt;{FSI}b{PDI}&gt;روسيا&lt;/{FSI}b{PDI}&gt; &amp; &lt;/{FSI}blockquote{PDI}&gt; *_["
    )


def test_link_escapes_the_href_and_refuses_other_schemes() -> None:
    assert formatting.link("https://e.com/?a=1&b=2", "عنوان") == (
        '<a href="https://e.com/?a=1&amp;b=2">عنوان</a>'
    )
    assert formatting.link("javascript:alert(1)", "عنوان") == "عنوان"
    assert formatting.link('https://e.com/"><script>', "عنوان") == "عنوان"
    assert formatting.link("", "عنوان") == "عنوان"
    assert formatting.link("https://e.com/" + "a" * 3000, "عنوان") == "عنوان"


def test_rtl_html_marks_lines_that_do_not_start_with_arabic() -> None:
    body = "<b>[1]</b> نص\n<blockquote expandable>&lt;b&gt; hi</blockquote>\nعربي\n\n  «اقتباس»"
    assert rtl_html(body) == (
        f"<b>{RLM}[1]</b> نص\n<blockquote expandable>{RLM}&lt;b&gt; hi</blockquote>\n"
        f"عربي\n\n  {RLM}«اقتباس»"
    )


def test_short_message_is_not_split() -> None:
    assert split_html("<b>مرحبا</b>") == ["<b>مرحبا</b>"]
    assert split_html("  \n ") == []


def _sentences(n: int) -> str:
    rng = random.Random(n)
    words = ["روسيا", "تركيا", "إدلب", "الفصائل", "Reuters", "2024", "&amp;", "قال"]
    return " ".join(
        " ".join(rng.choice(words) for _ in range(rng.randint(5, 25))) + rng.choice(".؟!")
        for _ in range(n)
    )


def test_split_cuts_at_sentence_ends_within_the_limit() -> None:
    body = _sentences(300)
    parts = split_html(body, 1000)
    assert len(parts) > 5
    for part in parts:
        assert utf16_len(part) <= 1000
        assert part.rstrip()[-1] in ".؟!"
    joined = " ".join(visible(p).replace(RLM, "").strip() for p in parts)
    assert joined == visible(body)


def test_split_prefers_line_breaks() -> None:
    lines = ["سطر رقم " + "كلمة " * 20 + "." for _ in range(100)]
    parts = split_html("\n".join(lines), 700)
    assert len(parts) == 17  # six whole lines of 109 characters fit in 700
    for part in parts:
        assert part.replace(RLM, "").split("\n") == lines[: part.count("\n") + 1]


def test_split_closes_and_reopens_tags() -> None:
    body = "<b>عنوان</b>\n" + formatting.quote(
        f'{_sentences(200)} <a href="https://e.com">رابط</a>'
    )
    parts = split_html(body, 900)
    assert len(parts) > 3
    for i, part in enumerate(parts):
        check_message(part)
        assert utf16_len(part) <= 900
        assert part.endswith("</blockquote>")
        if i:
            assert part.startswith(f"<blockquote expandable>{RLM}")


def test_split_never_cuts_an_entity_or_a_tag() -> None:
    body = rtl_html("<i>" + " ".join(["&lt;b&gt;&amp;&quot;"] * 2000) + "</i>")
    parts = split_html(body, 500)
    for part in parts:
        check_message(part)
        assert "&" not in part.replace("&lt;", "").replace("&gt;", "").replace("&amp;", "").replace(
            "&quot;", ""
        )
    shown = " ".join(visible(p) for p in parts)
    assert shown.replace(RLM, "").split() == visible(body).replace(RLM, "").split()


def test_split_hard_cuts_text_without_spaces() -> None:
    body = "ب" * 20_000
    parts = split_html(body, 4096)
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert "".join(p.replace(RLM, "") for p in parts) == body


def test_split_counts_utf16_units() -> None:
    body = " ".join(["😀"] * 3000)  # 8999 UTF-16 units: each emoji counts two
    parts = split_html(body, 4096)
    assert len(parts) == 3
    assert all(utf16_len(p) <= 4096 for p in parts)


@pytest.mark.parametrize("seed", range(20))
def test_split_random_markup_always_valid(seed: int) -> None:
    rng = random.Random(seed)
    pieces = []
    for _ in range(rng.randint(20, 200)):
        choice = rng.random()
        if choice < 0.3:
            pieces.append(formatting.bold(_sentences(rng.randint(1, 3))))
        elif choice < 0.5:
            pieces.append(formatting.quote(formatting.text(_sentences(rng.randint(1, 20)))))
        elif choice < 0.6:
            pieces.append(formatting.link("https://e.com/?q=1&r=2", formatting.text("عنوان")))
        else:
            pieces.append(formatting.text(_sentences(rng.randint(1, 5))))
    body = rtl_html(rng.choice(["\n", " ", "\n\n"]).join(pieces))
    limit = rng.choice([300, 1000, 4096])
    parts = split_html(body, limit)
    for part in parts:
        check_message(part)
        assert utf16_len(part) <= limit
    shown = " ".join(visible(p) for p in parts)
    assert shown.replace(RLM, "").split() == visible(body).replace(RLM, "").split()


# -- layouts ------------------------------------------------------------------

ARTICLE = Article(
    id=7,
    title="روسيا ترفض طلب تركيا",
    body="…",
    source="مدونة <هادي>",
    url="https://example.com/a?x=1&y=2",
    published="2019-09-02T10:00:00",
    content_hash="h",
    added_at="2024-01-01",
)
CHUNK = Chunk(id=3, article_id=7, order=0, start=0, end=10, text="قالت Reuters إن 5 قذائف سقطت.")


def _answer(answered: bool) -> Answer:
    citation = Citation(1, 7, ARTICLE.title, ARTICLE.source, ARTICLE.published, ARTICLE.url)
    hit = Hit(CHUNK, ARTICLE, 0.5, 1, 1, 0.9)
    if not answered:
        return Answer("س", False, (), (), (hit,), 0.1, headlines=(citation,))
    sentence = AnswerSentence("قالت Reuters إن 5 قذائف سقطت.", 1, 3)
    return Answer("س", True, (sentence,), (citation,), (hit,), 0.9)


def test_answer_layout_is_exact() -> None:
    (message,) = formatting.answer_messages(_answer(True))
    one = f"{RLM}[{FSI}1{PDI}]"
    # Sources are grouped by outlet: the outlet in bold, then each article with its time.
    source = (
        f'<a href="https://example.com/a?x=1&amp;y=2">روسيا ترفض طلب تركيا</a>'
        f" — {FSI}2019-09-02 10:00{PDI}"
    )
    quoted = f"قالت {FSI}Reuters{PDI} إن {FSI}5{PDI} قذائف سقطت."
    assert message == (
        "<b>الجواب:</b>\n"
        f"{RLM}«{quoted}» [{FSI}1{PDI}]\n\n"
        "<b>المصادر:</b>\n"
        "<b>مدونة &lt;هادي&gt;</b>\n"
        f"{one} {source}\n\n"
        "<b>المقاطع التي اقتبستُ منها:</b>\n"
        f"<blockquote expandable>{one} {quoted}</blockquote>"
    )
    check_message(message)


def test_no_answer_says_so_and_offers_headlines() -> None:
    (message,) = formatting.answer_messages(_answer(False), note=texts.TRUNCATED.format(limit=10))
    assert message == (
        f"<i>سؤالك طويل، فاكتفيت بأول {FSI}10{PDI} حرف منه.</i>\n\n"
        f"{texts.NO_ANSWER}\n\n"
        "<b>أقرب العناوين إلى سؤالك:</b>\n"
        f'{RLM}• <a href="https://example.com/a?x=1&amp;y=2">روسيا ترفض طلب تركيا</a>'
        f" — مدونة &lt;هادي&gt; — {FSI}2019-09-02{PDI}"
    )
    check_message(message)


def test_not_stated_says_so_before_the_closest_sentences() -> None:
    answer = _answer(True)
    answer = Answer(
        answer.question,
        False,
        answer.sentences,
        answer.citations,
        answer.hits,
        answer.confidence,
        outcome="not_stated",
    )
    assert answer.stated is False
    (message,) = formatting.answer_messages(answer)
    one = f"{RLM}[{FSI}1{PDI}]"
    quoted = f"قالت {FSI}Reuters{PDI} إن {FSI}5{PDI} قذائف سقطت."
    assert message.startswith(
        f"{texts.NOT_STATED}\n\n<b>أقرب ما تذكره:</b>\n{RLM}«{quoted}» [{FSI}1{PDI}]\n\n"
        f"<b>المصادر:</b>\n<b>مدونة &lt;هادي&gt;</b>\n{one} "
    )
    assert "الجواب" not in message
    check_message(message)
    plain = texts.plain_answer(answer)
    assert plain.startswith(f"{texts.NOT_STATED}\n\nأقرب ما تذكره:\n«قالت Reuters")


def test_outcome_follows_answered_when_not_given() -> None:
    assert _answer(False).outcome == "declined" and _answer(False).stated is None
    assert _answer(True).outcome == "answered" and _answer(True).stated is True


def test_missing_metadata_has_arabic_placeholders() -> None:
    bare = Article(1, "", "…", "", "", "", "h", "2024-01-01")
    assert formatting.source_line(bare) == "مقال بلا عنوان — مصدر غير معروف — تاريخ غير معروف"


def test_long_answer_is_split_into_valid_messages() -> None:
    long_chunk = Chunk(id=3, article_id=7, order=0, start=0, end=10, text=_sentences(150))
    hit = Hit(long_chunk, ARTICLE, 0.5, 1, 1, 0.9)
    answer = _answer(True)
    answer = Answer(
        answer.question, True, answer.sentences, answer.citations, (hit,), answer.confidence
    )
    # The 150-sentence passage is cut to PASSAGE_CHARS: the answer stays one message.
    (message,) = formatting.answer_messages(answer)
    check_message(message)
    assert message.startswith("<b>الجواب:</b>") and "…" in message
    # Five such passages under "more results" need a few messages, each valid.
    messages = formatting.more_messages("روسيا", [hit] * 5)
    assert len(messages) == 3
    for m in messages:
        check_message(m)


def test_corpus_and_welcome_layouts() -> None:
    stats = CorpusStats(3, 9, (("مدونة", 2), ("", 1)), "2019-09-02", "2024-01-01")
    (corpus,) = formatting.corpus_messages(stats, ARTICLE)
    assert corpus == (
        "<b>ما تحتويه مجموعة الأخبار:</b>\n"
        f"عدد المقالات: {FSI}3{PDI}\n"
        'أحدث مقال: <a href="https://example.com/a?x=1&amp;y=2">روسيا ترفض طلب تركيا</a>'
        f" — مدونة &lt;هادي&gt; — {FSI}2019-09-02{PDI}\n\n"
        "<b>المصادر:</b>\n"
        f"{RLM}• مدونة: {FSI}2{PDI}\n"
        f"{RLM}• مصدر غير معروف: {FSI}1{PDI}"
    )
    (welcome,) = formatting.welcome_messages(stats, ARTICLE, "isnad_bot", ["start", "subscribe"])
    assert f"{FSI}/subscribe{PDI}" in welcome
    (welcome,) = formatting.welcome_messages(stats, ARTICLE, "isnad_bot", ["start"])
    assert "/subscribe" not in welcome
    assert f"{FSI}@isnad_bot{PDI}" in welcome
    check_message(welcome)
