"""The eval runner as users run it: HTML report, gates, comparison."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evals import runner
from evals.compare import compare, format_comparison
from evals.report import render_html
from tests.conftest import ROOT, subprocess_env

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def sample_results(assistant):
    items = [i for i in runner.load_suite("factsheet") if i.split == "test"][:12]
    return runner.run(assistant, items)


def test_html_report_is_self_contained_and_escaped(sample_results):
    evil = runner.Item(id="x<1>", question="<script>alert(1)</script>", answers=("1",))
    results = [*sample_results, runner.grade(evil, _fake_answer(), 1.0)]
    html = render_html("factsheet", runner.report(results), results)
    assert html.startswith("<!doctype html>") and "<svg" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "http://" not in html and "https://" not in html  # nothing fetched when opened


def _fake_answer():
    from rag.types import Answer

    return Answer(text="The documents don't say.", abstained=True)


def test_gates_fail_when_a_metric_is_below_its_floor():
    summary = {"answer_accuracy": 0.9, "faithfulness": 1.0}
    assert runner.check_gates(summary, {"min_accuracy": 0.95}) == 1
    assert runner.check_gates(summary, {"min_accuracy": 0.85, "min_faithfulness": 1.0}) == 0


def test_compare_runs_each_setting_side_by_side(assistant):
    dev = [i for i in runner.load_suite("factsheet") if i.split == "dev"]
    items = [i for i in dev if not i.history][:4] + [i for i in dev if i.kind == "followup"][:12]
    rows = compare(assistant.settings, items)
    names = [name for name, _ in rows]
    assert names[:4] == ["default (learned)", "rules only", "dense only", "no follow-up resolution"]
    assert any("chunks" in n for n in names)
    by_name = dict(rows)
    # The default row is the default assistant: the same figures as running it directly.
    direct = runner.report(runner.run(assistant, items))["all"]
    for metric in ("answer_accuracy", "follow_up_accuracy", "abstention_recall", "hit@3"):
        assert by_name["default (learned)"][metric] == direct[metric], metric
    # Turning follow-up resolution off must cost follow-ups (the row measures what it says).
    assert by_name["no follow-up resolution"]["follow_up_accuracy"] < direct["follow_up_accuracy"]
    table = format_comparison(rows)
    accuracy_line = next(line for line in table.splitlines() if line.startswith("answer_accuracy"))
    assert f"{direct['answer_accuracy']:.3f}" in accuracy_line and "dense only" in table


def test_eval_cli_writes_json_and_html_and_applies_gates(fact_sheet_data: Path, tmp_path: Path, assistant):
    out_json, out_html = tmp_path / "e.json", tmp_path / "e.html"
    args = [
        "--data-dir",
        str(fact_sheet_data),
        "eval",
        "--split",
        "test",
        "--json",
        str(out_json),
        "--html",
        str(out_html),
    ]
    run = lambda *extra: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "rag.cli", *args, *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=subprocess_env(),
        timeout=600,
    )
    passed = run("--min-faithfulness", "1.0", "--min-hit3", "0.98")
    assert passed.returncode == 0, passed.stderr
    assert "answer_accuracy" in passed.stdout
    # the frozen split shows its table, never its failures, unless asked for by name
    assert "expected:" not in passed.stdout and "frozen test item(s) are not shown" in passed.stdout
    payload = json.loads(out_json.read_text())
    assert {
        "answer_accuracy",
        "citation_accuracy",
        "faithfulness",
        "abstention_precision",
        "abstention_recall",
        "hit@3",
        "mrr",
        "latency_p95_ms",
    } <= set(payload["summary"]["all"])
    assert "<svg" in out_html.read_text()
    failed = run("--min-accuracy", "1.01")
    assert failed.returncode == 1 and "gate missed: answer_accuracy" in failed.stderr
