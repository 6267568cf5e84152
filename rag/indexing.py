"""Ingestion: find files, skip unchanged ones by content hash, chunk, embed, upsert.

One writer at a time (a file lock in the data folder); new chunks are written before
the old ones of a changed file are removed, so readers keep getting answers while a
file is re-indexed, and the manifest entry is written last as the commit record.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.chunking import chunk_document
from rag.corpus import LoadError, discover, display_path, file_sha256, load
from rag.embedding import Embedder
from rag.injection import Detector, load_detector
from rag.store import ChromaStore
from rag.text import acronym_definitions, acronym_expander
from rag.types import Chunk

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestReport:
    files_seen: int = 0
    files_indexed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    chunks_written: int = 0
    skipped: tuple[tuple[str, str], ...] = ()  # (path, reason)
    vectors: int = 0  # chunks in the index afterwards
    seconds: float = 0.0
    warnings: tuple[str, ...] = field(default_factory=tuple)


# A hook called at the named points of an ingest, with the chunks written so far. It exists
# so crash tests can stop the process at an exact moment (tests/scripts/ingest_worker.py);
# in use it does nothing.
Checkpoint = Callable[[str, int], None]
CHECKPOINTS = ("locked", "chunks-written", "between-collections", "before-manifest", "after-manifest")


def no_checkpoint(point: str, written: int) -> None:
    pass


Roots = Path | Sequence[Path]  # the folders sources are named relative to (corpus, uploads)


def _roots(roots: Roots) -> tuple[Path, ...]:
    return (roots,) if isinstance(roots, Path) else tuple(roots)


def stale_files(store: ChromaStore, paths: Iterable[Path], roots: Roots) -> list[Path]:
    """Files whose content is not (or not completely) in the index."""
    manifest, removed = store.manifest(), store.removed()
    named = _roots(roots)
    stale = []
    for path in discover(paths):
        source = display_path(path, *named)
        if source not in removed and manifest.get(source) != fingerprint(path):
            stale.append(path)
    return stale


def removed_sources(store: ChromaStore, paths: Sequence[Path], roots: Roots) -> list[str]:
    """Indexed sources under the given folders whose files are gone."""
    named = _roots(roots)
    present = {display_path(p, *named) for p in discover(paths)}
    folders = [display_path(p, *named) for p in paths if p.is_dir()]
    return [
        source
        for source in store.manifest()
        if source not in present and any(source == r or source.startswith(r.rstrip("/") + "/") for r in folders)
    ]


# What is embedded and stored besides the file's bytes: bumping it re-indexes every file on
# the next ingest (2: defined acronyms are spelled out in the embedded text; 3: a chunk's
# vector is derived from its sentences' vectors and its heading's, so each text is embedded
# once; 4: sentences that read as instructions to an assistant are stored flagged).
EMBEDDED_TEXT_VERSION = 4
# Sentences embedded in one call: across files, so many small files still make full batches
# (sentence-transformers sorts a call's texts by length, so a big call also pads less).
ENCODE_BATCH = 1024
HEADING_WEIGHT = 0.5  # a chunk's heading, beside the mean of its sentences (see mean_vector)


def fingerprint(path: Path) -> str:
    """The manifest entry of a file: its content hash and how its text was embedded."""
    return f"{file_sha256(path)}/v{EMBEDDED_TEXT_VERSION}"


@dataclass
class _Pending:
    """A loaded file waiting for its vectors."""

    path: Path
    source: str
    stamp: str
    chunks: list[Chunk]
    sentences: list[str]  # what is embedded, acronyms spelled out, in chunk order
    headings: list[str]  # the distinct headings, spelled out the same way
    spelled: Callable[[str], str]


Progress = Callable[[int, int], None]  # (sentences embedded so far, sentences in all)


def ingest(
    store: ChromaStore,
    embedder: Embedder,
    paths: Sequence[Path],
    roots: Roots,
    *,
    chunk_chars: int = 900,
    progress: bool | None = None,
    on_progress: Progress | None = None,
    max_file_bytes: int | None = None,
    checkpoint: Checkpoint = no_checkpoint,
    detector: Detector | None = None,
) -> IngestReport:
    """Bring the index up to date with the files under ``paths``.

    Every file is loaded and chunked first (cheap), so the work is known; then the sentences
    of as many files as fill a batch are embedded together and each file is written in turn.
    ``on_progress`` hears the embedding work as it goes (the chat's upload bar)."""
    started = time.perf_counter()
    named = _roots(roots)
    files = discover(paths)
    detector = detector or load_detector()
    manifest = store.manifest()
    # A removed document stays out until it is named on its own (factsheet-qa ingest FILE).
    removed, named_files = store.removed(), {p.resolve() for p in paths if p.is_file()}
    readmitted = {display_path(p, *named) for p in named_files} & removed
    if readmitted:
        store.set_removed(removed - readmitted)
        removed -= readmitted
    skipped: list[tuple[str, str]] = []
    pending: list[_Pending] = []
    unchanged = 0
    for path in files:
        source, stamp = display_path(path, *named), fingerprint(path)
        if manifest.get(source) == stamp or source in removed:
            unchanged += 1
            continue
        try:
            document = load(path, source) if max_file_bytes is None else load(path, source, max_file_bytes)
            chunks = flag_planted(chunk_document(document, chunk_chars), detector)
        except (LoadError, OSError) as exc:
            log.warning("skipped %s: %s", path, exc)
            skipped.append((str(path), str(exc)))
            continue
        spelled = acronym_expander(acronym_definitions(" ".join(c.text for c in chunks)))
        sentences = [spelled(s.text) for c in chunks for s in c.sentences]
        headings = sorted({spelled(c.heading) for c in chunks if c.heading})
        pending.append(_Pending(path, source, stamp, chunks, sentences, headings, spelled))
    total = sum(len(p.sentences) + len(p.headings) for p in pending)
    bar = _progress_bar(total, progress)
    done = written = indexed = 0
    for group in _groups(pending, ENCODE_BATCH):
        texts = [t for p in group for t in (*p.sentences, *p.headings)]
        vectors = embedder.embed_documents(texts) if texts else np.zeros((0, embedder.dimension), np.float32)
        offset = 0
        for item in group:
            n = len(item.sentences) + len(item.headings)
            sentence_vectors = vectors[offset : offset + len(item.sentences)]
            heading_vectors = dict(zip(item.headings, vectors[offset + len(item.sentences) : offset + n], strict=True))
            offset += n
            chunk_vectors = _chunk_vectors(item, sentence_vectors, heading_vectors, embedder)
            written = _write_file(store, item, chunk_vectors, sentence_vectors, written, checkpoint)
            manifest[item.source] = item.stamp
            checkpoint("before-manifest", written)
            store.set_manifest(manifest)
            checkpoint("after-manifest", written)
            indexed += 1
            done += n
            bar.update(n)
            if on_progress is not None:
                on_progress(done, total)
    bar.close()
    gone = removed_sources(store, paths, named)
    for source in gone:
        store.delete_source(source)
        manifest.pop(source, None)
    if gone:
        store.set_manifest(manifest)
    return IngestReport(
        files_seen=len(files),
        files_indexed=indexed,
        files_unchanged=unchanged,
        files_removed=len(gone),
        chunks_written=written,
        skipped=tuple(skipped),
        vectors=store.count(),
        seconds=time.perf_counter() - started,
    )


def flag_planted(chunks: list[Chunk], detector: Detector) -> list[Chunk]:
    """Each chunk with its sentences that read as instructions to an assistant flagged."""
    from dataclasses import replace

    flagged = []
    for chunk in chunks:
        found = detector.flags([s.raw for s in chunk.sentences])
        flags = tuple((i, f.reason) for i, f in enumerate(found) if f is not None)
        flagged.append(replace(chunk, flags=flags) if flags else chunk)
    count = sum(len(c.flags) for c in flagged)
    if count:  # once per document, not per chunk
        log.warning("%s: %d sentence(s) flagged as instructions to an assistant", chunks[0].source, count)
    return flagged


def _groups(pending: list[_Pending], size: int) -> Iterable[list[_Pending]]:
    """Whole files, as many as fill about ``size`` texts to embed."""
    group: list[_Pending] = []
    count = 0
    for item in pending:
        group.append(item)
        count += len(item.sentences) + len(item.headings)
        if count >= size:
            yield group
            group, count = [], 0
    if group:
        yield group


def mean_vector(
    sentence_vectors: NDArray[np.float32], heading_vector: NDArray[np.float32] | None
) -> NDArray[np.float32]:
    """A chunk's vector from its sentences' (their mean) and its heading's, unit length.

    MiniLM mean-pools its tokens, so the mean of a passage's sentence vectors lies close to the
    passage's own vector; embedding the passage again would double the ingest's work."""
    vector = sentence_vectors.mean(axis=0)
    if heading_vector is not None:
        vector = vector + HEADING_WEIGHT * heading_vector
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm else vector).astype(np.float32)


