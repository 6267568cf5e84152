"""BM25 over chunk texts: an inverted index in memory, built from the store's chunks.

Terms are stemmed and accent-folded (rag.text), so "countries" finds "country" and
"Verite" finds "Verité". Query terms with no exact posting fall back to a close
spelling from the vocabulary, so "contries" still finds "countries".
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable

import numpy as np

from rag.text import content_terms, fuzzy_equal


class BM25Index:
    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.ids: list[str] = []
        self.sources: list[str] = []  # each chunk's document, for questions scoped to some
        self._postings: dict[str, dict[int, int]] = defaultdict(dict)
        self._lengths: list[int] = []
        self._by_shape: dict[tuple[int, str], list[str]] = defaultdict(list)

    @classmethod
    def build(cls, items: Iterable[tuple[str, str] | tuple[str, str, str]]) -> BM25Index:
        """From (chunk id, text) or (chunk id, text, source) tuples."""
        index = cls()
        for chunk_id, text, *source in items:
            index.add(chunk_id, text, *source)
        return index

    def add(self, chunk_id: str, text: str, source: str = "") -> None:
        row = len(self.ids)
        self.ids.append(chunk_id)
        self.sources.append(source)
        terms = content_terms(text)
        self._lengths.append(len(terms))
        for term, n in Counter(terms).items():
            if term not in self._postings:
                self._by_shape[(len(term), term[0])].append(term)
            self._postings[term][row] = n

    def idf(self, term: str) -> float:
        """BM25 idf; a word the corpus never uses weighs the most (it is what the question is about)."""
        df = len(self._postings.get(term, ()))
        return math.log(1 + (len(self.ids) - df + 0.5) / (df + 0.5))

    def df_ratio(self, term: str) -> float:
        """Share of chunks containing the term."""
        return len(self._postings.get(term, ())) / max(len(self.ids), 1)

    def __len__(self) -> int:
        return len(self.ids)

    def resolve(self, term: str) -> str | None:
        """The indexed term itself, or the closest spelling within a typo or two."""
        if term in self._postings:
            return term
        if term.isdigit() or len(term) < 5:
            return None
        # Only spellings with the same first letter are tried: typos there are rare,
        # and it keeps the scan small on a large vocabulary.
        for length in (len(term), len(term) - 1, len(term) + 1, len(term) - 2, len(term) + 2):
            for candidate in self._by_shape.get((length, term[0]), ()):
                if fuzzy_equal(term, candidate):
                    return candidate
        return None

    def search(self, query: str, k: int, sources: Collection[str] | None = None) -> list[tuple[str, float]]:
        """The k best chunks; with ``sources``, only chunks of those documents."""
        if not self.ids:
            return []
        scores = np.zeros(len(self.ids), dtype=np.float64)
        average = (sum(self._lengths) / len(self._lengths)) or 1.0
        lengths = np.asarray(self._lengths, dtype=np.float64)
        for term in list(dict.fromkeys(content_terms(query)))[:64]:  # bounded work per query
            found = self.resolve(term)
            if found is None:
                continue
            postings = self._postings[found]
            idf = math.log(1 + (len(self.ids) - len(postings) + 0.5) / (len(postings) + 0.5))
            rows = np.fromiter(postings.keys(), dtype=np.int64, count=len(postings))
            tf = np.fromiter(postings.values(), dtype=np.float64, count=len(postings))
            norm = self.k1 * (1 - self.b + self.b * lengths[rows] / average)
            scores[rows] += idf * tf * (self.k1 + 1) / (tf + norm)
        if sources is not None:
            allowed = np.fromiter((s in sources for s in self.sources), dtype=bool, count=len(self.sources))
            scores[~allowed] = 0.0
        top = np.argsort(-scores)[:k]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]
