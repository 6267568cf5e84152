"""Text helpers shared by ingestion, retrieval and answering: normalisation,
sentence splitting with offsets, tokens and light stemming. Pure functions."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from functools import lru_cache

# One character for one, so offsets in normalised text equal offsets in the source.
_ONE_FOR_ONE = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2033": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2010": "-",
        "\u2011": "-",
        "\u00a0": " ",
        "\u2007": " ",
        "\u202f": " ",
        "\t": " ",
        "\u2022": " ",
        "\u25cf": " ",
        "\u25aa": " ",
        "\u2023": " ",
        "\u2043": " ",
    }
)
BULLET_CHARS = "\u2022\u25cf\u25aa\u2023\u2043*-"


def normalise(text: str) -> str:
    """Straighten quotes and dashes, blank out bullets; length is preserved.

    >>> normalise("United States\u2019 \u201c3P\u201d")
    'United States\\' "3P"'
    """
    return text.translate(_ONE_FOR_ONE)


def fold(text: str) -> str:
    """Lower-case and strip accents, for matching ("Verité" ~ "verite")."""
    decomposed = unicodedata.normalize("NFKD", normalise(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


# A sentence ends at . ! ? (optionally followed by a closing quote/bracket) and whitespace,
# when the next sentence starts with a capital, digit, quote or bracket.
_BOUNDARY = re.compile(r"""[.!?]["')\]]*\s+(?=["'(\[]?[A-Z0-9$])""")
_ABBREV = re.compile(
    r"(?:\b(?:[A-Z]\.){1,4}|\b(?:Mr|Mrs|Ms|Dr|St|No|Nos|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
    r"|Inc|Ltd|Co|Corp|vs|etc|e\.g|i\.e|Gov|Gen|Sen|Rep|Amb|Fig|pp|Vol)\.)$"
)


def split_sentences(text: str, offset: int = 0) -> Iterator[tuple[int, int]]:
    """Yield (start, end) spans of sentences in ``text``, shifted by ``offset``.

    Abbreviations such as "U.S." and "Dr." do not end a sentence.
    """
    start = 0
    for match in _BOUNDARY.finditer(text):
        stop = match.start() + 1
        head = text[start:stop]
        if _ABBREV.search(head) and not text[match.end() :].startswith(("The ", "In ", "This ")):
            continue
        yield from _trimmed(text, start, match.end(), offset)
        start = match.end()
    yield from _trimmed(text, start, len(text), offset)


def _trimmed(text: str, start: int, end: int, offset: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield start + offset, end + offset


WORD = re.compile(r"[A-Za-z0-9\u00c0-\u024f]+(?:['.][A-Za-z0-9]+)*")

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "into",
        "onto",
        "over",
        "under",
        "about",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "has",
        "have",
        "had",
        "do",
        "does",
        "did",
        "done",
        "doing",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "it's",
        "they",
        "them",
        "their",
        "there",
        "here",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "much",
        "many",
        "any",
        "some",
        "all",
        "each",
        "both",
        "than",
        "then",
        "so",
        "such",
        "very",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "i",
        "me",
        "my",
        "we",
        "our",
        "us",
        "you",
        "your",
        "he",
        "she",
        "his",
        "her",
        "him",
        "not",
        "no",
        "nor",
        "also",
        "only",
        "just",
        "up",
        "out",
        "off",
        "again",
        "further",
        "once",
        "same",
        "other",
        "more",
        "most",
        "tell",
        "please",
        "know",
        "give",
        "say",
        "said",
        "says",
        "according",
        "document",
        "documents",
        "fact",
        "sheet",
        "ok",
        "okay",
        "hey",
        "hi",
    ]
)


# Words that frame a question rather than name its topic ("how *large* is the *overall* ...").
# They count for little when measuring how much of a question a sentence covers.
FRAMING = frozenset(
    [
        "large",
        "big",
        "small",
        "huge",
        "overall",
        "total",
        "estimated",
        "estimate",
        "estimat",
        "roughly",
        "approximately",
        "exactly",
        "share",
        "proportion",
        "people",
        "person",
        "worth",
        "amount",
        "number",
        "kind",
        "type",
        "thing",
        "things",
        "actually",
        "really",
        "original",
        "originally",
        "supposed",
        "meant",
        "happen",
        "happened",
        "like",
        "lol",
        "ok",
        "so",
        "get",
        "got",
        "part",
        "whole",
        "world",
        "worldwide",
        "global",
        "globally",
        "around",
        "today",
        "now",
        "recent",
        "latest",
        "year",
        "years",
        "time",
        "times",
        "main",
        "mainly",
        "first",
        "second",
        "specific",
        "specifically",
        "basically",
        "ever",
        "far",
        "already",
        "exact",
    ]
)


def tokens(text: str) -> list[str]:
    """Lower-cased, accent-folded word tokens (numbers keep their digits, commas dropped)."""
    folded = fold(text).replace(",", "")
    out = []
    for token in WORD.findall(folded):
        token = token.strip(".'")
        if token.endswith("'s"):
            token = token[:-2]  # possessive: "Department's" -> "department"
        if token:
            out.append(token)
    return out


def stem(word: str) -> str:
    """A deliberately light suffix stripper: enough to match plurals and tenses.

    >>> [stem(w) for w in ["countries", "trained", "trafficking", "victims", "passed"]]
    ['country', 'train', 'traffick', 'victim', 'pass']
    """
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "es" and not word.endswith(("ches", "shes", "xes", "zes", "sses")):
                return word[:-1]
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            return word[: len(word) - len(suffix)] + repl
    return word


