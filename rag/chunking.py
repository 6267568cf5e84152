"""Structure-aware chunking: one chunk per paragraph / bullet, long ones split at
sentence boundaries. Each chunk keeps its heading and the source span of every sentence."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from rag.text import normalise, split_sentences
from rag.types import Block, Chunk, Document, Sentence


def chunk_document(doc: Document, max_chars: int = 900) -> list[Chunk]:
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for block in doc.blocks:
        for sentences in _windows(_block_sentences(doc.text, block), max_chars):
            text = " ".join(s.text for s in sentences)
            key = f"{doc.source}\n{block.heading}\n{text}"
            n = seen.get(key, 0)
            seen[key] = n + 1  # identical text twice in one file still gets two ids
            chunks.append(
                Chunk(
                    id=_chunk_id(key, n),
                    source=doc.source,
                    title=doc.title,
                    heading=block.heading,
                    text=text,
                    sentences=tuple(sentences),
                    ordinal=len(chunks),
                )
            )
    return chunks


def _chunk_id(key: str, n: int) -> str:
    return hashlib.sha256(f"{key}\n{n}".encode()).hexdigest()[:32]


def _block_sentences(source_text: str, block: Block) -> list[Sentence]:
    """Sentences of a block, with spans in the source text."""
    raw = normalise(source_text[block.start : block.end])
    return [
        Sentence(
            start=start,
            end=end,
            text=" ".join(raw[start - block.start : end - block.start].split()),
            raw=source_text[start:end],
        )
        for start, end in split_sentences(raw, block.start)
    ]


def _windows(sentences: list[Sentence], max_chars: int) -> Iterator[list[Sentence]]:
    window: list[Sentence] = []
    size = 0
    for sentence in sentences:
        if window and size + len(sentence.text) > max_chars:
            yield window
            window, size = [], 0
        window.append(sentence)
        size += len(sentence.text) + 1
    if window:
        yield window
