"""The multi-document QA data (data/multidoc/, evals/datasets/multidoc.jsonl): real
documents nobody on the project wrote, items split by document, evidence verbatim in
what the loader extracts, the test documents' items frozen, the reserved sources unused."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from evals.runner import DATASETS, load_suite, split_digest, suite_corpus
from rag.corpus import load
from tests.conftest import ROOT

DATA = ROOT / "data" / "multidoc"
SOURCES = json.loads((DATA / "sources.json").read_text(encoding="utf-8"))
BY_ID = {s["id"]: s for s in SOURCES}
RESERVED = ("debian-history", "python3.11-doc", "/usr/share/doc/python3.11")


def _text(source: dict[str, str]) -> str:
    return "\n\n".join(b.text for b in load(DATA / "docs" / source["file"], source["file"]).blocks)


def test_documents_are_real_varied_and_recorded():
    assert len(SOURCES) >= 40 and len({s["package"] for s in SOURCES}) >= 6
    formats = Counter(s["format"] for s in SOURCES)
    assert set(formats) == {"txt", "md", "html", "pdf"}
    for source in SOURCES:
        assert (DATA / "docs" / source["file"]).is_file(), source["id"]
        for field in ("package", "version", "original_path", "licence", "split"):
            assert source[field], (source["id"], field)
        assert not any(r in f"{source['package']} {source['original_path']}" for r in RESERVED), source["id"]
    assert Counter(s["split"] for s in SOURCES).keys() == {"train", "dev", "test"}


@pytest.mark.parametrize("source", SOURCES, ids=[s["id"] for s in SOURCES])
def test_text_renderings_are_what_the_loader_extracts(source):
    """The writers read text/<id>.txt; it must still be what the index holds."""
    assert (DATA / "text" / f"{source['id']}.txt").read_text(encoding="utf-8") == _text(source)


def test_the_suite_points_at_the_documents():
    assert suite_corpus("multidoc") == (DATA / "docs").resolve()


def test_items_are_split_by_document_and_evidence_is_verbatim():
    items = load_suite("multidoc")
    texts = {i: (DATA / "text" / f"{i}.txt").read_text(encoding="utf-8") for i in BY_ID}
    for item in items:
        assert item.doc in BY_ID, item.id
        assert item.split == BY_ID[item.doc]["split"], item.id  # a document's items share its split
        assert item.abstain == (not item.answers), item.id
        assert item.abstain or item.evidence in texts[item.doc], f"{item.id}: evidence not verbatim"
        assert not item.history or item.history[0]["role"] == "user"
        quoted = " ".join([item.question, item.evidence, *item.answers])
        assert "docs.python.org" not in quoted, f"{item.id}: quotes a link into reserved documentation"
    assert len({i.id for i in items}) == len(items)


def test_the_mix_meets_the_spec():
    items = load_suite("multidoc")
    assert len(items) >= 3000
    assert sum(i.abstain for i in items) / len(items) >= 0.15
    assert sum(bool(i.history) for i in items) / len(items) >= 0.10
    assert len({i.doc for i in items}) >= 40


def test_the_test_documents_items_are_frozen():
    """Written before any tuning, never read by whoever tunes: a test fails if they change."""
    assert split_digest("multidoc") == (DATASETS / "multidoc.test.sha256").read_text().split()[0]
    assert {i.split for i in load_suite("multidoc")} == {"train", "dev", "test"}


@pytest.mark.parametrize("source", SOURCES, ids=[s["id"] for s in SOURCES])
def test_no_document_links_into_reserved_documentation(source):
    """Python's documentation (python3.11-doc) is reserved: links into it are reduced to their text."""
    for path in (DATA / "docs" / source["file"], DATA / "text" / f"{source['id']}.txt"):
        if path.suffix != ".pdf":
            assert "docs.python.org" not in path.read_text(encoding="utf-8").lower(), path.name
