"""`isnad eval`: metrics, the SQuAD loader, the embedding cache and the news-domain check."""

import json
import math
from datetime import datetime
from pathlib import Path

import pytest
from support.embedders import HashingEmbedder

import bot.cli as cli
from bot.factory import answer_config, search_config
from bot.settings import Settings
from retrieval.embedding import Embedder
from retrieval.embedding_cache import CachedEmbedder
from retrieval.evaluation import (
    EvalSet,
    contains_answer,
    evaluate,
    load_squad,
    retrieval_metrics,
)

ROOT = Path(__file__).resolve().parents[2]
EVAL_DIR = ROOT.parent / "shared" / "eval"
NEWS_CHECK = ROOT / "retrieval" / "data" / "news_check.json"
METRICS = {"recall@1", "recall@5", "recall@20", "mrr@10", "ndcg@10"}


def squad(path: Path, entries: list[tuple[str, str, list[tuple[str, list[str]]]]]) -> Path:
    """Write a SQuAD-format file of (title, context, [(question, answers)])."""
    data = [
        {
            "title": title,
            "paragraphs": [
                {
                    "context": context,
                    "qas": [
                        {
                            "id": f"{n}-{i}",
                            "question": q,
                            "answers": [{"text": a, "answer_start": context.find(a)} for a in ans],
                        }
                        for i, (q, ans) in enumerate(qas)
                    ],
                }
            ],
        }
        for n, (title, context, qas) in enumerate(entries)
    ]
    path.write_text(json.dumps({"data": data}, ensure_ascii=False), encoding="utf-8")
    return path


def test_metrics_on_a_hand_made_case() -> None:
    rankings = [
        [7, 3, 5],  # gold first
        [3, 7, 5],  # gold second
        [*range(100, 110), 7],  # gold eleventh: in recall@20, not in mrr@10
        [1, 2, 3],  # gold absent
    ]
    figures = retrieval_metrics(rankings, [7, 7, 7, 7])
    assert figures == pytest.approx(
        {
            "recall@1": 1 / 4,
            "recall@5": 2 / 4,
            "recall@20": 3 / 4,
            "mrr@10": (1 + 1 / 2) / 4,
            "ndcg@10": (1 + 1 / math.log2(3)) / 4,
        }
    )
    assert retrieval_metrics([], []) == dict.fromkeys(METRICS, 0.0)
    with pytest.raises(ValueError):
        retrieval_metrics([[1]], [1, 2])


def test_containment_folds_arabic_spelling() -> None:
    sentences = ["قال الرئيسُ إنّ الاجتماعَ سيعقد في  مدينة الإسكندرية.", "جملة ثانية."]
    assert contains_answer(sentences, ["مدينة الاسكندريه"])
    assert contains_answer(sentences, ["غير موجود", "سيعقد في مدينة"])
    assert not contains_answer(sentences, ["القاهرة"])
    assert not contains_answer([], ["مدينة"])
    assert not contains_answer(sentences, [""])


def test_loader_dedupes_contexts_and_strips_questions(tmp_path: Path) -> None:
    path = squad(
        tmp_path / "s.json",
        [
            ("أ", "فقرة أولى عن الطقس.", [(" - ما حال الطقس؟ ", ["الطقس"])]),
            ("ب", "فقرة ثانية عن الاقتصاد.", [("ما حال الاقتصاد؟", ["الاقتصاد"])]),
            ("أ", "فقرة أولى عن الطقس.", [("عن ماذا الفقرة؟", ["الطقس"])]),
        ],
    )
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["data"][1]["paragraphs"][0]["qas"].append(
        {"id": "x", "question": "سؤال بلا جواب؟", "answers": [], "is_impossible": True}
    )
    path.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    ds = load_squad(path)
    assert ds.paragraphs == (("أ", "فقرة أولى عن الطقس."), ("ب", "فقرة ثانية عن الاقتصاد."))
    assert [(q.text, q.paragraph, q.answers) for q in ds.questions] == [
        ("ما حال الطقس؟", 0, ("الطقس",)),
        ("ما حال الاقتصاد؟", 1, ("الاقتصاد",)),
        ("سؤال بلا جواب؟", None, ()),
        ("عن ماذا الفقرة؟", 0, ("الطقس",)),
    ]
    first = load_squad(path, max_paragraphs=1)
    assert first.paragraphs == (("أ", "فقرة أولى عن الطقس."),)
    assert [q.text for q in first.questions] == ["ما حال الطقس؟", "عن ماذا الفقرة؟"]


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, counting the texts it really embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.documents = 0
        self.queries = 0

    def embed_documents(self, texts, progress=None):  # type: ignore[no-untyped-def]
        self.documents += len(texts)
        return super().embed_documents(texts, progress)

    def embed_query(self, text):  # type: ignore[no-untyped-def]
        self.queries += 1
        return super().embed_query(text)


def test_cache_embeds_each_text_once(tmp_path: Path) -> None:
    inner = CountingEmbedder()
    cache = CachedEmbedder(inner, tmp_path / "c" / "e.sqlite")
    first = cache.embed_documents(["نص أول", "نص ثان", "نص أول"])
    assert inner.documents == 2
    again = CachedEmbedder(inner, tmp_path / "c" / "e.sqlite")  # a new process, same file
    second = again.embed_documents(["نص ثان", "نص أول"])
    assert inner.documents == 2
    assert second.tolist() == [first[1].tolist(), first[0].tolist()]
    q = again.embed_query("نص أول")
    assert again.embed_query("نص أول").tolist() == q.tolist() and inner.queries == 1
    # A question is prompted differently from a passage: never served from the other.
    assert q.tolist() == inner.embed_query("نص أول").tolist()
    cache.close()
    again.close()


