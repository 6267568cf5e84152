"""Find typed answer spans in a sentence: money, percentages, counts, dates, names.

Pure functions over one sentence's text; offsets are into that text. Used by the
answerer to extract a direct answer and by the guard that checks figures are cited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.text import STOPWORDS, stem

MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_QUAL = r"(?:\b(?:approximately|about|around|roughly|nearly|almost|more than|over|less than|under|up to|at least|some|just over|just under|an estimated)\s+)?"
_SCALE = r"(?:\s*(?:million|billion|trillion|thousand|hundred)\b)?"
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    "sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|hundred|dozen|dozens|hundreds|thousands"
)
WORD_VALUES = {w: i for i, w in enumerate(_NUMBER_WORDS.split("|")[:20], start=1)} | {
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "hundred": 100,
    "dozen": 12,
}

_MONEY = re.compile(
    rf"{_QUAL}(?:US)?\$\s?(?:{_NUM}){_SCALE}(?:\s*(?:to|-)\s*(?:\$\s?(?:{_NUM}){_SCALE}|(?:{_NUM})\s*(?:million|billion|trillion|thousand)\b))?"
    rf"|{_QUAL}(?:{_NUM}){_SCALE}\s+(?:dollars|USD)\b",
    re.I,
)
_PERCENT = re.compile(
    rf"{_QUAL}(?:{_NUM})\s*(?:percent|per cent|%)"
    r"|\b(?:half|one[- ]third|two[- ]thirds|a third|one[- ]quarter|a quarter|three[- ]quarters|the majority|a majority)\b(?= of\b)",
    re.I,
)
_DATE = re.compile(
    r"\b(?:19|20)\d{2}-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])\b"  # ISO 8601: "2018-12-29"
    rf"|\b(?:(?:early|mid|late)[- ])?(?:{MONTHS})(?:\s+\d{{1,2}}(?:st|nd|rd|th)?,?)?(?:\s+(?:19|20)\d{{2}})?\b"
    rf"|\b(?:19|20)\d{{2}}\b(?!\s*(?:percent|%))"
)
_COUNT = re.compile(
    rf"{_QUAL}\b(?!(?:19|20)\d\d\b)(?:{_NUM}){_SCALE}(?:\s*(?:to|-)\s*(?:{_NUM}){_SCALE})?\b(?![%$])"
    rf"|{_QUAL}\b(?:{_NUMBER_WORDS})\b",
    re.I,
)
_YEAR = re.compile(r"(?<![\d,.])(?:19|20)\d{2}(?!\d|,\d)")  # also "FY2016", never the "2,000" in a figure
_NAME_WORD = r"[A-Z][\w'.&-]*[\w&]|[A-Z]"
_NAME = re.compile(
    # "and the" starts a second name: "the ILO and the UN Office on Drugs and Crime"
    # "Child Protection Compact (CPC) Partnership": an acronym in brackets may sit inside a name
    rf"(?:{_NAME_WORD})(?:\s+(?:(?:of|the|for|and(?!\s+the\b)|in|on|to|a|de|du)\s+)*(?:{_NAME_WORD})|\s+\([A-Z]{{2,}}\)(?=\s+[A-Z]))*(?:\s+\([A-Z]{{2,}}\))?"
)
_NOUN_STOP = (STOPWORDS - {"document", "documents"}) | {
    "since",
    "during",
    "while",
    "who",
    "which",
    "that",
    "has",
    "have",
    "were",
    "was",
    "is",
    "are",
    "to",
    "worldwide",
    "today",
    "currently",
    "around",
    "across",
    "through",
    "per",
    "each",
    "between",
    "will",
}


@dataclass(frozen=True)
class Mention:
    kind: str  # money | percent | count | date | name
    start: int
    end: int
    text: str  # the verbatim span, qualifier included ("approximately $200 million")
    noun: str = ""  # words following a count ("projects worldwide" -> "projects")

    def phrase(self) -> str:
        return f"{self.text} {self.noun}".strip()


@lru_cache(maxsize=65536)
def mentions(sentence: str) -> tuple[Mention, ...]:
    """All typed spans in a sentence (cached: the same sentences come up again and again)."""
    return tuple(_mentions(sentence))


def _mentions(sentence: str) -> list[Mention]:
    """Money/percent first, so counts never overlap them."""
    found: list[Mention] = []
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s_ or a >= e for s_, e in taken)

    for kind, pattern in (("money", _MONEY), ("percent", _PERCENT), ("date", _DATE), ("count", _COUNT)):
        position = 0
        while (m := pattern.search(sentence, position)) is not None:
            text = m.group(0).strip()
            start = m.start() + (len(m.group(0)) - len(m.group(0).lstrip()))
            end = start + len(text)
            blocking = [e for s_, e in taken if not (end <= s_ or start >= e)]
            if blocking:  # overlaps a span already found: look again just past it
                position = max(m.start() + 1, min(blocking))
                continue
            position = m.end()
            if not text or (kind == "count" and _not_a_count(sentence, start, end)):
                continue
            noun = _following_noun(sentence, end) if kind != "date" else ""
            found.append(Mention(kind, start, end, text, noun))
            taken.append((start, end))
    _share_nouns(sentence, found)
    names: list[Mention] = []
    for m in _NAME.finditer(sentence):
        name = _trim_name(sentence, m.start(), m.group(0))
        if name and free(m.start(), m.end()):
            start = m.start() + m.group(0).index(name)
            end = start + len(name)
            if (number := _IDENTIFIER_NUMBER.match(sentence, end)) and _IDENTIFIER.search(name):
                end = number.end()  # "Executive Order 13627": the number is part of the name
            names.extend(_split_possessive(sentence, start, end))
    found.extend(_join_listed_names(sentence, _join_subtitles(sentence, names)))
    return sorted(found, key=lambda m: m.start)


def _join_subtitles(sentence: str, names: list[Mention]) -> list[Mention]:
    """ "Reimagine: Opportunity" is one title: a name, a colon, and a capitalised name."""
    out: list[Mention] = []
    for m in names:
        if out and sentence[out[-1].end : m.start] == ": ":
            out[-1] = Mention("name", out[-1].start, m.end, sentence[out[-1].start : m.end])
        else:
            out.append(m)
    return out


def _split_possessive(sentence: str, start: int, end: int) -> list[Mention]:
    """ "Migration's Return" is two names: the owner and the thing owned."""
    out = []
    a = start
    for owner in [*re.finditer(r"['\u2019]s\b", sentence[start:end]), None]:
        b = start + owner.start() if owner else end
        text = sentence[a:b].strip()
        if len(text.replace(".", "")) >= 2:
            lead = len(sentence[a:b]) - len(sentence[a:b].lstrip())
            out.append(Mention("name", a + lead, a + lead + len(text), text))
        a = start + owner.end() if owner else end
    return out


_ORG_HEADS = frozenset(
    "program programme office bureau fund council agency initiative partnership act institute center centre".split()
)


def _join_listed_names(sentence: str, names: list[Mention]) -> list[Mention]:
    """ "Bureau of Population, Refugees, and Migration" is one name, not three: a
    capitalised list joins into one name when its first item ends in "of X" or its
    last item ends in an organisation word ("Return, Reintegration, and Family
    Reunification Program"). "Ghana, Kenya, and Nigeria" stays three names."""
    out: list[Mention] = []
    i = 0
    while i < len(names):
        j, closed = i, False  # closed: a list of three or more that ends in "and X"
        while j + 1 < len(names):
            between = sentence[names[j].end : names[j + 1].start]
            if not re.fullmatch(r",\s+(?:and\s+)?", between):
                break
            j += 1
            if "and" in between:
                closed = j > i + 1
                break
        first, last = names[i], names[j]
        words = last.text.split()
        if closed and (
            re.search(r"\bof \S+$", first.text) or (len(words) > 1 and any(w.lower() in _ORG_HEADS for w in words))
        ):
            out.append(Mention("name", first.start, last.end, sentence[first.start : last.end]))
            i = j + 1
        else:
            out.append(names[i])
            i += 1
    return out


_NAME_LEAD = re.compile(
    r"^(?:(?:The|the|a|an|A|An|In|On|At|By|For|Since|During|Through|Within|Under|With|From|This|These|Those|Its|Their|Our|Currently|Department)\s+)+"
)


def _trim_name(sentence: str, start: int, name: str) -> str:
    """Drop sentence-initial function words ("The TIP Office" -> "TIP Office") and lone letters."""
    if start == 0 or sentence[:start].rstrip().endswith((".", ":", ";")):
        name = _NAME_LEAD.sub("", name)
        if " " not in name and name.lower() in STOPWORDS | {"since", "during", "through", "currently"}:
            return ""
    if len(name.replace(".", "")) < 2:
        return ""
    return name


_IDENTIFIER = re.compile(r"\b(?:Order|No\.|Number|Section|Article|Resolution|Title)\s*$")
_IDENTIFIER_NUMBER = re.compile(r"\s+\d[\d-]*\b")


_VERSION_BEFORE = re.compile(r"(?:\b(?:version|versions|release|releases|v)\s*|\d\.)$", re.I)


def _not_a_count(sentence: str, start: int, end: int) -> bool:
    """Ordinals-in-names, identifiers and version numbers are not counts ("Executive Order
    13627", "first", "release 1.3.10", "version 2.2")."""
    before = sentence[max(0, start - 16) : start]
    if re.match(r"\.\d", sentence[end : end + 2]) or _VERSION_BEFORE.search(before[-10:]):
        return True
    if "." in sentence[start:end] and re.search(r"\b[A-Z][\w+-]*\s$", before):
        return True  # "Python 2.7", "Solaris 2.6": a decimal after a name is its version
    return bool(_IDENTIFIER.search(sentence[max(0, start - 12) : start]))


def _following_noun(sentence: str, end: int) -> str:
    """Up to four words after a number, stopping at function words ("194 pieces of legislation")."""
    words: list[str] = []
    for m in re.finditer(r"[A-Za-z][\w.'-]*|,|\.|;|\(|\)", sentence[end:]):
        word = m.group(0)
        lower = word.lower().rstrip(".")
        if not words and lower in _COMPARATIVES:
            continue  # "238 percent more prosecutions" -> "prosecutions"
        if word in {",", ".", ";", "(", ")"}:
            break
        if lower == "of" and words and len(words) < 3:
            words.append(word)
            continue
        if lower in _NOUN_STOP or len(words) >= 4:
            break
        words.append(word if re.fullmatch(r"(?:[A-Z]\.)+", word) else word.rstrip("."))
        if _plural(lower) and not re.match(r"\s+of\b", sentence[end + m.end() :]):
            break  # "1,545 eligible family members join": the noun ends at its plural head
    while words and words[-1].lower() == "of":
        words.pop()
    return " ".join(words)


_COMPARATIVES = frozenset(["more", "fewer", "less", "additional", "extra", "new", "higher", "lower"])
_NOT_PLURAL = frozenset(
    ["overseas", "series", "news", "various", "previous", "species", "always", "whereas", "perhaps", "across"]
)


def _plural(word: str) -> bool:
    return len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")) and word not in _NOT_PLURAL


def _share_nouns(sentence: str, found: list[Mention]) -> None:
    """'from 154 countries in 2008 to 188 today': 188 inherits "countries"."""
    counts = [m for m in found if m.kind == "count"]
    for i, m in enumerate(counts):
        if m.noun:
            continue
        for prior in reversed(counts[:i]):
            between = sentence[prior.end : m.start]
            if prior.noun and re.search(r"\bto\b", between) and len(between) < 60:
                found[found.index(m)] = Mention(m.kind, m.start, m.end, m.text, prior.noun)
                break


def years(text: str) -> set[str]:
    return set(_YEAR.findall(text))


def noun_terms(noun: str) -> set[str]:
    return {stem(w.lower()) for w in re.findall(r"[A-Za-z][\w-]*", noun)}


# --- numeric values, for computing and for comparing figures --------------------------

_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "hundred": 1e2}


