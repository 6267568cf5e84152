"""The eval suite itself: evidence is verbatim, the test split is frozen, and the
held-back test split meets the accuracy bar (its numbers are printed)."""

from __future__ import annotations

import hashlib
import json

import pytest

from evals import runner
from evals.runner import DATASETS, load_suite
from tests.conftest import FACT_SHEET


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
    lines = [
        line
        for line in (DATASETS / "factsheet.jsonl").read_text(encoding="utf-8").splitlines()
        if json.loads(line)["split"] == "test"
    ]
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    assert digest == (DATASETS / "factsheet.test.sha256").read_text().split()[0]


@pytest.mark.parametrize("suite", ["factsheet-fresh", "factsheet-fresh2", "factsheet-fresh3"])
def test_the_fresh_suites_are_frozen(suite):
    """Each written after a round of tuning (2026-11-29) by someone who saw only the corpus; never tuned on."""
    lines = (DATASETS / f"{suite}.jsonl").read_text(encoding="utf-8").splitlines()
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    assert digest == (DATASETS / f"{suite}.sha256").read_text().split()[0]
    assert all(json.loads(line)["split"] == "test" for line in lines)


@pytest.mark.model
@pytest.mark.parametrize(
    ("suite", "bar"), [("factsheet-fresh", 0.80), ("factsheet-fresh2", 0.85), ("factsheet-fresh3", 0.90)]
)
def test_fresh_questions_never_tuned_on(assistant, capsys, suite, bar):
    """The honest number: questions nobody looked at while tuning. Printed (no failures:
    reading them would be tuning on them), and gated a little under the level reached so
    that a change that generalises worse shows up."""
    summary = runner.report(runner.run(assistant, load_suite(suite)))
    with capsys.disabled():
        print(f"\n{suite} (never tuned on):\n" + runner.format_table(summary))
    assert summary["all"]["answer_accuracy"] >= bar
    assert summary["all"]["faithfulness"] == 1.0


@pytest.mark.model
def test_held_back_test_split_meets_the_bar(assistant, capsys):
    results = runner.run(assistant, load_suite("factsheet"))
    summary = runner.report(results)
    with capsys.disabled():
        print("\n" + runner.format_table(summary))
        print(runner.format_failures([r for r in results if r.item.split == "test"], 20))
    test = summary["splits"]["test"]
    # A regression gate at the level reached (the goal is 0.95; see the README's eval table).
    assert test["answer_accuracy"] >= 0.88
    assert test["abstention_recall"] >= 0.90
    assert summary["all"]["faithfulness"] == 1.0
