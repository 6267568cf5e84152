"""BM25 over chunk texts: an inverted index in memory, built from the store's chunks.

Terms are stemmed and accent-folded (rag.text), so "countries" finds "country" and
"Verite" finds "Verité". Query terms with no exact posting fall back to a close
spelling from the vocabulary, so "contries" still finds "countries".

Postings are kept as flat arrays (one slice of rows and term counts per term), so a built
index saves to one ``.npz`` file and loads back without re-reading the chunks or
re-tokenising them: at 80k chunks building took 11.7 s, every time a process started.
"""

from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from pathlib import Path
from zipfile import BadZipFile

import numpy as np
from numpy.typing import NDArray

from rag.text import content_terms, fuzzy_equal

# Bumped when the saved layout or the terms it holds (rag.text's tokens and stems) change.
FORMAT_VERSION = 1


class BM25Index:
    def __init__(
        self,
        ids: list[str],
        sources: list[str],
        terms: list[str],
        indptr: NDArray[np.int64],
        rows: NDArray[np.int32],
        counts: NDArray[np.float64],
        lengths: NDArray[np.float64],
        k1: float = 1.2,
        b: float = 0.75,
    ) -> None:
        """Use ``build`` or ``load``: term i's postings are rows[indptr[i]:indptr[i + 1]]."""
        self.k1, self.b = k1, b
        self.ids = ids
        self.sources = sources  # each chunk's document, for questions scoped to some
        self._terms = terms
        self._term_row = {term: i for i, term in enumerate(terms)}
        self._indptr, self._rows, self._counts, self._lengths = indptr, rows, counts, lengths
        self._average = float(lengths.mean()) if len(lengths) and lengths.sum() else 1.0
        self._by_shape: dict[tuple[int, str], list[str]] = defaultdict(list)
        for term in terms:
            self._by_shape[(len(term), term[0])].append(term)

    @classmethod
    def build(cls, items: Iterable[tuple[str, str] | tuple[str, str, str]]) -> BM25Index:
        """From (chunk id, text) or (chunk id, text, source) tuples."""
        ids: list[str] = []
        sources: list[str] = []
        lengths: list[int] = []
        postings: dict[str, list[tuple[int, int]]] = {}
        for row, (chunk_id, text, *source) in enumerate(items):
            ids.append(chunk_id)
            sources.append(source[0] if source else "")
            terms = content_terms(text)
            lengths.append(len(terms))
            for term, n in Counter(terms).items():
                postings.setdefault(term, []).append((row, n))
        vocabulary = list(postings)  # first-seen order, as the typo fallback scans it
        sizes = np.fromiter((len(postings[t]) for t in vocabulary), dtype=np.int64, count=len(vocabulary))
        indptr = np.zeros(len(vocabulary) + 1, dtype=np.int64)
        np.cumsum(sizes, out=indptr[1:])
        flat = [pair for t in vocabulary for pair in postings[t]]
        pairs = np.asarray(flat, dtype=np.int64).reshape(-1, 2)
        return cls(
            ids,
            sources,
            vocabulary,
            indptr,
            pairs[:, 0].astype(np.int32),
            pairs[:, 1].astype(np.float64),
            np.asarray(lengths, dtype=np.float64),
        )

    def save(self, path: Path) -> None:
        """Write the index to ``path`` (an .npz), whole or not at all."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        with partial.open("wb") as handle:
            np.savez(
                handle,
                format=np.asarray([FORMAT_VERSION]),
                ids=_packed(self.ids),
                sources=_packed(self.sources),
                terms=_packed(self._terms),
                indptr=self._indptr,
                rows=self._rows,
                counts=self._counts,
                lengths=self._lengths,
            )
        os.replace(partial, path)  # readers see the old file or the new one, never half of one

    @classmethod
    def load(cls, path: Path) -> BM25Index | None:
        """The index saved at ``path``, or None when it is missing, unreadable or of another format."""
        try:
            with np.load(path, allow_pickle=False) as saved:
                if int(saved["format"][0]) != FORMAT_VERSION:
                    return None
                ids, sources, terms = (_unpacked(saved[n]) for n in ("ids", "sources", "terms"))
                indptr, rows, counts, lengths = (saved[n] for n in ("indptr", "rows", "counts", "lengths"))
        except (OSError, ValueError, KeyError, IndexError, EOFError, BadZipFile):
            return None  # rebuilt from the store: a cache, never the only copy
        if not (len(ids) == len(sources) == len(lengths) and len(indptr) == len(terms) + 1 == 1 + len(set(terms))):
            return None
        if len(rows) != len(counts) or int(indptr[-1]) != len(rows) or (len(rows) and int(rows.max()) >= len(ids)):
            return None
        return cls(ids, sources, terms, indptr, rows, counts, lengths)

    def _df(self, term: str) -> int:
        i = self._term_row.get(term)
        return 0 if i is None else int(self._indptr[i + 1] - self._indptr[i])

    def idf(self, term: str) -> float:
        """BM25 idf; a word the corpus never uses weighs the most (it is what the question is about)."""
        df = self._df(term)
        return math.log(1 + (len(self.ids) - df + 0.5) / (df + 0.5))

    def df_ratio(self, term: str) -> float:
        """Share of chunks containing the term."""
        return self._df(term) / max(len(self.ids), 1)

    def __len__(self) -> int:
        return len(self.ids)

    def resolve(self, term: str) -> str | None:
        """The indexed term itself, or the closest spelling within a typo or two."""
        if term in self._term_row:
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
        for term in list(dict.fromkeys(content_terms(query)))[:64]:  # bounded work per query
            found = self.resolve(term)
            if found is None:
                continue
            i = self._term_row[found]
            start, end = int(self._indptr[i]), int(self._indptr[i + 1])
            rows, tf = self._rows[start:end], self._counts[start:end]
            idf = math.log(1 + (len(self.ids) - (end - start) + 0.5) / (end - start + 0.5))
            norm = self.k1 * (1 - self.b + self.b * self._lengths[rows] / self._average)
            scores[rows] += idf * tf * (self.k1 + 1) / (tf + norm)
        if sources is not None:
            allowed = np.fromiter((s in sources for s in self.sources), dtype=bool, count=len(self.sources))
            scores[~allowed] = 0.0
        top = np.argsort(-scores)[:k]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]


# Strings are saved as one NUL-separated UTF-8 buffer, not a fixed-width numpy string array:
# one long token (a URL) would widen every entry of the vocabulary to its length.
def _packed(strings: list[str]) -> NDArray[np.uint8]:
    if any("\0" in s for s in strings):
        raise ValueError("a string holds NUL, the separator")
    data = "\0".join(strings).encode("utf-8") + (b"\0" if strings else b"")
    return np.frombuffer(data, dtype=np.uint8)


def _unpacked(data: NDArray[np.uint8]) -> list[str]:
    return data.tobytes().decode("utf-8").split("\0")[:-1]
