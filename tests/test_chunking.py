from rag.chunking import chunk_document
from rag.corpus import load
from tests.conftest import FACT_SHEET


def test_every_sentence_span_is_verbatim_source_text():
    doc = load(FACT_SHEET, "corpus/x.txt")
    for chunk in chunk_document(doc):
        assert chunk.heading
        for sentence in chunk.sentences:
            assert sentence.raw == doc.text[sentence.start : sentence.end]


def test_the_188_sentence_is_one_citable_span():
    doc = load(FACT_SHEET, "corpus/x.txt")
    sentences = [s for c in chunk_document(doc) for s in c.sentences]
    hits = [s for s in sentences if "188 today" in s.raw]
    assert len(hits) == 1
    assert hits[0].raw.startswith("The TIP Report has grown from covering 154 countries")


def test_chunk_ids_are_stable_and_unique():
    doc = load(FACT_SHEET, "corpus/x.txt")
    first = [c.id for c in chunk_document(doc)]
    second = [c.id for c in chunk_document(doc)]
    assert first == second
    assert len(set(first)) == len(first)


def test_long_paragraphs_are_split_at_sentence_boundaries():
    doc = load(FACT_SHEET, "corpus/x.txt")
    chunks = chunk_document(doc, max_chars=200)
    assert max(len(c.text) for c in chunks) < 700  # single sentences may exceed the target
    assert all(c.sentences for c in chunks)
