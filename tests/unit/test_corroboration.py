"""Corroboration: one quote per fact with every outlet, differing figures as versions."""

from __future__ import annotations

import numpy as np
import pytest
from support.botapi import check_message
from support.embedders import HashingEmbedder

from bot.telegram import formatting, texts
from bot.telegram.formatting import FSI, PDI
from bot.telegram.htmlsplit import RLM
from retrieval.answer import AnswerComposer, AnswerConfig
from retrieval.corroboration import CorroborationConfig, Report, diversify, earlier, settle
from retrieval.counts import figure_label, figures, skeleton
from retrieval.models import Answer, Article, Chunk, Hit
from retrieval.outlets import credited_agency, outlet

EMBEDDER = HashingEmbedder(256)


def scorer(question: str, pairs: list[tuple[str, str]]) -> list[float]:
    qvec = EMBEDDER.embed_query(question)
    return [float(v @ qvec) for v in EMBEDDER.embed_documents([s for _, s in pairs])]


def vectors(pairs: list[tuple[str, str]]) -> np.ndarray:
    return EMBEDDER.embed_documents([s for _, s in pairs])


def composer(**corroboration: float) -> AnswerComposer:
    return AnswerComposer(
        AnswerConfig(keep_ratio=0.99),
        scorer,
        None,
        vectors,
        CorroborationConfig(**corroboration),  # type: ignore[arg-type]
    )


def article(aid: int, source: str, body: str, published: str, title: str = "") -> Article:
    return Article(
        aid, title or f"خبر {aid}", body, source, f"https://n.test/{aid}", published, f"h{aid}", "t"
    )


def hit(aid: int, source: str, text: str, published: str = "2015-07-23T10:00:00") -> Hit:
    art = article(aid, source, text, published)
    return Hit(Chunk(aid * 10, aid, 0, 0, len(text), text), art, 1.0 / aid, aid, aid, 0.8)


TOLL = "وأعلنت وزارة الداخلية أن 15 شخصا لقوا مصرعهم في غرق المركب في نهر النيل بمنطقة الوراق."
NEWER = "وأفادت مصادر طبية أن 21 شخصا لقوا مصرعهم في غرق المركب في نهر النيل بمنطقة الوراق."
QUESTION = "كم شخصا لقوا مصرعهم في غرق المركب في نهر النيل؟"


# -- outlets ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "agency"),
    [
        ("واس- الرياض: اختتمت البعثة مشاركتها.", "واس"),
        ("الرياض - واس\nرأس خادم الحرمين الجلسة.", "واس"),
        ("زار الوزير المعرض. (أ ف ب)", "فرانس برس"),
        ("بكين - (د.ب.أ): تباطأ النشاط الصناعي.", "د ب أ"),
        ("قال المتحدث لرويترز إن الاجتماع انتهى (رويترز)", "رويترز"),
        ("أعلنت وزارة الدفاع أن الطائرات عادت بسلام إلى قواعدها.", None),
        ("أقيم المهرجان وسط إقبال واسع من الزوار.", None),  # واسع is not واس
        ("ذكرت وكالة رويترز في تقرير طويل أن الأسعار ارتفعت في الأسواق كثيرا." * 5, None),
    ],
)
def test_credited_agency(body: str, agency: str | None) -> None:
    assert credited_agency(body) == agency


def test_outlet_is_the_agency_a_reprint_credits() -> None:
    assert outlet(article(1, "سبق", "واس- جدة: تستعد الوزارة.", "")) == "واس"
    assert outlet(article(2, "سبق", "تستعد الوزارة.", "")) == "سبق"


def test_figures_read_the_counted_noun() -> None:
    assert figures("لقي 21 شخصاً مصرعهم، وأصيب 32 آخرون في 15 ديسمبر 1991") == {
        "شخص": {"21"},
        skeleton("آخرون"): {"32"},
    }
    assert skeleton("قتيلاً") == skeleton("قتلى") == "قتل"
    assert skeleton("شهيدا") == skeleton("شهداء") == "شهد"
    assert figure_label("لقي ٢١ شخصاً مصرعهم", "21") == "٢١ شخصاً"


# -- one quote, every outlet --------------------------------------------------


RETOLD = "أحيل 41 متهما إلى المحكمة الاتحادية العليا، وقال البيان ذلك بتهمة تأسيس تنظيم."


