"""Hybrid retrieval: dense (Chroma, cosine: chunks, and chunks by their best sentence)
and lexical (BM25) rankings fused with reciprocal rank fusion. Returns Hits; does not
rank sentences or answer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rag.lexical import BM25Index
from rag.store import ChromaStore
from rag.types import Hit

RRF_K = 60  # the usual constant from Cormack et al. (2009); dampens the weight of top ranks


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Fuse ranked id lists.

    >>> reciprocal_rank_fusion([["a", "b"], ["b", "c"]])[0][0]
    'b'
    """
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


class HybridRetriever:
    def __init__(
        self,
        store: ChromaStore,
        lexical: BM25Index,
        candidates: int = 20,
        top_k: int = 5,
        dense_only: bool = False,
        sources: Sequence[str] | None = None,
    ) -> None:
        self.store = store
        self.lexical = lexical
        self.candidates = candidates
        self.top_k = top_k
        self.dense_only = dense_only
        self.sources = None if sources is None else sorted(set(sources))  # None: every document

    def retrieve(self, text: str, vector: np.ndarray) -> list[Hit]:
        scoped = self.sources
        size = len(self.lexical) if scoped is None else None  # a scope's size is unknown: let Chroma say
        dense = [m.chunk_id for m in self.store.search(vector, self.candidates, size, sources=scoped)]
        by_sentence = self.store.search_sentences(vector, 3 * self.candidates, sources=scoped)[: self.candidates]
        found = self.lexical.search(text, self.candidates, None if scoped is None else set(scoped))
        lexical = [] if self.dense_only else [i for i, _ in found]
        fused = reciprocal_rank_fusion([dense, by_sentence, lexical])[: self.top_k]
        chunks = {c.id: c for c in self.store.get_chunks([i for i, _ in fused])}
        dense_rank = {i: r for r, i in enumerate(dense)}
        lexical_rank = {i: r for r, i in enumerate(lexical)}
        return [Hit(chunks[i], score, dense_rank.get(i), lexical_rank.get(i)) for i, score in fused if i in chunks]
