"""What a question asks for, and whether a sentence holds it.

A sentence can share every word of a question and still not answer it: "كم عمر
منفذ التفجير؟" is not answered by a sentence that names the bomber and the
mosque but gives no age. This module reads the slot a question's first words
open (an age, a count of something, a sum of money, a date, a name, who did
it, a nationality, a place) and looks in a sentence for something
that could fill it and that the question does not already say: a number
beside the counted noun, a currency, a month, a name after a title, a
nationality. The checks are patterns and short word lists, not a reader: they
tell "the sentence holds a thing of the asked kind" from "it holds none",
which is the difference between an answer and a sentence on the same subject.

Every check works on normalised text (`retrieval.arabic.normalize`: ة → ه,
ى → ي, one alef, Arabic-Indic digits as ASCII).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Literal

from retrieval.arabic import light_stem, normalize, words

SlotKind = Literal[
    "age", "money", "count", "date", "name", "agent", "nationality", "place", "other"
]


def _folded(text: str) -> frozenset[str]:
    return frozenset(normalize(w) for w in text.split())


_LEAD = r"^(و|ف)?"
_BE = r"((هو|هي|هم|كان|كانت|يبلغ|تبلغ|بلغ|بلغت|سيكون|ستكون|يكون|تكون|اصبح|اصبحت|صار|صارت) )?"
_ASKS_AGE = re.compile(_LEAD + r"(كم|ما|ماهو|ماهي) " + _BE + r"(عمر|سن)\b")
_ASKS_MONEY = re.compile(
    _LEAD
    + r"((كم|ما|ماهي|ماهو) "
    + _BE
    + r"(ال)?(قيمه|سعر|تكلفه|كلفه|تكاليف|مبلغ|ثمن|راتب|رواتب|ميزانيه|اجر|اجره|غرامه|غرامات"
    + r"|تعويض)"
    + r"|كم "
    + _BE
    + r"(ال)?(مكافاه|مكافات|جايزه|رسوم|ارباح|خساير|ايرادات|ديه|تكاليف)"
    + r"|كم (س)?(دفع|دفعت|يدفع|تدفع|تكلف|تكلفت|يكلف|خصص|خصصت|رصد|رصدت"
    + r"|يتقاضي|تتقاضي|ربح|ربحت|خسر|خسرت)"
    + r"|بكم (يباع|تباع|بيع|بيعت|يبيع|تبيع|يشتري|تشتري|يؤجر|تؤجر))\b"
)
_ASKS_DATE = re.compile(
    _LEAD
    + r"(متي|(في|منذ) (اي|ايه) (?P<grain>عام|سنه|يوم|شهر|تاريخ|قرن|وقت|ساعه)"
    + r"|(ما|اي) ((هو|هي) )?(عام|سنه|تاريخ|يوم|موعد))\b"
)
_ASKS_COUNT = re.compile(
    _LEAD + r"(كم|(ما|اي) ((هو|هي) )?(عدد|نسبه|مساحه|طول|ارتفاع|حجم|مده|كميه))\b"
)
_ASKS_NAME = re.compile(
    _LEAD + r"((ما|ماهو|ماهي) ((هو|هي) )?(اسم|اسما|اسماء)|(من) (هو|هي|هم|هما))\b"
)
_ASKS_NATIONALITY = re.compile(_LEAD + r"(ما|ماهي|ماهو) ((هو|هي) )?(جنسيه|جنسيات)\b")
_ASKS_PLACE = re.compile(
    _LEAD
    + r"(اين|(الي|من|في) اين|(في|الي|من) (اي|ايه) "
    + r"(?P<where>مدينه|دوله|بلد|بلده|منطقه|محافظه|مكان|حي|قريه|مستشفي|مطار|سجن|ميناء)"
    + r"|(ما|ماهي|ماهو) ((هو|هي) )?(المدينه|الدوله|المكان|البلد|المنطقه|المحافظه)"
    + r"|(ما|ماهي|ماهو) ((هو|هي) )?(?P<capital>عاصمه))\b"
)
# "من" followed by a verb or "الذي/الجهه...": who did it (a person or a body).
_ASKS_AGENT = re.compile(_LEAD + r"من (?!(اين|اي|ايه)\b)\w+")

_DIGITS = re.compile(r"\d+(?:[.,]\d+)?(?:م|ه|هـ)?")
# Words that give a number without digits.
_NUMBER_WORDS = _folded(
    "واحد واحدة اثنان اثنين اثنتين اثنتان ثلاث ثلاثة أربع أربعة خمس خمسة ست ستة سبع سبعة"
    " ثمان ثماني ثمانية تسع تسعة عشر عشرة عشرات عشرين عشرون ثلاثين ثلاثون أربعين أربعون"
    " خمسين خمسون ستين ستون سبعين سبعون ثمانين ثمانون تسعين تسعون مئة مائة مئات مائتي"
    " مئتي ألف ألفا آلاف ألفي مليون ملايين مليار مليارات نصف ربع ثلث ضعف ضعفي"
    " عشرينيه ثلاثينيه عشريني ثلاثيني أربعيني خمسيني ستيني سبعيني ثمانيني تسعيني"
)
_MONTHS = _folded(
    "يناير فبراير مارس أبريل ابريل مايو يونيو يونيه يوليو يوليه أغسطس سبتمبر أكتوبر نوفمبر"
    " ديسمبر كانون شباط آذار نيسان أيار حزيران تموز آب أيلول تشرين محرم صفر ربيع جمادى"
    " رجب شعبان رمضان شوال القعدة الحجة"
)
_AGE_UNITS = _folded("عاما عاماً عام أعوام سنة سنه سنوات سنين ربيعا ربيعاً شهرا شهراً أشهر")
_WEEKDAYS = _folded("السبت الأحد الاثنين الثلاثاء الأربعاء الخميس الجمعة")
_MONTHS_AND_DAYS = (
    _MONTHS
    | _WEEKDAYS
    | _folded(
        "أمس امس البارحة اليوم غدا غداً الليلة صباح مساء فجر ظهر عصر منتصف مطلع أواخر"
        " أوائل نهاية بداية الماضي الماضية المقبل المقبلة القادم القادمة الحالي الجاري"
    )
)
# A day that answers "في أي يوم": a weekday, or the day it was reported from.
_DAY_WORDS = _WEEKDAYS | _folded("أمس امس البارحة اليوم غدا غداً")
# Times gone by: no answer to "متى سيزور…؟"
_PAST_WORDS = _folded("أمس امس البارحة الماضي الماضية")
# "كم ملليمتراً": a measure's unit must be there itself, not another counted noun.
_UNITS = _folded(
    "ملليمتر ملليمترا مليمتر مليمترا ملم سنتيمتر سنتيمترا سم متر مترا أمتار كيلومتر كيلومترا"
    " كيلو كيلوغرام كيلوغراما كيلوجرام كجم غرام غراما جرام طن طنا أطنان لتر لترا لترات"
    " برميل برميلا درجة درجات ميل ميلا هكتار هكتارا فدان فدانا ساعة ساعات دقيقة دقائق ثانية"
    " ثوان يوم يوما أيام أسبوع أسبوعا أسابيع شهر شهرا أشهر شهور عام عاما أعوام سنة سنوات"
    " قرن قرنا ميجاوات كيلوواط"
)
# Times: "كم سنة دامت" is answered in years or in عاماً, so these keep the looser check.
_TIME_UNITS = _AGE_UNITS | _folded("ساعة ساعات يوم يوما أيام يومين أسبوع أسبوعا أسابيع دقيقة دقائق")
# Countries, for "من أي بلد…"; regions and continents ("جنسية أفريقية") name none.
_REGIONS = _folded("إفريقي أفريقي آسيوي عربي خليجي أوروبي")
_COUNTRIES = _folded(
    "مصر اليمن سوريا سورية العراق الأردن لبنان فلسطين ليبيا السودان المغرب الجزائر تونس"
    " موريتانيا الصومال إثيوبيا أثيوبيا إريتريا تشاد نيجيريا النيجر مالي السنغال كينيا"
    " أوغندا تنزانيا غانا الكاميرون تركيا إيران أفغانستان باكستان الهند بنغلاديش نيبال"
    " سريلانكا الفلبين إندونيسيا ماليزيا تايلاند فيتنام ميانمار الصين اليابان كوريا روسيا"
    " أوكرانيا فرنسا ألمانيا بريطانيا إيطاليا إسبانيا البرتغال اليونان هولندا بلجيكا السويد"
    " النرويج سويسرا النمسا بولندا أمريكا أميركا كندا المكسيك البرازيل الأرجنتين أستراليا"
    " إسرائيل السعودية المملكة الإمارات قطر البحرين عمان الكويت"
)
# Places a question asks to be named: "في أي مستشفى" wants "مستشفى الملك فهد".
_NAMED_PLACES = frozenset("مستشفي مطار سجن ميناء حي قريه".split())
_CAPITAL = re.compile(r"(و|ب|ل|ف)?(ال)?عاصم(ه|ت\w{1,3})")
_PRICES = frozenset("سعر اسعار رسوم ثمن تذكره تذاكر اشتراك تكلفه كلفه".split())
_PERCENT = re.compile(r"(في|بال)\s?(الميه|المايه)|بالميه|بالمايه")
_AGE_IN_BRACKETS = re.compile(
    r"\(\s*(\d+\s*)?(عام|عاما|سنه|سنوات|شهر|شهرا|اشهر|عامين|سنتين|شهرين|يوما|ايام)\b[^)]{0,15}\)"
)
_AGE_WORDS = re.compile(r"\b(عمره|عمرها|عمرهم|العمر|سن)\b")
_CURRENCY = _folded(
    "ريال ريالا ريالاً ريالات دولار دولارا دولاراً دولارات يورو جنيه جنيها جنيهاً جنيهات"
    " درهم دراهم درهما دينار دنانير دينارا ليرة ليرات روبية ين فرنك"
)
# Titles and roles that a person's name follows ("الدكتور أحمد الفهيد").
_TITLES = _folded(
    "الأمير الأميرة الشيخ الشيخة الدكتور الدكتورة د السيد السيدة المهندس المهندسة الأستاذ"
    " الأستاذة اللواء العميد العقيد المقدم الرائد النقيب الملازم الرقيب العريف الجندي الفريق"
    " المشير الرئيس الوزير الملك الملكة السلطان الإمام القاضي المحامي المحامية المواطن"
    " المواطنة المقيم المقيمة الشاب الشابة الطفل الطفلة الفتى الفتاة المسن اللاعب اللاعبة"
    " المدرب الحكم الكاتب الكاتبة الإعلامي الإعلامية الزميل الزميلة الصحفي الصحفية المتحدث"
    " الناطق المدير المحافظ الطيار الكابتن الفنان"
    " الفنانة المغرد المغردة الداعية المفتي المستشار المعلم المعلمة الطالب"
    " الطالبة النجم المهاجم المدافع الحارس الجنرال الزعيم القائد الشهيد الراحل الفقيد"
    " المتهم المتهمة الضحية الناشط الناشطة المخرج المخرجة الشاعر الشاعرة الروائي"
)
_NAMED = _folded(
    "باسم اسمه اسمها اسمهم اسم يدعى يدعي تدعى تدعي المدعو المدعوة يسمى تسمى بمسمى مسمى"
    " يلقب الملقب المعروف المعروفة الملقبة تأليف إخراج بقلم إنتاج تلحين غناء تصميم للكاتب"
    " للمؤلف للشاعر"
)
# First names common in the region's news, to find a name without a title.
_FIRST_NAMES = _folded(
    "محمد أحمد محمود مصطفى حسن حسين عبدالله عبدالرحمن عبدالعزيز عبدالرحيم عبدالكريم"
    " عبدالمجيد عبدالمحسن عبدالإله عبدالملك عبدالهادي عبدالوهاب عبدالناصر عبدالفتاح عبد خالد"
    " سعد سعود سلمان سلطان فهد فيصل فواز فارس نايف نواف بندر تركي طلال ماجد مشعل متعب"
    " مشاري مشري منصور ناصر نصر عثمان يوسف يحيى يعقوب إبراهيم إسماعيل إسحاق موسى عيسى"
    " صالح سالم سليمان سليم سامي سامر ماهر مازن مهند وليد هاني هشام هيثم وائل رائد زياد زيد"
    " بدر بسام حمد حمود حامد حمزة خليل راشد رشيد رياض زكي زكريا سامح شريف طارق عادل"
    " عاطف عامر عبيد عوض غازي غسان فؤاد فالح فايز فهمي قاسم كمال لؤي مالك مبارك"
    " مجدي محسن مراد مرزوق مساعد معاذ مقرن ممدوح منير مهدي ناجي نبيل نجيب نزار نعيم هادي"
    " هاشم وحيد ياسر ياسين يزيد أنس أسامة أيمن أمين أنور إياد باسل بشير بكر تامر ثامر جابر"
    " جاسم جعفر حازم حاتم حسام حمدي راضي ربيع رضا شادي صابر صلاح عايض"
    " عائض عوضه غانم فرحان فلاح فيصل لافي متعب محيا مسفر مفلح مقبل منيف نادر هزاع هادي"
    " فاطمة عائشة خديجة مريم زينب سارة سناء نورة نورا هند ريم ليلى سلمى رنا"
    " لمى دانة جواهر حصة لطيفة مها نوف العنود أسماء آمنة حليمة سميرة عبير غادة فاتن"
)
_BODIES = _folded(
    "وزارة هيئة الهيئة الجيش القوات قوات الشرطة شرطة تنظيم التنظيم جماعة الجماعة حركة الحركة"
    " ميليشيا ميليشيات مليشيا مليشيات داعش القاعدة الحوثي الحوثيون الحوثيين حزب الحكومة"
    " حكومة مجلس المجلس محكمة المحكمة النيابة المعارضة التحالف مسلحون مسلحين مسلحو شركة"
    " الشركة مؤسسة المؤسسة جمعية الجمعية جامعة الجامعة نادي النادي منظمة المنظمة إدارة"
    " الإدارة الدفاع الأمن الاستخبارات المخابرات طالبان بوكو الحرس البحرية الطيران"
)
_NATIONALITIES = _folded(
    "سعودي مصري يمني سوري عراقي أردني فلسطيني لبناني كويتي إماراتي قطري بحريني عماني سوداني"
    " مغربي جزائري تونسي ليبي موريتاني صومالي إثيوبي أثيوبي إريتري ارتيري تشادي نيجيري"
    " هندي باكستاني بنغلاديشي بنجلاديشي بنغالي أفغاني إيراني تركي فلبيني إندونيسي نيبالي"
    " سريلانكي صيني ياباني كوري أمريكي أميركي بريطاني فرنسي ألماني روسي إيطالي إسباني"
    " برتغالي يوناني هولندي بلجيكي سويدي كندي أسترالي برازيلي أرجنتيني إفريقي أفريقي"
    " آسيوي عربي خليجي أوروبي غاني كاميروني سنغالي مالي كيني أوغندي تنزاني إسرائيلي"
    " بورمي روهينغي ميانماري تايلندي فيتنامي ماليزي"
)
_PLACE_HEADS = _folded(
    "مدينة محافظة منطقة حي قرية مركز دولة بلدة مستشفى مطار سجن ميناء شارع طريق جامع مسجد"
    " مخيم ولاية إقليم جزيرة العاصمة عاصمة شمال جنوب شرق غرب شمالي جنوبي شرقي غربي وسط قرب"
    " بالقرب داخل خارج ضواحي أطراف"
)
_PLACES = _folded(
    "الرياض جدة مكة المدينة الدمام الخبر الظهران الطائف تبوك أبها خميس جازان جيزان نجران"
    " حائل القصيم بريدة عنيزة الأحساء الجوف سكاكا عرعر القطيف ينبع الباحة الخرج القريات"
    " دبي أبوظبي الشارقة الدوحة الكويت المنامة مسقط القاهرة الإسكندرية عمان بيروت دمشق"
    " حلب بغداد البصرة الموصل صنعاء عدن تعز الخرطوم طرابلس تونس الجزائر الرباط الدار"
    " القدس غزة رام إسطنبول أنقرة طهران لندن باريس برلين موسكو واشنطن نيويورك بكين"
    " مصر اليمن سوريا العراق الأردن لبنان فلسطين ليبيا السودان المغرب الجزائر تركيا إيران"
    " أمريكا الهند باكستان الصين روسيا فرنسا ألمانيا بريطانيا إيطاليا إسبانيا اليابان"
    " المملكة الإمارات قطر البحرين عمان الكويت أفريقيا إفريقيا آسيا أوروبا أمريكا أميركا"
    " أستراليا الخليج المتوسط الأطلسي الهادئ الهندي"
)
# Newspapers and sites quoted by name in their own and each other's reports.
_OUTLET_NAMES = frozenset(
    normalize(w)
    for w in "سبق|الوطن|عين اليوم|الاقتصادية|الرياض|عكاظ|اليوم|المدينة|الجزيرة|الوئام|مكة"
    "|الحياة|الشرق|الشرق الأوسط|المواطن|تواصل|واس|الخليج|البيان|الأهرام|العربية".split("|")
)
_OUTLET = frozenset(("ل", "لـ", "صحيفه", "جريده", "موقع", "وكاله", "قناه"))
_WHERE = frozenset(("في", "الي", "قرب", "بين"))
# Beside the asked noun, "هو" introduces its holder: "مخترع المحرك هو جيمس واط".
_IS = frozenset(("هو", "هي", "هم", "هما"))
_CLITICS = ("وال", "بال", "فال", "كال", "لل", "ال", "و", "ب", "ف", "ل")


@dataclass(frozen=True)
class Slot:
    """The kind of thing a question asks for.

    unit narrows it: the counted noun of a count ("كم مسلحاً" → مسلحا), the grain of a
    date ("في أي يوم" → يوم), the kind of place ("في أي مستشفى" → مستشفي, "ما عاصمة"
    → عاصمه); "" when the question names none.
    """

    kind: SlotKind
    unit: str = ""

    @property
    def checkable(self) -> bool:
        """Tell whether a sentence can be checked for this slot at all."""
        return self.kind != "other"


def _bare(word: str) -> str:
    """Strip one proclitic (و، ب، ال...) when a word of three letters or more remains."""
    for c in _CLITICS:
        if word.startswith(c) and len(word) - len(c) >= 3:
            return word[len(c) :]
    return word


def _among(word: str, known: frozenset[str]) -> bool:
    """Tell whether a word, or the word without its proclitic, is one of known."""
    return word in known or _bare(word) in known


def _nisba(word: str) -> str:
    """Reduce a nisba adjective to its singular masculine form (مصريين → مصري)."""
    base = _bare(word)
    for ending in ("يين", "يون", "يه", "يات", "ين", "ون"):
        if base.endswith(ending) and len(base) - len(ending) >= 2:
            return base[: -len(ending)] + ("ي" if ending.startswith("ي") else "")
    return base


def _skeleton(word: str) -> str:
    """The consonants of a word without its proclitic and common endings (رحلات → رحل)."""
    base = _bare(word)
    for ending in ("ات", "ان", "ين", "ون", "اً", "ا", "ه"):
        if base.endswith(ending) and len(base) - len(ending) >= 2:
            base = base[: -len(ending)]
            break
    if base.startswith("ا") and len(base) >= 4:
        base = base[1:]
    return base[:1] + re.sub("[اوي]", "", base[1:])


def asked_slot(question: str) -> Slot:
    """Read from a question's first words what kind of answer it asks for."""
    toks = words(normalize(question))
    head = " ".join(toks)
    if _ASKS_AGE.search(head):
        return Slot("age")
    if _ASKS_MONEY.search(head):
        return Slot("money")
    if m := _ASKS_DATE.search(head):
        return Slot("date", m.group("grain") or "")
    if _ASKS_COUNT.search(head):
        return Slot("count", _counted_noun(toks))
    if _ASKS_NATIONALITY.search(head):
        return Slot("nationality")
    if m := _ASKS_PLACE.search(head):
        return Slot("place", m.group("where") or m.group("capital") or "")
    if _ASKS_NAME.search(head):
        # "من هو موزارت؟", "من هو الفيلسوف أنطوني فلو؟" ask who someone is, not for a name.
        if toks[0] in ("من", "ومن") and not _asks_for_role(toks[2:]):
            return Slot("other")
        return Slot("name")
    if _ASKS_AGENT.search(head):
        return Slot("agent")
    return Slot("other")


