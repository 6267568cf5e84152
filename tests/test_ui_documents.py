"""The Documents panel in a real headless browser and through gradio_client: upload two
files, ask what only one of them says, scope a question to the other, remove one. Real
model, real on-disk Chroma store, a real Gradio server; no page reload in between."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.model

LIGHTHOUSE = """# The Skerry Light

The Skerry Light was first lit in 1871 by the Northern Board.

Its keepers logged 4,812 gales before the light was automated in 1994.
"""
ORCHARD = """<html><head><title>Hollow Orchard Almanac</title></head><body>
<h1>Hollow Orchard Almanac</h1>
<p>The Hollow Orchard grows 57 apple varieties on terraces above the river.</p>
<p>Its cider press was built in 1923 and still runs every October.</p>
</body></html>
"""


@pytest.fixture(scope="module")
def served(real_embedder: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, Path]]:
    """Its own assistant and index, so uploads here never reach other tests' fact-sheet index."""
    from rag.assistant import Assistant
    from rag.config import Settings
    from ui.app import LAUNCH_OPTIONS, create_app

    base = tmp_path_factory.mktemp("documents-ui")
    corpus = base / "corpus"
    corpus.mkdir()
    shutil.copy(ROOT / "corpus" / "combating-trafficking-in-persons.txt", corpus)
    assistant = Assistant(Settings(corpus_dir=corpus, data_dir=base / "data"), embedder=real_embedder)
    assistant.ensure_index(progress=False)
    incoming = base / "incoming"
    incoming.mkdir()
    (incoming / "skerry-light.md").write_text(LIGHTHOUSE, encoding="utf-8")
    (incoming / "orchard.html").write_text(ORCHARD, encoding="utf-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = create_app(assistant)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **LAUNCH_OPTIONS)
    yield assistant, f"http://127.0.0.1:{port}/", incoming
    demo.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (run `make browser`)")
def test_upload_ask_scope_and_remove_in_the_browser(served: tuple[Any, str, Path]) -> None:
    pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import expect, sync_playwright

    from tests.test_ui_browser import ARGS, TIMEOUT, watch

    assistant, url, incoming = served
    seen: dict[str, list[str]] = {"dialogs": [], "external": [], "errors": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        watch(page, seen)
        page.on("pageerror", lambda e: seen["errors"].append(str(e)))
        page.on("framenavigated", lambda f: f == page.main_frame and seen.setdefault("loads", []).append(f.url))
        other = browser.new_page()  # another chat session, open all along
        watch(other, seen)
        other.goto(url)
        other.get_by_role("tab", name="Documents").click()
        page.goto(url)
        chat_tab = page.get_by_role("tab", name="Chat")
        documents_tab = page.get_by_role("tab", name="Documents")

        # Upload two files and see them listed.
        documents_tab.click()
        table = page.locator("#documents")
        expect(table).to_contain_text("corpus/combating-trafficking-in-persons.txt")
        page.locator("#upload input[type=file]").set_input_files(
            [str(incoming / "skerry-light.md"), str(incoming / "orchard.html")]
        )
        page.locator("#add").click()
        expect(page.locator("#documents-message")).to_contain_text("Added uploads/orchard.html", timeout=TIMEOUT)
        expect(table).to_contain_text("uploads/skerry-light.md")
        expect(table).to_contain_text("Hollow Orchard Almanac")
        expect(other.locator("#documents")).to_contain_text("uploads/skerry-light.md")  # no reload there either
        page.screenshot(path=str(ROOT / "docs" / "documents.png"), full_page=True)  # the README's picture

        def ask(question: str) -> Any:
            chat_tab.click()
            page.get_by_placeholder("Ask a question about the documents").fill(question)
            page.get_by_role("button", name="Send", exact=True).click()
            bot = page.locator("#chat [data-testid='bot']").last
            expect(bot).to_contain_text("answered in", timeout=TIMEOUT)
            return bot

        # A question only the new lighthouse file answers; the citation names it.
        bot = ask("How many gales did the keepers of the Skerry Light log?")
        expect(bot).to_contain_text("4,812")
        expect(page.locator("#sources")).to_contain_text("The Skerry Light")
        expect(page.locator("#sources")).to_contain_text("uploads/skerry-light.md")
        # The Sources panel opens the cited document, scrolled to the cited sentence.
        page.locator("#sources button.ui-open").first.click()
        cited = page.locator("#sources .ui-doc-view mark").first
        expect(cited).to_contain_text("4,812 gales")
        expect(cited).to_be_in_viewport()
        expect(page.locator("#sources .ui-doc-view")).to_contain_text("first lit in 1871")

        # Scope a question to the other new file: the lighthouse cannot answer from there.
        page.locator("#scope input").click()
        page.get_by_role("option", name="Hollow Orchard Almanac (uploads/orchard.html)").click()
        page.keyboard.press("Escape")
        bot = ask("How many gales did the keepers of the Skerry Light log?")
        expect(page.locator("#sources")).not_to_contain_text("uploads/skerry-light.md")
        bot = ask("How many apple varieties does the orchard grow?")
        expect(bot).to_contain_text("57")
        expect(page.locator("#sources")).to_contain_text("uploads/orchard.html")

        # Remove the lighthouse file: its passages no longer appear in answers.
        documents_tab.click()
        page.locator("#remove-choice input").click()
        page.get_by_role("option", name="The Skerry Light (uploads/skerry-light.md)").click()
        page.locator("#remove").click()
        expect(page.locator("#documents-message")).to_contain_text("Removed uploads/skerry-light.md")
        expect(table).not_to_contain_text("uploads/skerry-light.md")
        chat_tab.click()
        page.locator("#scope .token-remove").first.click()  # back to every document
        bot = ask("How many gales did the keepers of the Skerry Light log?")
        expect(bot).not_to_contain_text("4,812")
        expect(page.locator("#sources")).not_to_contain_text("skerry-light")
        browser.close()
    assert seen["external"] == [] and seen["dialogs"] == [] and seen["errors"] == []
    assert len(seen.get("loads", [])) == 1  # no page reload
    assert "uploads/skerry-light.md" not in {d.source for d in assistant.documents()}


def test_upload_list_and_remove_through_gradio_client(served: tuple[Any, str, Path], tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    assistant, url, _ = served
    notes = tmp_path / "tide-tables.txt"
    notes.write_text("Tide Tables\n\nThe spring tide at Wick rose 4.6 metres.\n", encoding="utf-8")
    bad = tmp_path / "tables.exe"
    bad.write_bytes(b"MZ\x90\x00")
    client = Client(url, analytics_enabled=False, verbose=False, download_files=False)
    message, *_ = client.predict([handle_file(str(notes)), handle_file(str(bad))], api_name="/upload")
    assert "Added uploads/tide-tables.txt" in message and "Not added: tables.exe: not a supported format" in message
    listed = {d["source"]: d for d in client.predict(api_name="/documents")}
    assert listed["uploads/tide-tables.txt"]["title"] == "Tide Tables" and listed["uploads/tide-tables.txt"]["uploaded"]
    history, sources = client.predict("How high did the spring tide at Wick rise?", [], [], api_name="/ask")
    assert "4.6 metres" in history[-1]["content"][0]["text"] and "uploads/tide-tables.txt" in sources
    message, *_ = client.predict("uploads/tide-tables.txt", api_name="/remove")
    assert "Removed uploads/tide-tables.txt" in message
    assert "uploads/tide-tables.txt" not in {d["source"] for d in client.predict(api_name="/documents")}
    message, *_ = client.predict("uploads/tide-tables.txt", api_name="/remove")
    assert "no indexed document" in message
    assert not (assistant.settings.uploads_path / "tables.exe").exists()


XSS_NOTES = """<html><head><title>Markup Safety Notes</title></head><body>
<p>The filter blocked 7,300 payloads such as &lt;script&gt;alert(1)&lt;/script&gt; in March.</p>
<p>Attackers also tried &lt;img src=x onerror=alert(2)&gt; in 212 comment forms.</p>
</body></html>
"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (run `make browser`)")
def test_hostile_html_uploads_run_nothing_in_the_page(served: tuple[Any, str, Path], tmp_path: Path) -> None:
    """Markup quoted in a document is shown as text, in the answer, the Sources panel and the
    document view; a page that carries a real script is refused with a message."""
    pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import expect, sync_playwright

    from tests.conftest import RELIABILITY
    from tests.test_ui_browser import ARGS, TIMEOUT, watch

    assistant, url, _ = served
    notes = tmp_path / "markup-notes.html"
    notes.write_text(XSS_NOTES, encoding="utf-8")
    armed = tmp_path / "armed.html"
    armed.write_text('<html><body><p>Hi.</p><img src=x onerror="alert(3)"><script>alert(4)</script></body></html>')
    before = assistant.store.manifest()
    seen: dict[str, list[str]] = {"dialogs": [], "external": [], "errors": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        watch(page, seen)
        page.goto(url)
        page.get_by_role("tab", name="Documents").click()
        page.locator("#upload input[type=file]").set_input_files([str(armed)])
        page.locator("#add").click()
        expect(page.locator("#documents-message")).to_contain_text("Not added: armed.html", timeout=TIMEOUT)
        RELIABILITY["hostile uploads tried"] += 1
        RELIABILITY["rejected uploads that changed the index"] += int(assistant.store.manifest() != before)
        page.locator("#upload input[type=file]").set_input_files([str(notes)])
        page.locator("#add").click()
        expect(page.locator("#documents-message")).to_contain_text("Added uploads/markup-notes.html", timeout=TIMEOUT)
        page.get_by_role("tab", name="Chat").click()
        page.get_by_placeholder("Ask a question about the documents").fill("How many payloads did the filter block?")
        page.get_by_role("button", name="Send", exact=True).click()
        bot = page.locator("#chat [data-testid='bot']").last
        expect(bot).to_contain_text("answered in", timeout=TIMEOUT)
        expect(bot).to_contain_text("7,300")
        expect(page.locator("#sources")).to_contain_text("<script>alert(1)</script>")
        page.locator("#sources button.ui-open").first.click()
        expect(page.locator("#sources .ui-doc-view")).to_contain_text("onerror=alert(2)")
        page.wait_for_timeout(500)  # time for a would-be handler to fire
        assert page.locator("#sources script, #sources img[src='x'], #chat img[src='x']").count() == 0
        browser.close()
    assert seen == {"dialogs": [], "external": [], "errors": []}
    assert assistant.store.manifest().keys() - before.keys() == {"uploads/markup-notes.html"}
