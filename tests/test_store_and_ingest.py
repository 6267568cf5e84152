"""Ingestion into a real on-disk Chroma store, with the fast hash embedder."""

from pathlib import Path

import pytest

from rag.assistant import Assistant
from rag.embedding import HashEmbedder
from rag.store import ChromaStore, StoreError, make_client


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def make(settings, dimension: int = 64) -> Assistant:
    return Assistant(settings, embedder=HashEmbedder(dimension))


def test_ingesting_twice_keeps_the_same_vectors(hash_settings):
    write(hash_settings.corpus_dir / "a.txt", "Alpha\n\nThe office trained 40 officers in 2019. It opened 2 posts.\n")
    assistant = make(hash_settings)
    first = assistant.ingest(progress=False)
    second = assistant.ingest(progress=False)
    assert first.files_indexed == 1 and first.vectors == 1
    assert second.files_indexed == 0 and second.files_unchanged == 1
    assert assistant.store.count() == first.vectors
    assert assistant.store.sentence_count() == 2


def test_rebuild_gives_the_same_index(hash_settings):
    write(hash_settings.corpus_dir / "a.txt", "Alpha\n\nOne sentence. Two sentences.\n\nA second paragraph here.\n")
    assistant = make(hash_settings)
    before = assistant.ingest(progress=False).vectors
    after = assistant.ingest(rebuild=True, progress=False).vectors
    assert before == after == 2


def test_a_changed_file_is_reindexed_and_old_chunks_removed(hash_settings):
    path = write(hash_settings.corpus_dir / "a.txt", "Alpha\n\nThe fund gave $5 million.\n\nIt ran 3 pilots.\n")
    assistant = make(hash_settings)
    assistant.ingest(progress=False)
    assert not assistant.is_stale()
    write(path, "Alpha\n\nThe fund gave $7 million.\n")
    assert assistant.is_stale()
    report = assistant.ingest(progress=False)
    assert report.files_indexed == 1
    texts = [c.text for c in assistant.store.iter_chunks()]
    assert texts == ["The fund gave $7 million."]


def test_a_deleted_file_is_removed_from_the_index(hash_settings):
    write(hash_settings.corpus_dir / "a.txt", "Alpha\n\nKeep this sentence.\n")
    gone = write(hash_settings.corpus_dir / "b.txt", "Beta\n\nDrop this sentence.\n")
    assistant = make(hash_settings)
    assistant.ingest(progress=False)
    gone.unlink()
    report = assistant.ingest(progress=False)
    assert report.files_removed == 1
    assert [c.text for c in assistant.store.iter_chunks()] == ["Keep this sentence."]


def test_bad_files_are_skipped_and_the_rest_indexed(hash_settings):
    write(hash_settings.corpus_dir / "good.txt", "Good\n\nA fine sentence.\n")
    (hash_settings.corpus_dir / "bad.txt").write_bytes(b"\xff\xfe\x00\x00binary")
    (hash_settings.corpus_dir / "empty.md").write_bytes(b"")
    report = make(hash_settings).ingest(progress=False)
    assert report.files_indexed == 1
    assert sorted(Path(p).name for p, _ in report.skipped) == ["bad.txt", "empty.md"]


def test_chunks_round_trip_through_chroma_with_verbatim_sentences(hash_settings):
    write(
        hash_settings.corpus_dir / "q.txt",
        "Quotes\n\nThe State Department\u2019s \u201coffice\u201d works. It helps.\n",
    )
    assistant = make(hash_settings)
    assistant.ingest(progress=False)
    (chunk,) = list(assistant.store.iter_chunks())
    assert chunk.text == 'The State Department\'s "office" works. It helps.'
    assert chunk.sentences[0].raw == "The State Department\u2019s \u201coffice\u201d works."
    assert chunk.source == "corpus/q.txt"


