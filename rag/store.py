"""The vector store: two Chroma collections per index, one of chunks and one of
sentences, plus a manifest (file -> content hash) in the chunk collection's metadata.

Works the same on an on-disk PersistentClient and on a Chroma server (HttpClient).
The manifest is written last, so an interrupted ingest leaves the file marked stale
and the next ingest redoes it. This module does not chunk, embed or rank.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from rag.text import normalise
from rag.types import Chunk, Sentence

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from rag.embedding import Embedder

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
_PAGE = 2000  # rows per request when reading a whole collection


class StoreError(RuntimeError):
    """The store cannot be used as configured (server down, model mismatch, corrupt index)."""


class IndexUnreadable(StoreError):
    """The on-disk index exists but cannot be read (corrupted, half-deleted)."""


def make_client(data_dir: Path, chroma_url: str | None) -> Any:
    """A Chroma client: HttpClient when a URL is given, else on-disk under data_dir."""
    import chromadb  # imported here: chromadb is slow to import
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if chroma_url:
        url = urlparse(chroma_url)
        try:
            client = chromadb.HttpClient(
                host=url.hostname or "127.0.0.1",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=settings,
            )
            client.heartbeat()
        except Exception as exc:  # connection refused, timeout, bad TLS: all mean "unreachable"
            raise StoreError(f"cannot reach the Chroma server at {chroma_url}: {exc}") from None
        return client
    path = data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    try:
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except Exception as exc:
        _forget_clients()  # chromadb caches a client per path, broken ones too
        raise IndexUnreadable(
            f"the index at {path} cannot be opened ({exc}); rebuild it with 'factsheet-qa ingest --rebuild'"
        ) from None


def _forget_clients() -> None:
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


def collection_base(name: str, model_name: str, dimension: int) -> str:
    """Collection names carry the model, so a new model gets a new collection, never a dimension error."""
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", f"{name}-{model_name}-{dimension}").strip("-").lower()
    return slug[:200]


class _ChromaEmbeddingFunction:
    """Hands Chroma our embedder so it never falls back to downloading its default model."""

    def __init__(self, embedder: Any) -> None:
        self._embedder = embedder

    def __call__(self, input: list[str]) -> list[NDArray[np.float32]]:
        return list(self._embedder.embed_documents(list(input)))

    def embed_query(self, input: list[str]) -> list[NDArray[np.float32]]:
        return list(self._embedder.embed_queries(list(input)))

    @staticmethod
    def name() -> str:
        return "factsheet-qa"

    def get_config(self) -> dict[str, Any]:
        return {"model": self._embedder.name}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> Any:
        # Chroma calls this when it loads a collection; we always pass the embedder
        # explicitly, so a placeholder that refuses to embed is enough.
        return _ChromaEmbeddingFunction(_Unavailable())

    def is_legacy(self) -> bool:
        return False

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine"]


class _Unavailable:
    name = "unavailable"

    def embed_documents(self, texts: list[str]) -> Any:
        raise StoreError("this collection must be used through factsheet-qa's embedder")

    embed_queries = embed_documents


@dataclass(frozen=True)
class Match:
    chunk_id: str
    similarity: float  # cosine similarity, 1.0 is identical


class ChromaStore:
    """Chunks and sentences of one index in Chroma."""

    def __init__(self, client: Any, name: str, embedder: Embedder) -> None:
        self.client = client
        self.embedder = embedder
        self.base = collection_base(name, embedder.name, embedder.dimension)
        function = self._function = _ChromaEmbeddingFunction(embedder)
        meta = {"model": embedder.name, "dimension": embedder.dimension, "format": FORMAT_VERSION}
        try:
            self.chunks = client.get_or_create_collection(
                f"{self.base}-chunks",
                configuration={"hnsw": {"space": "cosine"}},
                metadata={**meta, "manifest": "{}"},
                embedding_function=function,
            )
            self.sentences = client.get_or_create_collection(
                f"{self.base}-sentences",
                configuration={"hnsw": {"space": "cosine"}},
                metadata=meta,
                embedding_function=function,
            )
        except Exception as exc:
            raise StoreError(f"cannot open the index collections ({exc})") from None
        self._check_model()

    def refresh(self) -> None:
        """Re-read the collections: another process may have re-indexed (or rebuilt) them."""
        try:
            self.chunks = self.client.get_collection(self.chunks.name, embedding_function=self._function)
            self.sentences = self.client.get_collection(self.sentences.name, embedding_function=self._function)
        except Exception:  # mid-rebuild elsewhere: keep answering from what we have
            log.debug("collections not readable right now; keeping the previous view")

    def _check_model(self) -> None:
        meta = self.chunks.metadata or {}
        if meta.get("model") != self.embedder.name or meta.get("dimension") != self.embedder.dimension:
            raise StoreError(
                f"the index was built with {meta.get('model')} ({meta.get('dimension')} dimensions) but the "
                f"configured model is {self.embedder.name} ({self.embedder.dimension}); "
                "run 'factsheet-qa ingest --rebuild'"
            )

    # --- manifest ---------------------------------------------------------------------

    def manifest(self) -> dict[str, str]:
        """source -> sha256 of every file whose chunks are completely stored."""
        raw = (self.chunks.metadata or {}).get("manifest", "{}")
        try:
            value = json.loads(raw)
        except (TypeError, json.JSONDecodeError):
            return {}
        return value if isinstance(value, dict) else {}

    def set_manifest(self, manifest: dict[str, str]) -> None:
        meta = dict(self.chunks.metadata or {})
        meta["manifest"] = json.dumps(manifest, sort_keys=True)
        self.chunks.modify(metadata=meta)

    def removed(self) -> set[str]:
        """Sources a person removed while their files stay in the corpus folder: not re-indexed."""
        try:
            value = json.loads((self.chunks.metadata or {}).get("removed", "[]"))
        except (TypeError, json.JSONDecodeError):
            return set()
        return {str(v) for v in value} if isinstance(value, list) else set()

    def set_removed(self, sources: set[str]) -> None:
        meta = dict(self.chunks.metadata or {})
        meta["removed"] = json.dumps(sorted(sources))
        self.chunks.modify(metadata=meta)

    # --- writing ----------------------------------------------------------------------

    def upsert(
        self, chunks: Sequence[Chunk], chunk_vectors: NDArray[np.float32], sentence_vectors: NDArray[np.float32]
    ) -> None:
        self.upsert_chunks(chunks, chunk_vectors)
        self.upsert_sentences(chunks, sentence_vectors)

    def upsert_chunks(self, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        if not chunks:
            return
        self.chunks.upsert(
            ids=[c.id for c in chunks],
            embeddings=vectors,
            documents=[" ".join(s.raw for s in c.sentences) for c in chunks],
            metadatas=[_chunk_metadata(c) for c in chunks],
        )

    def upsert_sentences(self, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        """The sentences of chunks already written (their vectors in order)."""
        # No documents: a sentence's text is read from its chunk, and Chroma's full-text
        # index of them cost a third of the ingest's writes.
        ids, metas = [], []
        for chunk in chunks:
            for i in range(len(chunk.sentences)):
                ids.append(f"{chunk.id}:{i}")
                metas.append({"chunk_id": chunk.id, "source": chunk.source})
        if ids:
            self.sentences.upsert(ids=ids, embeddings=vectors, metadatas=metas)

    def delete_source(self, source: str) -> None:
        self.sentences.delete(where={"source": source})
        self.chunks.delete(where={"source": source})

    def chunk_ids(self, source: str) -> set[str]:
        return set(self.chunks.get(where={"source": source}, include=[])["ids"])

    # --- reading ----------------------------------------------------------------------

    def count(self) -> int:
        return int(self.chunks.count())

    def sentence_count(self) -> int:
        return int(self.sentences.count())

    def search(
        self, vector: NDArray[np.float32], k: int, size: int | None = None, sources: Sequence[str] | None = None
    ) -> list[Match]:
        """Nearest chunks (of the given documents only, with ``sources``); ``size`` (the known
        chunk count) saves a round trip to the store."""
        k = min(k, self.count() if size is None else size)
        if k <= 0 or sources == []:
            return []
        result = self.chunks.query(
            query_embeddings=[vector], n_results=k, include=["distances"], where=_in_sources(sources)
        )
        return [Match(i, 1.0 - float(d)) for i, d in zip(result["ids"][0], result["distances"][0], strict=True)]

    def search_sentences(self, vector: NDArray[np.float32], k: int, sources: Sequence[str] | None = None) -> list[str]:
        """Chunk ids ranked by their nearest sentence: a chunk that says many things is
        found by the one sentence that matches, which its averaged vector may hide."""
        if k <= 0 or sources == []:
            return []
        # Chroma returns what there is when k exceeds the count: no round trip to count first
        result = self.sentences.query(query_embeddings=[vector], n_results=k, include=[], where=_in_sources(sources))
        return list(dict.fromkeys(i.rsplit(":", 1)[0] for i in result["ids"][0]))

    def get_chunks(self, ids: Sequence[str]) -> list[Chunk]:
        if not ids:
            return []
        result = self.chunks.get(ids=list(ids), include=["documents", "metadatas"])
        by_id = {
            i: _chunk_from(i, doc, meta)
            for i, doc, meta in zip(result["ids"], result["documents"], result["metadatas"], strict=True)
        }
        return [by_id[i] for i in ids if i in by_id]

    def iter_chunks(self) -> Iterator[Chunk]:
        total = self.count()
        for offset in range(0, total, _PAGE):
            result = self.chunks.get(limit=_PAGE, offset=offset, include=["documents", "metadatas"])
            for i, doc, meta in zip(result["ids"], result["documents"], result["metadatas"], strict=True):
                yield _chunk_from(i, doc, meta)

    def neighbours(self, source: str, ordinal: int, around: int) -> list[Chunk]:
        """The chunks of one document within ``around`` places of the chunk at ``ordinal``, in order."""
        where = {
            "$and": [
                {"source": source},
                {"ordinal": {"$gte": ordinal - around}},
                {"ordinal": {"$lte": ordinal + around}},
            ]
        }
        result = self.chunks.get(where=where, include=["documents", "metadatas"])
        chunks = [
            _chunk_from(i, d, m)
            for i, d, m in zip(result["ids"], result["documents"], result["metadatas"], strict=True)
        ]
        return sorted(chunks, key=lambda c: c.ordinal)

    def documents(self) -> dict[str, dict[str, Any]]:
        """source -> {"title", "chunks", "indexed" (seconds since the epoch, 0 if unknown)},
        read from the chunks' metadata only."""
        found: dict[str, dict[str, Any]] = {}
        for offset in range(0, self.count(), _PAGE):
            result = self.chunks.get(limit=_PAGE, offset=offset, include=["metadatas"])
            for meta in result["metadatas"]:
                entry = found.setdefault(meta["source"], {"title": meta.get("title", ""), "chunks": 0, "indexed": 0.0})
                entry["chunks"] += 1
                entry["indexed"] = max(entry["indexed"], float(meta.get("indexed", 0.0)))
        return found

    def sentence_vectors(self, chunks: Sequence[Chunk]) -> dict[str, NDArray[np.float32]]:
        """Stored sentence embeddings, keyed "<chunk id>:<index>"."""
        ids = [f"{c.id}:{i}" for c in chunks for i in range(len(c.sentences))]
        if not ids:
            return {}
        result = self.sentences.get(ids=ids, include=["embeddings"])
        return {i: np.asarray(v, dtype=np.float32) for i, v in zip(result["ids"], result["embeddings"], strict=True)}

    def drop(self) -> None:
        """Delete both collections (for --rebuild)."""
        for collection in (self.chunks, self.sentences):
            try:
                self.client.delete_collection(collection.name)
            except Exception:  # already gone: nothing to drop
                pass