# Nouns whose holder a "من هو" question asks for: "من هو مخترع المحرك البخاري؟".
_ROLES = _folded(
    "مؤلف مؤلفة مخترع مكتشف مؤسس صاحب صاحبة رئيس رئيسة أول آخر مخرج كاتب مدير قائد ملك"
    " حاكم بطل مدرب لاعب زعيم أمير وزير نائب أمين محافظ مالك والد والدة ابن ابنة زوج زوجة"
    " شقيق شقيقة نجل مسؤول منفذ خليفة مكتشفة مصمم مغني ممثل رسام مدرسة"
)


def _asks_for_role(rest: list[str]) -> bool:
    """Tell whether the words after "من هو" name a role (or a thing) rather than a person."""
    if not rest:
        return False
    first = rest[0]
    if _among(first, _ROLES):
        return True
    if not first.startswith("ال"):
        return False  # "من هو موزارت؟"
    # "من هي الدولة التي…"، "من هو الشاب الذي…", not "من هم اليهود الأشكناز؟" or
    # "من هو الفيلسوف أنطوني فلو؟"
    return any(t in _RELATIVES for t in rest) or (first not in _TITLES and len(rest) > 3)


_RELATIVES = frozenset("الذي التي الذين اللذين اللتين اللاتي اللواتي".split())