def _chunk_vectors(
    item: _Pending,
    sentence_vectors: NDArray[np.float32],
    heading_vectors: dict[str, NDArray[np.float32]],
    embedder: Embedder,
) -> NDArray[np.float32]:
    spelled = item.spelled
    rows = []
    start = 0
    for chunk in item.chunks:
        mine = sentence_vectors[start : start + len(chunk.sentences)]
        start += len(chunk.sentences)
        if len(mine) == 0:  # no sentences (should not happen): embed the text itself
            mine = embedder.embed_documents([spelled(chunk.embedding_text())])
        rows.append(mean_vector(mine, heading_vectors.get(spelled(chunk.heading)) if chunk.heading else None))
    return np.stack(rows) if rows else np.zeros((0, embedder.dimension), dtype=np.float32)


def _write_file(
    store: ChromaStore,
    item: _Pending,
    chunk_vectors: NDArray[np.float32],
    sentence_vectors: NDArray[np.float32],
    written: int,
    checkpoint: Checkpoint,
) -> int:
    """Write one file's chunks and sentences; returns the chunks written in this ingest so far."""
    source, chunks = item.source, item.chunks
    old_ids = store.chunk_ids(source)
    sentence_start = 0
    for start in range(0, len(chunks), 256):
        batch = chunks[start : start + 256]
        count = sum(len(c.sentences) for c in batch)
        store.upsert_chunks(batch, chunk_vectors[start : start + len(batch)])
        checkpoint("between-collections", written + len(batch))
        store.upsert_sentences(batch, sentence_vectors[sentence_start : sentence_start + count])
        sentence_start += count
        written += len(batch)
        checkpoint("chunks-written", written)  # this batch is in both collections
    # The file changed: drop what is no longer in it, after the new chunks landed. Sentences
    # go first and by source, so a crash between the two deletes leaves no orphan behind.
    current = sorted({c.id for c in chunks})
    if old_ids - set(current) or not current:
        store.sentences.delete(where={"$and": [{"source": source}, {"chunk_id": {"$nin": current or [""]}}]})
        store.chunks.delete(ids=sorted(old_ids - set(current)))
    return written


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, progress: bool | None) -> Any:
    if progress is False or total == 0:
        return _NoBar()
    from tqdm import tqdm

    # None: show the bar only on a terminal, so logs and CI stay clean.
    return tqdm(
        total=total, unit="sentence", desc="indexing", disable=None if progress is None else False, file=sys.stderr
    )