def test_a_different_model_gets_its_own_collection(hash_settings):
    write(hash_settings.corpus_dir / "a.txt", "Alpha\n\nA sentence.\n")
    make(hash_settings, 64).ingest(progress=False)
    other = make(hash_settings, 32)
    assert other.store.count() == 0  # a new collection, never a dimension error
    other.ingest(progress=False)
    assert other.store.count() == 1


def test_a_collection_built_by_another_model_gives_a_clear_message(hash_settings):
    client = make_client(hash_settings.data_dir, None)
    store = ChromaStore(client, "x", HashEmbedder(16))
    store.chunks.modify(metadata={**store.chunks.metadata, "model": "some-other-model"})
    with pytest.raises(StoreError, match="ingest --rebuild"):
        ChromaStore(client, "x", HashEmbedder(16))


def test_an_unreachable_chroma_server_fails_fast_with_a_message(tmp_path):
    with pytest.raises(StoreError, match="cannot reach the Chroma server"):
        make_client(tmp_path, "http://127.0.0.1:9")  # nothing listens on the discard port


def test_search_sentences_ranks_chunks_by_their_nearest_sentence(hash_settings):
    """A paragraph about several things is found by the one sentence that matches."""
    write(
        hash_settings.corpus_dir / "mixed.txt",
        "Mixed\n\nThe harbour opened in 1901. Fishing boats use it daily. "
        "The lighthouse keeper retired last spring. Tourists visit the old pier. "
        "Ferries leave for the islands at noon. Cargo ships unload grain and timber. "
        "The market sells fresh cod on Fridays. Gulls nest on the harbour wall.\n\n"
        "The lighthouse was painted red and white.\n\n"
        "The old lighthouse keeper retired in spring last year.\n",
    )
    assistant = make(hash_settings)
    assistant.ingest(progress=False)
    vector = assistant.embedder.embed_queries(["The lighthouse keeper retired last spring."])[0]
    ranked = assistant.store.search_sentences(vector, 50)
    (mixed,) = [c.id for c in assistant.store.iter_chunks() if c.text.startswith("The harbour")]
    assert assistant.store.search(vector, 3)[0].chunk_id != mixed  # its averaged vector hides it
    assert ranked[0] == mixed
    assert len(ranked) == len(set(ranked)) == assistant.store.count()  # each chunk once, k above the count is fine


def test_a_new_way_of_embedding_re_embeds_unchanged_files_once(hash_settings, monkeypatch):
    import rag.indexing

    write(hash_settings.corpus_dir / "a.txt", "Alpha\n\nThe office trained 40 officers in 2019.\n")
    assistant = make(hash_settings)
    assert assistant.ingest(progress=False).files_indexed == 1
    monkeypatch.setattr(rag.indexing, "EMBEDDED_TEXT_VERSION", rag.indexing.EMBEDDED_TEXT_VERSION + 1)
    again = assistant.ingest(progress=False)
    assert again.files_indexed == 1 and again.vectors == 1  # re-embedded in place, not duplicated
    assert assistant.ingest(progress=False).files_unchanged == 1


def test_each_sentence_is_embedded_once_and_chunk_vectors_derive_from_them(hash_settings):
    """The ingest embeds each distinct sentence once, in calls across files, never a chunk's
    text or heading; a chunk's stored vector is its sentences' mean."""
    import numpy as np

    from rag.indexing import mean_vector

    class Counting(HashEmbedder):
        def __init__(self) -> None:
            super().__init__(64)
            self.calls: list[int] = []

        def _encode(self, texts, *, query):  # type: ignore[no-untyped-def]
            self.calls.append(len(texts))
            return super()._encode(texts, query=query)

    for n in range(3):
        write(
            hash_settings.corpus_dir / f"f{n}.md",
            f"# Doc {n}\n\n## Part\n\nOne {n} fact. Two {n} facts.\n\nThree {n}.\n",
        )
    embedder = Counting()
    assistant = Assistant(hash_settings, embedder=embedder)
    assistant.ingest(progress=False)
    chunks = list(assistant.store.iter_chunks())
    distinct = {s.text for c in chunks for s in c.sentences}
    assert len(distinct) == sum(len(c.sentences) for c in chunks) == 9
    assert embedder.calls == [9]  # one call for three files' sentences, no headings
    stored = assistant.store.chunks.get(ids=[chunks[0].id], include=["embeddings"])["embeddings"][0]
    mine = assistant.store.sentence_vectors([chunks[0]])
    expected = mean_vector(np.stack([mine[f"{chunks[0].id}:{i}"] for i in range(len(chunks[0].sentences))]))
    assert np.allclose(stored, expected, atol=1e-6)


