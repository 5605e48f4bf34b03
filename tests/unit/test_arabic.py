"""Arabic normalisation, stemming and sentence splitting."""

from retrieval.arabic import index_text, light_stem, normalize, search_terms, words
from retrieval.sentences import split_sentences


def test_normalize_strips_diacritics_and_tatweel() -> None:
    assert normalize("مُحَمَّدٌ") == "محمد"
    assert normalize("الســـلام") == "السلام"
    assert normalize("القرآن") == "القران"


def test_normalize_unifies_letters_and_digits() -> None:
    assert normalize("أحمد إبراهيم آمال ٱلله") == "احمد ابراهيم امال الله"
    assert normalize("مستشفى مدرسة") == "مستشفي مدرسه"
    assert normalize("عام ٢٠٢٢ و۱۴") == "عام 2022 و14"


def test_normalize_drops_invisible_controls() -> None:
    assert normalize("إد\u200fلب\u200b \u2068ABC\u2069") == "ادلب abc"


def test_light_stem_keeps_three_letters() -> None:
    assert light_stem("والفصائل") == "فصائل"
    assert light_stem("بالصواريخ") == "صواريخ"
    assert light_stem("وحميميم") == "حميميم"
    assert light_stem("لهم") == "لهم"
    assert light_stem("فلسطين") == "فلسط"  # never لسط: a lone ف is not stripped
    assert light_stem("بلد") == "بلد"


def test_search_terms_drop_question_words() -> None:
    assert search_terms("من فاز بكأس العالم؟") == ["فاز", "بكاس", "عالم"]
    assert words("متى؟ اليوم!") == ["متي", "اليوم"]


def test_index_text_matches_query_terms() -> None:
    assert "حميميم" in index_text("قاعدتهم في “حميميم” بريف اللاذقية").split()


def test_split_sentences_on_arabic_marks() -> None:
    text = "هل جاء؟ نعم جاء. ثم ذهب؛ وعاد!\nسطر جديد"
    assert [s.text for s in split_sentences(text)] == [
        "هل جاء؟",
        "نعم جاء.",
        "ثم ذهب؛",
        "وعاد!",
        "سطر جديد",
    ]


def test_split_sentences_keeps_commas_decimals_and_titles() -> None:
    text = "قال د. أحمد، وهو طبيب، إن النسبة 3.5 بالمئة. وانتهى"
    assert [s.text for s in split_sentences(text)] == [
        "قال د. أحمد، وهو طبيب، إن النسبة 3.5 بالمئة.",
        "وانتهى",
    ]


def test_split_sentences_offsets_index_the_text() -> None:
    text = "  أولاً قال “نعم.” ثانياً…  ثالثاً "
    for s in split_sentences(text):
        assert text[s.start : s.end] == s.text
    assert [s.text for s in split_sentences(text)] == ["أولاً قال “نعم.”", "ثانياً…", "ثالثاً"]
