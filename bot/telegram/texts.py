"""Every string a user reads, in Arabic, and the plain-text answer layout."""

from __future__ import annotations

from datetime import datetime, timedelta

from retrieval.models import Answer, AnswerSentence, Citation, TimeScope

ANSWER_HEADING = "الجواب:"
SOURCES_HEADING = "المصادر:"
NO_ANSWER = "لا أجد في الأخبار المتوفرة لديّ جواباً عن هذا السؤال."
NOT_STATED = "الأخبار المتوفرة لديّ تتناول هذا الموضوع لكنها لا تذكر ما تسأل عنه."
CLOSEST_HEADING = "أقرب ما تذكره:"
NEAREST_HEADLINES = "أقرب العناوين إلى سؤالك:"
UNKNOWN_DATE = "تاريخ غير معروف"
UNKNOWN_SOURCE = "مصدر غير معروف"
UNTITLED = "مقال بلا عنوان"
REPORTS_DIFFER = "تختلف الروايات:"
CREDITED = "(عن {agency})"
LIST_JOIN = "، "
_ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def reported_by(outlets: int) -> str:
    """Say how many outlets report a quote: «أورده مصدران», «أوردته ٣ مصادر»."""
    n = str(outlets).translate(_ARABIC_DIGITS)
    if outlets == 2:
        return "أورده مصدران"
    if 3 <= outlets <= 10:
        return f"أوردته {n} مصادر"
    return f"أوردته {n} مصدراً"


# -- time words (docs/time.md) ------------------------------------------------
TIME_WINDOW_NOTE = "من الأخبار المنشورة {when}:"
TIME_LATEST_NOTE = "الأحدث أولاً:"
TIME_NOTHING_IN_WINDOW = "لا أجد في الأخبار المتوفرة لديّ عن هذا الموضوع خبراً نُشر {when}."
TIME_NEWEST_HEADING = "أحدث ما لديّ عن الموضوع (نُشر قبل ذلك أو بعده):"
TIME_DAY = "يوم {day}"
TIME_DAYS = "بين {start} و {end}"
TIME_HOURS = "بين {start} و {end}"

# -- the Telegram bot ---------------------------------------------------------

BOT_NAME = "إسناد"
EXAMPLE_QUESTION = "ماذا قال وزير الدفاع التركي عن إدلب؟"

WELCOME = (
    "أهلاً بك في «إسناد». أجيب عن أسئلتك عن الأخبار من مجموعة مقالات إخبارية:"
    " أقتبس الجمل كما وردت في الخبر، وأذكر مصدر كل جملة، ولا أكتب معلومات من عندي."
)
WELCOME_KNOWS = "ما أعرفه الآن: عدد المقالات {articles}، وعدد المصادر {sources}."
WELCOME_NEWEST = "أحدث خبر لديّ بتاريخ {newest}."
WELCOME_EMPTY = "لا توجد في مجموعتي مقالات بعد؛ سأجيب حين تضاف الأخبار."
HOW_TO_ASK = "اكتب سؤالك في رسالة، مثل: «{example}»، أو أرسله بعد الأمر /ask."
IN_GROUPS = "في المجموعات: استعمل /ask، أو اذكرني بـ {mention}، أو ردّ على إحدى رسائلي."
HOW_TO_SUBSCRIBE = (
    "للتنبيه بالأخبار الجديدة: /subscribe لكل الأخبار، أو /subscribe متبوعاً بموضوع،"
    " و /unsubscribe all لإيقاف كل التنبيهات."
)
SEE_HELP = "للمساعدة: /help"

