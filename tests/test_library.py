"""Bringing documents: add, list, remove and scope, on a real on-disk Chroma store (hash
embedder for speed; the browser test and the concurrency test below use the real model)."""

import threading
from pathlib import Path

import pytest

from evals.pdfs import page
from rag.assistant import Assistant, QuestionError
from rag.embedding import HashEmbedder
from rag.library import DocumentError, safe_name


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def library(hash_settings, tmp_path):
    write(hash_settings.corpus_dir / "base.txt", "Base\n\nThe harbor has 12 cranes.\n")
    assistant = Assistant(hash_settings, embedder=HashEmbedder(64))
    assistant.ingest(progress=False)
    outside = tmp_path / "incoming"
    return assistant, outside


def sources_of(answer):
    return {c.source for c in answer.citations}


def test_added_documents_are_copied_listed_and_answered_from(library):
    assistant, outside = library
    one = write(outside / "Lighthouse Notes.md", "# Lighthouse\n\nThe lighthouse keeper logged 340 storms.\n")
    two = write(outside / "orchard.txt", "Orchard\n\nThe orchard grows 57 apple varieties.\n")
    seen = []
    added = assistant.add_documents([one, two], on_progress=lambda done, total: seen.append((done, total)))
    assert added.added == ("uploads/Lighthouse Notes.md", "uploads/orchard.txt") and not added.rejected
    assert (assistant.settings.uploads_path / "orchard.txt").read_bytes() == two.read_bytes()
    assert seen and seen[-1][0] == seen[-1][1]  # the bar reaches its end
    listed = {d.source: d for d in assistant.documents()}
    assert set(listed) == {"corpus/base.txt", *added.added}
    assert listed["uploads/orchard.txt"].uploaded and not listed["corpus/base.txt"].uploaded
    assert listed["uploads/orchard.txt"].format == "txt" and listed["uploads/orchard.txt"].chunks == 1
    assert listed["uploads/orchard.txt"].bytes == two.stat().st_size and listed["uploads/orchard.txt"].indexed > 0
    assert "uploads/orchard.txt" in sources_of(assistant.answer("How many apple varieties does the orchard grow?"))
    assert not assistant.is_stale()  # the uploads folder is part of the corpus now


def test_a_question_can_be_scoped_to_some_documents(library):
    assistant, outside = library
    assistant.add_documents([write(outside / "orchard.txt", "Orchard\n\nThe orchard grows 57 apple varieties.\n")])
    hits = assistant.retrieve("How many apple varieties does the orchard grow?", sources=["corpus/base.txt"])
    assert hits and {h.chunk.source for h in hits} == {"corpus/base.txt"}
    answer = assistant.answer("How many apple varieties does the orchard grow?", sources=["corpus/base.txt"])
    assert sources_of(answer) <= {"corpus/base.txt"}
    with pytest.raises(QuestionError, match="no indexed document"):
        assistant.answer("How many cranes?", sources=["uploads/nothing.txt"])


def test_refused_files_say_why_and_change_nothing(library, tmp_path):
    assistant, outside = library
    before = (assistant.store.count(), assistant.store.manifest())
    empty = write(outside / "empty.txt", "")
    wrong = write(outside / "notes.docx", "not a format we read")
    again = write(outside / "copy-of-base.txt", (assistant.settings.corpus_dir / "base.txt").read_text())
    added = assistant.add_documents([empty, wrong, again, tmp_path / "missing.txt"])
    reasons = dict(added.rejected)
    assert not added.added and len(reasons) == 4
    assert "empty" in reasons["empty.txt"] and "format" in reasons["notes.docx"]
    assert "already indexed as corpus/base.txt" in reasons["copy-of-base.txt"]
    assert reasons["missing.txt"] == "not a file"
    assert (assistant.store.count(), assistant.store.manifest()) == before
    assert not assistant.settings.uploads_path.exists() or not any(assistant.settings.uploads_path.iterdir())
    with pytest.raises(DocumentError, match="over the limit"):
        assistant.add_documents([empty] * 21)


def test_names_are_sanitised_and_never_overwrite_another_document(library):
    assistant, outside = library
    first = write(outside / "a" / "report.txt", "Report\n\nThe first report counts 3 bridges.\n")
    second = write(outside / "b" / "report.txt", "Report\n\nThe second report counts 9 tunnels.\n")
    assert assistant.add_documents([first]).added == ("uploads/report.txt",)
    assert assistant.add_documents([second]).added == ("uploads/report-2.txt",)
    assert "3 bridges" in (assistant.settings.uploads_path / "report.txt").read_text()
    assert safe_name("../../etc/passwd.txt") == "passwd.txt"
    assert safe_name("..\\..\\win.ini.md") == "win.ini.md"
    assert safe_name(".hidden.txt") == "hidden.txt"
    assert safe_name("a\x00b\u202e.txt") == "a_b_.txt"


def test_removing_an_upload_deletes_the_copy_and_its_passages(library):
    assistant, outside = library
    added = assistant.add_documents([write(outside / "orchard.txt", "Orchard\n\nThe orchard grows 57 apples.\n")])
    assistant.remove_document(added.added[0])
    assert "uploads/orchard.txt" not in {d.source for d in assistant.documents()}
    assert not (assistant.settings.uploads_path / "orchard.txt").exists()
    assert all(c.source != "uploads/orchard.txt" for c in assistant.store.iter_chunks())
    assert "uploads/orchard.txt" not in sources_of(assistant.answer("How many apples does the orchard grow?"))
    with pytest.raises(DocumentError, match="no indexed document"):
        assistant.remove_document("uploads/orchard.txt")


