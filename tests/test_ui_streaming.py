"""Token streaming into the chat for generative backends: provisional text first, then the
final (guarded) answer. A scripted LangChain chat model keeps this fast; the real tiny
model is exercised in tests/test_generative.py."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.model


def make(assistant: Any, reply: str) -> Any:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from rag.assistant import Assistant
    from rag.generative import GenerativeAnswerer

    generative = GenerativeAnswerer(FakeListChatModel(responses=[reply]), assistant.answerer, backend="openai")
    return Assistant(assistant.settings, embedder=assistant.embedder, store=assistant.store, answerer=generative)


def run(app_assistant: Any, question: str) -> list[str]:
    from ui.app import _respond

    return [history[-1]["content"] for history, _ in _respond(app_assistant, question, [])]


def test_generated_tokens_stream_then_the_final_answer_is_shown(assistant: Any) -> None:
    outputs = run(
        make(assistant, "The TIP Report covers 188 countries today [1]."),
        "How many countries does the TIP Report cover today?",
    )
    assert len(outputs) > 2  # several provisional steps
    assert outputs[0].endswith(" …")
    assert "188 countries today [1]" in outputs[-1] and "answered in" in outputs[-1]


def test_an_invented_figure_is_replaced_by_the_extractive_answer_with_a_note(assistant: Any) -> None:
    outputs = run(
        make(assistant, "The TIP Report covers 250 countries [1]."),
        "How many countries does the TIP Report cover today?",
    )
    final = outputs[-1]
    assert "250" not in final
    assert "188 countries" in final
    assert "figure" in final  # the note says why the generated answer was not shown
