"""The Gradio UI, served for real on loopback and driven through gradio_client (its /ask API)."""

from __future__ import annotations

import ipaddress
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("gradio_client")

from gradio_client import Client

from evals.smoke import SMOKE as KNOWN

pytestmark = pytest.mark.model

TIP_TODAY = KNOWN[0][0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(assistant: Any) -> tuple[Any, str]:
    from ui.app import LAUNCH_OPTIONS, create_app

    demo = create_app(assistant)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **LAUNCH_OPTIONS)
    return demo, f"http://127.0.0.1:{port}/"


def client(url: str) -> Client:
    # analytics_enabled=False: gradio_client otherwise starts a telemetry thread whatever the env says.
    return Client(url, analytics_enabled=False, verbose=False, download_files=False)


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="module")
def outbound() -> Iterator[list[object]]:
    """Every non-loopback connection attempted while these tests run (the blocker refuses them;
    this records them, so a swallowed attempt in a background thread still fails the module)."""
    attempts: list[object] = []
    blocked = socket.socket.connect

    def recording(sock: socket.socket, address: Any) -> None:
        host = str(address[0] if isinstance(address, tuple) else address)
        if sock.family != getattr(socket, "AF_UNIX", None) and not _loopback(host):
            attempts.append(address)
        return blocked(sock, address)

    socket.socket.connect = recording  # type: ignore[method-assign]
    yield attempts
    socket.socket.connect = blocked  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def url(assistant: Any, outbound: list[object]) -> Iterator[str]:
    demo, address = serve(assistant)
    yield address
    demo.close()
    assert outbound == [], f"the UI or its client tried to reach the network: {outbound}"


@pytest.fixture(scope="module")
def ask(url: str) -> Callable[..., Any]:
    api = client(url)

    def call(question: str, history: list[Any] | None = None) -> Any:
        return api.predict(question, history or [], api_name="/ask")

    return call


def text_of(message: dict[str, Any]) -> str:
    content = message["content"]
    return "".join(part["text"] for part in content) if isinstance(content, list) else str(content)


def test_answer_with_citation_and_sources(ask: Callable[..., Any]) -> None:
    history, sources = ask(TIP_TODAY)
    assert [m["role"] for m in history] == ["user", "assistant"]
    reply = text_of(history[-1])
    assert "188" in reply and "[1]" in reply
    assert "answered in" in reply and "ui-abstain" not in reply
    assert "<mark>The TIP Report has grown from covering 154 countries in 2008 to 188 today" in sources
    assert "[1]" in sources and "Combating Trafficking in Persons" in sources


def test_follow_up_uses_history(ask: Callable[..., Any]) -> None:
    history, _ = ask(TIP_TODAY)
    history, _ = ask("And in 2008?", history)
    assert len(history) == 4
    assert "154" in text_of(history[-1])


def test_abstention_is_marked(ask: Callable[..., Any]) -> None:
    history, sources = ask("What is the capital of France?")
    assert 'class="ui-abstain"' in text_of(history[-1])
    assert "<mark>" not in sources


def _unchanged(update: Any) -> bool:
    """What the API returns for gr.skip(): an update that sets no value and no property."""
    if not isinstance(update, dict) or update.get("__type__") != "update":
        return False
    props = update.get("props", {})
    return set(update) <= {"__type__", "props"} and isinstance(props, dict) and set(props) <= {"__type__"}


@pytest.mark.parametrize("blank", ["", "   ", "\n\t "])
def test_empty_input_does_nothing(ask: Callable[..., Any], blank: str) -> None:
    earlier, _ = ask(TIP_TODAY)
    for history in ([], earlier):
        chat, sources = ask(blank, history)
        # gr.skip(): the chat and the sources panel are left as they were (no new messages)
        assert _unchanged(chat), chat
        assert _unchanged(sources), sources
    assert not _unchanged(earlier) and not _unchanged({"__type__": "update", "value": []})