_FILLER = frozenset(
    "كم عدد ما هو هي كان كانت يبلغ تبلغ بلغ بلغت سيكون ستكون اجمالي مجموع من الذين الذي"
    " اصبح اصبحت صار صارت وصل وصلت".split()
)
# Measures rather than counted things: any number answers them.
_MEASURES = frozenset("نسبه حجم مساحه طول ارتفاع مده كميه عدد".split())


def _counted_noun(toks: list[str]) -> str:
    """The noun a count question counts: "كم يوماً" → يوما, "كم عدد الوظائف" → الوظائف."""
    for tok in toks[1:4]:
        if tok not in _FILLER and not tok.isdigit():
            return tok
    return ""


def _shares(text: str, toks: list[str]) -> set[int]:
    """Positions of the numbers given as percentages ("45 %", "7.75 في المئة")."""
    out = {len(words(text[: m.start()])) for m in re.finditer(r"\d+(?:[.,]\d+)?\s*[%٪]", text)}
    return out | {n for n in range(len(toks)) if _PERCENT.match(" ".join(toks[n + 1 : n + 3]))}


def _is_noun(unit: str, question: str) -> bool:
    """Tell whether a count question's word is a noun ("كم عدد أفراد", "كم مسلحاً",
    "كم عدد الوظائف") rather than a verb ("كم دام", "كم بقيت")."""
    toks = words(normalize(question))
    after_count = any(a == "عدد" and b == unit for a, b in itertools.pairwise(toks))
    return after_count or unit.startswith("ال") or unit.endswith("ا")


