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
A blank question changes nothing (both outputs come back as Gradio "skip" updates). A third
input, ``scope`` (a list of sources as ``/documents`` names them; ``[]`` or left out: all),
limits the question to those documents.

The Documents tab: ``/upload`` (a list of ``gradio_client.handle_file(path)``; returns a
message first), ``/documents`` (a list of dicts: source, title, format, chunks, bytes,
indexed, uploaded) and ``/remove`` (a source; returns a message first). Every open page
polls the library's version and redraws its table and pickers when another session changed it.
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
TABLE_HEADERS = ("Title", "Source", "Format", "Chunks", "Size", "Indexed")
LIBRARY_POLL_S = 2.0  # how soon another session's upload or removal shows in this page
_PROGRESS = gr.Progress()  # Gradio injects the real tracker where a handler declares one
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
.ui-done { color: #166534; }
#sources { max-height: 620px; overflow-y: auto; }
#sources ol { list-style: none; padding: 0; margin: 0; }
.ui-source { margin: 0 0 0.9em; padding: 0.6em 0.8em; border: 1px solid var(--border-color-primary);
  border-radius: 8px; background: var(--background-fill-secondary); }
.ui-source-title { font-weight: 600; }
.ui-num { color: var(--color-accent); margin-right: 0.3em; }
.ui-source-heading { font-size: 0.85em; color: var(--body-text-color-subdued); }
.ui-passage { margin: 0.4em 0; line-height: 1.5; }
.ui-passage mark { background: #fef08a; color: inherit; padding: 0 0.1em; border-radius: 3px; }
.ui-open { margin-top: 0.4em; font-size: 0.8em; padding: 0.1em 0.6em; border-radius: 6px;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-primary); cursor: pointer; }
.ui-doc-view { margin-top: 0.5em; max-height: 280px; overflow-y: auto; padding: 0.4em 0.6em;
  border-left: 3px solid var(--color-accent); background: var(--background-fill-primary); }
.ui-flagged { text-decoration: line-through; color: #9a3412; }
.ui-flagged::before { content: "flagged: "; font-size: 0.8em; text-decoration: none; }
.ui-loc, .ui-sources-empty { font-size: 0.8em; color: var(--body-text-color-subdued); }
"""
# "Open in the document" under a source: the passage's neighbourhood in its document comes
# from the server (our own escaped HTML) and is scrolled to the cited sentence. Our code, not
# document text: documents are always escaped, so they cannot add buttons or scripts here.
OPEN_DOCUMENT_JS = """
element.addEventListener('click', async (event) => {
  const button = event.target.closest('button.ui-open');
  if (!button) return;
  const view = button.parentElement.querySelector('.ui-doc-view');
  if (!view.hidden) { view.hidden = true; button.textContent = 'Open in the document'; return; }
  button.disabled = true;
  try {
    view.innerHTML = await server.open_document([button.dataset.chunk, button.dataset.sentence]);
    view.hidden = false;
    button.textContent = 'Close the document';
    const mark = view.querySelector('mark');
    if (mark) mark.scrollIntoView({block: 'center'});
  } finally {
    button.disabled = false;
  }
});
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
    listed = _listed(assistant)

    def open_document(request: Any) -> str:
        # Gradio hands a server function one argument: here [chunk id, cited sentence].
        if not (isinstance(request, (list, tuple)) and len(request) == 2):
            return '<div class="ui-notice">The document could not be opened.</div>'
        return _document_html(assistant, str(request[0]), str(request[1]))

    with gr.Blocks(title="Fact-sheet Q&A", analytics_enabled=False) as demo:
        gr.Markdown("# Fact-sheet Q&A\nAsk about the documents: every figure is quoted from a cited sentence.")
        status = gr.HTML(_status_html(assistant), js_on_load=None)
        with gr.Tabs():
            with gr.Tab("Chat", id="chat-tab"), gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        elem_id="chat",
                        label="Chat",
                        height=520,
                        # Text is HTML-escaped here and shown verbatim: no Markdown (links,
                        # images, emphasis from user input), no LaTeX, no custom tags; the
                        # sanitizer stays on.
                        render_markdown=False,
                        sanitize_html=True,
                        allow_tags=False,
                        latex_delimiters=[],
                        buttons=["copy", "copy_all"],  # no "share" (it posts to Hugging Face)
                        feedback_options=None,
                        examples=[{"text": q} for q in EXAMPLES],
                    )
                    textbox = gr.Textbox(placeholder="Ask a question about the documents…", show_label=False, lines=1)
                    scope = gr.Dropdown(
                        choices=_scope_choices(listed),
                        value=[],
                        multiselect=True,
                        # The choices a page shows may lag another session's upload by a poll;
                        # the assistant checks every name, so the API may name any document.
                        allow_custom_value=True,
                        label="Ask only these documents (none chosen: all of them)",
                        elem_id="scope",
                    )
                    with gr.Row():
                        send = gr.Button("Send", variant="primary")
                        retry = gr.Button("Retry")
                        clear = gr.Button("Clear")
                with gr.Column(scale=2):
                    gr.Markdown("### Sources")
                    sources = gr.HTML(
                        SOURCES_EMPTY,
                        label="Sources",
                        elem_id="sources",
                        js_on_load=OPEN_DOCUMENT_JS,
                        server_functions=[open_document],
                    )
            with gr.Tab("Documents", id="documents-tab"):
                table = gr.Dataframe(
                    value=_table(listed),
                    headers=list(TABLE_HEADERS),
                    interactive=False,
                    wrap=True,
                    elem_id="documents",
                    label="Indexed documents",
                )
                with gr.Row(equal_height=False):
                    with gr.Column():
                        files = gr.File(
                            file_count="multiple",
                            # No file_types: Gradio would refuse the whole batch for one odd file;
                            # rag.library checks each file and says why it is refused.
                            label="Add documents (.txt, .md, .html, .pdf)",
                            elem_id="upload",
                        )
                        add = gr.Button("Add to the index", variant="primary", elem_id="add")
                    with gr.Column():
                        doomed = gr.Dropdown(
                            choices=_scope_choices(listed),
                            label="Remove a document",
                            elem_id="remove-choice",
                            allow_custom_value=True,
                        )
                        remove = gr.Button("Remove", variant="stop", elem_id="remove")
                outcome = gr.HTML("", elem_id="documents-message", js_on_load=None)
        # Holds the question between "take it from the textbox" and "answer it", so the textbox
        # clears at once and the /ask API takes (question, history, scope), not a hidden State.
        pending = gr.Textbox(visible=False)
        seen = gr.State("")  # the library version this page shows
        timer = gr.Timer(LIBRARY_POLL_S)

        def respond(question: str, history: list[dict[str, Any]], only: list[str] | None) -> Iterator[tuple[Any, Any]]:
            yield from _respond(assistant, question, history, only)

        def upload(paths: list[str] | None, progress: gr.Progress = _PROGRESS) -> tuple[Any, ...]:
            return _upload(assistant, paths, progress)

        def drop(source: str | None) -> tuple[Any, ...]:
            return _remove(assistant, source)

        def refresh(shown: str) -> tuple[Any, ...]:
            return _refresh(assistant, shown)

        library = [table, scope, doomed, status, seen]
        ask = {"fn": respond, "inputs": [pending, chatbot, scope], "outputs": [chatbot, sources]}
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
        add.click(upload, files, [outcome, files, *library], api_name="upload", concurrency_limit=1)
        remove.click(drop, doomed, [outcome, *library], api_name="remove", concurrency_limit=1)

        def documents() -> list[dict[str, Any]]:
            return _documents(assistant)

        gr.api(documents, api_name="documents")
        # Every open page polls the library's version (cheap) and redraws only when it changed,
        # so an upload or removal in one session shows in all of them.
        timer.tick(refresh, seen, library, queue=False, api_visibility="private", show_progress="hidden")
        demo.load(refresh, seen, library, queue=False, api_visibility="private")
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


def _respond(
    assistant: Any, question: str, history: list[dict[str, Any]], only: list[str] | None = None
) -> Iterator[tuple[Any, Any]]:
    """Answer one question, streaming the reply into the chat and the sources into the panel.
    ``only``: the documents chosen in the scope box (none: all)."""
    history = list(history or [])
    scope = [s for s in only or [] if isinstance(s, str)] or None
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
            yield from _stream_tokens(assistant, question, history, scope)
            return
        answer: Answer = assistant.answer(question, _backend_history(history[:-1]), sources=scope)
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


def _stream_tokens(
    assistant: Any, question: str, history: list[dict[str, Any]], scope: list[str] | None = None
) -> Iterator[tuple[Any, Any]]:
    """Token streaming from a generative backend; the final text replaces the provisional one
    (the figure guard may have swapped in the extractive answer, with a note)."""
    pieces = assistant.stream(question, _backend_history(history[:-1]), sources=scope)
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


def _upload(assistant: Any, paths: list[str] | None, progress: Any) -> tuple[Any, ...]:
    """Add the chosen files; the progress bar follows the embedding work."""
    if not paths:
        return (_message("Choose one or more files first.", error=True), gr.skip(), *_library(assistant))
    names = [os.path.basename(str(p)) for p in paths]
    progress(0.0, desc=f"checking {len(names)} file{'s' if len(names) != 1 else ''}")

    def follow(done: int, total: int) -> None:
        progress(done / max(total, 1), desc="embedding")

    try:
        added = assistant.add_documents([str(p) for p in paths], on_progress=follow)
    except ValueError as exc:  # DocumentError: too many files at once, ...
        return (_message(f"Nothing was added: {exc}.", error=True), gr.skip(), *_library(assistant))
    except Exception:
        log.exception("adding documents failed")
        return (
            _message("Adding the documents failed; nothing was changed.", error=True),
            gr.skip(),
            *_library(assistant),
        )
    lines = [f"Added {source}." for source in added.added]
    lines += [f"Not added: {name}: {why}." for name, why in added.rejected]
    return (_message(" ".join(lines), error=not added.added), None, *_library(assistant))


def _remove(assistant: Any, source: str | None) -> tuple[Any, ...]:
    if not source:
        return (_message("Choose a document to remove.", error=True), *_library(assistant))
    try:
        assistant.remove_document(source)
    except ValueError as exc:  # DocumentError: not indexed (removed in another session)
        return (_message(f"{exc}.", error=True), *_library(assistant))
    except Exception:
        log.exception("removing a document failed")
        return (_message("Removing the document failed.", error=True), *_library(assistant))
    return (_message(f"Removed {source}."), *_library(assistant))


def _refresh(assistant: Any, shown: str) -> tuple[Any, ...]:
    """Redraw the library's parts of the page when another session changed it."""
    try:
        version = assistant.library_version()
    except Exception:
        log.exception("could not read the library version")
        return (gr.skip(),) * 5
    if version == shown:
        return (gr.skip(),) * 5
    return _library(assistant)


def _library(assistant: Any) -> tuple[Any, ...]:
    """The table, the two document pickers, the status line and the version they show."""
    documents = _listed(assistant)
    choices = _scope_choices(documents)
    return (
        _table(documents),
        gr.update(choices=choices),
        gr.update(choices=choices, value=None),
        _status_html(assistant),
        assistant.library_version(),
    )


def _documents(assistant: Any) -> list[dict[str, Any]]:
    """The /documents API: each indexed document as a dict."""
    from dataclasses import asdict

    return [asdict(d) for d in assistant.documents()]


def _listed(assistant: Any) -> list[Any]:
    try:
        return list(assistant.documents())
    except Exception:
        log.exception("could not list the documents")
        return []


def _scope_choices(documents: list[Any]) -> list[tuple[str, str]]:
    return [(f"{d.title} ({d.source})", d.source) for d in documents]


def _table(documents: list[Any]) -> list[list[Any]]:
    return [
        [
            d.title,
            d.source,
            d.format,
            d.chunks,
            "—" if d.bytes is None else f"{d.bytes / 1024:,.1f} KB",
            time.strftime("%Y-%m-%d %H:%M", time.localtime(d.indexed)) if d.indexed else "—",
        ]
        for d in documents
    ]


# --- rendering ---------------------------------------------------------------------------


def _message(text: str, error: bool = False) -> str:
    kind = "ui-notice" if error else "ui-done"
    return f'<div class="{kind}">{html.escape(text, quote=False)}</div>'


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
            f'<div class="ui-loc">{html.escape(c.source)}, characters {c.start:,}–{c.end:,}</div>'
            f'<button class="ui-open" data-chunk="{html.escape(c.chunk_id)}" data-sentence="{html.escape(c.text)}">'
            'Open in the document</button><div class="ui-doc-view" hidden></div></li>'
        )
    return f"<ol>{''.join(items)}</ol>"


