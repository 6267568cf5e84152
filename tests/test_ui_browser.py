"""The UI in a real headless browser (Playwright driving Debian's chromium; Playwright's own
browsers are never downloaded). Skipped when /usr/bin/chromium is missing (`make browser`)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("no /usr/bin/chromium (run `make browser`)", allow_module_level=True)
pytest.importorskip("playwright.sync_api")

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

pytestmark = pytest.mark.model

SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshot.png"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ARGS += ["--no-first-run", "--disable-sync"]
LOCAL = ("http://127.0.0.1", "data:", "blob:", "about:")
TIMEOUT = 60_000  # ms; the machine may be busy with other test processes


@pytest.fixture(scope="module")
def url(assistant: Any) -> Iterator[str]:
    from ui.app import LAUNCH_OPTIONS, create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = create_app(assistant)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **LAUNCH_OPTIONS)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser: Browser, url: str) -> Iterator[tuple[Page, dict[str, list[str]]]]:
    """A fresh page on the app that records dialogs and refuses (and records) any request
    that would leave this machine."""
    seen: dict[str, list[str]] = {"dialogs": [], "external": []}
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    watch(page, seen)
    page.goto(url)
    expect(page.locator("#chat")).to_be_visible()
    yield page, seen
    page.close()
    assert seen["external"] == [], f"the page tried to reach the network: {seen['external']}"


def watch(page: Page, seen: dict[str, list[str]]) -> None:
    """Record (and dismiss) dialogs, and refuse (and record) requests that would leave this machine."""
    page.set_default_timeout(TIMEOUT)

    def dialog(d: Any) -> None:
        seen["dialogs"].append(d.message)
        d.dismiss()

    def route(r: Any) -> None:
        if r.request.url.startswith(LOCAL):
            r.continue_()
        else:
            seen["external"].append(r.request.url)
            r.abort()

    page.on("dialog", dialog)
    page.route("**/*", route)


def ask(page: Page, question: str) -> None:
    page.get_by_placeholder("Ask a question about the documents").fill(question)
    page.get_by_role("button", name="Send", exact=True).click()


def test_answer_citation_and_highlighted_source(page: tuple[Page, dict[str, list[str]]]) -> None:
    tab, _ = page
    ask(tab, "How many countries does the TIP Report cover today?")
    bot = tab.locator("#chat [data-testid='bot']").last
    expect(bot).to_contain_text("188 countries", timeout=TIMEOUT)
    expect(bot).to_contain_text("[1]")
    expect(bot).to_contain_text("answered in")  # the last streamed piece has arrived
    mark = tab.locator("#sources mark").first
    expect(mark).to_be_visible()
    expect(mark).to_contain_text("188 today")
    expect(tab.locator("#sources")).to_contain_text("[1]")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOT), full_page=True)


def test_markup_in_a_question_is_shown_as_text(page: tuple[Page, dict[str, list[str]]]) -> None:
    tab, seen = page
    payload = "<img src=x onerror=alert(1)>"
    ask(tab, payload)
    user = tab.locator("#chat [data-testid='user']").last
    expect(user).to_have_text(payload)
    expect(tab.locator("#chat [data-testid='bot']").last).to_contain_text("answered in", timeout=TIMEOUT)
    assert tab.locator("#chat img[src='x']").count() == 0
    tab.wait_for_timeout(500)  # give a would-be onerror handler time to fire
    assert seen["dialogs"] == []
