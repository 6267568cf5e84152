"""The eval suite itself: evidence is verbatim, the test split is frozen, and the
held-back test split meets the accuracy bar (its numbers are printed)."""

from __future__ import annotations

import functools

import pytest

from evals import runner
from evals.runner import DATASETS, load_suite
from tests.conftest import FACT_SHEET, ROOT


@pytest.mark.parametrize("suite", ["factsheet", "factsheet-fresh", "factsheet-fresh2", "factsheet-fresh3"])
def test_every_evidence_string_occurs_verbatim_in_the_corpus(suite):
    corpus = FACT_SHEET.read_text(encoding="utf-8")
    for item in load_suite(suite):
        for evidence in (item.evidence, item.evidence2):
            assert not evidence or evidence in corpus, f"{item.id}: evidence not in the corpus: {evidence!r}"
        assert item.abstain == (not item.answers), item.id


def test_the_suite_has_the_required_mix():
    items = load_suite("factsheet")
    for split in ("dev", "test"):
        part = [i for i in items if i.split == split]
        assert sum(i.abstain for i in part) >= 10
        assert sum(bool(i.history) for i in part) >= 5
    assert len(items) >= 40


def test_the_test_split_is_frozen():
    """The test split was written before tuning and must not change; see README 'Evals'."""
    assert runner.split_digest("factsheet") == (DATASETS / "factsheet.test.sha256").read_text().split()[0]


@pytest.mark.parametrize("suite", ["factsheet-fresh", "factsheet-fresh2", "factsheet-fresh3"])
def test_the_fresh_suites_are_frozen(suite):
    """Each written after a round of tuning (2026-11-29) by someone who saw only the corpus; never tuned on."""
    assert runner.split_digest(suite, "all") == (DATASETS / f"{suite}.sha256").read_text().split()[0]
    assert all(item.split == "test" for item in load_suite(suite))


# The README's eval table, read by the gates below: each gate sits at the number the
# README reports, so the two cannot drift apart (lower one and the other must follow).
README_ROWS = {
    "answer accuracy (answerable)": "answer_accuracy",
    "abstention recall": "abstention_recall",
    "abstention precision": "abstention_precision",
    "citation accuracy": "citation_accuracy",
    "faithfulness (every figure cited)": "faithfulness",
    "precision of stated answers": "stated_precision",
    "follow-ups": "follow_up_accuracy",
    "retrieval hit@3": "hit@3",
}
# README column -> (suite, split) as the runner reports it.
README_COLUMNS = {
    "dev": ("factsheet", "dev"),
    "test": ("factsheet", "test"),
    "fresh": ("factsheet-fresh", "all"),
    "fresh2": ("factsheet-fresh2", "all"),
    "fresh3": ("factsheet-fresh3", "all"),
}


@functools.cache
def readme_eval_table() -> dict[str, dict[str, float]]:
    """{column: {metric: value}} from the README's "Latest numbers" table."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| metric | dev"))
    header = [cell.strip().split(" ")[0] for cell in lines[start].strip("|").split("|")][1:]
    table: dict[str, dict[str, float]] = {column: {} for column in header}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        name, *cells = (cell.strip() for cell in line.strip("|").split("|"))
        for column, cell in zip(header, cells, strict=True):
            if cell not in ("—", "-", ""):
                table[column][README_ROWS[name]] = float(cell)
    return table


def test_the_readme_table_is_what_the_gates_read():
    table = readme_eval_table()
    assert set(table) == set(README_COLUMNS)
    for column, metrics in table.items():
        assert set(metrics) == set(README_ROWS.values()), column


def _gate(column: str, measured: dict[str, float]) -> list[str]:
    """The metrics that fall below the README's figure (compared at the README's 3 decimals)."""
    return [
        f"{column} {metric}: {measured[metric]:.3f} < README {floor:.3f}"
        for metric, floor in readme_eval_table()[column].items()
        if round(measured[metric], 3) < floor
    ]


@pytest.mark.model
@pytest.mark.parametrize("suite", ["factsheet-fresh", "factsheet-fresh2", "factsheet-fresh3"])
def test_fresh_questions_never_tuned_on(assistant, capsys, suite):
    """The honest number: questions nobody looked at while tuning. Printed (no failures:
    reading them would be tuning on them), and gated at the README's figures, so that a
    change that generalises worse shows up."""
    summary = runner.report(runner.run(assistant, load_suite(suite)))
    with capsys.disabled():
        print(f"\n{suite} (never tuned on):\n" + runner.format_table(summary))
    column = next(c for c, (name, _) in README_COLUMNS.items() if name == suite)
    assert _gate(column, summary["all"]) == []


@pytest.mark.model
def test_held_back_test_split_meets_the_bar(assistant, capsys):
    results = runner.run(assistant, load_suite("factsheet"))
    summary = runner.report(results)
    with capsys.disabled():  # the table only: the test split's failures are never shown
        print("\n" + runner.format_table(summary))
    missed = _gate("dev", summary["splits"]["dev"]) + _gate("test", summary["splits"]["test"])
    assert missed == []
    assert summary["all"]["faithfulness"] == 1.0


def test_a_figure_below_the_readme_fails_its_gate():
    reported = readme_eval_table()["test"]
    assert _gate("test", dict(reported)) == []  # exactly the README's figures pass
    lower = dict(reported, answer_accuracy=reported["answer_accuracy"] - 0.001)
    assert _gate("test", lower) == [
        f"test answer_accuracy: {lower['answer_accuracy']:.3f} < README {reported['answer_accuracy']:.3f}"
    ]