async def test_evaluate_on_a_hand_made_corpus(tmp_path: Path) -> None:
    path = squad(
        tmp_path / "hand.json",
        [
            ("طقس", "هطلت أمطار غزيرة على مدينة جدة يوم الخميس.", [("أين هطلت الأمطار؟", ["جدة"])]),
            ("رياضة", "فاز فريق الأهلي على الزمالك بهدفين.", [("من فاز على الزمالك؟", ["الأهلي"])]),
            ("علوم", "أطلقت الوكالة قمرا صناعيا لرصد الأرض.", [("سؤال لا يطابق شيئا؟", ["قمرا"])]),
        ],
    )
    report = await evaluate(
        load_squad(path), HashingEmbedder(), answer=answer_config(Settings(_env_file=None))
    )
    # Lexically, two questions share words with their paragraph only; one matches nothing.
    assert report.systems["lexical"]["recall@1"] == pytest.approx(2 / 3)
    assert report.systems["lexical"]["recall@20"] == pytest.approx(2 / 3)
    assert set(report.systems) == {"lexical", "dense", "hybrid"}
    assert (report.paragraphs, report.questions) == (3, 3)


@pytest.fixture
def eval_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CountingEmbedder:
    """Run the CLI with the hashing embedder and the cache in tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ISNAD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ISNAD_EMBEDDING_CACHE_DIR", str(tmp_path / "cache"))
    inner = CountingEmbedder()
    monkeypatch.setattr(cli, "load_embedder", lambda settings: inner)
    return inner


@pytest.mark.skipif(not EVAL_DIR.is_dir(), reason=f"no development sets at {EVAL_DIR}")
def test_eval_command_json_on_a_slice(
    eval_env: CountingEmbedder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["eval", str(EVAL_DIR / "arcd-train.json"), "--max-paragraphs", "4", "--json"]
    assert cli.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"dataset", "paragraphs", "questions", "systems", "answer", "seconds"}
    assert out["dataset"] == "arcd-train.json" and out["paragraphs"] == 4
    assert out["questions"] == len(load_squad(EVAL_DIR / "arcd-train.json", 4).questions)
    assert set(out["systems"]) == {"lexical", "dense", "hybrid"}
    for figures in out["systems"].values():
        assert set(figures) == METRICS and all(0 <= v <= 1 for v in figures.values())
        assert figures["recall@1"] <= figures["recall@5"] <= figures["recall@20"]
    outcomes = {"answered", "not_stated", "declined", "questions"}
    assert set(out["answer"]) == {"containment", "answered_rate"} | outcomes
    assert out["answer"]["answered"] == out["answer"]["answered_rate"]
    assert not (tmp_path / "data").exists()  # the bot's database is never touched
    embedded = eval_env.documents
    assert embedded >= 4
    # A re-run takes every vector from the cache.
    assert cli.main([*argv[:-1], "--systems", "dense"]) == 0
    assert eval_env.documents == embedded
    assert "dense" in capsys.readouterr().out
    # Gold removed: every question asked again without its paragraph(s); features written.
    features = tmp_path / "features.jsonl"
    assert cli.main([*argv, "--gold-removed", "--features", str(features)]) == 0
    answer = json.loads(capsys.readouterr().out)["answer"]
    assert answer["gold_removed_questions"] == out["questions"]
    shares = [answer[f"gold_removed_{o}"] for o in ("answered", "not_stated", "declined")]
    assert sum(shares) == pytest.approx(1.0)
    rows = [json.loads(line) for line in features.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2 * out["questions"]
    assert [r["gold_removed"] for r in rows].count(True) == out["questions"]
    assert {r["kind"] for r in rows} == {"answerable"}


def test_eval_command_rejects_unknown_system(
    eval_env: CountingEmbedder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["eval", str(NEWS_CHECK), "--systems", "bm25"]) == 1
    assert capsys.readouterr().err.startswith("isnad: unknown system 'bm25'")


@pytest.mark.model
async def test_news_check_answers_and_refuses(real_embedder: Embedder) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    report = await evaluate(
        load_squad(NEWS_CHECK),
        real_embedder,
        chunk_tokens=settings.chunk_tokens,
        chunk_overlap=settings.chunk_overlap,
        search=search_config(settings),
        answer=answer_config(settings),
    )
    missed = [
        (r.question.text, r.sentences)
        for r in report.results
        if r.question.paragraph is not None and not r.contained
    ]
    assert missed == []
    wrongly_answered = [
        r.question.text for r in report.results if r.question.paragraph is None and r.answered
    ]
    assert wrongly_answered == []
    assert report.answer["refused_rate"] == 1.0 and report.answer["unanswerable"] == 6
    assert report.systems["hybrid"]["recall@5"] == 1.0


def test_a_news_set_is_asked_on_its_newest_reports_day() -> None:
    news = EvalSet(
        "days",
        (("a", "نص"), ("b", "نص آخر"), ("c", "نص ثالث")),
        (),
        (
            ("sabq", "u1", "2015-08-02 09:00:00"),
            ("okaz", "u2", "2015-08-03T21:15:00"),
            ("was", "u3", ""),
        ),
    )
    assert news.asked_at() == datetime(2015, 8, 3, 21, 15)
    # A set without dates (SQuAD files) is asked now, where time words narrow nothing.
    assert EvalSet("squad", (("a", "نص"),), ()).asked_at() is None