HELP_HEADING = "كيف تستعمل «إسناد»:"
HELP_POINTS = (
    "اكتب سؤالك عن خبر، فأجيبك بجمل مقتبسة من المقالات، بعد كل جملة رقم مصدرها مثل [1].",
    "تحت كل جواب زرّان: «نتائج أخرى» لمقاطع إضافية، و«المصادر» لقائمة المصادر كاملة.",
    "إن لم أجد جواباً قلت ذلك صراحة، وعرضت أقرب العناوين إلى سؤالك.",
    "أفهم العربية أولاً، وأجيب عن الأسئلة بلغات أخرى من الأخبار نفسها.",
)
COMMANDS_HEADING = "الأوامر:"

# Commands shown in Telegram's menu, in this order; a command registered by any
# module appears there when it has a description here.
COMMAND_DESCRIPTIONS = {
    "start": "رسالة الترحيب",
    "ask": "اسأل عن خبر: /ask ثم سؤالك",
    "sources": "ما تحتويه مجموعة الأخبار",
    "about": "عن البوت وكيف تُبنى الإجابات",
    "help": "طريقة الاستعمال والأوامر",
    "subscribe": "اشترك في تنبيهات الأخبار الجديدة",
    "unsubscribe": "أوقف تنبيهات الأخبار",
}

CORPUS_HEADING = "ما تحتويه مجموعة الأخبار:"
CORPUS_ARTICLES = "عدد المقالات: {articles}"
CORPUS_NEWEST = "أحدث مقال:"
CORPUS_SOURCES = "المصادر:"
CORPUS_SOURCE_LINE = "• {source}: {count}"
CORPUS_EMPTY = "لا توجد مقالات في المجموعة بعد."

ABOUT_HEADING = "عن «إسناد»:"
ABOUT_MODEL = "نموذج البحث بالمعنى: {model}"
ABOUT_SIZE = "حجم المجموعة: عدد المقالات {articles}، وعدد المقاطع {chunks}."
ABOUT_HOW = (
    "كيف تُبنى الإجابات: أبحث في المقالات بالمعنى (نموذج تضمين متعدد اللغات) وبالكلمات"
    " (فهرس نصي) معاً، وأدمج الترتيبين، ثم أقتبس من أفضل المقاطع جملة إلى ثلاث جمل"
    " كما وردت حرفياً، وأذكر مصدر كل جملة. لا أكتب معلومات من عندي، وإن كانت الأدلة"
    " ضعيفة قلت إنني لا أجد جواباً."
)

PASSAGES_HEADING = "المقاطع التي اقتبستُ منها:"
MORE_HEADING = "نتائج أخرى لسؤالك:"
ALL_SOURCES_HEADING = "المصادر التي وجدتُها لسؤالك:"
BUTTON_MORE = "نتائج أخرى"
BUTTON_SOURCES = "المصادر"
BUTTON_EXPIRED = "انتهت صلاحية هذا الزر. أعد إرسال سؤالك لأبحث من جديد."
NO_MORE_RESULTS = "لا توجد نتائج أخرى لهذا السؤال."

EMPTY_QUESTION = "لم أجد سؤالاً في رسالتك. اكتب سؤالك عن خبر، مثل: «{example}»."
ASK_USAGE = "اكتب سؤالك بعد الأمر، مثل: /ask {example}"
NO_WORDS = "رسالتك لا تحوي كلمات أبحث بها، بل رموزاً أو علامات فقط. اكتب سؤالك بالكلمات."
TEXT_ONLY = "أفهم الرسائل النصية فقط. اكتب سؤالك نصاً وسأبحث لك في الأخبار."
EDITED = "لا أعيد الإجابة عن الرسائل المعدّلة. أرسل سؤالك المعدّل في رسالة جديدة."
UNKNOWN_COMMAND = "لا أعرف الأمر {command}. الأوامر المتاحة: /ask و /sources و /about و /help."
TRUNCATED = "سؤالك طويل، فاكتفيت بأول {limit} حرف منه."
RATE_LIMITED = "أرسلت أسئلة كثيرة في وقت قصير. انتظر {seconds} ثانية ثم أعد المحاولة."
APOLOGY = "عذراً، حدث خطأ أثناء معالجة طلبك. حاول مرة أخرى بعد قليل."


