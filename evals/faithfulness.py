"""An independent faithfulness check: is every figure in a reply in a passage it cites?

`evals.metrics.faithful` reads figures with regexes of the same shape as the figure
guard's (`rag/guard.py`), so a figure that both misread would pass both: the metric meant
to catch the guard's blind spots would share them. This check shares no parsing code with
either. It reads quantities with quantulum3, a maintained quantity extractor (number
words, fractions, scales, currencies, percentages and ranges), and compares them by value.

Where the two parsers disagree is itself worth seeing: `tests/test_faithfulness.py` feeds
both the same tricky figures and records where they agree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class Quantity:
    values: tuple[float, ...]  # one value, or a range's two ends
    unit: str  # quantulum3's unit name: "dimensionless", "dollar", "percentage", ...
    surface: str


@lru_cache(maxsize=1)
def _parser() -> Any:
    # quantulum3 uses a pickled scikit-learn classifier to tell ambiguous units apart when
    # scikit-learn is installed; that pickle does not load on current scikit-learn, and its
    # rule-based disambiguation is enough for the units figures carry (dollars, percent).
    from quantulum3 import classifier, parser

    classifier.USE_CLF = False
    return parser


@lru_cache(maxsize=4096)
def quantities(text: str) -> tuple[Quantity, ...]:
    """The quantities quantulum3 finds in a text; a range keeps both ends."""
    out = []
    for q in _parser().parse(text):
        if q.uncertainty is not None:  # "20 to 30 million": value is the middle, uncertainty half the width
            values: tuple[float, ...] = (q.value - q.uncertainty, q.value + q.uncertainty)
        else:
            values = (q.value,)
        out.append(Quantity(values, q.unit.name, q.surface))
    return tuple(out)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


_PLAIN_UNITS = {"dimensionless", ""}


def _units_agree(a: str, b: str) -> bool:
    return a in _PLAIN_UNITS or b in _PLAIN_UNITS or a == b


def _unranged(text: str) -> str:
    """The text with range words cut, so each end is also read alone. quantulum3 reads
    "154 countries in 2008 to 188 today" as one (impossible) range and drops both ends;
    on the passage side, reading them alone as well costs nothing."""
    return re.sub(r"\s+(?:to|and|or)\s+|(?<=\d)\s*[-–]\s*(?=\d)", " ; ", text)


def unsupported(answer_text: str, passages: Sequence[str], computed: Sequence[str] = ()) -> list[str]:
    """The quantities of the reply that no cited passage (or computed result) states."""
    allowed = [q for text in (*passages, *computed) for q in (*quantities(text), *quantities(_unranged(text)))]
    missing = []
    for q in quantities(re.sub(r"\[\d+\]", " ", answer_text)):
        found = all(
            any(_units_agree(q.unit, a.unit) and any(_close(v, w) for w in a.values) for a in allowed) for v in q.values
        )
        if not found:
            missing.append(q.surface)
    return missing


def faithful(answer_text: str, passages: Sequence[str], computed: Sequence[str] = ()) -> bool:
    return not unsupported(answer_text, passages, computed)
