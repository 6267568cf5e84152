"""Computed answers: small calculations on figures the documents state, with the work shown.

Pure functions, no model. The answerer picks the operands (verbatim spans of the sentences
it cites) and the operation the question asks for; this module does the arithmetic, writes
the result with the operands' qualifiers carried through, and checks a computation again
from the cited text alone (``recomputes``), which is what the figure guard relies on:

>>> c = compute("average", ["approximately $200 million", "more than 265"])
>>> c.result, c.formula
('roughly $750,000', 'approximately $200 million \u00f7 more than 265')
>>> compute("fraction", ["20 to 30 million"], factor=0.5).result
'10 to 15 million'

Qualifiers carry: an operand that is approximate or a bound ("more than 265"), or a
division that does not come out even, makes the result approximate, rounded to two significant figures, never a falsely exact
figure. Ranges compute as intervals: half of 20 to 30 million is 10 to 15 million.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from rag.figures import WORD_VALUES

OPERATIONS = ("sum", "difference", "ratio", "average", "fraction", "times", "compare", "count", "span")
SYMBOLS = {"sum": "+", "difference": "\u2212", "compare": "\u2212", "span": "\u2212", "ratio": "\u00f7"}
SYMBOLS |= {"average": "\u00f7", "times": "\u00f7", "fraction": "\u00d7"}

_QUALIFIER = re.compile(
    r"\b(?:approximately|about|around|roughly|nearly|almost|more than|over|less than|under|up to|at least|some|"
    r"just over|just under|an estimated|estimated|close to|upwards of|in excess of)\b|\+",
    re.I,
)
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_SCALE_WORDS = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_FIGURE = re.compile(
    rf"(\$)?\s?({_NUM}|(?:{'|'.join(WORD_VALUES)})\b)\s*(thousand|million|billion|trillion)?\b\s*(%|percent|per cent)?",
    re.I,
)
# "half", "a third", "two-thirds", "10%", "one in five": the factor a question applies
_FRACTIONS = {
    "half": 0.5,
    "a half": 0.5,
    "one half": 0.5,
    "a third": 1 / 3,
    "one third": 1 / 3,
    "two thirds": 2 / 3,
    "a quarter": 0.25,
    "one quarter": 0.25,
    "three quarters": 0.75,
    "a fifth": 0.2,
    "one fifth": 0.2,
    "a tenth": 0.1,
    "one tenth": 0.1,
}
FRACTION = re.compile(
    r"\b(?:(a|one|two|three)[- ](half|third|thirds|quarter|quarters|fifth|fifths|tenth|tenths)|(half))\b"
    r"|(\d+(?:\.\d+)?)\s*(?:%|percent|per cent)"
    r"|\bone (?:in|out of) (\d+|" + "|".join(WORD_VALUES) + r")\b",
    re.I,
)


@dataclass(frozen=True)
class Quantity:
    """An operand's value: a point or a range, with its unit and how it was written."""

    low: float
    high: float
    unit: str = ""  # "$", "%" or ""
    approximate: bool = False  # "approximately", "more than", "up to": not an exact figure
    scale: str = ""  # "million" when the operand was written with one

    @property
    def is_range(self) -> bool:
        return not math.isclose(self.low, self.high)


@dataclass(frozen=True)
class Computation:
    """A computed answer: the operation, its operands verbatim, and the result as written."""

    operation: str
    operands: tuple[str, ...]  # verbatim spans of the cited sentences, in formula order
    result: str  # "roughly $750,000"
    low: float
    high: float
    approximate: bool = False
    factor: float = 0.0  # for "fraction": the share the question applies ("half" is 0.5)
    unit: str = ""  # for "span": the unit asked for ("days"; "" is years)

    @property
    def formula(self) -> str:
        if self.operation == "count":
            return f"{len(self.operands)} listed: " + "; ".join(self.operands)
        if self.operation == "fraction" and len(self.operands) == 2:
            return f"{self.operands[0]} of {self.operands[1]}"  # the documents' own share
        if self.operation == "fraction":
            return f"{_factor_text(self.factor)} \u00d7 {self.operands[-1]}"
        return f" {SYMBOLS[self.operation]} ".join(self.operands)