def when(scope: TimeScope) -> str:
    """Say the window of a time scope in words: a day, days, or hours."""
    if scope.start is None or scope.end is None:
        return ""
    last = scope.end - timedelta(seconds=1)
    # Whole days: midnight to midnight, or to the as-of moment for "today", "this week".
    whole_days = scope.start.time() == datetime.min.time() and (
        scope.end.time() == datetime.min.time() or scope.end == scope.as_of + timedelta(seconds=1)
    )
    if whole_days and scope.start.date() == last.date():
        return TIME_DAY.format(day=scope.start.date().isoformat())
    if whole_days:
        return TIME_DAYS.format(start=scope.start.date().isoformat(), end=last.date().isoformat())
    return TIME_HOURS.format(
        start=scope.start.isoformat(sep=" ", timespec="minutes"),
        end=last.isoformat(sep=" ", timespec="minutes"),
    )


def time_note(answer: Answer) -> str:
    """Return the line that says which time an answer keeps to ('' when none)."""
    scope = answer.time
    if scope is None or not scope.in_window:
        return ""
    if scope.kind == "latest":
        return TIME_LATEST_NOTE
    return TIME_WINDOW_NOTE.format(when=when(scope))


def stamp(published: str) -> str:
    """Return a stored date as shown beside a quote: the date, and the time when known."""
    return published[:16].replace("T", " ")


def citation_line(c: Citation) -> str:
    """Return one source as `[n] title - source - time - url`."""
    parts = [
        c.title,
        c.source or UNKNOWN_SOURCE,
        stamp(c.published) or UNKNOWN_DATE,
    ]
    if c.outlet and c.outlet != c.source:
        parts[1] += " " + CREDITED.format(agency=c.outlet)
    if c.url:
        parts.append(c.url)
    return f"[{c.n}] " + " - ".join(parts)


def _quoted(s: AnswerSentence) -> str:
    line = f"«{s.text}» " + "".join(f"[{n}]" for n in s.citations)
    if len(s.outlets) > 1:
        line += f" — {reported_by(len(s.outlets))}"
    return line


def _versions(answer: Answer) -> list[str]:
    if not answer.versions:
        return []
    lines = [REPORTS_DIFFER]
    for v in answer.versions:
        marks = "".join(f"[{n}]" for n in v.sentence.citations)
        outlets = LIST_JOIN.join(v.sentence.outlets)
        lines.append(f"- «{v.sentence.text}» {marks} — {outlets} — {stamp(v.published)}")
    return lines


def plain_answer(answer: Answer) -> str:
    """Lay out an answer as plain text for the terminal."""
    if answer.outcome == "not_stated":
        lines = [NOT_STATED, "", CLOSEST_HEADING]
        lines += [_quoted(s) for s in answer.sentences]
        lines += ["", SOURCES_HEADING]
        lines += [citation_line(c) for c in answer.citations]
        return "\n".join(lines) + "\n"
    if answer.time is not None and not answer.time.in_window:
        lines = [TIME_NOTHING_IN_WINDOW.format(when=when(answer.time))]
        if answer.headlines:
            heading = TIME_NEWEST_HEADING if answer.time.elsewhere else NEAREST_HEADLINES
            lines += ["", heading]
            lines += [citation_line(c) for c in answer.headlines]
        return "\n".join(lines) + "\n"
    if not answer.answered:
        lines = [NO_ANSWER]
        if answer.headlines:
            lines += ["", NEAREST_HEADLINES]
            lines += [f"- {c.title} ({c.source or UNKNOWN_SOURCE})" for c in answer.headlines]
        return "\n".join(lines) + "\n"
    lines = [note] if (note := time_note(answer)) else []
    lines += [ANSWER_HEADING, *_versions(answer)]
    # A time question's quotes carry their article's date and time.
    dates = {c.n: f" ({stamp(c.published)})" for c in answer.citations if c.published}
    in_versions = {v.sentence.text for v in answer.versions}
    lines += [
        _quoted(s) + (dates.get(s.citation, "") if answer.time else "")
        for s in answer.sentences
        if s.text not in in_versions
    ]
    lines += ["", SOURCES_HEADING]
    lines += [citation_line(c) for c in answer.citations]
    return "\n".join(lines) + "\n"