def _numbers(text: str) -> list[int]:
    """Positions of the tokens that give a number (digits or number words)."""
    return [
        n
        for n, tok in enumerate(words(text))
        if _DIGITS.fullmatch(tok) or _among(tok, _NUMBER_WORDS)
    ]


_YEAR = re.compile(r"(1[3-4]\d\d|19\d\d|20\d\d)")


_SINCE = frozenset("قبل منذ عام العام سنه السنه".split())


def _dates(toks: list[str], n: int) -> bool:
    """Tell whether the number at n gives a time: a year, a day of a month, "قبل 3 أعوام"."""
    return _is_date_part(toks, n) or (n > 0 and toks[n - 1] in _SINCE)


def _is_date_part(toks: list[str], n: int) -> bool:
    """Tell whether the number at n is a year or the day of a named month."""
    if _YEAR.fullmatch(toks[n]) or toks[n][-1] in "مه":  # 1517م، 300هـ
        return True
    # a day or month beside a year: "24/10/1436"
    if toks[n].isdigit() and int(toks[n]) <= 31:
        for m in (n - 2, n - 1, n + 1, n + 2):
            between = toks[min(m, n) + 1 : max(m, n)]
            if 0 <= m < len(toks) and _YEAR.fullmatch(toks[m]):
                if all(t.isdigit() for t in between):
                    return True
    nxt = toks[n + 1] if n + 1 < len(toks) else ""
    return _among(nxt, _MONTHS) or nxt in ("ه", "م", "هـ", "ق")


