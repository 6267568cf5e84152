"""Load documents (.txt, .md, .html, .pdf) and clean page furniture into Blocks.

Furniture is recognised by structure, not by the words of one document:
- a short line repeated through the document (running page header/footer, page numbers);
- two or more title-case lines stacked in one block (navigation / breadcrumbs);
- a trailing photo credit such as "(AP Images)" (the caption before it stays).
What remains keeps its character offsets in the source text so citations can point at it.
This module does not chunk or embed.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rag.text import BULLET_CHARS, normalise
from rag.types import Block, Document

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
MAX_FILE_BYTES = 20 * 1024 * 1024  # a 20 MB text is ~40k chunks: hours of CPU embedding, so refuse by default

_CREDIT = re.compile(
    r"\s*\((?:[^()]{0,40}\b(?:Images?|Photos?|Photograph|Photographer|Credit|Reuters|AFP|Getty|AP)\b[^()]{0,40})\)\s*$"
)
_PAGE_NUMBER = re.compile(r"^\s*(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?\s*$", re.I)
_MINOR = frozenset(
    [
        "a",
        "an",
        "and",
        "as",
        "at",
        "but",
        "by",
        "for",
        "from",
        "in",
        "into",
        "nor",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
        "vs",
        "via",
    ]
)


class LoadError(Exception):
    """A file that cannot be read as a document (binary, corrupt, empty)."""


def discover(paths: Iterable[Path]) -> list[Path]:
    """Supported files under the given files/folders, sorted, symlink loops skipped."""
    found: set[Path] = set()
    for path in paths:
        if path.is_file():
            found.add(path.resolve())
            continue
        if not path.is_dir():
            raise FileNotFoundError(f"no such file or folder: {path}")
        for child in path.rglob("*"):  # rglob does not follow symlinked folders
            try:
                if child.suffix.lower() in SUFFIXES and child.is_file():
                    found.add(child.resolve())
            except OSError as exc:  # e.g. a symlink loop
                log.warning("skipping %s: %s", child, exc)
    return sorted(found)


def display_path(path: Path, corpus_dir: Path, *more_roots: Path) -> str:
    """'corpus/<name>' for files in the corpus folder ('uploads/<name>' in an uploads folder
    given as another root), else the absolute path."""
    for root in (corpus_dir, *more_roots):
        try:
            relative = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            continue
        return root.name if relative == "." else f"{root.name}/{relative}"
    return str(path.resolve())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load(path: Path, source: str, max_bytes: int = MAX_FILE_BYTES) -> Document:
    """Read one file into a cleaned Document. Raises LoadError with a reason."""
    size = path.stat().st_size
    if size == 0:
        raise LoadError("empty file")
    if size > max_bytes:
        raise LoadError(
            f"{size / 2**20:.0f} MB is over the {max_bytes / 2**20:.0f} MB limit (FACTSHEET_QA_MAX_FILE_MB raises it)"
        )
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        text, title = _pdf_text(path), ""
    else:
        raw = path.read_bytes()
        if b"\x00" in raw[:8192]:
            raise LoadError("binary file (NUL bytes)")
        try:
            decoded = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise LoadError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        text, title = _html_text(decoded) if suffix in (".html", ".htm") else (decoded, "")
    blocks, found_title = parse_blocks(text, markdown=suffix in (".md", ".markdown"))
    if not blocks:
        raise LoadError("no text content")
    return Document(
        source=source,
        title=title or found_title or path.stem.replace("-", " ").replace("_", " "),
        text=text,
        blocks=tuple(blocks),
        sha256=file_sha256(path),
    )


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader  # imported here: only PDF ingestion needs it
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise LoadError("encrypted PDF (save an unencrypted copy to index it)")
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:  # LimitReachedError: a bomb
        raise LoadError(f"unreadable PDF ({exc})") from None
    return "\n\n".join(pages)


_HTML_BLOCKS = frozenset(
    {
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "p",
        "li",
        "dt",
        "dd",
        "pre",
        "figcaption",
        "td",
        "th",
        "blockquote",
        # containers: text directly inside them is a block of its own. DocBook's HTML (the
        # Debian handbook, many manuals) puts every paragraph in <div class="para">.
        "div",
        "section",
        "article",
        "main",
        "body",
        "ul",
        "ol",
        "dl",
        "table",
        "tr",
        "figure",
        "details",
        "summary",
        "address",
    }
)


_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?![.\d]*[1-9])|opacity\s*:\s*0(?![.\d]*[1-9])",
    re.IGNORECASE,
)


def _hidden(tag: Any) -> bool:
    if tag.attrs is None:
        return False
    return (
        tag.has_attr("hidden")
        or str(tag.get("aria-hidden", "")).lower() == "true"
        or bool(_HIDDEN_STYLE.search(str(tag.get("style", ""))))
    )


def _html_text(markup: str) -> tuple[str, str]:
    """Text of an HTML page as blank-line separated blocks; headings become their own lines."""
    from bs4 import BeautifulSoup, NavigableString, Tag  # imported here: only HTML ingestion needs it
    from bs4.element import PreformattedString  # comments, CDATA, doctypes: not content

    # No attribute is read as a list (class="a b"): nothing here looks at classes, and
    # splitting them was a fifth of the parse on Python's HTML docs.
    soup = BeautifulSoup(markup, "html.parser", multi_valued_attributes=None)
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(["script", "style", "nav", "header", "footer", "aside", "noscript", "form", "title"]):
        tag.decompose()
    # Text a browser does not show is not the document a person reads: it is where planted
    # instructions hide (comments and attributes such as alt and title are never read).
    for tag in [t for t in soup.find_all(True) if _hidden(t)]:
        if not tag.decomposed:
            tag.decompose()
    parts: list[str] = []

    def walk(element: Tag) -> None:
        # Inline text gathers until the next block child; each run is one block, so text
        # between nested blocks is kept, not only the text of the innermost ones.
        run: list[str] = []

        def flush() -> None:
            words = " ".join("".join(run).split())  # as a browser renders it: no space is added
            run.clear()
            if words:
                parts.append(f"- {words}" if element.name == "li" else words)

        for child in element.children:
            if isinstance(child, Tag) and child.name in _HTML_BLOCKS:
                flush()
                walk(child)
            elif isinstance(child, Tag) and child.name in ("br", "hr", "wbr"):
                run.append(" ")
            elif isinstance(child, Tag):
                # an inline element holding blocks (<a><div>...</div></a>); a plain scan, since
                # bs4's find() builds a matcher per call and cost more than the parse
                if any(isinstance(d, Tag) and d.name in _HTML_BLOCKS for d in child.descendants):
                    flush()
                    walk(child)
                else:
                    run.append(child.get_text(""))
            elif isinstance(child, NavigableString) and not isinstance(child, PreformattedString):
                run.append(str(child))
        flush()

    walk(soup)
    if not parts:
        parts = [" ".join(soup.get_text(" ", strip=True).split())]
    return "\n\n".join(p for p in parts if p), title


# --- plain-text structure ---------------------------------------------------------


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(offset, line) for each line of text, without the newline."""
    offset = 0
    for line in text.splitlines(keepends=True):
        yield offset, line.rstrip("\r\n")
        offset += len(line)