def test_over_long_input_gets_a_friendly_message(ask: Callable[..., Any], assistant: Any) -> None:
    limit = assistant.settings.max_question_chars
    history, _ = ask("How many countries? " * (limit // 10))
    reply = text_of(history[-1])
    assert "too long" in reply and f"{limit:,}" in reply
    assert "Traceback" not in reply
    assert len(text_of(history[0])) < 600  # the question is not echoed in full


def test_markup_in_questions_comes_back_escaped(ask: Callable[..., Any]) -> None:
    history, _ = ask("<script>alert(1)</script> How many countries does the TIP Report cover today?")
    question = text_of(history[0])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in question
    assert "<script" not in question and all("<script" not in text_of(m) for m in history)


def test_backend_errors_become_a_short_message(assistant: Any) -> None:
    class Broken:
        settings = assistant.settings

        def status(self) -> dict[str, Any]:
            return assistant.status()

        def answer(self, question: str, history: Any = None) -> Any:
            raise RuntimeError("the store fell over: /secret/path")

    demo, address = serve(Broken())
    try:
        history, _ = client(address).predict(TIP_TODAY, [], api_name="/ask")
    finally:
        demo.close()
    reply = text_of(history[-1])
    assert "Something went wrong answering that; please try again." in reply
    assert "secret" not in reply and "Traceback" not in reply


def test_concurrent_sessions(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    clients = [client(url) for _ in KNOWN]  # one session each, connected before the clock starts
    start = threading.Barrier(len(KNOWN))
    results: dict[int, tuple[str, float]] = {}
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            start.wait()
            t0 = time.perf_counter()
            history, _ = clients[i].predict(KNOWN[i][0], [], api_name="/ask")
            results[i] = (text_of(history[-1]), (time.perf_counter() - t0) * 1000)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(KNOWN))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    wrong = [(KNOWN[i][0], results[i][0]) for i in range(len(KNOWN)) if KNOWN[i][1] not in results[i][0]]
    assert not wrong, wrong
    latencies = sorted(ms for _, ms in results.values())
    p50 = statistics.median(latencies)
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    with capsys.disabled():
        print(f"\nUI /ask, {len(KNOWN)} concurrent sessions: p50 {p50:.0f} ms, p95 {p95:.0f} ms (incl. streaming)")


def test_sources_html_escapes_and_highlights() -> None:
    from rag.types import Answer, Citation
    from ui.app import _sources_html

    citation = Citation(
        source="corpus/<x>.txt",
        text="It said \u201chello\u201d\n  <b>there</b>.",
        start=0,
        end=10,
        chunk_id="c",
        score=1.0,
        title="<script>alert(1)</script>",
        heading="A & B",
        passage='Before. It said "hello" <b>there</b>. After <img src=x onerror=alert(1)>.',
    )
    rendered = _sources_html(Answer(text="x [1]", abstained=False, citations=(citation,)))
    assert "<script" not in rendered and "<img" not in rendered and "<b>" not in rendered
    assert "&lt;script&gt;" in rendered and "A &amp; B" in rendered
    assert "<mark>It said &quot;hello&quot; &lt;b&gt;there&lt;/b&gt;.</mark>" in rendered


def test_history_sent_to_the_assistant_is_plain_text() -> None:
    from ui.app import _backend_history

    chat = [
        {"role": "user", "content": [{"type": "text", "text": "What about &lt;b&gt;AT&amp;T&lt;/b&gt;?"}]},
        {"role": "assistant", "content": '<span class="ui-abstain">Not in the documents</span>\nNo.'},
        {"role": "user", "content": "x" * 50},
        {"role": "assistant", "content": '<span class="ui-notice">That question is too long.</span>'},
        {"role": "user", "content": "Who leads it?"},
        {"role": "assistant", "content": 'Ada. [1]<span class="ui-meta">answered in 9 ms</span>'},
    ]
    assert _backend_history(chat) == [
        {"role": "user", "content": "What about <b>AT&T</b>?"},
        {"role": "assistant", "content": "No."},
        {"role": "user", "content": "Who leads it?"},
        {"role": "assistant", "content": "Ada. [1]"},
    ]


def test_the_meta_line_shows_the_confidence_of_a_stated_answer_only():
    from rag.types import Answer
    from ui.app import _meta

    stated = Answer(text="Ada. [1]", abstained=False, confidence=0.8312, timings={"total": 12.0})
    assert "confidence 83%" in _meta(stated) and "answered in 12 ms" in _meta(stated)
    silent = Answer(text="The documents don't say.", abstained=True, confidence=0.1, timings={"total": 9.0})
    assert "confidence" not in _meta(silent)
    assert "confidence" not in _meta(Answer(text="Ada.", abstained=False, timings={"total": 9.0}))