# "متى سيزور…", "متى تقام المباراة المقبلة": a time still to come.
_FUTURE = re.compile(
    r"^(و|ف)?(متي|(في|ما) (اي|ايه)? ?\w+) "
    r"(س(?!يطر)[يتن]\w{2,}|\w+ \w* ?(المقبل|المقبله|القادم|القادمه))"
)


def asks_future(question: str) -> bool:
    """Tell whether a when-question asks about a time still to come ("متى سيزور…؟")."""
    return bool(_FUTURE.search(" ".join(words(normalize(question)))))


_DECADES = re.compile(r"(عشريني|ثلاثيني|اربعيني|خمسيني|ستيني|سبعيني)\w*")
# How many words after the person an age may stand: "الطفل علي سعد دوابشة (عام ونصف)".
_AGE_REACH = 6


def _age_subject(question: str) -> str:
    """The person a "كم عمر" question asks the age of, light-stemmed: "كم عمر الأب" → اب."""
    toks = words(normalize(question))
    for n, t in enumerate(toks[:4]):
        if t in ("عمر", "سن"):
            rest = [x for x in toks[n + 1 : n + 3] if x not in _STOP]
            return _person_key(rest[0]) if rest else ""
    return ""


def _person_key(word: str) -> str:
    """A word light-stemmed, without the article even when two letters remain (الأب → اب)."""
    stem = light_stem(word)
    return stem[2:] if stem.startswith("ال") and len(stem) >= 4 else stem


