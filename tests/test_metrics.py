import pytest

from evals.metrics import answer_matches, faithful, passage_supports, percentile, precision_recall


@pytest.mark.parametrize(
    ("expected", "answer"),
    [
        ("$200 million", "approximately $200 million"),
        ("200,000,000", "$200 million"),
        ("$200M", "about $200 million"),
        ("238 percent", "238%"),
        ("30,000", "30000 officers"),
        ("three", "3 stakeholder meetings"),
        ("3", "three stakeholder meetings"),
        ("20 to 30 million", "20 million to 30 million victims"),
        ("Verite", "the NGO Verité"),
        ("June 2015", "in June 2015."),
        ("the ILO and the UNODC", "ILO and UNODC"),
    ],
)
def test_answer_matches_equivalent_forms(expected: str, answer: str):
    assert answer_matches(expected, answer)


@pytest.mark.parametrize(
    ("expected", "answer"),
    [
        ("10", "since 2010"),
        ("$200 million", "$20 million"),
        ("238 percent", "58 percent"),
        ("Ghana", "Kenya"),
        ("the Freedom Fund", "Freedom House"),
        ("Theresa", "the"),
    ],
)
def test_answer_matches_rejects_other_figures(expected: str, answer: str):
    assert not answer_matches(expected, answer)


def test_passage_supports_and_faithfulness():
    passage = "The TIP Report has grown from covering 154 countries in 2008 to 188 today."
    assert passage_supports("covering 154 countries in 2008 to 188 today", passage)
    assert faithful("188 countries. [1]", [passage])
    assert not faithful("200 countries. [1]", [passage])
    assert faithful("34 (computed: 188 - 154) [1]", [passage], computed=["34"])


def test_precision_recall_and_percentile():
    assert precision_recall([True, True, False], [True, False, False]) == (0.5, 1.0)
    assert percentile([1, 2, 3, 4], 50) == 2.5
