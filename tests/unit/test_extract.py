"""Article pages to drafts (charsets, metadata, no text) and simhash near-duplicates."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from support.neardup_samples import UNRELATED, heavy_rewrite, light_copies

from bot.tools.newssite import article_page
from retrieval.extract import NoTextError, decode_html, extract_page
from retrieval.intake import read_article_file
from retrieval.neardup import NEAR_DUP_DISTANCE, hamming, nearest, simhash, to_signed, to_unsigned

ROOT = Path(__file__).resolve().parents[2]
SEED = replace(
    read_article_file(next((ROOT / "seeds").glob("*.txt"))),
    source="مدونة هادي العبد الله",
    author="هادي العبد الله",
    published="2019-09-02T10:00:00+03:00",
)


@pytest.mark.parametrize(
    ("encoding", "meta", "declared", "wrong"),
    [
        ("utf-8", "utf-8", "utf-8", False),
        ("cp1256", "windows-1256", "windows-1256", False),
        ("cp1256", "windows-1256", None, False),  # only the meta tag says it
        ("cp1256", "windows-1256", "utf-8", True),  # header lies
        ("cp1256", "utf-8", "iso-8859-1", True),  # header and meta both lie
        ("utf-8", "windows-1256", "windows-1256", True),
    ],
)
def test_page_decoded_and_extracted(
    encoding: str, meta: str, declared: str | None, wrong: bool
) -> None:
    data = article_page(SEED, meta_charset=meta).encode(encoding)
    assert decode_html(data, declared).declared_wrong is wrong
    draft = extract_page(data, declared, "http://news.example/a")
    assert draft.title == SEED.title
    assert draft.body == SEED.body  # headline, nav and footer left out; paragraphs kept
    assert (draft.source, draft.author, draft.published, draft.url) == (
        "مدونة هادي العبد الله",
        "هادي العبد الله",
        "2019-09-02",
        "http://news.example/a",
    )


def test_page_without_text_is_refused() -> None:
    stub = replace(SEED, body="اشترك لتقرأ الخبر كاملاً.")
    with pytest.raises(NoTextError, match="too little text"):
        extract_page(article_page(stub).encode(), "utf-8", "http://news.example/b")
    with pytest.raises(NoTextError):
        extract_page(b"<html><body><nav>a b c</nav></body></html>", None)


def test_simhash_threshold() -> None:
    """The figures behind NEAR_DUP_DISTANCE; see the comment there."""
    base = simhash(SEED.body)
    copies = {name: hamming(base, simhash(text)) for name, text in light_copies(SEED).items()}
    assert max(copies.values()) <= 8, copies
    others = [simhash(t) for t in (*UNRELATED, SEED.body)]
    unrelated = [hamming(a, b) for i, a in enumerate(others) for b in others[i + 1 :]]
    assert min(unrelated) >= 22, sorted(unrelated)
    assert hamming(base, simhash(heavy_rewrite())) > NEAR_DUP_DISTANCE
    assert max(copies.values()) < NEAR_DUP_DISTANCE < min(unrelated)


def test_simhash_storage_and_nearest() -> None:
    h = simhash(SEED.body)
    assert to_unsigned(to_signed(h)) == h and -(2**63) <= to_signed(h) < 2**63
    copy = simhash(light_copies(SEED)["synonyms swapped"])
    assert nearest(copy, [(1, simhash(UNRELATED[0])), (2, h)]) == (2, hamming(copy, h))
    assert nearest(copy, [(1, simhash(UNRELATED[0]))]) is None
    assert simhash("") == 0 and hamming(0, 2**64 - 1) == 64