def test_same_fact_from_several_outlets_is_one_quote_with_every_citation() -> None:
    copy = "وقال البيان إن 41 متهما أحيلوا إلى المحكمة الاتحادية العليا بتهمة تأسيس تنظيم."
    hits = [
        hit(1, "الرياض", copy),
        hit(2, "اليوم", RETOLD),
        hit(3, "الرياض", copy),  # a second article of the same outlet counts once
        hit(4, "سبق", "واس- أبوظبي: " + copy),  # a reprint credited to the agency
        hit(5, "واس", copy),
        hit(6, "عكاظ", "وأعلنت الشرطة إغلاق الطريق بسبب الأمطار الغزيرة."),
    ]
    answer = composer().compose("كم متهما أحيلوا إلى المحكمة الاتحادية العليا؟", hits)
    assert answer.answered and len(answer.sentences) == 1
    (quote,) = answer.sentences
    assert quote.text == copy
    assert quote.citations == (1, 2, 3, 4, 5)
    assert quote.outlets == ("الرياض", "اليوم", "واس")
    assert [c.outlet for c in answer.citations] == ["الرياض", "اليوم", "الرياض", "واس", "واس"]
    assert answer.versions == ()


def test_without_vectors_only_copies_corroborate() -> None:
    same = "أحيل 41 متهما إلى المحكمة الاتحادية العليا بتهمة تأسيس تنظيم."
    retold = "وقال البيان إن المحكمة الاتحادية العليا تسلمت ملف 41 متهما بتأسيس تنظيم."
    hits = [hit(1, "الرياض", same), hit(2, "اليوم", same), hit(3, "عكاظ", retold)]
    answer = AnswerComposer(AnswerConfig(keep_ratio=0.99), scorer).compose(
        "كم متهما أحيلوا إلى المحكمة؟", hits
    )
    assert answer.sentences[0].citations == (1, 2)


# -- differing reports ----------------------------------------------------------


def test_differing_figures_are_versions_newest_first_never_merged() -> None:
    hits = [
        hit(1, "الاقتصادية", TOLL, "2015-07-23T17:25:00"),
        hit(2, "الوئام", TOLL, "2015-07-23T17:30:00"),
        hit(3, "الرياض", NEWER, "2015-07-23T19:15:00"),
        hit(4, "سبق", NEWER, "2015-07-23T19:21:00"),
    ]
    answer = composer().compose(QUESTION, hits)
    assert answer.answered
    assert [(v.figure, v.published) for v in answer.versions] == [
        ("21 شخصا", "2015-07-23T19:21:00"),
        ("15 شخصا", "2015-07-23T17:30:00"),
    ]
    newest, oldest = answer.versions
    assert newest.sentence.text == NEWER and oldest.sentence.text == TOLL
    assert newest.sentence.outlets == ("الرياض", "سبق")
    assert oldest.sentence.outlets == ("الاقتصادية", "الوئام")
    by_number = {c.n: c.article_id for c in answer.citations}
    assert sorted(by_number[n] for n in newest.sentence.citations) == [3, 4]
    assert sorted(by_number[n] for n in oldest.sentence.citations) == [1, 2]
    # The quote giving 15 is not credited to outlets that give 21.
    for s in answer.sentences:
        ids = {by_number[n] for n in s.citations}
        assert ids <= {1, 2} or ids <= {3, 4}


def test_same_figures_are_not_reported_as_differing() -> None:
    retold = "وأعلنت الشرطة أن 15 شخصا لقوا مصرعهم في غرق المركب بنهر النيل في الوراق."
    hits = [hit(1, "الاقتصادية", TOLL), hit(2, "الرياض", retold), hit(3, "سبق", TOLL)]
    answer = composer().compose(QUESTION, hits)
    assert answer.answered and answer.versions == ()
    assert len(answer.sentences[0].outlets) >= 2


def test_unrelated_numbers_are_not_reported_as_differing() -> None:
    hits = [
        hit(1, "الاقتصادية", TOLL),
        # Another count of another kind in a sentence on the same story.
        hit(2, "الرياض", "وأنقذت فرق الإنقاذ 6 أشخاص من ركاب المركب في نهر النيل بمنطقة الوراق."),
        # The same kind of count, about something else.
        hit(3, "سبق", "ولقي 476 راكبا مصرعهم في غرق العبارة سالم إكسبرس عام 1991 في البحر الأحمر."),
    ]
    answer = composer().compose(QUESTION, hits)
    assert answer.answered and answer.versions == ()