def content_terms(text: str) -> list[str]:
    """Stemmed tokens without stop words, in order."""
    return [stem(t) for t in tokens(text) if t not in STOPWORDS]


def edit_distance_at_most(a: str, b: str, limit: int) -> bool:
    """True when the edit distance of a and b is <= limit, counting a swap of two
    neighbouring letters as one edit ("countires" ~ "countries"): optimal string
    alignment distance, banded, with an early exit."""
    if abs(len(a) - len(b)) > limit:
        return False
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        best = current[0]
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], before[j - 2] + 1)
            best = min(best, current[j])
        if best > limit:
            return False
        before, previous = previous, current
    return previous[-1] <= limit


@lru_cache(maxsize=262144)
def fuzzy_equal(a: str, b: str) -> bool:
    """Typo-tolerant term match: exact, or one edit for 5+ letters, two for 9+."""
    if a == b:
        return True
    if a.isdigit() or b.isdigit():
        return False
    shortest = min(len(a), len(b))
    if shortest >= 9:
        return edit_distance_at_most(a, b, 2)
    if shortest >= 5:
        return edit_distance_at_most(a, b, 1)
    return False


# Chat shorthand, spelled out before a question is analysed: "how many ppl" asks about
# people, "mtgs" are meetings. Whole words only, so "U.S." and "R&D" are untouched.
_SHORTHAND = {
    "ppl": "people",
    "peeps": "people",
    "govt": "government",
    "gov't": "government",
    "gov": "government",
    "mtg": "meeting",
    "mtgs": "meetings",
    "yr": "year",
    "yrs": "years",
    "r": "are",
    "u": "you",
    "ur": "your",
    "wat": "what",
    "wut": "what",
    "whats": "what is",
    "hw": "how",
    "hwo": "how",
    "w/": "with",
    "w/o": "without",
    "b/c": "because",
    "bc": "because",
    "approx": "approximately",
    "dept": "department",
    "depts": "departments",
    "org": "organization",
    "orgs": "organizations",
    "intl": "international",
    "int'l": "international",
    "natl": "national",
    "info": "information",
    "mil": "million",
    "mn": "million",
    "bn": "billion",
    "thru": "through",
    "tho": "though",
    "abt": "about",
    "1st": "first",
    "2nd": "second",
    "3rd": "third",
    "4th": "fourth",
    "5th": "fifth",
    "rn": "right now",
    "atm": "at the moment",
    "ttl": "total",
    "amt": "amount",
    "num": "number",
    "bout": "about",
    "b4": "before",
    "2day": "today",
    "smth": "something",
    "sth": "something",
    "cuz": "because",
    "pls": "",
    "plz": "",
    "lol": "",
    "lmao": "",
    "thx": "",
    "thanks": "",
    "tbh": "",
    "idk": "",
    "btw": "",
    "fyi": "",
    "&": "and",
    "+": "and",
}
_SHORTHAND_RE = re.compile(
    r"(?<![\w.'/&+])("
    + "|".join(re.escape(k) for k in sorted(_SHORTHAND, key=len, reverse=True))
    + r")(?![\w'/&+]|\.\w)",
    re.I,
)


def expand_shorthand(text: str) -> str:
    """ "how many ppl have used it lol" -> "how many people have used it"."""

    def spelled(m: re.Match[str]) -> str:
        return _SHORTHAND[m.group(1).lower()]

    return re.sub(r"[ \t]{2,}", " ", _SHORTHAND_RE.sub(spelled, text)).strip()


# Acronyms a document defines ("Child Protection Compact (CPC)", "Trafficking in Persons
# (TIP) Report") are spelled out in the text that is embedded, not in the text stored or
# cited: the embedding model does not know that a "TIP Office" is a trafficking office.
_DEFINED = re.compile(r"((?:[A-Z][\w'-]*\s+(?:(?:of|in|on|for|and|to|the)\s+)*){1,8})\(([A-Z]{2,6})\)")


def acronym_definitions(text: str) -> dict[str, str]:
    """ "the Child Protection Compact (CPC) Partnership" -> {"CPC": "Child Protection Compact"}.
    The long form is the shortest run of capitalised words before the brackets whose
    initials spell the acronym (minor words may sit between them)."""
    found: dict[str, str] = {}
    for m in _DEFINED.finditer(text):
        words, acronym = m.group(1).split(), m.group(2)
        for start in range(len(words) - 1, -1, -1):
            run = words[start:]
            capitals = "".join(w[0] for w in run if w[0].isupper())
            every = "".join(w[0] for w in run).upper()  # "Trafficking in Persons" -> "TIP"
            if acronym in (capitals, every) and run[0][0].isupper():
                found.setdefault(acronym, " ".join(words[start:]))
                break
    return found


def acronym_expander(definitions: dict[str, str]) -> Callable[[str], str]:
    """A function that gives each bare use of a defined acronym its long form: "TIP Office"
    -> "TIP (Trafficking in Persons) Office". The definition itself is left as it is."""
    if not definitions:
        return lambda text: text
    pattern = re.compile(r"(?<!\()\b(" + "|".join(map(re.escape, definitions)) + r")\b(?!\s*\))")

    def expand(text: str) -> str:
        return pattern.sub(lambda m: f"{m.group(1)} ({definitions[m.group(1)]})", text)

    return expand