# -- subscriptions and alerts (bot/subscription_handlers.py, bot/alerts.py) ---

COMMAND_DESCRIPTIONS.setdefault("subscriptions", "اشتراكاتك في التنبيهات")
SUBSCRIBED_ALL = "اشتركت في تنبيهات كل الأخبار الجديدة. لإيقافها: /unsubscribe all"
SUBSCRIBED_TOPIC = "اشتركت في تنبيهات الأخبار عن «{topic}». لإيقافها: /unsubscribe {topic}"
ALREADY_ALL = "أنت مشترك من قبل في تنبيهات كل الأخبار."
# Alerts come one per story unless a chat asks for every article (/subscribe كل).
SUBSCRIBED_EVERY = "ستصلك تنبيهات بكل مقال جديد، لا بأول مقال من كل قصة فقط. للعودة: /subscribe قصص"
SUBSCRIBED_STORIES = "ستصلك التنبيهات مرة لكل قصة، ويُحدَّث التنبيه بعدد المصادر التي تنقلها."
ALREADY_TOPIC = "أنت مشترك من قبل في تنبيهات «{topic}»."
UNSUBSCRIBED_ALL = "أوقفت كل التنبيهات في هذه المحادثة."
UNSUBSCRIBED_TOPIC = "أوقفت تنبيهات «{topic}»."
NOT_SUBSCRIBED = "لا يوجد اشتراك بهذا الموضوع. اشتراكاتك: /subscriptions"
NO_SUBSCRIPTIONS = "لا توجد اشتراكات في هذه المحادثة. للاشتراك: /subscribe أو /subscribe ثم موضوع."
SUBSCRIPTIONS_HEADING = "اشتراكاتك في التنبيهات:"
SUBSCRIPTION_ALL = "كل الأخبار"
BUTTON_UNSUBSCRIBE = "إلغاء: {topic}"
ADMINS_ONLY = "في المجموعات يدير الاشتراكات مشرفو المجموعة فقط."
TOPIC_TOO_LONG = "الموضوع طويل؛ اكتب كلمة أو بضع كلمات، مثل: /subscribe إدلب"
ALERT_HEADING = "خبر جديد"
ALERT_READ_MORE = "اقرأ الخبر كاملاً"
ALERT_OUTLETS = "المصادر ({n}): {outlets}"
LIST_SEP = "، "
BUTTON_ASK_ARTICLE = "اسأل عن هذا الخبر"
ASK_ARTICLE = "يمكنك الآن أن تسأل عن هذا الخبر: «{title}». اكتب سؤالك في رسالة."
ARTICLE_GONE = "هذا الخبر لم يعد في مجموعة الأخبار."
FOCUS_NOT_ANSWERED = "الخبر «{title}» لا يجيب عن سؤالك؛ هذا ما وجدته في بقية الأخبار."

# -- conversation and inline mode (bot/conversation, bot/telegram/inline.py) -----

FOLLOW_UP = "متابعة لـ: {title}"
OUTLET_NOT_IN_CORPUS = "لا توجد لديّ أخبار من {outlet}."
OUTLET_SILENT = "لم أجد في أخبار {outlet} ما يجيب عن سؤالك."
INLINE_HELP_TITLE = "اكتب سؤالك عن خبر بعد اسم البوت"
INLINE_HELP_DESCRIPTION = "مثل: @{bot} {example}"
INLINE_HELP_TEXT = (
    "اسأل «إسناد» عن الأخبار في أي محادثة: اكتب @{bot} ثم سؤالك، مثل: «{example}»،"
    " واختر الجواب لترسله بمصادره."
)
INLINE_TOO_SHORT = "السؤال قصير جداً؛ أكمل كتابته."
INLINE_NO_ANSWER_TITLE = "لا أجد جواباً في الأخبار المتوفرة"
INLINE_REFUSED_TITLE = "تعذّرت الإجابة الآن"


