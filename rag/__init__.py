"""factsheet-qa: cited, offline question answering over a small document corpus.

    from rag import answer
    a = answer("How many countries does the TIP Report cover?")

Nothing heavy is imported here; the model and the index load on first use.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from rag.config import Settings
from rag.types import Answer, Citation

if TYPE_CHECKING:
    from rag.assistant import Assistant

__all__ = ["Answer", "Assistant", "Citation", "QuestionError", "Settings", "answer", "default_assistant"]

_default: Assistant | None = None
_default_lock = threading.Lock()


def default_assistant() -> Assistant:
    """The shared assistant behind ``answer()``: settings from the environment, index built if needed."""
    global _default
    with _default_lock:
        if _default is None:
            from rag.assistant import Assistant

            assistant = Assistant(Settings.from_env())
            assistant.ensure_index()
            _default = assistant
        return _default


def answer(question: str, history: list[dict[str, str]] | None = None, sources: list[str] | None = None) -> Answer:
    """Answer a question about the corpus; ``history`` is Gradio-style role/content messages;
    ``sources`` limits it to those documents (as ``default_assistant().documents()`` names them)."""
    return default_assistant().answer(question, history, sources)


def __getattr__(name: str) -> Any:
    # Assistant and QuestionError pull in the pipeline, so they load on first access.
    if name in ("Assistant", "QuestionError"):
        from rag import assistant

        return getattr(assistant, name)
    raise AttributeError(name)