def test_a_removed_corpus_file_stays_out_until_ingested_by_name(library):
    assistant, _ = library
    assistant.remove_document("corpus/base.txt")
    assert (assistant.settings.corpus_dir / "base.txt").exists()  # the person's own file is kept
    assert not assistant.is_stale()
    report = assistant.ensure_index()  # the index is empty, so it looks: and finds nothing to do
    assert report is None or report.files_indexed == 0
    assert assistant.store.count() == 0
    report = assistant.ingest([assistant.settings.corpus_dir / "base.txt"], progress=False)
    assert report.files_indexed == 1 and "corpus/base.txt" in assistant.store.manifest()


@pytest.mark.model
def test_readers_keep_answering_while_a_document_is_added(hash_settings, tmp_path, real_embedder):
    """Two chat sessions ask while a third adds a long document: the real model and store."""
    write(hash_settings.corpus_dir / "base.txt", "Base\n\nThe harbor has 12 cranes.\n")
    assistant = Assistant(hash_settings, embedder=real_embedder)
    assistant.ensure_index(progress=False)
    outside = tmp_path / "incoming"
    lines = (f"In week {i} the gull colony on stack {i % 7} held {40 + i} nests." for i in range(400))
    big = write(outside / "long.txt", "Gull Colony Log\n\n" + "\n\n".join(lines))
    errors: list[BaseException] = []
    answered = []

    def ask() -> None:
        while not done.is_set():
            try:
                answered.append(assistant.answer("How many cranes does the harbor have?"))
            except BaseException as exc:  # any failure is the finding
                errors.append(exc)
                return

    done = threading.Event()
    readers = [threading.Thread(target=ask) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        assistant.add_documents([big])
    finally:
        done.set()
        for reader in readers:
            reader.join()
    assert not errors and answered and all("12 cranes" in a.text for a in answered)
    chunks = list(assistant.store.iter_chunks())
    assert len({c.id for c in chunks}) == len(chunks) == assistant.store.count()
    assert len({(c.source, c.text) for c in chunks}) == len(chunks)  # no passage stored twice
    assert assistant.store.sentence_count() == sum(len(c.sentences) for c in chunks)


def hostile_files(folder: Path) -> dict[str, Path]:
    import zlib

    from pypdf import PdfReader, PdfWriter

    folder.mkdir(parents=True, exist_ok=True)
    text = b"BT /F1 12 Tf 72 720 Td (The harbor has 40 tugs.) Tj ET"
    files = {
        "script.pdf": page(text, b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >>"),
        "bomb.pdf": page(
            zlib.compress(b"BT /F1 12 Tf 72 720 Td (" + b"tugs " * 2_000_000 + b") Tj ET", 9),
            stream_extra=b"/Filter /FlateDecode ",
        ),
        "script.html": b"<html><body><p>The harbor has 40 tugs.</p><script>alert(1)</script></body></html>",
        "handler.html": b'<html><body><p>The harbor has 40 tugs.</p><img src=x onerror="alert(1)"></body></html>',
        "link.html": b'<html><body><p>The harbor has 40 tugs. <a href="javascript:alert(1)">more</a></p></body></html>',
        "binary.txt": b"\x00\x01\x02 not text",
        "latin1.md": "Caf\xe9 has 40 tugs.".encode("latin-1"),
        "notes.exe": b"MZ\x90\x00",
    }
    paths = {name: folder / name for name in files}
    for name, body in files.items():
        paths[name].write_bytes(body)
    plain = folder / "plain.pdf"
    plain.write_bytes(page(text))
    writer = PdfWriter(clone_from=PdfReader(str(plain)))
    writer.encrypt("secret")
    with (folder / "locked.pdf").open("wb") as handle:
        writer.write(handle)
    plain.unlink()
    paths["locked.pdf"] = folder / "locked.pdf"
    return paths


def test_hostile_uploads_are_refused_with_a_reason_and_change_nothing(library, tmp_path):
    from tests.conftest import RELIABILITY

    assistant, _ = library
    files = hostile_files(tmp_path / "hostile")
    before = (assistant.store.count(), assistant.store.manifest(), assistant.store.sentence_count())
    added = assistant.add_documents(list(files.values()))
    reasons = dict(added.rejected)
    RELIABILITY["hostile uploads tried"] += len(files)
    after = (assistant.store.count(), assistant.store.manifest(), assistant.store.sentence_count())
    changed = before != after or (
        assistant.settings.uploads_path.exists() and any(assistant.settings.uploads_path.iterdir())
    )
    RELIABILITY["rejected uploads that changed the index"] += int(changed) * len(files)
    assert not added.added and set(reasons) == set(files)
    assert "active content" in reasons["script.pdf"] and "encrypted" in reasons["locked.pdf"]
    assert "decompression bomb" in reasons["bomb.pdf"] or "unreadable" in reasons["bomb.pdf"]
    assert "<script>" in reasons["script.html"] and "onerror" in reasons["handler.html"]
    assert "javascript:" in reasons["link.html"] and "binary" in reasons["binary.txt"]
    assert "UTF-8" in reasons["latin1.md"] and "format" in reasons["notes.exe"]
    assert not changed
    big = tmp_path / "big.txt"
    big.write_text("Big\n\n" + "The harbor has 40 tugs. " * 100, encoding="utf-8")
    small = Assistant(assistant.settings.with_(max_file_mb=0.001), embedder=assistant.embedder)
    assert "over the" in dict(small.add_documents([big]).rejected)["big.txt"]
    RELIABILITY["hostile uploads tried"] += 1