# -- admin commands (bot/admin*.py) --------------------------------------------
# Admin commands are not in COMMAND_DESCRIPTIONS: that menu is everyone's. They
# show only in the admins' own chats (BotCommandScopeChat).

ADMIN_COMMAND_DESCRIPTIONS = {
    "stats": "إحصاءات البوت والمجموعة (للمشرفين)",
    "find": "ابحث عن مقالات بكلمات: /find ثم الكلمات",
    "add": "أضف مقالاً من رابط، أو ردّاً على رسالة",
    "delete": "احذف مقالاً برقمه: /delete ثم الرقم",
    "feeds": "خلاصات الأخبار: عرض وإضافة وحذف",
    "reindex": "أعد بناء فهرس البحث (fast: دون إعادة التضمين)",
    "cancel": "أوقف إعادة الفهرسة الجارية",
    "audit": "آخر 20 أمراً من أوامر المشرفين",
}
ADMIN_REFUSED = "هذا الأمر لمشرفي البوت فقط."

REINDEX_RUNNING = "إعادة الفهرسة جارية…"
REINDEX_FAST_RUNNING = "إعادة بناء الفهرس من المتجهات المخزّنة جارية…"
REINDEX_COUNTS = "المقاطع: {done} من {total}"
REINDEX_TIMES = "مضى: {elapsed} — المتبقي تقريباً: {eta}"
REINDEX_ETA_UNKNOWN = "غير معروف بعد"
REINDEX_CANCEL_HINT = "للإلغاء: /cancel — ما زالت الأسئلة تُجاب من الفهرس الحالي."
REINDEX_DONE = "اكتملت إعادة الفهرسة: {chunks} مقطعاً في {elapsed}. الفهرس الجديد يعمل الآن."
REINDEX_FAST_DONE = "اكتمل بناء الفهرس من المتجهات المخزّنة: {chunks} مقطعاً في {elapsed}."
REINDEX_CANCELLED = "أُلغيت إعادة الفهرسة بعد {done} من {total} مقطعاً؛ بقي الفهرس الحالي كما هو."
REINDEX_FAILED = "تعذّرت إعادة الفهرسة؛ بقي الفهرس الحالي كما هو. التفاصيل في سجل البوت."
REINDEX_BUSY = "إعادة فهرسة أخرى جارية الآن. انتظر انتهاءها، أو أوقفها بالأمر /cancel."
REINDEX_USAGE = "اكتب /reindex لإعادة تضمين كل المقاطع، أو /reindex fast لبناء الفهرس دون تضمين."
CANCEL_REQUESTED = "طلبتُ إيقاف إعادة الفهرسة؛ ستتوقف بعد الدفعة الجارية."
NOTHING_TO_CANCEL = "لا توجد إعادة فهرسة جارية لإيقافها."
SECONDS = "{n} ث"
MINUTES = "{m} د {s} ث"
HOURS = "{h} س {m} د"

ADD_USAGE = "اكتب /add ثم رابط المقال، أو ردّ بالأمر /add على رسالة فيها نص الخبر."
ADD_FETCHING = "أجلب الصفحة وأستخرج نصّها…"
ADD_DONE = "أُضيف المقال رقم {id}: «{title}» من {source}، في {chunks} مقطعاً."
ADD_DUPLICATE = "لم أُضفه: المقال موجود من قبل (رقم {id})."
ADD_DUPLICATE_UNKNOWN = "لم أُضفه: المقال موجود من قبل."
ADD_NO_TEXT = "لم أُضفه: لا يوجد في الصفحة نص خبر كافٍ."
ADD_TOO_LARGE = "لم أُضفه: الصفحة أكبر من الحد المسموح."
ADD_ADDRESS = "لم أُضفه: هذا العنوان غير مسموح (يُقبل http و https إلى عناوين عامة فقط)."
ADD_FETCH_FAILED = "لم أُضفه: تعذّر جلب الصفحة ({detail})."
SOURCE_TELEGRAM = "Telegram"

