"""Time words in Arabic questions: the window they ask about, read against an "as of" moment.

`read_time` finds expressions such as اليوم، أمس، الأسبوع الماضي، منذ ثلاثة أيام،
خلال الـ24 ساعة الماضية، 2/8/2015، ٢ أغسطس، ٣ آب ٢٠١٥، الخميس الماضي, turns the
first into a window [start, end) of wall-clock time in the as-of moment's zone, and
returns the question without them, so that its other words do the matching.
"آخر / أحدث / ما الجديد" ask for the newest reports (kind "latest").

dateparser was measured on the same cases (`python -m bot.tools.datebench`, docs/time.md):
it reads points, not windows, cuts spans loosely ("اليوم في") and misses أول أمس,
الليلة الماضية, الساعات الماضية, number words and the Levantine months, so the reader is
written here; it needs no library.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from retrieval.timenames import (
    AMBIGUOUS_DAYS,
    MONTH_OF,
    NUMBER_WORDS,
    ORDINALS,
    WEEK_START,
    WEEKDAYS,
)

TimeKind = Literal["none", "window", "latest"]

# Harakat and tatweel would break the patterns; questions rarely carry them.
_MARKS = re.compile("[\u064b-\u065f\u0670\u0640]")
_DIGITS = str.maketrans({**{chr(0x0660 + i): str(i) for i in range(10)}})
_DIGITS.update({ord(chr(0x06F0 + i)): str(i) for i in range(10)})

A = "[اأإآ]"  # any alef
T = "[ةه]"  # taa marbuta, as often written with haa
Y = "[يى]"
B = r"(?<![\w])"  # word start
E = r"(?![\w])"  # word end
PRE = "(?:[وف])?(?:[بل])?"  # و ف ب ل stuck to the next word (بالأمس، والأسبوع)


def _alternation(names: Iterable[str]) -> str:
    """Return a regex alternation of names, longest first (so "الحادي عشر" beats "الحادي")."""
    return "|".join(sorted(names, key=len, reverse=True))


_MONTH = f"({_alternation(MONTH_OF)})"
_DAY_NAMES = _alternation(WEEKDAYS)
_WEEKDAY = f"({_DAY_NAMES})"
_ORDINAL = f"({_alternation(ORDINALS)})"

_COUNT = f"(\\d{{1,3}}|{_alternation(NUMBER_WORDS)})"
_PAST = f"(?:ال)?(?:ماضي{T}?|{A}خير{T}?|فائت{T}?|منصرم{T}?|سابق{T})"
_AGO = "(?:منذ|قبل|من)"
_DAYS = f"(?:{A}يام|يوما|يوم)"
_HOURS = f"(?:ساعات|ساع{T}|ساعه)"


@dataclass(frozen=True)
class TimeReading:
    """What a question says about time.

    kind "window": only reports published in [start, end) answer it (wall-clock time
    in the as-of moment's zone); "latest": the newest reports on the subject come
    first; "none": no time words. rest is the question without its time words.
    """

    kind: TimeKind
    rest: str
    start: datetime | None = None
    end: datetime | None = None
    phrases: tuple[str, ...] = field(default_factory=tuple)
    latest: bool = False  # also asked for the newest ("آخر أخبار ... اليوم")
    # The window is a date as written (2/8/2015, 2 أغسطس), not one relative to as-of.
    stated: bool = False

    def contains(self, moment: datetime) -> bool:
        """Tell whether a moment (same zone convention as the window) falls in the window."""
        assert self.start is not None and self.end is not None
        return self.start <= moment < self.end


def clean_question(question: str) -> str:
    """Return the question without harakat and tatweel, with ASCII digits."""
    return _MARKS.sub("", question).translate(_DIGITS)


def _day(d: date) -> datetime:
    return datetime.combine(d, time())


def _count(word: str) -> int:
    return int(word) if word.isdigit() else NUMBER_WORDS[word]


def _dual_or_count(dual: str | None, count: str | None, one: int = 1) -> int:
    if dual:
        return 2
    return _count(count) if count else one


@dataclass(frozen=True)
class _Found:
    start: int
    end: int
    window: tuple[datetime, datetime]
    capped: bool = True  # a relative window ends no later than the as-of moment


def _past_date(month: int, day: int, today: date) -> date | None:
    """Return the latest date with this month and day on or before today (None if invalid)."""
    for year in (today.year, today.year - 1):
        try:
            d = date(year, month, day)
        except ValueError:
            continue
        if d <= today:
            return d
    return None


def _month_window(year: int, month: int) -> tuple[datetime, datetime]:
    last = calendar.monthrange(year, month)[1]
    return _day(date(year, month, 1)), _day(date(year, month, last)) + timedelta(days=1)


def _day_window(d: date) -> tuple[datetime, datetime]:
    return _day(d), _day(d) + timedelta(days=1)


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


class _Rules:
    """The patterns, each with what its match means, given the as-of moment."""

    def __init__(self) -> None:
        r = re.compile
        p = PRE
        self.before_day = r(rf"{B}{p}(?:في\s+)?{A}ول\s+(?:من\s+)?(?:{A}مس|ال{A}مس|البارح{T}){E}")
        self.last_night = r(
            rf"{B}{p}(?:في\s+)?(?:(?:ال)?ليل{T}\s+(?:ال)?(?:ماضي{T}|فائت{T}|البارح{T}|{A}مس)"
            rf"|مساء\s+(?:{A}مس|البارح{T})|البارح{T}\s+ليلا){E}"
        )
        self.yesterday = r(rf"{B}{p}(?:(?:يوم|صباح|ظهر)\s+)?(?:ال)?(?:{A}مس|بارح{T}){E}")
        self.today = r(
            rf"{B}(?<!ذلك )(?<!حتى )(?<!{A}لى )(?<!صحيف{T} )(?<!جريد{T} )"
            rf"{p}(?:في\s+)?(?:هذا\s+)?اليوم(?:\s+(?:{_DAY_NAMES}))?{E}"
            # اليوم الوطني، اليوم العاشر: a named or counted day, not today.
            rf"(?!\s+(?!(?:{_DAY_NAMES}){E})ال)"
        )
        self.this_week = r(
            rf"{B}{p}(?:في\s+|خلال\s+)?(?:هذا\s+ال{A}سبوع|ال{A}سبوع\s+(?:الحالي|الجاري)){E}"
        )
        self.last_week = r(
            rf"{B}{p}(?:في\s+|خلال\s+)?ال{A}سبوع\s+(?:الماضي|الفائت|المنصرم|السابق){E}"
        )
        self.this_month = r(
            rf"{B}{p}(?:في\s+|خلال\s+)?(?:هذا\s+الشهر|الشهر\s+(?:الحالي|الجاري)){E}"
        )
        self.last_month = r(rf"{B}{p}(?:في\s+|خلال\s+)?الشهر\s+(?:الماضي|الفائت|المنصرم|السابق){E}")
        # منذ يومين / قبل ثلاثة أيام / منذ 3 أيام: that day.
        self.days_ago = r(rf"{B}{p}{_AGO}\s+(?:(يومين)|{_COUNT}\s+{_DAYS}|يوم){E}")
        # منذ ساعتين / قبل 5 ساعات: the hours since then.
        self.hours_ago = r(rf"{B}{p}{_AGO}\s+(?:(ساعتين)|{_COUNT}\s+{_HOURS}|ساع{T}){E}")
        # خلال الساعات (الـ24) الماضية / آخر 24 ساعة / الـ24 ساعة الماضية.
        self.last_hours = r(
            rf"{B}{p}(?:(?:خلال|في|طوال)\s+)?(?:"
            rf"(?:ال)?ساعات\s+(?:ال(?:ـ)?\s*(\d{{1,3}})\s+)?{_PAST}"
            rf"|(?:ال(?:ـ)?\s*)?(\d{{1,3}})\s+ساع{T}\s+{_PAST}"
            rf"|{A}خر\s+(\d{{1,3}})\s+ساع{T})(?:\s+{_PAST})?{E}"
        )
        # خلال الأيام (الثلاثة) الماضية / خلال يومين الماضيين / آخر 3 أيام.
        self.last_days = r(
            rf"{B}{p}(?:(?:خلال|في|طوال)\s+)?(?:"
            rf"(?:ال)?{A}يام\s+(?:ال)?{_COUNT}?\s*{_PAST}"
            rf"|(?:ال(?:ـ)?\s*)?{_COUNT}\s+{A}يام\s+{_PAST}"
            rf"|(?:ال)?يومين\s+(?:ال)?(?:ماضيين|{A}خيرين|فائتين)"
            rf"|{A}خر\s+{_COUNT}\s+{A}يام)(?:\s+{_PAST})?{E}"
        )
        # Dates in digits: 2015-08-02, 2015/8/2, 2/8/2015, 2-8-2015; "في 2/8" with no year.
        on = "(?:في|يوم|بتاريخ|تاريخ)"
        self.ymd = r(rf"{B}{p}(?:{on}\s+)?(\d{{4}})[-/.](\d{{1,2}})[-/.](\d{{1,2}}){E}")
        self.dmy = r(rf"{B}{p}(?:{on}\s+)?(\d{{1,2}})[-/.](\d{{1,2}})[-/.](\d{{4}}){E}")
        self.dm = r(rf"{B}{p}{on}\s+(\d{{1,2}})/(\d{{1,2}}){E}(?![-/.]\d)")
        # 2 أغسطس (2015)، الثاني من آب، 3 من شهر تموز عام 2015.
        self.day_month = r(
            rf"{B}{p}(?:(?:في|يوم|بتاريخ)\s+)?(?:(\d{{1,2}})\s+(?:من\s+)?|{_ORDINAL}\s+من\s+)"
            rf"(?:شهر\s+)?{_MONTH}(?:\s+(?:(?:عام|سن{T})\s+)?(\d{{4}}))?{E}"
        )
        # شهر أغسطس (2015)، أغسطس 2015، في تموز الماضي.
        self.month = r(
            rf"{B}{p}(?:(?:في|خلال)\s+)?(?:(?:شهر\s+){_MONTH}(?:\s+(?:(?:عام|سن{T})\s+)?(\d{{4}}))?"
            rf"|{_MONTH}\s+(?:(?:عام|سن{T})\s+)?(\d{{4}})|{_MONTH}\s+(?:الماضي|الفائت|المنصرم)){E}"
        )
        # يوم الخميس (الماضي)، الخميس الماضي، مساء السبت.
        self.weekday = r(
            rf"{B}{p}(?:في\s+)?(?:(يوم|مساء|صباح|ليل{T})\s+)?{_WEEKDAY}"
            rf"(\s+(?:الماضي|الفائت|المنصرم|السابق))?{E}"
        )
        # آخر / أحدث / ما الجديد: the newest reports.
        self.latest = r(
            rf"{B}(?:ما\s+(?:هو\s+|هي\s+)?(?:ال)?جديد(?:\s+(?:في|عن|بشأن|حول))?"
            rf"|(?:{A}خر|{A}حدث)\s+(?:ما\s+|ال)?(?:{A}خبار|مستجدات|تطورات|{A}نباء|معلومات)"
            rf"(?:\s+(?:في|عن|بشأن|حول))?"
            rf"|(?:{A}خر|{A}حدث)(?=\s+(?:ال)?(?:حصيل{T}|{A}رقام|{A}عداد|عدد|تصريح|بيان|"
            rf"{A}حصا|موقف|ما\s))"
            rf"|(?:حتى|لحد|{A}لى)\s+(?:الآن|الان|اللحظ{T})){E}"
        )

    def windows(self, text: str, as_of: datetime) -> list[_Found]:
        """Return every window expression found, in no particular order."""
        now = as_of.replace(tzinfo=None)
        today = now.date()
        out: list[_Found] = []

        def add(m: re.Match[str], window: tuple[datetime, datetime], capped: bool = True) -> None:
            out.append(_Found(m.start(), m.end(), window, capped))

        for m in self.before_day.finditer(text):
            add(m, _day_window(today - timedelta(days=2)))
        for m in self.last_night.finditer(text):
            evening = _day(today - timedelta(days=1)) + timedelta(hours=18)
            add(m, (evening, _day(today) + timedelta(hours=12)))
        for m in self.yesterday.finditer(text):
            add(m, _day_window(today - timedelta(days=1)))
        for m in self.today.finditer(text):
            add(m, _day_window(today))
        week = _day(today - timedelta(days=(today.weekday() - WEEK_START) % 7))
        for m in self.this_week.finditer(text):
            add(m, (week, week + timedelta(days=7)))
        for m in self.last_week.finditer(text):
            add(m, (week - timedelta(days=7), week))
        month_start = _day(today.replace(day=1))
        for m in self.this_month.finditer(text):
            add(m, _month_window(today.year, today.month))
        for m in self.last_month.finditer(text):
            prev = (month_start - timedelta(days=1)).date()
            add(m, _month_window(prev.year, prev.month))
        for m in self.days_ago.finditer(text):
            add(m, _day_window(today - timedelta(days=_dual_or_count(m.group(1), m.group(2)))))
        for m in self.hours_ago.finditer(text):
            hours = _dual_or_count(m.group(1), m.group(2))
            add(m, (now - timedelta(hours=hours + 1), now + timedelta(seconds=1)))
        for m in self.last_hours.finditer(text):
            given = next((g for g in m.groups() if g), None)
            hours = int(given) if given else 24
            add(m, (now - timedelta(hours=hours), now + timedelta(seconds=1)))
        for m in self.last_days.finditer(text):
            given = next((g for g in m.groups() if g), None)
            days = _count(given) if given else (2 if "يومين" in m.group() else 3)
            add(m, (_day(today - timedelta(days=days)), _day(today) + timedelta(days=1)))
        for m in self.ymd.finditer(text):
            if d := _valid(int(m.group(1)), int(m.group(2)), int(m.group(3))):
                add(m, _day_window(d), capped=False)
        for m in self.dmy.finditer(text):
            if d := _valid(int(m.group(3)), int(m.group(2)), int(m.group(1))):
                add(m, _day_window(d), capped=False)
        for m in self.dm.finditer(text):
            if d := _past_date(int(m.group(2)), int(m.group(1)), today):
                add(m, _day_window(d), capped=False)
        for m in self.day_month.finditer(text):
            day = int(m.group(1)) if m.group(1) else ORDINALS[m.group(2)]
            month, year = MONTH_OF[m.group(3)], m.group(4)
            found = _valid(int(year), month, day) if year else _past_date(month, day, today)
            if found:
                add(m, _day_window(found), capped=False)
        for m in self.month.finditer(text):
            name = m.group(1) or m.group(3) or m.group(5)
            year_text = m.group(2) or m.group(4)
            month = MONTH_OF[name]
            if year_text:
                year = int(year_text)
            else:
                # The latest such month begun by today; "تموز الماضي" in July is last year's.
                this_year = month < today.month or (month == today.month and not m.group(5))
                year = today.year if this_year else today.year - 1
            add(m, _month_window(year, month), capped=False)
        for m in self.weekday.finditer(text):
            lead, name, past = m.group(1), m.group(2), m.group(3)
            if name in AMBIGUOUS_DAYS and not lead and not past:
                continue
            back = (today.weekday() - WEEKDAYS[name]) % 7
            if past and back == 0:
                back = 7
            add(m, _day_window(today - timedelta(days=back)))
        return out


_RULES = _Rules()


def _cut(text: str, spans: list[tuple[int, int]]) -> str:
    """Return text without the spans, spaces tidied."""
    out, last = [], 0
    for start, end in sorted(spans):
        if start < last:
            continue
        out.append(text[last:start])
        last = end
    out.append(text[last:])
    rest = " ".join("".join(out).split())
    return re.sub(r"\s+([؟?!.،,])", r"\1", rest)


def read_time(question: str, as_of: datetime) -> TimeReading:
    """Read the time words of a question against the moment it is asked.

    The window is wall-clock time in as_of's zone (naive datetimes); a relative
    window ("today", "the last 24 hours") ends no later than as_of.
    """
    text = clean_question(question)
    found = _RULES.windows(text, as_of)
    # A longer expression wins over one inside it ("أول أمس" over "أمس").
    found.sort(key=lambda f: (f.start, -(f.end - f.start)))
    kept: list[_Found] = []
    for f in found:
        if kept and f.start < kept[-1].end:
            continue
        kept.append(f)
    taken = [(f.start, f.end) for f in kept]
    latest = [
        m
        for m in _RULES.latest.finditer(text)
        if not any(s < m.end() and m.start() < e for s, e in taken)
    ]
    spans = taken + [(m.start(), m.end()) for m in latest]
    phrases = tuple(text[s:e].strip() for s, e in sorted(spans))
    rest = _cut(text, spans)
    if kept:
        first = kept[0]
        start, end = first.window
        now = as_of.replace(tzinfo=None)
        if first.capped:
            end = min(end, max(now, start) + timedelta(seconds=1))
        return TimeReading(
            "window", rest, start, end, phrases, latest=bool(latest), stated=not first.capped
        )
    if latest:
        return TimeReading("latest", rest, phrases=phrases, latest=True)
    return TimeReading("none", question)


def wall_clock(published: str, zone_of: datetime) -> tuple[datetime, bool] | None:
    """Return a stored published time as naive wall-clock time in zone_of's zone, and
    whether it was a date alone; None when it is not ISO 8601."""
    value = published.strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    date_only = len(value) <= 10
    if moment.tzinfo is not None:
        # A naive as-of moment is taken as UTC, as feeds' dates are stored.
        moment = moment.astimezone(zone_of.tzinfo or UTC).replace(tzinfo=None)
    return moment, date_only


def in_window(published: str, reading: TimeReading, zone_of: datetime) -> bool:
    """Tell whether an article published at this stored time falls in the reading's window.

    A date alone stands for its whole day: it is in when that day meets the window.
    """
    if reading.start is None or reading.end is None:
        return False
    parsed = wall_clock(published, zone_of)
    if parsed is None:
        return False
    moment, date_only = parsed
    if date_only:
        return moment < reading.end and moment + timedelta(days=1) > reading.start
    return reading.contains(moment)
