"""The Gradio chat UI: a chat on the left, the cited passages of the latest answer on the right.

Run it with ``factsheet-qa chat`` (or ``launch(assistant)``). Everything runs locally: no
share link, no analytics, no web fonts.

API (the chat event is exposed as ``/ask``)::

    from gradio_client import Client

    client = Client("http://127.0.0.1:7860/", analytics_enabled=False)
    history, sources_html = client.predict(
        "How many countries does the TIP Report cover today?", [], api_name="/ask"
    )
    history[-1]["content"][0]["text"]
    # '188 countries. [1]\\n\\n“The TIP Report has grown ...” [1]<span class="ui-meta">answered in 24 ms</span>'

Inputs: ``question`` (str) and ``history``: ``[]``, or the ``history`` a previous call returned
(for follow-ups). Gradio 6 wants each message as ``{"role": "user"|"assistant", "content":
[{"type": "text", "text": ...}]}``; a bare string as content is refused. Result: the updated
history in that form (user text HTML-escaped; replies may carry ``<span class="ui-...">``
badges: ``ui-abstain``, ``ui-meta`` timing, ``ui-notice`` for errors) and the Sources HTML.
A blank question changes nothing (both outputs come back as Gradio "skip" updates).
"""

from __future__ import annotations

import html
import logging
import os
import re
import time
from collections.abc import Iterator
from typing import Any

# Before gradio is imported: it reads these when modules load and when the app launches.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr

from rag.assistant import QuestionError
from rag.text import normalise
from rag.types import Answer

log = logging.getLogger(__name__)

EXAMPLES = [
    "How many countries does the TIP Report cover today?",
    "How much has the TIP Office awarded in grants?",
    "Who leads the TIP Office?",
    "When was the first CPC Partnership signed?",
]
ERROR_MESSAGE = "Something went wrong answering that; please try again."
SOURCES_EMPTY = '<div class="ui-sources-empty">The passages an answer quotes appear here.</div>'
STREAM_PIECES = 12  # a reply appears in at most this many steps...
STREAM_DELAY = 0.02  # ...this far apart: visibly progressive, yet under 0.25 s in all
# Our own markup in chat messages is always <span class="ui-...">; user and document text is
# escaped, so it can never contain such a tag and stripping it back out is unambiguous.
OWN_MARKUP = re.compile(r'<span class="ui-[a-z-]+">.*?</span>', re.DOTALL)

CSS = """
.ui-status { color: var(--body-text-color-subdued); font-size: 0.9em; }
#chat .message-content, #chat .md { white-space: pre-wrap; }
.ui-meta { display: block; margin-top: 0.4em; font-size: 0.78em; opacity: 0.65; }
.ui-abstain { display: inline-block; margin-bottom: 0.3em; padding: 0.05em 0.5em; border-radius: 999px;
  background: #fde68a; color: #78350f; font-size: 0.85em; font-weight: 600; }
#chat .message:has(.ui-abstain) { background: #fffbeb; border-color: #fcd34d; }
.ui-notice { color: #9a3412; }
#sources { max-height: 620px; overflow-y: auto; }
#sources ol { list-style: none; padding: 0; margin: 0; }
.ui-source { margin: 0 0 0.9em; padding: 0.6em 0.8em; border: 1px solid var(--border-color-primary);
  border-radius: 8px; background: var(--background-fill-secondary); }
.ui-source-title { font-weight: 600; }
.ui-num { color: var(--color-accent); margin-right: 0.3em; }
.ui-source-heading { font-size: 0.85em; color: var(--body-text-color-subdued); }
.ui-passage { margin: 0.4em 0; line-height: 1.5; }
.ui-passage mark { background: #fef08a; color: inherit; padding: 0 0.1em; border-radius: 3px; }
.ui-loc, .ui-sources-empty { font-size: 0.8em; color: var(--body-text-color-subdued); }
"""
# System fonts only: the default theme's fonts are bundled, but be explicit that nothing is fetched.
THEME = gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
# For demo.launch(); Gradio 6 takes css/theme at launch, not in the Blocks constructor.
LAUNCH_OPTIONS: dict[str, Any] = {
    "share": False,
    "ssr_mode": False,  # no Node server
    "mcp_server": False,
    "show_error": False,  # errors are turned into chat messages; no tracebacks to the browser
    "footer_links": ["api"],
    "css": CSS,
    "theme": THEME,
}