FIND_USAGE = "اكتب كلمات البحث بعد الأمر، مثل: /find إدلب"
FIND_HEADING = "مقالات تطابق «{words}»:"
FIND_LINE = "• رقم {id}: {title} — {source} — {date}"
FIND_STORY = "قصة {story} — المصادر ({n}): {outlets}"
FIND_NONE = "لا توجد مقالات تطابق «{words}»."
FIND_MORE = "تظهر أول {n} نتيجة؛ زد كلمات البحث لتضييقها."

DELETE_USAGE = "اكتب رقم المقال بعد الأمر، مثل: /delete 12. الأرقام تظهر في نتائج /find."
DELETE_DONE = "حُذف المقال رقم {id}: «{title}»."
DELETE_MISSING = "لا يوجد مقال بالرقم {id}."

FEEDS_HEADING = "خلاصات الأخبار ({n}):"
FEEDS_NONE = "لا توجد خلاصات. للإضافة: /feeds add ثم الرابط"
FEED_LINE = "• رقم {id}: {url}"
FEED_DETAILS = "  آخر جلب: {polled} — المقالات: {articles}"
FEED_ERROR = "  آخر خطأ: {error}"
FEED_FROM_SETTINGS = "  (من الإعدادات ISNAD_FEEDS)"
FEED_NEVER = "لم تُجلب بعد"
FEEDS_USAGE = "الاستعمال: /feeds، أو /feeds add ثم الرابط، أو /feeds remove ثم الرابط أو الرقم."
FEED_ADDED = (
    "أُضيفت الخلاصة رقم {id} ({entries} خبراً فيها الآن). تُضاف أخبارها الحالية دون تنبيه،"
    " ثم يُنبَّه المشتركون بكل جديد."
)
FEED_EXISTS = "الخلاصة موجودة من قبل (رقم {id})."
FEED_INVALID = "لم أُضفها: الرابط لا يعطي خلاصة أخبار صالحة ({detail})."
FEED_REMOVED = "حُذفت الخلاصة. تبقى مقالاتها في المجموعة."
FEED_MISSING = "لا توجد خلاصة بهذا الرابط أو الرقم."

STATS_HEADING = "إحصاءات «إسناد»:"
STATS_CORPUS = "المقالات: {articles} — المقاطع: {chunks} — المصادر: {sources}"
STATS_STORIES = "القصص: {stories}"
STATS_FEEDS = "الخلاصات: {feeds} — المشتركون في التنبيهات: {subscribers}"
STATS_QUESTIONS = (
    "الأسئلة اليوم: {today} (أُجيب {answered_today}) — الإجمالي: {total} (أُجيب {answered})"
)
STATS_SHARE = "نسبة الأسئلة المُجابة: {share} — بلا جواب: {unanswered}"
STATS_LATENCY = "زمن الإجابة (آخر {n} سؤال): الوسيط {p50} — المئين 95: {p95}"
STATS_NO_LATENCY = "زمن الإجابة: لا أسئلة بعد"
STATS_INDEX = "الفهرس: {vectors} متجهاً — على القرص {disk} — في الذاكرة {memory}"
STATS_MODEL = "النموذج: {model}"
STATS_UPTIME = "مدة التشغيل: {uptime}"
STATS_NA = "—"

AUDIT_HEADING = "آخر أوامر المشرفين:"
AUDIT_NONE = "لا توجد أوامر مسجّلة بعد."
AUDIT_LINE = "• {at} — {user} — {command} — {result}"
