"""Word-level semantic similarity ("nations" ~ "countries") from the sentence embedder,
cached, so typo-free synonyms in a question still match the document's words."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np

from rag.embedding import Embedder


class WordSimilarity:
    def __init__(self, embedder: Embedder, capacity: int = 50_000) -> None:
        self.embedder = embedder
        self.capacity = capacity
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def missing(self, words: Iterable[str]) -> list[str]:
        with self._lock:
            return [w for w in dict.fromkeys(words) if w not in self._cache]

    def add(self, words: list[str], vectors: np.ndarray) -> None:
        with self._lock:
            for word, vector in zip(words, vectors, strict=True):
                self._cache[word] = vector
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)

    def vectors(self, words: Iterable[str]) -> dict[str, np.ndarray]:
        wanted = list(dict.fromkeys(words))
        with self._lock:
            missing = [w for w in wanted if w not in self._cache]
        if missing:
            self.add(missing, self.embedder.embed_queries(missing))  # the answer path's light encoder
        with self._lock:
            return {w: self._cache[w] for w in wanted if w in self._cache}

    def best(self, word: str, candidates: Iterable[str]) -> float:
        """Highest cosine similarity between word and any candidate (0 if none)."""
        pool = [c for c in dict.fromkeys(candidates) if c != word and not c.isdigit()]  # figures are no synonyms
        if not pool:
            return 0.0
        vectors = self.vectors([word, *pool])
        target = vectors[word]
        return max(float(target @ vectors[c]) for c in pool)
