"""Stories at ingest: join, start, copies; kept through restart, delete, re-embed and upgrade."""

from pathlib import Path

import numpy as np
from support.embedders import KeyedEmbedder

from retrieval.engine import Engine
from retrieval.models import ArticleDraft
from retrieval.store import CorpusStore
from retrieval.stories import StoryConfig

# Lead vectors by key word: the Jazan flood articles lie at cosine 1, the Najran flood at
# 0.82 from them, the match far away.
KEYS = {
    "سيول": [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    "جازان": [0.0, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    "نجران": [0.0, 0.0, 0.6, 0.0, 0.0, 0.0, 0.0, 0.0],
    "مباراة": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
}
FLOOD = (
    "أعلن الدفاع المدني في منطقة جازان اليوم وفاة 11 شخصا بسبب السيول التي اجتاحت محافظة"
    " صامطة وقرى الحرث، وقال المتحدث الرسمي العقيد يحيى القحطاني إن الفرق نقلت 45 أسرة"
    " إلى مساكن مؤقتة، وإن البحث جار عن مفقودين في وادي خلب بعد ارتفاع منسوب المياه"
    " في السدود القريبة من المحافظة، فيما دعت الإمارة السكان إلى الابتعاد عن مجاري"
    " الأودية حتى إشعار آخر من الجهات المختصة."
)
FLOOD_RETOLD = (
    "قال العقيد يحيى القحطاني المتحدث باسم الدفاع المدني بجازان إن السيول في صامطة"
    " أودت بحياة 11 شخصا، وإن 45 أسرة أخليت من منازلها في الحرث ووادي خلب."
)
FLOOD_COPY = FLOOD.replace("اليوم", "مساء اليوم").replace("التي اجتاحت", "اللي اجتاحت")
# Same kind of event, same day, another place: no names or numbers in common.
OTHER_FLOOD = (
    "غرقت سيارتان في سيول نجران مساء أمس، وأنقذ رجال الإنقاذ في بدر الجنوب ثلاثة"
    " ركاب، وأكد الناطق الإعلامي أن الطريق بين شرورة والوديعة أغلق مؤقتا."
)
MATCH = "فاز الهلال على النصر في مباراة الديربي بهدفين نظيفين في ملعب الملك فهد."

DAY = "2015-08-02T10:00:00"


def draft(title: str, body: str, source: str, hour: int = 10, day: str = "02") -> ArticleDraft:
    return ArticleDraft(
        title,
        body,
        source,
        f"https://{source}.example/{hash(body) & 0xFFFF}/{hour}",
        f"2015-08-{day}T{hour:02d}:00:00",
    )


async def open_engine(path: Path, database_url: str = "") -> Engine:
    store = await CorpusStore.open_location(database_url, path / "c.db")
    return await Engine.open(store, KeyedEmbedder(KEYS), path / "c.faiss")


async def test_join_start_and_copy(tmp_path: Path, database_url: str) -> None:
    engine = await open_engine(tmp_path, database_url)
    results = await engine.ingest(
        [
            draft("سيول جازان", FLOOD, "واس", 10),
            draft("وفاة 11 في سيول جازان", FLOOD_RETOLD, "عكاظ", 11),
            draft("السيول تقتل 11 بجازان", FLOOD_COPY, "سبق", 12),
            draft("سيول نجران", OTHER_FLOOD, "الرياض", 12),
            draft("الديربي", MATCH, "الرياضي", 13),
        ]
    )
    ids = [r.article.id for r in results if r.article]
    stories = [r.story_id or 0 for r in results]
    assert stories[0] == stories[1] == stories[2] != 0
    assert len({stories[0], stories[3], stories[4]}) == 3
    assert [r.copy_of for r in results] == [None, None, ids[0], None, None]
    assert await engine.store.article_stories(ids) == dict(zip(ids, stories, strict=True))
    assert await engine.store.article_copies(ids) == {ids[2]: ids[0]}
    assert await engine.store.story_sources([stories[0]]) == {stories[0]: ["واس", "عكاظ", "سبق"]}
    assert (await engine.store.stats()).stories == 3
    await engine.close()


async def test_window_keeps_old_stories_apart(tmp_path: Path, database_url: str) -> None:
    engine = await open_engine(tmp_path, database_url)
    first, late = await engine.ingest(
        [draft("سيول جازان", FLOOD, "واس", 10, "02"), draft("سيول", FLOOD_RETOLD, "عكاظ", 10, "09")]
    )
    assert first.story_id != late.story_id
    await engine.close()


async def test_stories_kept_through_restart_delete_reembed(
    tmp_path: Path, database_url: str
) -> None:
    engine = await open_engine(tmp_path, database_url)
    results = await engine.ingest(
        [
            draft("سيول جازان", FLOOD, "واس", 10),
            draft("وفاة 11", FLOOD_RETOLD, "عكاظ", 11),
            draft("السيول", FLOOD_COPY, "سبق", 12),
            draft("الديربي", MATCH, "الرياضي", 13),
        ]
    )
    original, retold, copy, match = (r.article.id for r in results if r.article)
    story = results[0].story_id
    await engine.close()

    engine = await open_engine(tmp_path, database_url)  # a restart keeps every story
    before = await engine.store.article_stories([original, retold, copy, match])
    assert before == {original: story, retold: story, copy: story, match: results[3].story_id}
    # Deleting the original leaves its story with the others; the copy is no copy now.
    assert await engine.delete_article(original)
    assert await engine.store.article_stories([retold, copy]) == {retold: story, copy: story}
    assert await engine.store.article_copies([retold, copy]) == {}
    # A story whose last article goes, goes.
    assert await engine.delete_article(match)
    assert (await engine.store.stats()).stories == 1
    # A re-embed keeps the stories as they are (they are facts about articles).
    await engine.reembed()
    assert await engine.store.article_stories([retold, copy]) == {retold: story, copy: story}
    # An article arriving later still finds the story through the re-embedded vectors.
    (late,) = await engine.ingest([draft("سيول جازان", FLOOD + " تحديث.", "اليوم", 14)])
    assert late.story_id == story
    await engine.close()


async def test_story_ids_never_reused(tmp_path: Path, database_url: str) -> None:
    engine = await open_engine(tmp_path, database_url)
    (first,) = await engine.ingest([draft("الديربي", MATCH, "الرياضي")])
    assert first.article is not None and await engine.delete_article(first.article.id)
    (second,) = await engine.ingest([draft("سيول", FLOOD, "واس")])
    assert second.story_id is not None and second.story_id > (first.story_id or 0)
    await engine.close()


async def test_articles_stored_before_stories_are_placed_at_start(
    tmp_path: Path, database_url: str
) -> None:
    engine = await open_engine(tmp_path, database_url)
    results = await engine.ingest(
        [
            draft("سيول جازان", FLOOD, "واس", 10),
            draft("وفاة 11", FLOOD_RETOLD, "عكاظ", 11),
            draft("الديربي", MATCH, "الرياضي", 13),
        ]
    )
    ids = [r.article.id for r in results if r.article]
    # As a database from before stories: no story rows at all.
    await engine.store.db.execute("DELETE FROM article_stories")
    await engine.store.db.commit()
    assert (await engine.store.stats()).stories == 0
    await engine.close()
    engine = await open_engine(tmp_path, database_url)
    placed = await engine.store.article_stories(ids)
    assert placed[ids[0]] == placed[ids[1]] != placed[ids[2]]
    assert (await engine.store.stats()).stories == 2
    await engine.close()


async def test_cosine_alone_does_not_join(tmp_path: Path, database_url: str) -> None:
    # The two floods embed alike (both hold سيول) but share no rare name or number.
    store = await CorpusStore.open_location(database_url, tmp_path / "c.db")
    engine = await Engine.open(
        store, KeyedEmbedder(KEYS), tmp_path / "c.faiss", stories=StoryConfig(join_cosine=0.5)
    )
    a, b = await engine.ingest(
        [draft("سيول جازان", FLOOD, "واس", 10), draft("سيول نجران", OTHER_FLOOD, "الرياض", 11)]
    )
    assert a.story_id != b.story_id
    vecs = [np.vstack(await store.article_vectors(r.article.id))[0] for r in (a, b) if r.article]
    assert float(vecs[0] @ vecs[1]) > 0.5
    await engine.close()


async def test_a_re_embed_replaces_the_vectors_stories_compare(
    tmp_path: Path, database_url: str
) -> None:
    engine = await open_engine(tmp_path, database_url)
    first, _ = await engine.ingest(
        [draft("سيول جازان", FLOOD, "واس", 10), draft("الديربي", MATCH, "الرياضي", 10)]
    )
    # Another model: the flood now lies on another axis. Compared with the old vectors
    # (kept from the ingest above), the next article would start a story of its own.
    moved = {**KEYS, "سيول": [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]}
    engine.embedder = KeyedEmbedder(moved)
    await engine.reembed()
    (late,) = await engine.ingest([draft("وفاة 11", FLOOD_RETOLD, "عكاظ", 11)])
    assert late.story_id == first.story_id
    await engine.close()