def _in_sources(sources: Sequence[str] | None) -> dict[str, Any] | None:
    """A Chroma filter for chunks or sentences of the given documents (None: no filter)."""
    if sources is None:
        return None
    return {"source": sources[0]} if len(sources) == 1 else {"source": {"$in": list(sources)}}


def _chunk_metadata(chunk: Chunk) -> dict[str, Any]:
    spans = [[s.start, s.end, len(s.raw)] for s in chunk.sentences]
    return {
        "source": chunk.source,
        "title": chunk.title,
        "heading": chunk.heading,
        "ordinal": chunk.ordinal,
        "sentences": json.dumps(spans),
        "indexed": round(time.time(), 3),
        "flags": json.dumps([list(f) for f in chunk.flags]),
    }


def _chunk_from(chunk_id: str, document: str, meta: dict[str, Any]) -> Chunk:
    """Rebuild a chunk: the stored document is the raw sentences joined by spaces."""
    sentences = []
    position = 0
    for start, end, length in json.loads(meta["sentences"]):
        raw = document[position : position + length]
        sentences.append(Sentence(start=start, end=end, text=" ".join(normalise(raw).split()), raw=raw))
        position += length + 1
    return Chunk(
        id=chunk_id,
        source=meta["source"],
        title=meta.get("title", ""),
        heading=meta.get("heading", ""),
        text=" ".join(s.text for s in sentences),
        sentences=tuple(sentences),
        ordinal=int(meta.get("ordinal", 0)),
        flags=tuple((int(i), str(why)) for i, why in json.loads(meta.get("flags") or "[]")),
    )