def quantity(span: str) -> Quantity | None:
    """The value of an operand as written ("approximately $200 million", "20 to 30 million")."""
    found = list(_FIGURE.finditer(span))
    if not found:
        return None
    values = []
    for m in found[:2]:
        raw = m.group(2).replace(",", "")
        number = float(WORD_VALUES[raw.lower()]) if raw.lower() in WORD_VALUES else float(raw)
        values.append((number, (m.group(3) or "").lower(), bool(m.group(1)), bool(m.group(4))))
    # "20 to 30 million", "2,000-3,000": two figures joined by a range word are one operand
    joins = {"to", "-", "\u2013", "\u2014", "and"}
    ranged = len(found) >= 2 and span[found[0].end() : found[1].start()].strip().lower() in joins
    first = values[0]
    last = values[1] if ranged else first
    scale = first[1] or (last[1] if ranged else "")
    low = first[0] * _SCALE_WORDS.get(scale, 1.0)
    high = last[0] * _SCALE_WORDS.get(last[1] or scale, 1.0)
    unit = (
        "$"
        if (first[2] or last[2] or re.search(r"\b(?:dollars|USD)\b", span))
        else "%"
        if (first[3] or last[3])
        else ""
    )
    return Quantity(min(low, high), max(low, high), unit, bool(_QUALIFIER.search(span)), scale)


_MONTHS = "january february march april may june july august september october november december".split()
_ISO = re.compile(r"(?<!\d)((?:1[5-9]|20)\d\d)-(\d{1,2})-(\d{1,2})(?!\d)")
_MONTH_DAY_YEAR = re.compile(r"\b(" + "|".join(_MONTHS) + r")\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b", re.I)
_DAY_MONTH_YEAR = re.compile(r"\b(\d{1,2})\s+(" + "|".join(_MONTHS) + r"),?\s+(\d{4})\b", re.I)


def date_of(span: str) -> datetime.date | None:
    """A full date in an operand ("2018-12-29", "June 5, 2015", "28 December 2015")."""
    try:
        if m := _ISO.search(span):
            return datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if m := _MONTH_DAY_YEAR.search(span):
            return datetime.date(int(m.group(3)), _MONTHS.index(m.group(1).lower()) + 1, int(m.group(2)))
        if m := _DAY_MONTH_YEAR.search(span):
            return datetime.date(int(m.group(3)), _MONTHS.index(m.group(2).lower()) + 1, int(m.group(1)))
    except ValueError:
        return None
    return None


def _span(operands: Sequence[str], unit: str) -> Computation:
    late, early = operands[:2]
    dates = date_of(late), date_of(early)
    years = year_of(late), year_of(early)
    if years[0] is None or years[1] is None:
        raise ValueError("a span needs two dates or years")
    if dates[0] is not None and dates[1] is not None and (unit in ("days", "weeks", "months") or years[0] == years[1]):
        days = (dates[0] - dates[1]).days
        unit = unit or "days"
        amount = {"days": days, "weeks": days / 7, "months": days / 30.44}[unit]
        whole = _whole(amount)
        shown = _plain(amount if whole else round(amount, 1))
        singular = unit[:-1] if shown == "1" else unit
        text = f"{shown} {singular}" if whole else f"roughly {shown} {unit}"
        return Computation("span", (late, early), text, amount, amount, not whole, unit=unit)
    count = years[0] - years[1]
    text = f"{count} year{'s' if count != 1 else ''}"
    return Computation("span", (late, early), text, count, count)


def year_of(span: str) -> int | None:
    m = re.search(r"(?<!\d)(1[5-9]\d\d|20\d\d)(?!\d)", span)
    return int(m.group(1)) if m else None


def fraction_of(text: str) -> float:
    """The share a question applies to a figure ("half of" 0.5, "10% of" 0.1; 0 if none)."""
    m = FRACTION.search(text)
    if not m:
        return 0.0
    if m.group(3):
        return 0.5
    if m.group(4):
        return float(m.group(4)) / 100
    if m.group(5):
        n = m.group(5).lower()
        return 1 / float(WORD_VALUES.get(n, 0) or n)
    count = {"a": 1, "one": 1, "two": 2, "three": 3}[m.group(1).lower()]
    part = {"half": 2, "third": 3, "quarter": 4, "fifth": 5, "tenth": 10}[m.group(2).lower().rstrip("s")]
    return count / part


