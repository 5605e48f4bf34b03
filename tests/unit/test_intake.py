"""Parsing scraped article text and front matter."""

import itertools
from pathlib import Path

from retrieval.chunker import Chunker, whitespace_tokens
from retrieval.intake import article_files, parse_article, read_article_file

SEED = next((Path(__file__).resolve().parents[2] / "seeds").glob("*.txt"))


def test_seed_title_source_and_boilerplate() -> None:
    draft = read_article_file(SEED)
    assert draft.title == "روسيا ترفض طلب تركي بخصوص مدينة إدلب وتركيا ترد"
    assert draft.source == "مدونة هادي العبد الله"
    assert "تخطى إلى المحتوى" not in draft.body
    assert "إقرأ أيضاً" not in draft.body
    assert "مدونة هادي العبد الله" not in draft.body
    assert draft.body.startswith("لا يزال التصعيد على محافظة إدلب")
    # Captions and subheads stay as short paragraphs.
    assert "\n\nهاون أكار التركي الصنع\n\n" in draft.body
    assert "\n\nاتصالات متوالية\n\n" in draft.body
    assert draft.url == "" and draft.published == "" and draft.dated_at_ingest


def test_front_matter_overrides() -> None:
    text = (
        "title: عنوان الخبر\nsource: وكالة الأنباء\nurl: https://example.com/a\n"
        "published: 2024-03-01\n---\nالفقرة الأولى من الخبر، وفيها تفاصيل.\n\nالفقرة الثانية."
    )
    draft = parse_article(text)
    assert (draft.title, draft.source, draft.url, draft.published) == (
        "عنوان الخبر",
        "وكالة الأنباء",
        "https://example.com/a",
        "2024-03-01",
    )
    assert draft.body == "الفقرة الأولى من الخبر، وفيها تفاصيل.\n\nالفقرة الثانية."


def test_no_front_matter_when_first_line_is_prose() -> None:
    draft = parse_article("عنوان: خبر عاجل\n\nنص الخبر هنا، بالتفصيل.\n\nوكالة")
    assert draft.title == "عنوان: خبر عاجل"
    assert draft.body == "نص الخبر هنا، بالتفصيل."
    assert draft.source == "وكالة"


def test_chunk_offsets_reproduce_the_body() -> None:
    body = read_article_file(SEED).body
    spans = Chunker(whitespace_tokens, max_tokens=150, overlap=1).chunk(body)
    assert len(spans) >= 3
    for span in spans:
        assert body[span.start : span.end] == span.text
    # One sentence of overlap: each chunk starts at the previous chunk's last sentence.
    for prev, nxt in itertools.pairwise(spans):
        assert prev.start < nxt.start < prev.end
    assert spans[0].start == 0 and spans[-1].end == len(body.rstrip())
    assert [s.order for s in spans] == list(range(len(spans)))


def test_chunker_budget_and_long_sentence() -> None:
    body = "كلمة " * 50 + ". قصيرة."
    spans = Chunker(whitespace_tokens, max_tokens=10, overlap=0).chunk(body)
    assert [whitespace_tokens(s.text) for s in spans] == [51, 1]


def test_article_files_expands_folders(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("x")
    (tmp_path / "a.md").write_text("x")
    (tmp_path / "c.json").write_text("x")
    assert [p.name for p in article_files([tmp_path])] == ["a.md", "b.txt"]