def value(text: str) -> float | None:
    """The number a figure stands for ("$1.8 million" -> 1800000.0, "three" -> 3.0)."""
    m = re.search(rf"({_NUM})\s*(million|billion|trillion|thousand|hundred)?", text, re.I)
    if m:
        number = float(m.group(1).replace(",", ""))
        scale = m.group(2)
        if scale is None:  # "20 to 30 million": the scale of the range's end is the start's too
            shared = re.match(
                rf"\s*(?:to|-|\u2013)\s*\$?(?:{_NUM})\s*(million|billion|trillion|thousand)\b", text[m.end() :], re.I
            )
            scale = shared.group(1) if shared else None
        return number * _SCALES.get((scale or "").lower(), 1.0)
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in WORD_VALUES:
            return float(WORD_VALUES[word])
    return None


def format_value(number: float, like: str) -> str:
    """Write a computed number in the style of an operand ("$2.3 million", "34")."""
    money = "$" in like
    for scale_word, scale in (("billion", 1e9), ("million", 1e6)):
        if abs(number) >= scale and (scale_word in like.lower() or money):
            text = f"{number / scale:,.2f}".rstrip("0").rstrip(".")
            return f"{'$' if money else ''}{text} {scale_word}"
    text = f"{number:,.2f}".rstrip("0").rstrip(".")
    if "percent" in like.lower() or "%" in like:
        return f"{text} percent"
    return f"${text}" if money else text