def test_a_question_that_asks_no_count_gets_no_versions() -> None:
    hits = [hit(1, "الاقتصادية", TOLL), hit(2, "الرياض", NEWER)]
    answer = composer().compose("أين غرق المركب في نهر النيل؟", hits)
    assert answer.versions == ()


# -- diversity --------------------------------------------------------------------


def test_passages_skip_copies_and_crowded_stories() -> None:
    wire = "أعلنت الوزارة افتتاح المعرض الدولي للكتاب في الرياض بمشاركة خمسمئة دار نشر."
    hits = [
        hit(1, "واس", wire),
        hit(2, "سبق", wire + " وقال المنظمون إن المعرض يستمر عشرة أيام."),
        hit(3, "الرياض", "وتضم الدورة الجديدة جناحا للطفل وندوات يومية عن الترجمة."),
        hit(4, "عكاظ", "وخصص المنظمون قاعة للتوقيع يلتقي فيها القراء بالمؤلفين."),
        hit(5, "اليوم", "وتوقعت اللجنة المنظمة أن يتجاوز عدد الزوار مليون زائر."),
    ]
    cfg = CorroborationConfig()
    assert [h.article.id for h in diversify(hits, 3, {}, cfg)] == [1, 3, 4]
    # Articles 1, 3 and 4 tell one story: at most two of them, then another story.
    stories = {1: 100, 3: 100, 4: 100, 5: 200}
    assert [h.article.id for h in diversify(hits, 3, stories, cfg)] == [1, 3, 5]


# -- the reply ------------------------------------------------------------------


def test_reported_by_counts_outlets_in_arabic() -> None:
    assert texts.reported_by(2) == "أورده مصدران"
    assert texts.reported_by(3) == "أوردته ٣ مصادر"
    assert texts.reported_by(12) == "أوردته ١٢ مصدراً"


def _differing_answer() -> Answer:
    hits = [
        hit(1, "الاقتصادية", TOLL, "2015-07-23T17:25:00"),
        hit(2, "الوئام", TOLL, "2015-07-23T17:30:00"),
        hit(3, "الرياض", NEWER, "2015-07-23T19:15:00"),
    ]
    return composer().compose(QUESTION, hits)


def test_reply_shows_versions_and_sources_grouped_by_outlet() -> None:
    answer = _differing_answer()
    (message,) = formatting.answer_messages(answer)
    check_message(message)
    n = {c.article_id: c.n for c in answer.citations}

    def mark(*ids: int) -> str:
        return "".join(f"[{FSI}{n[i]}{PDI}]" for i in ids)

    def link(aid: int) -> str:
        return f'<a href="https://n.test/{aid}">خبر {FSI}{aid}{PDI}</a>'

    toll = TOLL.replace("15", f"{FSI}15{PDI}")
    newer = NEWER.replace("21", f"{FSI}21{PDI}")
    body = message.split("\n\n<b>المقاطع")[0]
    assert body == (
        "<b>الجواب:</b>\n"
        "تختلف الروايات:\n"
        f"{RLM}• «{newer}» {mark(3)} — الرياض — {FSI}2015-07-23 19:15{PDI}\n"
        f"{RLM}• «{toll}» {mark(1, 2)} — الاقتصادية، الوئام — {FSI}2015-07-23 17:30{PDI}\n\n"
        "<b>المصادر:</b>\n"
        "<b>الاقتصادية</b>\n"
        f"{RLM}{mark(1)} {link(1)} — {FSI}2015-07-23 17:25{PDI}\n"
        "<b>الوئام</b>\n"
        f"{RLM}{mark(2)} {link(2)} — {FSI}2015-07-23 17:30{PDI}\n"
        "<b>الرياض</b>\n"
        f"{RLM}{mark(3)} {link(3)} — {FSI}2015-07-23 19:15{PDI}"
    )
    plain = texts.plain_answer(answer)
    assert plain.startswith(f"الجواب:\nتختلف الروايات:\n- «{NEWER}» [{n[3]}] — الرياض — ")


