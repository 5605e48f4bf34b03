"""The follow-up rule: is a question read against the chat's thread, or a new subject?

A question is a follow-up when it brings no subject of its own: every content
word it has is either a word that asks about some aspect of a story (عدد،
المصابين، نفذ، قالت…), a time word (أمس، اليوم…), or a word the thread's
story already holds (its subject words, its headline, its articles' text). A
question naming something the story does not mention starts a new thread. The
table in tests/data/followups.json (pairs on the development news days) is what
this rule was chosen on; docs/conversation.md gives its figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.arabic import STOPWORDS, light_stem, normalize, words

# Words that ask about an aspect of whatever story is under discussion, or point
# back at it, without naming it: "how many injured", "who carried it out", "the
# incident". Stems are compared, so one form of each is enough.
_ASPECT = (
    "عدد حصيله مصاب مصابين اصابه اصابات جريح جرحي قتيل قتلي قتل ضحيه ضحايا وفاه وفيات "
    "موتي منفذ منفذين نفذ نفذه نفذها نفذوا سبب اسباب تفاصيل تفصيل جديد اخر احدث "
    "رد ردود موقف قال قالت يقول ذكر ذكرت نشر نشرت اعلن اعلنت حدث حصل جري وقع مكان "
    "موعد وقت تعليق مسؤول مسؤوليه تبني نتيجه نتايج حجم قيمه كلفه بيان تصريح ايضا "
    "كذلك ذلك هذا هذه هناك حادث حادثه واقعه قضيه خبر اخبار عمليه امر شي شيء ماذا "
    "فعل يفعل حال وضع مصير هوي هويه اسم اسماء كان يكون تم جرت جرى صار بعدها "
    "غيرها غيره حول بشان بخصوص ورد وردت صحيفه جريده وكاله موقع تقول تذكر حسب وفق"
)
# Time words: a question such as "وماذا عن أمس؟" keeps the thread and changes only when.
_TIME = (
    "امس اليوم غدا الليله ليله الماضي الماضيه الاسبوع اسبوع الشهر شهر صباح مساء "
    "ظهر ساعات ساعه يوم يومين ايام منذ خلال الان حاليا اول ثاني ثلاثه اربعه "
    "السبت الاحد الاثنين الثلاثاء الاربعاء الخميس الجمعه قبل بعد اخيرا مؤخرا"
)
_GENERIC = frozenset(light_stem(normalize(w)) for w in f"{_ASPECT} {_TIME}".split())
_TIMES = frozenset(light_stem(normalize(w)) for w in _TIME.split())
# Words of a question that only names an outlet or a time: "ماذا قالت…؟", "وماذا عن…؟".
_ONLY_ASKING = frozenset(
    light_stem(normalize(w))
    for w in "قال قالت ذكر ذكرت نشر نشرت اورد اوردت كتب كتبت نقل نقلت يقول تقول حسب وفق"
    " صحيفه جريده موقع وكاله".split()
)
_STOP = frozenset(STOPWORDS) | frozenset(
    normalize(w) for w in "ماذا هو هي هل عن فيها فيه منها منه عليها عليه لها له بها به".split()
)
# Question words a conjunction or preposition is often glued to: ومن، فكم، لأي، وبأي.
_QUESTION = frozenset(normalize(w) for w in "من ما ماذا كم متى اين كيف لماذا هل اي".split())
# A question of this many words or fewer may lean on the thread without a conjunction.
MAX_FOLLOW_UP_WORDS = 8


def _unglued(word: str) -> str:
    """Drop و or ف ("and", "so") and ل/ب ("for", "by") glued to a question or function word."""
    if len(word) > 2 and word[0] in "وف" and (word[1:] in _STOP or is_generic(word[1:])):
        return word[1:]  # وفي، وعند، ومن، وعدد
    for cut in (1, 2):
        rest = word[cut:]
        if len(rest) >= 2 and all(c in "وفلب" for c in word[:cut]) and rest in _QUESTION:
            return rest  # لأي، وبأي
    return word


def is_generic(word: str) -> bool:
    """Tell whether a normalised word asks about an aspect of a story or a time.

    A pronoun may be glued on, turning ة into ت: مسؤوليته is مسؤولية + ه.
    """
    shapes = {word}
    for tail in ("هما", "هم", "ها", "ه"):
        if word.endswith(tail) and len(word) - len(tail) >= 2:
            base = word[: -len(tail)]
            shapes |= {base, base[:-1] + "ه" if base.endswith("ت") else base}
    return any(light_stem(s) in _GENERIC for s in shapes)


_CLITICS = ("وال", "فال", "بال", "كال", "لل", "ال", "و", "ف", "ب", "ل")
_ENDINGS = ("هما", "هم", "هن", "كم", "ها", "وا", "ون", "ين", "ات", "ان", "يه", "ه", "ي", "ا")
_VERB_HEADS = ("است", "ا", "ت", "ي", "ن")


def forms(word: str) -> set[str]:
    """Return the shapes a word takes as its affixes come off, each of three letters or more.

    Arabic glues conjunctions, prepositions and pronouns to words, and one root gives
    many patterns (أغلق/إغلاق، استقبله/استقبال): two words that share a shape are
    taken as the same word. The last shape drops long vowels (ا و ي) inside.
    """
    out = {normalize(word)}

    def cut(shapes: set[str], affixes: tuple[str, ...], front: bool) -> set[str]:
        found = set()
        for shape in shapes:
            for affix in affixes:
                if len(shape) - len(affix) < 3:
                    continue
                if front and shape.startswith(affix):
                    found.add(shape[len(affix) :])
                elif not front and shape.endswith(affix):
                    found.add(shape[: -len(affix)])
        return found

    for affixes, front, rounds in (
        (_CLITICS, True, 2),  # و + ب + ال...
        (_ENDINGS, False, 2),  # a pronoun, then a plural or feminine ending
        (_VERB_HEADS, True, 1),
    ):
        step = set(out)
        for _ in range(rounds):
            step = cut(step, affixes, front)
            out |= step
    # A pronoun turns ة into ت: حجتها is حجة + ها.
    out |= {w[:-1] + "ه" for w in list(out) if w.endswith("ت") and len(w) >= 3}
    out |= {w[0] + "".join(c for c in w[1:] if c not in "اوي") for w in list(out)}
    return {f for f in out if len(f) >= 3}


def content_words(text: str) -> list[str]:
    """Return text's normalised words, with glued conjunctions and stopwords dropped."""
    return [bare for bare in map(_unglued, words(text)) if bare not in _STOP]


