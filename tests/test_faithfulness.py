"""Three readers of "is every figure in the reply in the cited passage?", fed the same
tricky figures: the figure guard (rag/guard.py), the faithfulness metric
(evals/metrics.py, regexes of the guard's shape) and the independent check
(evals/faithfulness.py, quantulum3, no shared code). The table records each one's
verdict; the test prints where they agree, so a blind spot one of them has is on record
rather than shared silently."""

from __future__ import annotations

import pytest

from evals import faithfulness, metrics
from rag import guard

# (answer, passage, the right verdict, guard, metric, independent)
CASES = [
    ("It has 10 staff [1].", "In 2010 the office opened.", False, False, False, False),
    ("It opened in 2010 [1].", "In 2010 the office opened.", True, True, True, True),
    ("It cost $1.4 billion [1].", "It cost 1,400 million dollars.", True, True, True, True),
    ("It cost $1.4 billion [1].", "It cost $1.4 million.", False, False, False, False),
    ("Prosecutions rose 238% [1].", "Prosecutions rose 238 percent.", True, True, True, True),
    # a unit confusion: the metric compares values only and misses it
    ("It cost $238 [1].", "Prosecutions rose 238 percent.", False, False, True, False),
    ("There were three meetings [1].", "It held 3 meetings.", True, True, True, True),
    ("There were 4 meetings [1].", "It held three meetings.", False, False, False, False),
    # fractions: only the independent check reads "a third" as a number
    ("One-third of them [1].", "A third of the victims are children.", True, False, False, True),
    ("Half of them [1].", "A third of the victims are children.", False, True, True, False),
    # ranges with a shared scale: quantulum3 does not scale the low end of "20 to 30 million"
    ("20 million to 30 million [1].", "An estimated 20 to 30 million people.", True, True, True, False),
    ("20 to 30 million [1].", "An estimated 20 to 30 million people.", True, True, True, True),
    ("25 million [1].", "An estimated 20 to 30 million people.", False, False, False, False),
    ("About 700 victims [1].", "It assisted nearly 700 trafficking victims.", True, True, True, True),
    ("It ran 100 projects in 70 countries [1].", "It has 100 projects in 70 countries.", True, True, True, True),
    ("It ran 100 projects in 17 countries [1].", "It has 100 projects in 70 countries.", False, False, False, False),
]


def verdicts(answer: str, passage: str) -> tuple[bool, bool, bool]:
    by_guard = not [v for v in guard.check(answer, [passage]) if "is not in" in v]
    return by_guard, metrics.faithful(answer, [passage]), faithfulness.faithful(answer, [passage])


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_reader_gives_the_recorded_verdict(case: tuple[str, str, bool, bool, bool, bool]) -> None:
    answer, passage, _right, *recorded = case
    assert list(verdicts(answer, passage)) == recorded


def test_where_the_readers_agree_and_who_is_right(capsys: pytest.CaptureFixture[str]) -> None:
    right = {"guard": 0, "metric": 0, "independent": 0}
    agree = 0
    for answer, passage, truth, *_ in CASES:
        found = verdicts(answer, passage)
        agree += len(set(found)) == 1
        for name, verdict in zip(right, found, strict=True):
            right[name] += verdict == truth
    with capsys.disabled():
        print(
            f"\nfaithfulness readers on {len(CASES)} tricky figures: all three agree on {agree}; right: "
            + ", ".join(f"{name} {n}" for name, n in right.items())
        )
    # Each misses some cases the others catch: that is why the eval reports both verdicts.
    assert agree < len(CASES) and all(n < len(CASES) for n in right.values())
    # Where the independent check and the metric agree, they are right.
    for answer, _passage, truth, _g, by_metric, by_independent in CASES:
        if by_metric == by_independent:
            assert by_metric == truth, answer


def test_the_independent_check_names_what_it_could_not_find() -> None:
    assert faithfulness.unsupported("It has 10 staff and 188 countries [1].", ["188 countries in 2010"]) == ["10"]
    assert faithfulness.unsupported("Computed: 34 projects.", [], computed=["34 projects"]) == []