def create_app(assistant: Any) -> gr.Blocks:
    """Build the UI around an Assistant (index built and warmed up by the caller). Does not launch."""
    with gr.Blocks(title="Fact-sheet Q&A", analytics_enabled=False) as demo:
        gr.Markdown("# Fact-sheet Q&A\nAsk about the documents: every figure is quoted from a cited sentence.")
        gr.HTML(_status_html(assistant), js_on_load=None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    elem_id="chat",
                    label="Chat",
                    height=520,
                    # Text is HTML-escaped here and shown verbatim: no Markdown (links, images,
                    # emphasis from user input), no LaTeX, no custom tags; the sanitizer stays on.
                    render_markdown=False,
                    sanitize_html=True,
                    allow_tags=False,
                    latex_delimiters=[],
                    buttons=["copy", "copy_all"],  # no "share" (it posts to Hugging Face)
                    feedback_options=None,
                    examples=[{"text": q} for q in EXAMPLES],
                )
                textbox = gr.Textbox(placeholder="Ask a question about the documents…", show_label=False, lines=1)
                with gr.Row():
                    send = gr.Button("Send", variant="primary")
                    retry = gr.Button("Retry")
                    clear = gr.Button("Clear")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(SOURCES_EMPTY, label="Sources", elem_id="sources", js_on_load=None)
        # Holds the question between "take it from the textbox" and "answer it", so the textbox
        # clears at once and the /ask API takes (question, history) rather than a hidden State.
        pending = gr.Textbox(visible=False)

        def respond(question: str, history: list[dict[str, Any]]) -> Iterator[tuple[Any, Any]]:
            yield from _respond(assistant, question, history)

        ask = {"fn": respond, "inputs": [pending, chatbot], "outputs": [chatbot, sources]}
        gr.on(
            [textbox.submit, send.click], _take, textbox, [textbox, pending], queue=False, api_visibility="private"
        ).then(**ask, api_name="ask")
        retry.click(_retry, chatbot, [pending, chatbot], queue=False, api_visibility="private").then(
            **ask, api_visibility="private"
        )
        chatbot.example_select(_example, None, pending, queue=False, api_visibility="private").then(
            **ask, api_visibility="private"
        )
        # The Chatbot's own trash icon clears the chat; the sources of the old answer go with it.
        chatbot.clear(lambda: SOURCES_EMPTY, None, sources, queue=False, api_visibility="private")
        clear.click(
            lambda: ([], SOURCES_EMPTY, "", ""),
            None,
            [chatbot, sources, textbox, pending],
            queue=False,
            api_visibility="private",
        )
    # Several users at once: up to 4 answers run in parallel, and at most 64 wait in line.
    demo.queue(default_concurrency_limit=4, max_size=64)
    return demo


