"""Small made-up articles for tests that need a corpus of many batches."""

from __future__ import annotations

from retrieval.models import ArticleDraft

TOWNS = ["حلب", "حمص", "درعا", "الرقة", "دير الزور", "اللاذقية", "طرطوس", "حماة"]


def filler(i: int) -> ArticleDraft:
    """Return a small article of its own (one chunk) so the corpus has many batches."""
    town = TOWNS[i % len(TOWNS)]
    body = (
        f"أعلن المجلس المحلي في {town} اليوم عن مشروع رقم {i} لإصلاح شبكة المياه في الأحياء"
        f" الشرقية، وقال رئيس المجلس إن الأعمال تستمر {i + 2} أسابيع وإن التمويل جاء من"
        f" منظمات محلية. وأضاف أن السكان سيحصلون على المياه بانتظام بعد انتهاء المرحلة {i}."
    )
    return ArticleDraft(f"مشروع مياه رقم {i} في {town}", body, "مصدر محلي", published="2024-01-01")
