"""Pure metric functions for the eval runner: figure-normalised answer matching,
citation accuracy, faithfulness, abstention precision/recall, retrieval ranks, latency.

Figures are compared by value, so "$200 million" = "200,000,000" = "$200M",
"238 percent" = "238%", "three" = "3", and "10" never matches inside "2010".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rag.text import fold as text_fold

_SCALE_WORDS = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "mn": 1e6, "billion": 1e9, "bn": 1e9, "b": 1e9}
_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "hundred": 100,
}
_NUMBER = re.compile(
    r"(?<![\w.])(\$)?\s?(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*"
    r"(thousand|million|billion|mn|bn|[kmb](?![a-z]))?\s*(%|percent|per cent)?(?![\w])",
    re.I,
)
_WORD_NUMBER = re.compile(r"\b(" + "|".join(_WORDS) + r")\b", re.I)


@dataclass(frozen=True)
class Figure:
    value: float
    unit: str  # "$", "%", or ""


def fold(text: str) -> str:
    """Accent-, quote- and case-insensitive text with single spaces."""
    return " ".join(text_fold(text).split())


def figures(text: str) -> list[Figure]:
    """Numbers in a text with their scale and unit; "20 to 30 million" scales both ends.

    >>> [f.value for f in figures("$1.8 million and 500,000 and three")]
    [1800000.0, 500000.0, 3.0]
    """
    out: list[Figure] = []
    matches = list(_NUMBER.finditer(text))
    for i, m in enumerate(matches):
        number = float(m.group(2).replace(",", ""))
        scale = m.group(3)
        if scale is None and i + 1 < len(matches):  # "20 to 30 million": the scale is shared
            nxt = matches[i + 1]
            between = text[m.end() : nxt.start()].strip().lower()
            if between in ("to", "-", "and", "or") and nxt.group(3):
                scale = nxt.group(3)
        number *= _SCALE_WORDS.get((scale or "").lower(), 1.0)
        unit = "$" if m.group(1) or re.match(r"\s*dollars", text[m.end() :], re.I) else "%" if m.group(4) else ""
        out.append(Figure(number, unit))
    for m in _WORD_NUMBER.finditer(text):
        out.append(Figure(float(_WORDS[m.group(1).lower()]), ""))
    return out


_QUALIFIED = re.compile(
    r"^(?:about|approximately|around|roughly|nearly|almost|more than|over|less than|under|some|just over|"
    r"just under|a little over|a little under|close to|at least|at most|up to)\s+",
    re.I,
)


def is_figure(expected: str) -> bool:
    """True when an expected answer is a figure (to compare by value)."""
    if expected.strip().lower() in _WORDS:
        return True
    # "about $750,000", "more than 25,500": a qualified figure is still compared by value
    expected = _QUALIFIED.sub("", expected.strip())
    stripped = re.sub(r"[\s$%,.]|percent|per cent|million|billion|thousand|dollars", "", expected.lower())
    return bool(figures(expected)) and (
        stripped.isdigit() or stripped == "" or len(stripped) <= 2 or expected.strip()[0] in "$0123456789"
    )


def same_value(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def answer_matches(expected: str, answer: str) -> bool:
    """Does the answer state the expected figure (by value) or phrase (accent/case-insensitive)?"""
    if not answer:
        return False
    if is_figure(expected):
        wanted = figures(expected)
        got = figures(answer)
        return all(
            any(same_value(w.value, g.value) and (not w.unit or not g.unit or w.unit == g.unit) for g in got)
            for w in wanted
        )
    # Articles are dropped as in SQuAD's answer normalisation: "the ILO and the UNODC" ~ "ILO and UNODC".
    want, said = _phrase(expected), _phrase(answer)
    return want in said or want.replace("-", " ") in said.replace("-", " ")


def _phrase(text: str) -> str:
    return " ".join(re.sub(r"\b(?:a|an|the)\b", " ", fold(text)).split())


def any_answer_matches(expected: Iterable[str], answer: str) -> bool:
    return any(answer_matches(e, answer) for e in expected)


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9$%]+", fold(text))


def passage_supports(evidence: str, passage: str) -> bool:
    """The cited passage holds the evidence (or most of it, when evidence spans sentences)."""
    a, b = fold(evidence), fold(passage)
    if not a or not b:
        return False
    if a in b or b in a:
        return True
    want = _tokens(evidence)
    have = set(_tokens(passage))
    return bool(want) and sum(t in have for t in want) / len(want) >= 0.8


def faithful(answer_text: str, passages: Sequence[str], computed: Sequence[str] = ()) -> bool:
    """Every figure stated in the answer appears in a cited passage (computed results excepted)."""
    allowed = [f for p in passages for f in figures(p)]
    exempt = [f for c in computed for f in figures(c)]
    for figure in figures(_strip_markers(answer_text)):
        if any(same_value(figure.value, a.value) for a in allowed + exempt):
            continue
        return False
    return True


def _strip_markers(text: str) -> str:
    return re.sub(r"\[\d+\]", " ", text)


def precision_recall(predicted: Sequence[bool], actual: Sequence[bool]) -> tuple[float, float]:
    tp = sum(p and a for p, a in zip(predicted, actual, strict=True))
    fp = sum(p and not a for p, a in zip(predicted, actual, strict=True))
    fn = sum(a and not p for p, a in zip(predicted, actual, strict=True))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def hit_at(rank: int | None, k: int) -> bool:
    return rank is not None and rank < k


def reciprocal_rank(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / (rank + 1)
