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
from typing import Any

import numpy as np

from rag.chunking import chunk_document
from rag.corpus import LoadError, discover, display_path, file_sha256, load
from rag.embedding import Embedder
from rag.store import ChromaStore
from rag.text import acronym_definitions, acronym_expander
from rag.types import Chunk

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


def stale_files(store: ChromaStore, paths: Iterable[Path], corpus_dir: Path) -> list[Path]:
    """Files whose content is not (or not completely) in the index."""
    manifest = store.manifest()
    return [p for p in discover(paths) if manifest.get(display_path(p, corpus_dir)) != fingerprint(p)]


def removed_sources(store: ChromaStore, paths: Sequence[Path], corpus_dir: Path) -> list[str]:
    """Indexed sources under the given folders whose files are gone."""
    present = {display_path(p, corpus_dir) for p in discover(paths)}
    roots = [display_path(p, corpus_dir) for p in paths if p.is_dir()]
    return [
        source
        for source in store.manifest()
        if source not in present and any(source == r or source.startswith(r.rstrip("/") + "/") for r in roots)
    ]


# What is embedded besides the file's bytes: bumping it re-embeds every file on the next
# ingest (2: defined acronyms are spelled out in the embedded text).
EMBEDDED_TEXT_VERSION = 2


def fingerprint(path: Path) -> str:
    """The manifest entry of a file: its content hash and how its text was embedded."""
    return f"{file_sha256(path)}/v{EMBEDDED_TEXT_VERSION}"


def ingest(
    store: ChromaStore,
    embedder: Embedder,
    paths: Sequence[Path],
    corpus_dir: Path,
    *,
    chunk_chars: int = 900,
    progress: bool | None = None,
    max_file_bytes: int | None = None,
    checkpoint: Checkpoint = no_checkpoint,
) -> IngestReport:
    """Bring the index up to date with the files under ``paths``."""
    started = time.perf_counter()
    files = discover(paths)
    manifest = store.manifest()
    todo: list[tuple[Path, str, str]] = []
    unchanged = 0
    for path in files:
        source, stamp = display_path(path, corpus_dir), fingerprint(path)
        if manifest.get(source) == stamp:
            unchanged += 1
        else:
            todo.append((path, source, stamp))
    skipped: list[tuple[str, str]] = []
    written = indexed = 0
    bar = _progress_bar(len(todo), progress)
    for path, source, stamp in todo:
        try:
            document = load(path, source) if max_file_bytes is None else load(path, source, max_file_bytes)
            chunks = chunk_document(document, chunk_chars)
        except (LoadError, OSError) as exc:
            log.warning("skipped %s: %s", path, exc)
            skipped.append((str(path), str(exc)))
            bar.update(1)
            continue
        written = _write_file(store, embedder, source, chunks, written, checkpoint)
        manifest[source] = stamp
        checkpoint("before-manifest", written)
        store.set_manifest(manifest)
        checkpoint("after-manifest", written)
        indexed += 1
        bar.update(1)
    bar.close()
    gone = removed_sources(store, paths, corpus_dir)
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


def _write_file(
    store: ChromaStore, embedder: Embedder, source: str, chunks: list[Chunk], written: int, checkpoint: Checkpoint
) -> int:
    """Write one file's chunks and sentences; returns the chunks written in this ingest so far."""
    old_ids = store.chunk_ids(source)
    spelled = acronym_expander(acronym_definitions(" ".join(c.text for c in chunks)))
    for batch in _batches(chunks, 256):
        chunk_vectors = embedder.embed_documents([spelled(c.embedding_text()) for c in batch])
        sentence_texts = [spelled(s.text) for c in batch for s in c.sentences]
        sentence_vectors = (
            embedder.embed_documents(sentence_texts)
            if sentence_texts
            else np.zeros((0, embedder.dimension), dtype=np.float32)
        )
        store.upsert_chunks(batch, chunk_vectors)
        checkpoint("between-collections", written + len(batch))
        store.upsert_sentences(batch, sentence_vectors)
        written += len(batch)
        checkpoint("chunks-written", written)  # this batch is in both collections
    # The file changed: drop what is no longer in it, after the new chunks landed. Sentences
    # go first and by source, so a crash between the two deletes leaves no orphan behind.
    current = sorted({c.id for c in chunks})
    if old_ids - set(current) or not current:
        store.sentences.delete(where={"$and": [{"source": source}, {"chunk_id": {"$nin": current or [""]}}]})
        store.chunks.delete(ids=sorted(old_ids - set(current)))
    return written


def _batches(items: list[Chunk], size: int) -> Iterable[list[Chunk]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
    return tqdm(total=total, unit="file", desc="indexing", disable=None if progress is None else False, file=sys.stderr)