def subject_words(question: str) -> list[str]:
    """Return the words of a question that name its subject, as written, in order.

    What is left after question words, function words, aspect and time words: the
    words added to a follow-up's search, and kept as the thread's subject.
    """
    kept = []
    for token in question.split():
        found = words(token)
        if not found:
            continue
        bare = _unglued(found[0])
        if bare in _STOP or is_generic(bare):
            continue
        kept.append(token.strip("؟?!.،,:؛\"'«»()"))
    return [w for w in kept if w]


def asks_nothing_new(question: str) -> bool:
    """Tell whether a question only names a time or asks what was said ("وماذا عن أمس؟",
    "ماذا قالت…" once the outlet is taken out): it asks the thread's last question again."""
    return all(
        light_stem(w) in _TIMES or light_stem(w) in _ONLY_ASKING for w in content_words(question)
    )


def time_words(question: str) -> list[str]:
    """Return the question's time words as written ("أمس", "الأسبوع الماضي")."""
    kept = []
    for token in question.split():
        found = words(token)
        if found and light_stem(_unglued(found[0])) in _TIMES:
            kept.append(token.strip("؟?!.،,:؛\"'«»()"))
    return [w for w in kept if w]


def starts_with_conjunction(question: str) -> bool:
    """Tell whether the question opens with و or ف glued to a question word (ومن، فكم)."""
    found = words(question)
    return bool(found) and found[0][0] in "وف" and _unglued(found[0]) != found[0]


@dataclass(frozen=True)
class Reading:
    """How a question reads against a thread: follow-up or not, and the words it brings."""

    follow_up: bool
    new_words: tuple[str, ...]  # words the thread's story does not hold
    own_words: tuple[str, ...]  # every subject word of the question


def read_against(question: str, vocabulary: frozenset[str]) -> Reading:
    """Decide whether a question follows the thread whose story holds these stems."""
    own = tuple(w for w in content_words(question) if not is_generic(w))
    new = tuple(w for w in own if not forms(w) & vocabulary)
    size = len(words(question))
    joined = starts_with_conjunction(question)
    # "وما رتبة العمري؟": a short question joined to the last one may bring one word
    # the articles lack, when another of its words is the story's.
    leaning = joined and size <= 4 and len(new) == 1 and len(own) > 1
    follow = (not new and (size <= MAX_FOLLOW_UP_WORDS or joined)) or leaning
    return Reading(follow, new, own)


def vocabulary_of(*texts: str) -> frozenset[str]:
    """Return every shape of these texts' words (a thread's subject, headline, articles)."""
    return frozenset(f for text in texts for w in content_words(text) for f in forms(w))
