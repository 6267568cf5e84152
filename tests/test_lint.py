"""The code stays clean: ruff (lint + format) and mypy, as configured in pyproject.toml."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BIN = Path(sys.executable).parent
PATHS = ["rag", "evals", "ui", "tests", "benchmarks"]


def tool(name: str) -> str:
    found = BIN / name if (BIN / name).exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (make test installs it)")
    return str(found)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_lint():
    result = run(tool("ruff"), "check", *[p for p in PATHS if (ROOT / p).exists()])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format():
    result = run(tool("ruff"), "format", "--check", *[p for p in PATHS if (ROOT / p).exists()])
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy():
    result = run(tool("mypy"))
    assert result.returncode == 0, result.stdout + result.stderr
