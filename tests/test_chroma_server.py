"""Server mode: a real Chroma server started here, reached through HttpClient; the same
questions get the same answers as from the embedded on-disk store."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.assistant import Assistant
from rag.config import Settings
from rag.store import StoreError, make_client
from tests.conftest import CORPUS, RELIABILITY, fact_sheet_chunk_count, subprocess_env

pytestmark = [pytest.mark.model, pytest.mark.reliability]

QUESTIONS = [
    "How many countries does the TIP Report cover today?",
    "How much has the TIP Office awarded in grants?",
    "When was the first CPC Partnership signed?",
    "Who leads the TIP Office?",
    "How many countries did the TIP Report cover in 2005?",
    "What is the capital of Ghana?",
    "What is the combined amount awarded by the first two Partnership for Freedom challenges?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    chroma = Path(sys.executable).parent / "chroma"
    if not chroma.exists() and not shutil.which("chroma"):
        pytest.skip("the chroma command is not installed")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [
            str(chroma if chroma.exists() else "chroma"),
            "run",
            "--path",
            str(path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=subprocess_env(ANONYMIZED_TELEMETRY="False"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            make_client(path, url)
            break
        except StoreError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("the Chroma server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_server_mode_gives_the_same_answers_as_the_embedded_store(
    chroma_url: str, assistant: Assistant, real_embedder: object, tmp_path: Path
) -> None:
    remote = Assistant(Settings(corpus_dir=CORPUS, data_dir=tmp_path, chroma_url=chroma_url), embedder=real_embedder)  # type: ignore[arg-type]
    report = remote.ingest(progress=False)
    assert report.vectors == assistant.store.count() == fact_sheet_chunk_count()
    again = remote.ingest(progress=False)
    assert again.files_unchanged == 1 and again.vectors == report.vectors  # upserts, never duplicates
    for question in QUESTIONS:
        here, there = assistant.answer(question), remote.answer(question)
        assert (there.short_answer, there.abstained, [c.text for c in there.citations]) == (
            here.short_answer,
            here.abstained,
            [c.text for c in here.citations],
        ), question
        RELIABILITY["inputs tried"] += 1


def test_a_server_that_is_down_gives_a_clear_error_quickly(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(StoreError, match="cannot reach the Chroma server"):
        Assistant(Settings(data_dir=tmp_path, chroma_url=f"http://127.0.0.1:{free_port()}")).store  # noqa: B018
    assert time.monotonic() - started < 30
