"""A local web server (127.0.0.1) with article pages and feeds, for the admin tests."""

from __future__ import annotations

from collections import Counter

from bot.tools.newssite import NewsServer, Page

ARTICLE_TITLE = "افتتاح مهرجان التمور السنوي في واحة سيوة"
ARTICLE_PARAGRAPHS = (
    "افتتح محافظ مطروح صباح اليوم مهرجان التمور السنوي في واحة سيوة بمشاركة أكثر من"
    " مئتي مزارع من قرى الواحة، وعرض المزارعون أصناف التمر السيوي والفريحي والعزاوي.",
    "وقال رئيس جمعية المزارعين إن موسم الحصاد هذا العام كان الأفضل منذ عشر سنوات، وإن"
    " الواحة صدّرت نحو ثلاثين ألف طن من التمور إلى الأسواق الأوروبية والخليجية.",
    "ويستمر المهرجان ثلاثة أيام تتضمن مسابقة لأجود أنواع التمور وندوات عن الري بالتنقيط"
    " وحماية النخيل من سوسة النخيل الحمراء التي أضرت بمزارع كثيرة في السنوات الماضية.",
)
QUESTION = "كم طناً من التمور صدّرت واحة سيوة؟"
FEED_TITLE = "أخبار الواحات"


def article_html(
    title: str = ARTICLE_TITLE, paragraphs: tuple[str, ...] = ARTICLE_PARAGRAPHS
) -> str:
    """Return a news page: navigation, the article, a footer."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        '<!doctype html><html lang="ar" dir="rtl"><head><meta charset="utf-8">'
        f"<title>{title}</title>"
        '<meta property="og:site_name" content="صحيفة الواحة">'
        '<meta property="article:published_time" content="2024-10-05T09:00:00+00:00">'
        "</head><body><nav><a href='/'>الرئيسية</a> <a href='/sport'>رياضة</a></nav>"
        f"<article><h1>{title}</h1>{body}</article>"
        "<footer>جميع الحقوق محفوظة</footer></body></html>"
    )


def feed_xml(base: str, n: int = 2) -> str:
    """Return an RSS feed with n entries pointing at this server."""
    items = "".join(
        f"<item><title>خبر رقم {i}</title><link>{base}/news/{i}.html</link>"
        f"<guid>{base}/news/{i}.html</guid><description>ملخص الخبر رقم {i}</description></item>"
        for i in range(n)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{FEED_TITLE}</title><link>{base}/</link><description>أخبار</description>"
        f"{items}</channel></rss>"
    )


class Pages:
    """The admin tests' pages on the shared local news server, and what was fetched."""

    def __init__(self, server: NewsServer) -> None:
        self.server = server
        self.base = server.url("").rstrip("/")
        big = article_html() + "<!--" + "x" * 200_000 + "-->"
        for path, body in (
            ("article.html", article_html()),
            ("short.html", article_html("قصير", ("سطر واحد قصير.",))),
            ("big.html", big),
            ("notfeed.html", article_html()),
        ):
            server.pages[path] = Page(body.encode())
        server.pages["feed.xml"] = Page(feed_xml(self.base).encode(), "application/rss+xml")

    @property
    def hits(self) -> Counter[str]:
        """Return how many times each path was fetched."""
        return Counter(path for path, _ in self.server.requests)