def test_embed_by_length_embeds_each_distinct_text_once_and_keeps_order(monkeypatch):
    """Repeated boilerplate is embedded once, texts go to the model longest first in calls of
    ENCODE_STEP, and every input row gets its own text's vector."""
    import numpy as np

    import rag.indexing
    from rag.indexing import embed_by_length

    class Recording(HashEmbedder):
        def __init__(self) -> None:
            super().__init__(32)
            self.seen: list[list[str]] = []

        def _encode(self, texts, *, query):  # type: ignore[no-untyped-def]
            self.seen.append(list(texts))
            return super()._encode(texts, query=query)

    monkeypatch.setattr(rag.indexing, "ENCODE_STEP", 3)
    texts = ["a b c d", "Copyright.", "x", "Copyright.", "longer sentence here", "x", "mid one"]
    embedder = Recording()
    heard: list[int] = []
    vectors = embed_by_length(embedder, texts, heard.append)
    sent = [t for call in embedder.seen for t in call]
    assert sorted(sent) == sorted(set(texts))  # each distinct text once
    assert [len(call) for call in embedder.seen] == [3, 2]
    assert [len(t) for t in sent] == sorted((len(t) for t in sent), reverse=True)
    assert sum(heard) == len(texts)
    alone = HashEmbedder(32)
    assert np.allclose(vectors, np.stack([alone.embed_documents([t])[0] for t in texts]), atol=1e-6)
    assert embed_by_length(embedder, []).shape == (0, 32)


def test_the_lexical_index_is_saved_and_the_next_start_loads_it(hash_settings, monkeypatch):
    """A second process over the same store loads the saved BM25 index instead of reading
    every chunk, and after the writer's next ingest loads the new one; the old file is dropped."""
    import rag.assistant

    monkeypatch.setattr(rag.assistant, "REFRESH_SECONDS", 0.0)  # the reader sees the new manifest at once
    write(hash_settings.corpus_dir / "a.md", "# A\n\nThe office trained 40 officers in 2019.\n")
    first = make(hash_settings)
    first.ingest(progress=False)
    built = first.lexical().search("officers trained", 3)
    saved = list((hash_settings.data_dir / "lexical").glob("*/*.npz"))
    assert len(saved) == 1

    second = make(hash_settings)

    def no_reading():  # type: ignore[no-untyped-def]
        raise AssertionError("the saved index should have been loaded")

    second.store.iter_chunks = no_reading  # type: ignore[method-assign]
    assert second.lexical().search("officers trained", 3) == built

    write(hash_settings.corpus_dir / "b.md", "# B\n\nThe clinic opened 3 shelters in 2021.\n")
    first.ingest(progress=False)  # the writer saves the new index as part of its ingest
    assert second.lexical().search("shelters", 3)  # so the reader loads it, never reading the chunks
    assert second.lexical().search("shelters", 3) == first.lexical().search("shelters", 3)
    now = list((hash_settings.data_dir / "lexical").glob("*/*.npz"))
    assert len(now) == 1 and now != saved
    saved[0].parent.joinpath("junk.npz.partial").write_bytes(b"x")  # a crashed save is ignored
    assert make(hash_settings).lexical().search("shelters", 3) == first.lexical().search("shelters", 3)