def _raw_blocks(text: str) -> list[list[tuple[int, str]]]:
    """Groups of non-blank lines separated by blank lines."""
    groups: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for offset, line in _lines(text):
        if line.strip():
            current.append((offset, line))
        elif current:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def _is_sentence(line: str) -> bool:
    return line.rstrip().endswith((".", "!", "?", ":", ";", '"', "'", ")", "\u201d", "\u2019"))


def _title_case(line: str) -> bool:
    words = [w for w in re.findall(r"[A-Za-z][\w'\u2019-]*", line)]
    if not words or len(words) > 14:
        return False
    major = [w for w in words if w.lower() not in _MINOR]
    return bool(major) and all(w[0].isupper() for w in major)


def _short_line(line: str) -> bool:
    stripped = line.strip()
    return 0 < len(stripped) <= 120 and not _is_sentence(stripped)


def _bullet(line: str) -> int:
    """Width of a leading bullet marker (0 if none)."""
    match = re.match(r"^\s*(?:[" + re.escape(BULLET_CHARS) + r"]|\d{1,2}[.)])\s+", line)
    return match.end() if match else 0


def parse_blocks(text: str, markdown: bool = False) -> tuple[list[Block], str]:
    """Split source text into cleaned blocks with headings; returns (blocks, title)."""
    groups = _raw_blocks(text)
    counts = Counter(line.strip() for group in groups for _, line in group if _short_line(line))
    repeated = {line for line, n in counts.items() if n > 1}
    title = ""
    heading = ""
    blocks: list[Block] = []
    for index, group in enumerate(groups):
        if len(group) == 1 and _heading_line(group[0][1], markdown):
            line = group[0][1].strip().lstrip("#").strip()
            if not title and index == 0:
                title = line
            elif line != title and group[0][1].strip() not in repeated:
                heading = line
            continue  # headings and repeated page headers are metadata, not answerable text
        blocks.extend(_group_blocks(group, heading or title, repeated, markdown))
    return blocks, title