def _document_html(assistant: Any, chunk_id: str, sentence: str) -> str:
    """The cited passage among its neighbours, the sentence marked (for "Open in the document")."""
    try:
        chunks = assistant.passage_context(str(chunk_id))
    except ValueError as exc:  # DocumentError: removed since the answer
        return f'<div class="ui-notice">{html.escape(str(exc))}.</div>'
    except Exception:
        log.exception("could not open the document")
        return '<div class="ui-notice">The document could not be opened.</div>'
    parts, heading = [], None
    for chunk in chunks:
        if chunk.heading and chunk.heading != heading:
            parts.append(f'<div class="ui-source-heading">{html.escape(chunk.heading)}</div>')
            heading = chunk.heading
        flagged = dict(chunk.flags)
        if flagged:  # planted instructions: shown for what they are, never as the document's word
            text = " ".join(
                f'<span class="ui-flagged" title="flagged: {html.escape(flagged[i])}">{html.escape(s.text)}</span>'
                if i in flagged
                else f"<mark>{html.escape(s.text)}</mark>"
                if chunk.id == chunk_id and _squash(s.text) == _squash(sentence)
                else html.escape(s.text)
                for i, s in enumerate(chunk.sentences)
            )
        else:
            text = _highlight(chunk.text, sentence) if chunk.id == chunk_id else html.escape(chunk.text)
        parts.append(f'<p class="ui-passage">{text}</p>')
    title = html.escape(chunks[0].title or chunks[0].source) if chunks else ""
    return f'<div class="ui-doc"><div class="ui-source-title">{title}</div>{"".join(parts)}</div>'


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
