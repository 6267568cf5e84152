"""The CLI as a user runs it: a subprocess, network blocked, a real index."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CORPUS, FACT_SHEET, ROOT, fact_sheet_chunk_count, subprocess_env


def run(*args: str, data: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    prefix = ["--data-dir", str(data)] if data else []
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *prefix, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=subprocess_env(),
    )


def test_help_is_instant_and_imports_nothing_heavy():
    started = time.perf_counter()
    result = run("--help")
    assert result.returncode == 0 and "ask" in result.stdout
    assert time.perf_counter() - started < 5
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import rag, rag.cli, sys; print(sorted(m for m in ('torch','chromadb','sentence_transformers','gradio','langchain_core') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=subprocess_env(),
    )
    assert probe.stdout.strip() == "[]"


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question_exits_2_with_a_message(question):
    result = run("ask", question)
    assert result.returncode == 2
    assert "empty" in result.stderr and "Traceback" not in result.stderr


def test_overlong_question_exits_2_with_a_message():
    result = run("ask", "x" * 5000)
    assert result.returncode == 2 and "too long" in result.stderr


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli-data")


@pytest.mark.model
def test_ingest_twice_keeps_the_vector_count(data_dir):
    first = run("ingest", data=data_dir)
    second = run("ingest", data=data_dir)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    count = lambda out: int(out.split("chunks written; ")[1].split(" chunks")[0])  # noqa: E731
    assert count(first.stdout) == count(second.stdout) == fact_sheet_chunk_count()
    assert "1 unchanged" in second.stdout


@pytest.mark.model
def test_ask_json_has_the_answer_fields(data_dir):
    result = run("ask", "How many countries does the TIP Report cover today?", "--json", data=data_dir)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert "188" in payload["text"] and payload["abstained"] is False
    assert any("188 today" in c["text"] for c in payload["citations"])
    assert {"source", "start", "end", "chunk_id"} <= set(payload["citations"][0])
    assert payload["timings"]["total"] > 0


@pytest.mark.model
def test_ask_reads_the_question_from_stdin(data_dir):
    result = subprocess.run(
        [sys.executable, "-m", "rag.cli", "--data-dir", str(data_dir), "ask", "-"],
        input="What is the capital of Ghana?",
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=subprocess_env(),
    )
    assert result.returncode == 0 and result.stdout.startswith("The documents don't say")


def test_status_of_a_missing_chroma_server_is_a_clear_error(tmp_path):
    result = run("--chroma-url", "http://127.0.0.1:9", "status", data=tmp_path)
    assert result.returncode == 1
    assert "cannot reach the Chroma server" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.model
def test_corpus_dir_is_the_default(tmp_path):
    """With no corpus named anywhere, the settings and the CLI use the repository's corpus/,
    wherever the command is run from."""
    from rag.config import Settings

    assert Settings.from_env({}).corpus_dir.resolve() == CORPUS.resolve()
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    env = {k: v for k, v in subprocess_env().items() if k != "FACTSHEET_QA_CORPUS_DIR"}

    def cli(command: str) -> subprocess.CompletedProcess[str]:
        args = [sys.executable, "-m", "rag.cli", "--data-dir", str(tmp_path / "data"), command]
        return subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=elsewhere, env=env)

    result = cli("ingest")
    assert result.returncode == 0, result.stderr
    assert f"{fact_sheet_chunk_count()} chunks" in result.stdout and "1 indexed" in result.stdout
    # the index holds exactly corpus/, i.e. the fact sheet
    assert json.loads(cli("status").stdout)["stale"] is False
    assert FACT_SHEET.parent == CORPUS


@pytest.mark.model
def test_ingest_a_path_list_documents_ask_one_and_remove_it(tmp_path):
    """factsheet-qa ingest PATH, documents, ask --source, remove SOURCE: a separate index,
    so the other CLI tests keep theirs."""
    data = tmp_path / "data"
    extra = tmp_path / "extra" / "kelp-survey.md"
    extra.parent.mkdir()
    extra.write_text("# Kelp Survey\n\nDivers counted 312 kelp plants off the north reef.\n", encoding="utf-8")
    added = run("ingest", str(extra), data=data)
    assert added.returncode == 0 and "1 indexed" in added.stdout, added.stderr
    listed = run("documents", data=data)
    source = str(extra.resolve())
    assert listed.returncode == 0 and f"{source}\tKelp Survey\tmd\t1 chunks" in listed.stdout
    assert "corpus/combating-trafficking-in-persons.txt" in listed.stdout
    question = "How many kelp plants did the divers count?"
    scoped = run("ask", question, "--json", "--source", source, data=data)
    assert json.loads(scoped.stdout)["citations"][0]["source"] == source and "312" in json.loads(scoped.stdout)["text"]
    unknown = run("ask", question, "--source", "corpus/nothing.txt", data=data)
    assert unknown.returncode == 2 and "no indexed document" in unknown.stderr
    removed = run("remove", source, data=data)
    assert removed.returncode == 0 and f"removed {source}" in removed.stdout
    again = run("remove", source, data=data)
    assert again.returncode == 1 and "no indexed document" in again.stderr and "Traceback" not in again.stderr
    status = json.loads(run("status", data=data).stdout)
    assert status["uploads"] == str(data / "uploads") and status["documents"] == 1  # the fact sheet alone


@pytest.mark.model
def test_add_refuses_a_hostile_file_and_indexes_a_good_one(tmp_path):
    good = tmp_path / "tugs.txt"
    good.write_text("Tugs\n\nThe harbor has 40 tugs.\n", encoding="utf-8")
    armed = tmp_path / "armed.html"
    armed.write_text("<html><body><p>Hi there.</p><script>alert(1)</script></body></html>", encoding="utf-8")
    result = run("add", str(good), str(armed), data=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "added uploads/tugs.txt" in result.stdout
    assert "not added armed.html: HTML with a <script> element" in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "data" / "uploads" / "tugs.txt").exists() and not (
        tmp_path / "data" / "uploads" / "armed.html"
    ).exists()
