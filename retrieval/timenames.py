"""Arabic names that time words are made of: months, weekdays, counts and ordinal days."""

from __future__ import annotations

# Gulf and Egyptian names with their spellings, then the Levantine/Iraqi ones.
MONTHS: dict[int, tuple[str, ...]] = {
    1: ("يناير", "كانون الثاني"),
    2: ("فبراير", "شباط"),
    3: ("مارس", "آذار", "اذار"),
    4: ("أبريل", "ابريل", "إبريل", "نيسان"),
    5: ("مايو", "أيار", "ايار"),
    6: ("يونيو", "يونيه", "حزيران"),
    7: ("يوليو", "يوليه", "تموز"),
    8: ("أغسطس", "اغسطس", "آب", "اب"),
    9: ("سبتمبر", "أيلول", "ايلول"),
    10: ("أكتوبر", "اكتوبر", "تشرين الأول", "تشرين الاول"),
    11: ("نوفمبر", "تشرين الثاني"),
    12: ("ديسمبر", "كانون الأول", "كانون الاول"),
}
MONTH_OF = {name: n for n, names in MONTHS.items() for name in names}

# Python's weekday(): Monday 0 ... Sunday 6.
WEEKDAYS = {
    "الاثنين": 0,
    "الإثنين": 0,
    "الأثنين": 0,
    "الثلاثاء": 1,
    "الأربعاء": 2,
    "الاربعاء": 2,
    "الخميس": 3,
    "الجمعة": 4,
    "الجمعه": 4,
    "السبت": 5,
    "الأحد": 6,
    "الاحد": 6,
}
# الأحد is also "the one", الجمعة also the Friday prayer: alone they need يوم or الماضي.
AMBIGUOUS_DAYS = {"الأحد", "الاحد", "الجمعة", "الجمعه"}
# The Saudi week starts on Sunday.
WEEK_START = 6

NUMBER_WORDS = {
    "واحد": 1,
    "ثلاث": 3,
    "ثلاثة": 3,
    "ثلاثه": 3,
    "أربع": 4,
    "اربع": 4,
    "أربعة": 4,
    "اربعة": 4,
    "خمس": 5,
    "خمسة": 5,
    "ست": 6,
    "ستة": 6,
    "سبع": 7,
    "سبعة": 7,
    "ثماني": 8,
    "ثمانية": 8,
    "تسع": 9,
    "تسعة": 9,
    "عشر": 10,
    "عشرة": 10,
}
# Ordinal days, as in "الثاني من أغسطس", "الحادي والعشرين من تموز".
_UNITS = ("حادي", "ثاني", "ثالث", "رابع", "خامس", "سادس", "سابع", "ثامن", "تاسع")
ORDINALS: dict[str, int] = {"الأول": 1, "الاول": 1, "العاشر": 10, "العشرين": 20, "الثلاثين": 30}
ORDINALS.update({f"ال{u}": n for n, u in enumerate(_UNITS[1:], start=2)})
ORDINALS.update({f"ال{u} عشر": 10 + n for n, u in enumerate(_UNITS, start=1)})
ORDINALS.update({f"ال{u} والعشرين": 20 + n for n, u in enumerate(_UNITS, start=1)})
ORDINALS["الحادي والثلاثين"] = 31