def test_reply_says_how_many_outlets_report_a_quote_and_credits_agencies() -> None:
    copy = "وقال البيان إن 41 متهما أحيلوا إلى المحكمة الاتحادية العليا بتهمة تأسيس تنظيم."
    hits = [hit(1, "الرياض", copy), hit(2, "سبق", "واس- أبوظبي: " + copy), hit(3, "اليوم", copy)]
    answer = composer().compose("كم متهما أحيلوا إلى المحكمة الاتحادية العليا؟", hits)
    (message,) = formatting.answer_messages(answer)
    check_message(message)
    quoted = copy.replace("41", f"{FSI}41{PDI}")
    marks = "".join(f"[{FSI}{i}{PDI}]" for i in (1, 2, 3))
    assert f"\n{RLM}«{quoted}» {marks} — أوردته ٣ مصادر\n" in message
    assert f"<b>سبق</b>\n{RLM}[{FSI}2{PDI}] " in message and " (عن واس)\n" in message


def test_many_outlets_and_versions_still_split_into_valid_messages() -> None:
    hits = [
        hit(i, f"صحيفة {i}", (TOLL if i % 2 else NEWER) + " " + "تفاصيل إضافية " * 30)
        for i in range(1, 41)
    ]
    answer = composer().compose(QUESTION, hits)
    messages = formatting.answer_messages(answer)
    for m in messages:
        check_message(m)
    assert len(answer.citations) == 40 and answer.versions


def test_an_article_recalling_a_first_toll_counts_for_its_own_newer_figure() -> None:
    recalled = "وكانت وزارة الداخلية أعلنت أن 15 شخصا لقوا مصرعهم في غرق المركب."
    newer, first, other = hit(1, "الرياض", NEWER), hit(2, "الرياض", recalled), hit(3, "سبق", TOLL)
    both = Hit(first.chunk, newer.article, first.score, 1, 1, 0.8)  # article 1 recalls 15
    fifteen = [Report.of(recalled, both), Report.of(TOLL, other)]
    twenty_one = [Report.of(NEWER, newer)]
    assert earlier(recalled) and not earlier(TOLL)
    assert settle([twenty_one, fifteen]) == [twenty_one, [fifteen[1]]]
    # An article that only recalls the first toll keeps it, after those giving it as theirs.
    assert settle([fifteen]) == [[fifteen[1], fifteen[0]]]


def test_one_outlets_own_figures_are_not_differing_reports() -> None:
    hits = [
        hit(1, "الرياض", TOLL, "2015-07-23T17:25:00"),
        hit(2, "الرياض", NEWER, "2015-07-23T19:15:00"),
    ]
    answer = composer().compose(QUESTION, hits)
    assert answer.answered and answer.versions == ()


def test_an_outlets_update_of_its_own_article_is_not_a_copy() -> None:
    text = "أعلنت الوزارة افتتاح المعرض الدولي للكتاب في الرياض بمشاركة خمسمئة دار نشر."
    hits = [hit(1, "الرياض", text), hit(2, "الرياض", text + " ويستمر المعرض عشرة أيام.")]
    hits.append(hit(3, "عكاظ", "وخصص المنظمون قاعة للتوقيع يلتقي فيها القراء بالمؤلفين."))
    assert [h.article.id for h in diversify(hits, 3, {}, CorroborationConfig())] == [1, 2, 3]


def test_a_reprint_in_another_outlet_is_not_quoted_twice() -> None:
    first = "أحيل 41 متهما إلى المحكمة الاتحادية العليا بتهمة تأسيس تنظيم سري."
    reprint = "أحيل 41 متهما إلى المحكمة الاتحادية العليا بتهمة تأسيس تنظيم سري جديد."
    question = "كم متهما أحيلوا إلى المحكمة الاتحادية العليا بتهمة تأسيس تنظيم؟"
    both = AnswerComposer(AnswerConfig(keep_ratio=0.5), scorer, None, vectors)
    other_outlet = both.compose(question, [hit(1, "الرياض", first), hit(2, "سبق", reprint)])
    assert [(s.text, s.citations) for s in other_outlet.sentences] == [(first, (1, 2))]
    # The same outlet's two articles: both sentences stay, each crediting the other.
    same_outlet = both.compose(question, [hit(1, "الرياض", first), hit(2, "الرياض", reprint)])
    assert [s.text for s in same_outlet.sentences] == [first, reprint]
    assert same_outlet.sentences[0].outlets == ("الرياض",)
