"""The reliability line counts what happened: a failing reliability test adds to its
failures, a passing one does not (run in a separate pytest, so this run's line is untouched)."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

pytest_plugins = ["pytester"]


def test_a_failing_reliability_test_is_counted_and_a_passing_one_is_not(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest(
        "from tests.conftest import RELIABILITY, pytest_runtest_makereport, pytest_terminal_summary\n"
        "def pytest_configure(config):\n"
        "    config.addinivalue_line('markers', 'reliability: counted')\n"
    )
    pytester.makepyfile(
        "import pytest\n"
        "from tests.conftest import RELIABILITY\n"
        "pytestmark = pytest.mark.reliability\n"
        "def test_catches_something():\n"
        "    RELIABILITY['inputs tried'] += 1\n"
        "    assert 1 == 2\n"
        "def test_also_catches_something():\n"
        "    raise AssertionError('duplicates found')\n"
        "def test_fine():\n"
        "    RELIABILITY['inputs tried'] += 1\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["reliability: inputs tried = 2, *, failures = 2, *"])
