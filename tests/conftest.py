"""Shared fixtures. The whole suite runs with outbound network blocked (loopback allowed)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NETBLOCK = Path(__file__).resolve().parent / "netblock"
CORPUS = ROOT / "corpus"
FACT_SHEET = CORPUS / "combating-trafficking-in-persons.txt"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(NETBLOCK))
import netblock  # noqa: E402

netblock.install()


# Figures the reliability tests count, one event at a time; printed at the end of the run.
# "crash points" are the distinct named points (rag.indexing.CHECKPOINTS) where an ingest
# was verified to die by SIGKILL; "kills verified" counts every such death; "failures" is
# the reliability tests that caught something (counted by the hook below).
RELIABILITY = {
    "inputs tried": 0,
    "documents tried": 0,
    "crash points": 0,
    "kills verified": 0,
    "concurrent runs": 0,
    "failures": 0,
    "vectors lost": 0,
    "duplicates": 0,
    "injection variants tried": 0,
    "canaries leaked": 0,
    "hostile uploads tried": 0,
    "rejected uploads that changed the index": 0,
}
CRASH_POINTS_SEEN: set[str] = set()
# What the summary adds about skipped tests that matter (e.g. the real GGUF model missing).
SKIPPED_NOTES: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and item.get_closest_marker("reliability"):
        RELIABILITY["failures"] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    RELIABILITY["crash points"] = len(CRASH_POINTS_SEEN)
    for note in SKIPPED_NOTES:
        terminalreporter.write_line(f"skipped: {note}")
    if any(RELIABILITY.values()):
        figures = ", ".join(f"{name} = {value}" for name, value in RELIABILITY.items())
        terminalreporter.write_line(f"reliability: {figures}")


def fact_sheet_chunk_count(chunk_chars: int = 900) -> int:
    """How many chunks the chunker makes of the fact sheet: tests compare the index with
    this, so they test that nothing is lost or doubled, not one chunker's literal output."""
    from rag.chunking import chunk_document
    from rag.corpus import load

    return len(chunk_document(load(FACT_SHEET, FACT_SHEET.name), chunk_chars))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run the long fuzz/crash loops")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="long loop: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for CLI subprocesses: network blocked there too."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(NETBLOCK), str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def real_embedder() -> object:
    from rag.embedding import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    embedder.warm_up()
    return embedder


@pytest.fixture(scope="session")
def fact_sheet_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("factsheet-index")


@pytest.fixture(scope="session")
def assistant(real_embedder: object, fact_sheet_data: Path) -> Iterator[object]:
    """The real thing: all-MiniLM-L6-v2, an on-disk Chroma store, the fact sheet indexed."""
    from rag.assistant import Assistant
    from rag.config import Settings

    settings = Settings(corpus_dir=CORPUS, data_dir=fact_sheet_data)
    helper = Assistant(settings, embedder=real_embedder)  # type: ignore[arg-type]
    helper.ensure_index(progress=False)
    helper.warm_up()
    yield helper


@pytest.fixture()
def hash_settings(tmp_path: Path) -> object:
    from rag.config import Settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    return Settings(corpus_dir=corpus, data_dir=tmp_path / "data")