def compute(operation: str, operands: Sequence[str], factor: float = 0.0, unit: str = "") -> Computation:
    """Apply the operation to the operands (verbatim spans), in the order given.

    sum: a + b; difference, compare: a - b; ratio: a / b as a percentage; average, times:
    a / b; fraction: factor × a; count: the number of operands (list items); span: the
    time between two dates (a - b), in ``unit`` ("days", "weeks", "months"; years by
    default, or days when both are in the same year). Raises ValueError when an operand
    has no figure."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}")
    if operation == "count":
        return Computation("count", tuple(operands), str(len(operands)), len(operands), len(operands))
    if operation == "span":
        return _span(operands, unit)
    quantities = [
        quantity(o) for o in operands if not (operation == "fraction" and fraction_of(o) and quantity(o) is None)
    ]
    if any(q is None for q in quantities) or not quantities:
        raise ValueError(f"an operand holds no figure: {list(operands)}")
    qs = [q for q in quantities if q is not None]
    a = qs[0]
    approximate = any(q.approximate for q in qs)  # a range stays a range: it is exact about its ends
    unit, scale = a.unit, a.scale
    if operation == "fraction":
        if not factor and len(operands) == 2 and fraction_of(operands[0]):
            # the share is the documents' own ("Half of the 20 million to 30 million victims")
            factor, a = fraction_of(operands[0]), qs[-1]
            approximate = a.approximate
            used: tuple[str, ...] = (operands[0], operands[1])
        elif factor:
            used = (operands[0],)
        else:
            raise ValueError("a fraction needs a factor")
        low, high = factor * a.low, factor * a.high
        approximate = approximate or not (_whole(low) and _whole(high))
    else:
        if len(qs) < 2:
            raise ValueError(f"{operation} needs two operands")
        b = qs[1]
        used = (operands[0], operands[1])
        if operation == "sum":
            low, high = a.low + b.low, a.high + b.high
        elif operation in ("difference", "compare"):
            low, high = a.low - b.high, a.high - b.low
            if a.unit == b.unit == "%":
                unit = "points"  # 238% - 58% is 180 percentage points, not 180%
        else:
            if b.low == 0 or b.high == 0:
                raise ValueError("division by zero")
            low, high = a.low / b.high, a.high / b.low
            if operation == "ratio":
                low, high, unit, scale = 100 * low, 100 * high, "%", ""
            elif operation == "times":
                unit, scale = "times", ""
            else:  # average: the total's unit, per item
                unit = a.unit if a.unit != "%" else ""
                scale = ""
            approximate = approximate or not (_whole(low) and _whole(high))
    if approximate and operation in ("ratio", "average", "times", "fraction") and not (_whole(low) and _whole(high)):
        low, high = _round2(low), _round2(high)  # a quotient of rough figures: two significant figures
    text = _written(low, high, unit, scale)
    if approximate:
        text = f"roughly {text}"
    kept = factor if operation == "fraction" and len(used) == 1 else 0.0  # a cited share is recomputed from its span
    return Computation(operation, used, text, low, high, approximate, kept)


def recomputes(computation: Computation, cited: Sequence[str]) -> bool:
    """Does the computation follow from the cited text? Every operand must be a verbatim
    span of a cited sentence, and computing again from those spans gives the same result."""
    text = " ".join(" ".join(c.split()) for c in cited)
    if not computation.operands or any(" ".join(o.split()) not in text for o in computation.operands):
        return False
    try:
        again = compute(computation.operation, computation.operands, computation.factor, computation.unit)
    except ValueError:
        return False
    return again.result == computation.result and math.isclose(again.low, computation.low, rel_tol=1e-9)


def figures_of(computation: Computation) -> list[float]:
    """The values a computed result states (a range states both ends)."""
    return sorted({computation.low, computation.high})


# --- writing numbers ---------------------------------------------------------------


def _whole(x: float) -> bool:
    return math.isclose(x, round(x), abs_tol=1e-9)


def _round2(x: float) -> float:
    """Two significant figures ("754,717" -> 750,000), what an approximate operand supports."""
    if x == 0:
        return 0.0
    digits = 1 - math.floor(math.log10(abs(x)))
    step = Decimal(1).scaleb(-digits)
    return float(Decimal(repr(x)).quantize(step, rounding=ROUND_HALF_UP))  # 845 -> 850, not 840


def _plain(x: float) -> str:
    text = f"{x:,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _written(low: float, high: float, unit: str, scale: str) -> str:
    """ "$750,000", "10 to 15 million", "180 percentage points", "17%", "1.2 times"."""
    big = max(abs(low), abs(high))
    word, divisor = "", 1.0
    for name, size in (("trillion", 1e12), ("billion", 1e9), ("million", 1e6)):
        if big >= size and (scale in ("million", "billion", "trillion") or unit == "$"):
            word, divisor = name, size
            break
    dollar = "$" if unit == "$" else ""
    lo, hi = _plain(low / divisor), _plain(high / divisor)
    number = lo if lo == hi else f"{lo} to {dollar}{hi}"
    number = f"{dollar}{number}{' ' + word if word else ''}"
    if unit == "%":
        return f"{number}%" if lo == hi else f"{number} percent"
    if unit == "points":
        return f"{number} percentage points"
    if unit == "times":
        return f"{number} times"
    return number


def _factor_text(factor: float) -> str:
    for name, value in _FRACTIONS.items():
        if math.isclose(value, factor) and not name.startswith("one "):
            return name
    return f"{_plain(100 * factor)}%"