def _day_of_month(toks: list[str], n: int) -> bool:
    """Tell whether the number at n is a day of a month ("12 أغسطس", "24/10/1436")."""
    return toks[n].isdigit() and int(toks[n]) <= 31 and _is_date_part(toks, n)


def fills(slot: Slot, sentence: str, question: str) -> bool:
    """Tell whether the sentence holds something of the slot's kind the question lacks."""
    if not slot.checkable:
        return True
    text = normalize(sentence)
    toks = words(text)
    asked = set(words(normalize(question)))
    bare_asked = {_bare(t) for t in asked}
    fresh = [t not in asked and _bare(t) not in bare_asked for t in toks]
    numbers = [n for n in _numbers(text) if fresh[n]]
    kind = slot.kind
    if kind == "age":
        ages = [len(words(text[: m.start()])) for m in _AGE_IN_BRACKETS.finditer(text)]
        ages += [
            n
            for n in numbers
            if any(t in _AGE_UNITS for t in toks[n + 1 : n + 3])
            or any(_AGE_WORDS.search(t) for t in toks[max(0, n - 4) : n])
        ]
        ages += [n for n, t in enumerate(toks) if fresh[n] and _DECADES.fullmatch(t)]
        whose = _age_subject(question)
        at = [n for n, t in enumerate(toks) if whose and _person_key(t) == whose]
        if at:
            # "قتل ابنه البالغ من العمر 11 عاما وزوجته (28 عاما)" gives no age of the father
            return any(0 < a - s <= _AGE_REACH for a in ages for s in at)
        return bool(ages)
    if kind == "money":
        # a sum with its currency or a rate ("7.75 في المئة"); "96 وافداً" is no sum
        free = "مجانا" in toks and bool(asked & _PRICES)  # "مجاناً" prices, not budgets
        return free or any(
            any(_among(t, _CURRENCY) for t in toks[n + 1 : n + 4])
            or bool(_PERCENT.match(" ".join(toks[n + 1 : n + 3])))
            for n in numbers
        )
    if kind == "date":
        future = asks_future(question)
        if future:  # "قبل 40 عاماً" tells when something was, not when it will be
            numbers = [n for n in numbers if not (n and toks[n - 1] in ("قبل", "منذ"))]
        if slot.unit in ("يوم", "تاريخ"):  # a year is no day
            days = [n for n in numbers if _day_of_month(toks, n)]
            known = _DAY_WORDS
        else:
            days = [n for n in numbers if _dates(toks, n)]
            known = _MONTHS_AND_DAYS
        if future:
            known = known - _PAST_WORDS
        return bool(days) or any(f and _among(t, known) for t, f in zip(toks, fresh, strict=True))
    if kind == "count":
        # a date is no count; a number word ending in ه (سبعة) is no "300هـ"
        numbers = [n for n in numbers if not (toks[n][0].isdigit() and _is_date_part(toks, n))]
        if _bare(slot.unit) != "نسبه":  # "60% من اليابانيين" counts nobody
            shares = _shares(text, toks)
            numbers = [n for n in numbers if n not in shares]
        if not numbers:
            return False
        if _bare(slot.unit) == "نسبه":  # a share is a percentage
            return bool(re.search(r"\d\s*[%٪]", text)) or any(
                _PERCENT.match(" ".join(toks[n + 1 : n + 3])) for n in numbers
            )
        if not slot.unit or _bare(slot.unit) in _MEASURES:
            return True
        unit = _skeleton(slot.unit)[:2]
        near = [_skeleton(t)[:2] == unit for t in toks]
        if not any(near):
            if _among(slot.unit, _UNITS) and not _among(slot.unit, _TIME_UNITS):
                return False  # "كم ملليمتراً": nine people are no rainfall
            # counted under another word ("كم مسلحاً" → "88 إرهابياً"), not one the
            # question names ("كم طناً حملتها الطائرة" → "أربع طائرات")
            asked_keys = {_skeleton(t)[:3] for t in asked}
            # a thing counted is not a span of time: "(18 عاماً)" counts no family
            things = _is_noun(slot.unit, question) and _bare(slot.unit) not in _TIME_UNITS
            return any(
                n + 1 < len(toks)
                and toks[n + 1] not in _STOP
                and not (things and _among(toks[n + 1], _TIME_UNITS))
                and not _DIGITS.fullmatch(toks[n + 1])
                and _skeleton(toks[n + 1])[:3] not in asked_keys
                for n in numbers
            )
        return any(any(near[max(0, n - 5) : n + 4]) for n in numbers)
    if kind == "nationality":  # "آسيويين اثنين" names no nationality
        return any(
            f and _nisba(t) in _NATIONALITIES and _nisba(t) not in _REGIONS
            for t, f in zip(toks, fresh, strict=True)
        )
    if kind == "place" and slot.unit in ("دوله", "بلد"):
        return any(
            f
            and (_among(t, _COUNTRIES) or _nisba(t) in _NATIONALITIES)
            and _nisba(t) not in _REGIONS
            for t, f in zip(toks, fresh, strict=True)
        )
    if kind == "place" and slot.unit == "عاصمه":
        # "عاصمتها هي أمستردام", "في العاصمة هراري", "مانيلا هي العاصمة"
        marks = [n for n, t in enumerate(toks) if _CAPITAL.fullmatch(t)]
        return any(
            fresh[m]
            and toks[m] not in _STOP
            and not _DIGITS.fullmatch(toks[m])
            and _nisba(toks[m]) not in _NATIONALITIES
            for n in marks
            for m in [*range(n + 1, min(n + 4, len(toks))), *range(max(0, n - 3), n)]
        )
    if kind == "place" and slot.unit in _NAMED_PLACES:
        # the place named after its kind: "مستشفى الملك فهد"
        return any(
            fresh[n + 1] and toks[n + 1] not in _STOP and _bare(t) == slot.unit
            for n, t in enumerate(toks[:-1])
        )
    if kind == "place":
        for n, t in enumerate(toks):
            if not fresh[n]:
                continue
            if _among(t, _PLACES):
                return True
            if n and _among(toks[n - 1], _PLACE_HEADS):
                return True
            if n and toks[n - 1] in _WHERE and t not in _STOP and not _DIGITS.fullmatch(t):
                return True
        return False
    # name, agent: a name beside the asked noun, or a name not said by a source.
    head = _name_head(question) if kind == "name" else ""
    quoted = _quoted_names(toks, fresh, text, asked)
    if head:
        if not any(_skeleton(t)[:3] == _skeleton(head)[:3] for t in toks):
            return bool(quoted)  # "من هو مؤلف الرواية؟" → "من تأليف فيكتور هوغو"
        return _named_beside(head, toks, fresh, quoted) or _apposed(head, text, asked)
    if _has_name(toks, fresh, sentence):
        return True
    return kind == "agent" and any(
        fresh[n] and _among(t, _BODIES) and not _said_by_source(toks, n) for n, t in enumerate(toks)
    )