def _heading_line(line: str, markdown: bool) -> bool:
    stripped = line.strip()
    if markdown and stripped.startswith("#"):
        return True
    return _short_line(stripped) and not _bullet(stripped) and not _PAGE_NUMBER.match(stripped)


def _group_blocks(group: list[tuple[int, str]], heading: str, repeated: set[str], markdown: bool) -> Iterator[Block]:
    furniture = _navigation_lines(group)
    pending: list[tuple[int, str]] = []
    kind = "paragraph"
    for i, (offset, line) in enumerate(group):
        stripped = line.strip()
        if i in furniture or stripped in repeated or _PAGE_NUMBER.match(stripped):
            continue
        width = _bullet(line)
        if width:
            yield from _emit(pending, heading, kind)
            pending, kind = [(offset + width, line[width:])], "bullet"
        elif markdown and stripped.startswith("#"):
            yield from _emit(pending, heading, kind)
            pending, kind = [], "paragraph"
            heading = stripped.lstrip("#").strip()
        else:
            pending.append((offset, line))
    yield from _emit(pending, heading, kind)


def _navigation_lines(group: list[tuple[int, str]]) -> set[int]:
    """Indexes of lines in runs of 2+ stacked title-case non-sentences (menus, breadcrumbs)."""
    flags = [_short_line(line) and _title_case(line) and not _bullet(line) for _, line in group]
    found: set[int] = set()
    i = 0
    while i < len(flags):
        j = i
        while j < len(flags) and flags[j]:
            j += 1
        if j - i >= 2:
            found.update(range(i, j))
        i = max(j, i + 1)
    return found


def _emit(lines: list[tuple[int, str]], heading: str, kind: str) -> Iterator[Block]:
    """One block from consecutive lines; a trailing photo credit is cut off."""
    if not lines:
        return
    start = lines[0][0] + len(lines[0][1]) - len(lines[0][1].lstrip())
    end_offset, last = lines[-1]
    end = end_offset + len(last.rstrip())
    credit = _CREDIT.search(last.rstrip())
    if credit and credit.start() > 0:
        end = end_offset + credit.start()
        kind = "caption"
    text = " ".join(normalise(line).strip() for line in _slice_lines(lines, start, end))
    text = re.sub(r"\s+", " ", text).strip()
    if text:
        yield Block(text=text, start=start, end=end, heading=heading, kind=kind)


def _slice_lines(lines: list[tuple[int, str]], start: int, end: int) -> Iterator[str]:
    for offset, line in lines:
        lo, hi = max(start, offset), min(end, offset + len(line))
        if hi > lo:
            yield line[lo - offset : hi - offset]
