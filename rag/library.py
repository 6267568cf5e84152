"""The document library: what the index holds, and the files people add from the chat,
the API or the CLI.

Added files are checked (format, size, readable, not already indexed), copied under a
safe name into the managed uploads folder and indexed by the same ingestion as the
corpus. This module decides and copies; the Assistant holds the lock and indexes.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.corpus import SUFFIXES, LoadError, file_sha256, load

MAX_FILES = 20  # per upload: each file is embedded on this machine's CPU
MAX_NAME = 120
MAX_EXPANSION = 100  # text extracted per byte of file: more is a decompression bomb, not a document
# What a PDF can carry that runs or opens something: actions, scripts, launchers, attachments.
PDF_ACTIVE = re.compile(rb"/(?:JavaScript|JS|Launch|OpenAction|AA|EmbeddedFile|RichMedia|SubmitForm|ImportData)\b")


class DocumentError(ValueError):
    """A document cannot be added, removed or asked about as given."""


@dataclass(frozen=True)
class Document:
    """One indexed document, as the Documents panel and ``Assistant.documents()`` show it."""

    source: str  # how citations name the file: 'corpus/<name>', 'uploads/<name>' or a path
    title: str
    format: str  # txt, md, html or pdf
    chunks: int
    bytes: int | None  # the file's size; None when the file is gone
    indexed: float  # when its chunks were written (seconds since the epoch; 0 if unknown)
    uploaded: bool  # in the managed uploads folder (removing it deletes the copy)


@dataclass(frozen=True)
class Added:
    """What an upload did: the sources now indexed, and each refused file with the reason."""

    added: tuple[str, ...] = ()
    rejected: tuple[tuple[str, str], ...] = ()  # (file name, why)
    seconds: float = 0.0


@dataclass(frozen=True)
class Staged:
    """A checked file, ready to be copied into the uploads folder."""

    path: Path
    name: str
    sha256: str


def safe_name(name: str) -> str:
    """A file name that cannot leave the uploads folder or hide: no folders, no leading dot,
    no control characters, letters, digits and ``._- `` only, the suffix kept.

    >>> safe_name("../../etc/Report 2024?.PDF")
    'Report 2024_.pdf'
    """
    base = re.split(r"[\\/]", unicodedata.normalize("NFKC", name))[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"[^\w .-]", "_", stem, flags=re.ASCII).strip(" .") or "document"
    stem = re.sub(r"_+", "_", stem)[: MAX_NAME - len(suffix) - 1]
    return f"{stem}.{suffix.lower()}" if suffix else stem


def free_target(folder: Path, name: str, sha256: str) -> Path:
    """Where a file goes: its name, or name-2, name-3, ... so no other document is overwritten."""
    stem, suffix = os.path.splitext(name)
    for n in range(1, 1000):
        target = folder / (name if n == 1 else f"{stem}-{n}{suffix}")
        if not target.exists() or file_sha256(target) == sha256:
            return target
    raise DocumentError(f"too many files named {name!r} in {folder}")


def check(
    paths: Sequence[Path | str],
    indexed: Mapping[str, str],
    *,
    max_bytes: int,
    max_files: int = MAX_FILES,
) -> tuple[list[Staged], list[tuple[str, str]]]:
    """Sort the files to add into the acceptable and the refused (with reasons).

    ``indexed`` maps each indexed source to its content hash, so a file already indexed (under
    any name) is refused rather than indexed twice."""
    if len(paths) > max_files:
        raise DocumentError(f"{len(paths)} files at once is over the limit of {max_files}")
    by_hash = {sha: source for source, sha in indexed.items()}
    staged: list[Staged] = []
    rejected: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw)
        name = safe_name(path.name)
        why = _refusal(path, name, max_bytes)
        if why is None:
            sha = file_sha256(path)
            seen = by_hash.get(sha) or next((s.name for s in staged if s.sha256 == sha), None)
            if seen is not None:
                why = f"the same content is already indexed as {seen}"
            else:
                staged.append(Staged(path, name, sha))
                continue
        rejected.append((path.name, why))
    return staged, rejected


def _refusal(path: Path, name: str, max_bytes: int) -> str | None:
    """Why a file cannot be added, or None when it can."""
    if not path.is_file():
        return "not a file"
    if Path(name).suffix.lower() not in SUFFIXES:
        return f"not a supported format (use {', '.join(s for s in SUFFIXES if s not in ('.markdown', '.htm'))})"
    size = path.stat().st_size
    if size == 0:
        return "the file is empty"
    if size > max_bytes:
        return f"{size / 2**20:.1f} MB is over the {max_bytes / 2**20:.0f} MB limit"
    suffix = Path(name).suffix.lower()
    if suffix == ".pdf" and (why := _active_pdf(path)):
        return why
    if suffix in (".html", ".htm") and (why := _active_html(path)):
        return why
    try:
        document = load(path, name, max_bytes)
    except (LoadError, OSError, UnicodeError) as exc:
        return f"cannot be read: {exc}"
    if not document.text.strip():
        return "no text could be extracted from it"
    if len(document.text) > MAX_EXPANSION * size:
        return f"it expands {len(document.text) // size:,}x when read (a decompression bomb?)"
    return None


def _active_pdf(path: Path) -> str | None:
    """Why a PDF is refused for what it carries (scripts, actions, attachments), or None.
    Compressed object streams are opened too, so a script cannot hide inside one."""
    raw = path.read_bytes()
    if b"/Encrypt" in raw:
        return "an encrypted PDF (save an unencrypted copy)"
    found = PDF_ACTIVE.search(raw)
    if found is None:
        try:
            from pypdf import PdfReader

            reader = PdfReader(str(path))
            packed = [reader.get_object(number) for number in reader.xref_objStm]  # objects inside object streams
            found = next((m for o in packed if (m := PDF_ACTIVE.search(repr(o).encode()))), None)
        except Exception:  # an unreadable PDF is refused later, with the reader's reason
            return None
    if found is not None:
        return f"a PDF with active content ({found.group(0).decode()}): scripts and actions are not accepted"
    return None


def _active_html(path: Path) -> str | None:
    """Why an HTML upload is refused (scripts, event handlers, javascript: links), or None."""
    from bs4 import BeautifulSoup

    try:
        soup = BeautifulSoup(path.read_bytes().decode("utf-8-sig"), "html.parser")
    except UnicodeDecodeError:
        return None  # refused later as not UTF-8
    for tag in soup.find_all(True):
        if tag.name in ("script", "iframe", "object", "embed"):
            return f"HTML with a <{tag.name}> element: scripts and embedded content are not accepted"
        for attribute, value in tag.attrs.items():
            if attribute.lower().startswith("on"):
                return f"HTML with an event handler ({attribute}=): scripts are not accepted"
            if "javascript:" in str(value).lower().replace(" ", ""):
                return "HTML with a javascript: link: scripts are not accepted"
    return None


def copy_in(staged: Sequence[Staged], folder: Path) -> list[Path]:
    """Copy checked files into the uploads folder (each written whole, then renamed into place)."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        for item in staged:
            target = free_target(folder, item.name, item.sha256)
            if not target.exists():
                handle, temporary = tempfile.mkstemp(dir=folder, prefix=".incoming-")
                os.close(handle)
                shutil.copyfile(item.path, temporary)
                os.replace(temporary, target)
            written.append(target)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written


def listing(documents: Mapping[str, Mapping[str, Any]], files: Mapping[str, Path], uploads: Path) -> list[Document]:
    """Documents from the store's per-source metadata and the files they came from."""
    rows = []
    for source, meta in sorted(documents.items()):
        path = files.get(source)
        size = path.stat().st_size if path is not None and path.is_file() else None
        suffix = Path(source).suffix.lower().lstrip(".")
        rows.append(
            Document(
                source=source,
                title=str(meta.get("title") or Path(source).name),
                format={"markdown": "md", "htm": "html"}.get(suffix, suffix),
                chunks=int(meta.get("chunks", 0)),
                bytes=size,
                indexed=float(meta.get("indexed", 0.0)),
                uploaded=path is not None and _inside(path, uploads),
            )
        )
    return rows


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True
