"""Every benchmark script runs to the end on a tiny input, so `make bench` cannot break
silently again. Numbers are not checked here (they belong to `make bench`); that each
script finishes, writes its results and prints its table is."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, subprocess_env

pytestmark = pytest.mark.model
HTML = sorted((ROOT / "data" / "multidoc" / "docs").glob("*.html"))


def bench(script: str, *args: str, results: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        # results and any index in the test's own folder, never in benchmarks/results or .data
        env=subprocess_env(FACTSHEET_QA_BENCH_RESULTS=str(results), FACTSHEET_QA_DATA_DIR=str(results.parent / "data")),
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_compare_scale_summary_and_chart_run_on_tiny_inputs(tmp_path: Path) -> None:
    html = tmp_path / "html"
    html.mkdir()
    for page in HTML[:6]:  # real HTML pages stand in for python3.11-doc
        shutil.copy(page, html / page.name)
    results = tmp_path / "results"
    done = bench(
        "run_all.py",
        "--compare-args",
        "--questions 4 --cold-runs 1 --repeats 1",
        "--scale-args",
        f"--html-root {html} --subset-mb 0.05 --ingest-budget 60 --budget-c 60 --sizes 300,600",
        results=results,
    )
    compare = json.loads((results / "compare.json").read_text())
    scale = json.loads((results / "scale.json").read_text())
    summary = json.loads((results / "summary.json").read_text())
    assert compare and scale["ingestion"]["files"] >= 1 and scale["query"]["sizes"]
    assert summary["checks"] and all(c["status"] in ("PASS", "MISS", "n/a") for c in summary["checks"])
    assert (results / "latency_vs_size.png").stat().st_size > 0
    assert "PASS" in done.stdout or "MISS" in done.stdout


def test_latency_and_ui_concurrency_run_on_tiny_inputs(tmp_path: Path) -> None:
    results = tmp_path / "results"
    bench("latency.py", "--questions", "3", "--cold-runs", "1", results=results)
    assert json.loads((results / "latency.json").read_text())["warm_p50_ms"] > 0
    bench("ui_concurrency.py", "--sessions", "2", "--rounds", "1", results=results)
    ui = json.loads((results / "ui_concurrency.json").read_text())
    assert ui["requests"] == 2 and ui["wrong_answers"] == 0