def launch(assistant: Any, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the UI on host:port (local only by default; never a share link) until interrupted."""
    demo = create_app(assistant)
    try:
        _, url, _ = demo.launch(
            server_name=host, server_port=port, prevent_thread_lock=True, quiet=True, **LAUNCH_OPTIONS
        )
    except OSError as exc:  # port taken, bad host: the CLI prints RuntimeErrors as one line
        raise RuntimeError(f"cannot start the web UI on {host}:{port}: {exc}") from exc
    print(f"Fact-sheet Q&A is running at {url}  (Ctrl-C to stop)", flush=True)
    demo.block_thread()


# --- event handlers ---------------------------------------------------------------------


def _take(text: str) -> tuple[Any, str]:
    """Move the question out of the textbox; leave a blank or whitespace entry where it is."""
    return ("", text) if text and text.strip() else (gr.skip(), "")


def _retry(history: list[dict[str, Any]]) -> tuple[str, Any]:
    """Drop the last exchange and hand its question back to be asked again."""
    for i in range(len(history) - 1, -1, -1):
        if history[i]["role"] == "user":
            return _plain(history[i]), history[:i]
    return "", gr.skip()


def _example(evt: gr.SelectData) -> str:
    value = evt.value
    return str(value.get("text", "")) if isinstance(value, dict) else str(value)


def _respond(assistant: Any, question: str, history: list[dict[str, Any]]) -> Iterator[tuple[Any, Any]]:
    """Answer one question, streaming the reply into the chat and the sources into the panel."""
    history = list(history or [])
    if not isinstance(question, str) or not question.strip():
        yield gr.skip(), gr.skip()  # nothing to ask: leave the chat as it is
        return
    limit = assistant.settings.max_question_chars
    shown = question if len(question) <= 500 else question[:500] + "…"  # don't echo a wall of text
    history.append({"role": "user", "content": html.escape(shown, quote=False)})
    if len(question) > limit:
        message = (
            f"That question is too long ({len(question):,} characters; the limit is {limit:,}). Please shorten it."
        )
        yield [*history, _notice(message)], SOURCES_EMPTY
        return
    streaming = getattr(getattr(assistant, "answerer", None), "stream", None) is not None
    try:
        if streaming:  # a generative backend: show its tokens as they come
            yield from _stream_tokens(assistant, question, history)
            return
        answer: Answer = assistant.answer(question, _backend_history(history[:-1]))
    except QuestionError as exc:  # other bad input (e.g. only control characters)
        yield [*history, _notice(f"I can't answer that: {exc}.")], SOURCES_EMPTY
        return
    except Exception:
        log.exception("answering failed")  # the detail goes to the log, never to the browser
        yield [*history, _notice(ERROR_MESSAGE)], SOURCES_EMPTY
        return
    badge = '<span class="ui-abstain">Not in the documents</span>\n' if answer.abstained else ""
    words = answer.text.split(" ")
    step = max(1, -(-len(words) // STREAM_PIECES))  # ceiling division
    for end in range(step, len(words), step):
        text = badge + html.escape(" ".join(words[:end]), quote=False) + " …"
        yield [*history, {"role": "assistant", "content": text}], gr.skip()
        time.sleep(STREAM_DELAY)
    final = badge + html.escape(answer.text, quote=False) + _meta(answer)
    yield [*history, {"role": "assistant", "content": final}], _sources_html(answer)


def _stream_tokens(assistant: Any, question: str, history: list[dict[str, Any]]) -> Iterator[tuple[Any, Any]]:
    """Token streaming from a generative backend; the final text replaces the provisional one
    (the figure guard may have swapped in the extractive answer, with a note)."""
    pieces = assistant.stream(question, _backend_history(history[:-1]))
    text = ""
    while True:
        try:
            text += next(pieces)
        except StopIteration as done:
            answer: Answer = done.value
            break
        yield [*history, {"role": "assistant", "content": html.escape(text, quote=False) + " …"}], gr.skip()
    badge = '<span class="ui-abstain">Not in the documents</span>\n' if answer.abstained else ""
    final = badge + html.escape(answer.text, quote=False) + _meta(answer)
    yield [*history, {"role": "assistant", "content": final}], _sources_html(answer)


# --- rendering ---------------------------------------------------------------------------


def _notice(message: str) -> dict[str, str]:
    return {"role": "assistant", "content": f'<span class="ui-notice">{html.escape(message, quote=False)}</span>'}


def _meta(answer: Answer) -> str:
    """The discreet line under a reply: how long it took, how sure the reader is of a
    stated answer, and any note from the backend."""
    parts = []
    ms = answer.timings.get("total")
    if ms is not None:
        parts.append(f"answered in {ms:.0f} ms" if ms < 1000 else f"answered in {ms / 1000:.1f} s")
    confidence = getattr(answer, "confidence", None)
    if confidence is not None and not answer.abstained:
        parts.append(f"confidence {confidence:.0%}")
    note = getattr(answer, "note", "")  # newer Answers carry e.g. why a generative backend fell back
    if note:
        parts.append(html.escape(str(note), quote=False))
    return f'<span class="ui-meta">{" · ".join(parts)}</span>' if parts else ""


def _status_html(assistant: Any) -> str:
    try:
        s = assistant.status()
    except Exception:
        log.exception("could not read the index status")
        return '<div class="ui-status">Index status unavailable.</div>'
    docs = f"{s['documents']} document{'s' if s['documents'] != 1 else ''}"
    text = f"Index: {docs} · {s['chunks']:,} chunks · model {s['model']}"
    return f'<div class="ui-status">{html.escape(text)}</div>'


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # Gradio 6 hands messages over as [{"type": "text", "text": ...}]
        content = "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _plain(message: dict[str, Any]) -> str:
    """A chat message as the text the assistant saw or said: our markup out, escapes undone."""
    return html.unescape(OWN_MARKUP.sub("", _text(message))).strip()


def _backend_history(history: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Earlier turns as text, leaving out exchanges that ended in a notice (error, too long)."""
    turns: list[dict[str, str]] = []
    for message in history:
        if message.get("role") not in ("user", "assistant"):
            continue
        if '<span class="ui-notice">' in _text(message):
            if turns and turns[-1]["role"] == "user":
                turns.pop()
            continue
        turns.append({"role": message["role"], "content": _plain(message)})
    return turns


def _sources_html(answer: Answer) -> str:
    if not answer.citations:
        return '<div class="ui-sources-empty">No passage in the documents answers this.</div>'
    items = []
    for n, c in enumerate(answer.citations, 1):
        heading = f'<div class="ui-source-heading">{html.escape(c.heading)}</div>' if c.heading else ""
        items.append(
            f'<li class="ui-source"><div class="ui-source-title"><span class="ui-num">[{n}]</span>'
            f"{html.escape(c.title or c.source)}</div>{heading}"
            f'<p class="ui-passage">{_highlight(c.passage, c.text)}</p>'
            f'<div class="ui-loc">{html.escape(c.source)}, characters {c.start:,}–{c.end:,}</div></li>'
        )
    return f"<ol>{''.join(items)}</ol>"


def _squash(text: str) -> str:
    """Straight quotes and dashes, single spaces: how passages are stored, so a sentence quoted
    verbatim from the source (curly quotes, line breaks) can be found in its passage."""
    return " ".join(normalise(text).split())


def _highlight(passage: str, sentence: str) -> str:
    """The passage, escaped, with the cited sentence in <mark>."""
    p, s = _squash(passage), _squash(sentence)
    if not s:
        return html.escape(p)
    i = p.find(s)
    if i < 0 and len(p.lower()) == len(p) and len(s.lower()) == len(s):  # lower() may change lengths
        i = p.lower().find(s.lower())
    if i < 0:  # not found (or no passage): show the passage, then the sentence on its own
        return (html.escape(p) + "<br>" if p else "") + f"<mark>{html.escape(s)}</mark>"
    return f"{html.escape(p[:i])}<mark>{html.escape(p[i : i + len(s)])}</mark>{html.escape(p[i + len(s) :])}"