_QUOTED = re.compile(r"[«\"“]([^»\"”]{2,80})[»\"”]")
_LATIN = re.compile(r"[^\W\d_\u0600-\u06ff]{3,}")


_NAME_ASKED = frozenset("اسم اسما اسماء هو هي هم هما".split())
# Who is quoted rather than what is asked about: a name after these is a source's.
_SOURCE_WORDS = frozenset(
    normalize(w)
    for w in "قال قالت صرح صرحت أكد أكدت أوضح أوضحت أضاف أضافت ذكر ذكرت أفاد أفادت"
    " بين بينت أعلن أعلنت نقل نقلت علمت مصادر مصدر المتحدث الناطق الرسمي لـ سبق مراسل".split()
)


def _said_by_source(toks: list[str], n: int) -> bool:
    """Tell whether the word at n follows a word of saying: a source, not the subject."""
    return any(_among(w, _SOURCE_WORDS) for w in toks[max(0, n - 6) : n])


_STOP = frozenset(
    normalize(w)
    for w in "في من على إلى الى عن مع أن إن الذي التي الذين قد كان كانت لم لن لا ما هو هي"
    " نفسه نفسها بعد قبل عند حيث ثم أو أي كل بين منذ حتى خلال عبر لدى وقد وكان وهو".split()
)


def _name_head(question: str) -> str:
    """The noun a name question asks the name of: "ما اسم الشاب الذي…" → الشاب."""
    toks = words(normalize(question))
    for n, t in enumerate(toks[:4]):
        if t in _NAME_ASKED:
            rest = [x for x in toks[n + 1 : n + 3] if x not in _STOP and x not in _NAME_ASKED]
            return rest[0] if rest else ""
    return ""


def _name_like(toks: list[str], n: int) -> bool:
    t = toks[n]
    if _among(t, _FIRST_NAMES):
        return True
    prev = toks[n - 1] if n else ""
    return prev in ("بن", "ابن", "ابو", "ال", "عبد") and len(t) > 2


def _named_beside(head: str, toks: list[str], fresh: list[bool], quoted: set[int]) -> bool:
    """Tell whether a name stands near the asked noun (four words before, six after).

    quoted: positions of words that a quotation, Latin letters or "باسم، يسمى"
    give as a name the question lacks.
    """
    key = _skeleton(head)[:3]
    for n, t in enumerate(toks):
        if _skeleton(t)[:3] != key:
            continue
        for m in range(max(0, n - 4), min(len(toks), n + 7)):
            if m == n or not fresh[m]:
                continue
            if m in quoted or _name_like(toks, m):
                return True
            if toks[m - 1] in _IS and not toks[m].startswith("ال") and toks[m] not in _STOP:
                return True
    return False


_APPOSITION = re.compile(r"(\w+)\s*[،,]\s*(\w+)")


def _apposed(head: str, text: str, asked: set[str]) -> bool:
    """Tell whether a word stands before a comma and the asked noun: "والعطاس، أول رئيس"."""
    key = _skeleton(head)[:3]
    for first, second in _APPOSITION.findall(text):
        if _skeleton(second)[:3] != key:
            continue
        if first not in _STOP and _bare(first) not in asked and first not in asked:
            if not _DIGITS.fullmatch(first) and len(_bare(first)) > 2:
                return True
    return False


def _quoted_names(toks: list[str], fresh: list[bool], text: str, asked: set[str]) -> set[int]:
    """Positions of words given as a name: quoted, in Latin letters, or after "باسم"."""
    out = {
        n + 1
        for n, t in enumerate(toks[:-1])
        if t in _NAMED and toks[n + 1] not in _STOP and not toks[n + 1].startswith("ال")
    }
    out |= {n for n, t in enumerate(toks) if _LATIN.fullmatch(t)}
    for quote in _QUOTED.findall(text):
        inside = words(quote)
        if not inside or len(inside) > 4 or set(inside) <= asked or inside[0] in _STOP:
            continue  # a quoted saying ("في وجهه ورأسه") is no name
        if " ".join(inside) in _OUTLET_NAMES or "".join(inside) in asked:
            continue  # «سبق», or «آي فون» for the question's «آيفون»
        for n in range(len(toks) - len(inside) + 1):
            before = toks[n - 1] if n else ""
            if toks[n : n + len(inside)] == inside and not (
                _among(before, _OUTLET)  # لصحيفة «ميل أون صنداي»
            ):
                if not _said_by_source(toks, n):
                    out.add(n)
    return {n for n in out if n < len(toks) and fresh[n]} | {
        n for n in out if n < len(toks) and _LATIN.fullmatch(toks[n])
    }


def _has_name(toks: list[str], fresh: list[bool], sentence: str) -> bool:
    """Tell whether the sentence names a person the question does not, other than a source."""
    for n, t in enumerate(toks):
        if not fresh[n]:
            continue
        if _said_by_source(toks, n):
            continue
        if _among(t, _FIRST_NAMES):
            return True
        prev = toks[n - 1] if n else ""
        if (prev in _TITLES or prev in _NAMED) and not t.startswith("ال") and len(t) > 2:
            return True
    return bool(_LATIN.search(sentence))
