"""Scale with a real, larger corpus: the Python 3.11 documentation (Debian's python3.11-doc,
HTML under /usr/share/doc/python3.11/html; `apt-get install -y python3.11-doc`).

(a) Ingestion throughput of our pipeline (Assistant.ingest) on a time-boxed subset (the
    first HTML files in sorted order, at most --subset-mb), against raw model.encode of
    every sentence of the resulting chunks once. Our pipeline embeds each sentence (and each
    distinct heading) once and derives chunk vectors from them; its encode calls and items
    are reported, and the ratio is checked against INGEST_TARGET (PASS / MISS).
(b) Re-ingest of the unchanged subset (hash check only), the hash check of the whole
    tree (rag.indexing.stale_files against a manifest holding every file), and a real
    unchanged re-ingest of the whole tree (manifest pre-filled), extrapolated to 70 MB.
(c) Answer latency p50/p95 over 50 questions at 1k, 10k and 100k+ chunks: a ChromaStore
    filled by repeating the chunks of (a) under new ids with their stored vectors (no
    re-embedding); the BM25 build on first use is timed separately. Time-boxed: when the
    measured insert rate says the next size will not fit, the largest size that fits is
    measured instead, and the report says so.

Writes benchmarks/results/scale.json.

    .venv/bin/python benchmarks/scale.py [--subset-mb 2.5] [--ingest-budget 150] [--budget-c 480]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import pstats
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._common import machine, median, ms_since, offline, percentile, quiet, shown, write_json  # noqa: E402
from rag.embedding import Embedder  # noqa: E402

HTML_ROOT = Path("/usr/share/doc/python3.11/html")
TARGET_MB = 70.0  # the size the re-ingest target is stated for
SIZES = (1_000, 10_000, 100_000)
PASSES = 2  # timed passes over the 50 questions at each size
INGEST_TARGET = 0.8  # ingestion throughput over raw encode of the same sentences (the documents issue)
CHROMA_MAX_BATCH = 5000  # below chromadb's max batch (5461 here) for the sentence collection

QUESTIONS = [
    "How do I increment the reference count of an object?",
    "What does Py_DECREF do when the reference count reaches zero?",
    "What is a borrowed reference?",
    "How do I create a new list object of a given length?",
    "How do you append an item to a list?",
    "What does PyList_GetItem return when the index is out of bounds?",
    "How do I create a new dictionary?",
    "How can I look up a key in a dictionary without setting an exception?",
    "Does PyDict_SetItem steal a reference to the value?",
    "How do I convert a C long to a Python integer object?",
    "How do I convert a Python integer to a C long and detect overflow?",
    "Which function creates a bytes object from a C string?",
    "How do I get the size of a bytes object?",
    "How do I resize a bytearray?",
    "How do I raise an exception from C code?",
    "What does PyErr_Occurred return?",
    "How do I clear the error indicator?",
    "How are exceptions chained with context and cause?",
    "How do I parse the arguments passed to a function written in C?",
    "Which format unit converts a Python string to a const char pointer in PyArg_ParseTuple?",
    "How do I build a return value with Py_BuildValue?",
    "What is the buffer protocol?",
    "How do I release a buffer obtained with PyObject_GetBuffer?",
    "What is a capsule used for?",
    "How do I call a Python callable from C with positional arguments?",
    "What is the vectorcall protocol?",
    "How do I create a complex number object?",
    "How do I convert a Python float to a C double?",
    "How are context variables created?",
    "How do I create a datetime object from C?",
    "What does PyImport_ImportModule do?",
    "What happens when Py_Initialize is called?",
    "How do I release the global interpreter lock around blocking I/O?",
    "How do I create a new thread state?",
    "How do I configure the interpreter with PyConfig?",
    "What does Py_FinalizeEx return?",
    "How do I iterate over an iterator in C?",
    "What does PyIter_Next return when the iterator is exhausted?",
    "How do I check whether an object supports the mapping protocol?",
    "How do I write a value with the marshal C API?",
    "How do I allocate memory with the Python memory allocator?",
    "What is the difference between PyMem_Malloc and PyMem_RawMalloc?",
    "How do I enable the debug hooks on the memory allocators?",
    "What is the stable ABI?",
    "How do I check the Python version at compile time?",
    "How do I create a code object?",
    "How do I support cyclic garbage collection in an extension type?",
    "How do I create a generator object?",
    "How do I report a bug in Python?",
    "Who wrote the Python documentation?",
]


class CountingEmbedder(Embedder):
    """Wraps the real embedder to count encode calls, items, characters and seconds."""

    def __init__(self, inner: Any) -> None:
        inner.warm_up()
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.reset()

    def reset(self) -> None:
        self.calls = self.items = self.chars = 0
        self.seconds = 0.0
        self.log: list[tuple[int, int, float]] = []  # (items, chars, seconds) per call

    def warm_up(self) -> None:
        self.inner.warm_up()

    def _encode(self, texts: list[str], *, query: bool) -> Any:
        started = time.perf_counter()
        vectors = self.inner._encode(texts, query=query)
        seconds = time.perf_counter() - started
        self.seconds += seconds
        self.log.append((len(texts), sum(len(t) for t in texts), seconds))
        self.calls += 1
        self.items += len(texts)
        self.chars += sum(len(t) for t in texts)
        return vectors


class _ManifestOnly:
    """Just enough of a store for rag.indexing.stale_files: a manifest, nothing removed."""

    def __init__(self, manifest: dict[str, str]) -> None:
        self._manifest = manifest

    def manifest(self) -> dict[str, str]:
        return dict(self._manifest)

    def removed(self) -> set[str]:
        return set()


# --- (a) ingestion ------------------------------------------------------------------------


def pick_subset(embedder: Any, subset_mb: float, budget_s: float) -> tuple[list[Path], list[str], dict[str, Any]]:
    """The first HTML files (sorted), up to subset_mb, cut further if a quick encode
    calibration says our ingest of them would take longer than budget_s."""
    from rag.chunking import chunk_document
    from rag.corpus import LoadError, discover, display_path, load

    files = [p for p in discover([HTML_ROOT]) if p.suffix == ".html"]
    chosen: list[Path] = []
    sentences: list[list[str]] = []  # per file: the sentence texts our chunker makes
    encoded_chars: list[int] = []
    total = 0
    sample: list[str] = []
    for path in files:
        if total >= subset_mb * 1e6:
            break
        try:
            chunks = chunk_document(load(path, display_path(path, HTML_ROOT)))
        except LoadError:
            chunks = []
        chosen.append(path)
        sentences.append([s.text for c in chunks for s in c.sentences])
        total += path.stat().st_size
        texts = [s.text for c in chunks for s in c.sentences]  # what the ingest embeds
        encoded_chars.append(sum(len(t) for t in texts))
        if len(sample) < 384:
            sample.extend(texts[:: max(1, len(texts) // 16)][:32])
    started = time.perf_counter()
    embedder.embed_documents(sample)
    chars_per_s = sum(len(t) for t in sample) / (time.perf_counter() - started)
    estimate = 0.0
    keep = 0
    for n, chars in enumerate(encoded_chars, 1):
        estimate += chars / chars_per_s
        if estimate > budget_s and n > 5:
            break
        keep = n
    info = {
        "calibration_chars_per_s": round(chars_per_s),
        "estimated_ingest_s": round(sum(encoded_chars[:keep]) / chars_per_s, 1),
        "cut_by_time_box": keep < len(chosen),
    }
    return chosen[:keep], [t for per_file in sentences[:keep] for t in per_file], info


def ingestion(
    counting: CountingEmbedder, tmp: Path, subset_mb: float, budget_s: float, rounds: int = 3
) -> tuple[dict[str, Any], Any]:
    """Our ingest of the subset against raw ``encode`` of its sentences, ``rounds`` times,
    each into a fresh store; the ratio reported is the median round's (this shared 2-core
    machine's load moves single rounds by a quarter either way)."""
    from rag.assistant import Assistant
    from rag.config import Settings

    files, sentences, calibration = pick_subset(counting, subset_mb, budget_s)
    size = sum(p.stat().st_size for p in files)
    model = counting.inner._model

    def raw_encode(texts: list[str]) -> float:  # as a user calls it: sentence-transformers' defaults
        started = time.perf_counter()
        model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return time.perf_counter() - started

    runs = []
    for n in range(rounds):
        assistant = Assistant(Settings(corpus_dir=HTML_ROOT, data_dir=tmp / f"a{n}"), embedder=counting)
        # The store is opened (chromadb imported, client started) before the clock starts, as
        # the model is loaded before the raw encode's: a fixed cost, not throughput. Reported apart.
        started = time.perf_counter()
        assistant.store  # noqa: B018 - opens it
        store_open_s = time.perf_counter() - started
        # The raw baseline brackets our ingest: half of the sentences just before it, half
        # just after, so a change in background load during the round hits both sides alike.
        half = len(sentences) // 2
        raw_before = raw_encode(sentences[:half])
        counting.reset()
        started = time.perf_counter()
        report = assistant.ingest(files, progress=False)
        ours_s = time.perf_counter() - started
        encode = {
            "calls": counting.calls,
            "items": counting.items,
            "chars": counting.chars,
            "seconds": counting.seconds,
        }
        raw_after = raw_encode(sentences[half:])
        runs.append((raw_before + raw_after, ours_s, raw_before, raw_after, store_open_s, report, encode, assistant))
    raw_s, ours_s, raw_before, raw_after, store_open_s, report, encode, assistant = sorted(
        runs, key=lambda r: r[0] / r[1]
    )[len(runs) // 2]
    chunks = list(assistant.store.iter_chunks())
    stored = sum(len(c.sentences) for c in chunks)
    assert stored == len(sentences), (stored, len(sentences))
    text_chars = sum(len(c.text) for c in chunks)
    mb = size / 1e6
    result = {
        "files": len(files),
        "first_file": str(files[0].relative_to(HTML_ROOT)),
        "last_file": str(files[-1].relative_to(HTML_ROOT)),
        "html_mb": round(mb, 3),
        "text_mb": round(text_chars / 1e6, 3),
        "chunks": report.chunks_written,
        "sentences": len(sentences),
        "skipped": len(report.skipped),
        "rounds": rounds,
        "ours_over_raw_each_round": [round(r[0] / r[1], 3) for r in runs],
        "ours_s": round(ours_s, 2),
        "store_open_s": round(store_open_s, 2),
        "ours_chunks_per_s": round(report.chunks_written / ours_s, 1),
        "ours_mb_per_min": round(mb / (ours_s / 60), 3),
        "ours_encode_calls": encode["calls"],
        "ours_encode_items": encode["items"],
        "ours_encode_chars": encode["chars"],
        "ours_encode_s": round(encode["seconds"], 2),
        "ours_encode_share": round(encode["seconds"] / ours_s, 3),
        "ours_non_encode_s": round(ours_s - encode["seconds"], 2),
        "raw_encode_calls": 2,
        "raw_encode_items": len(sentences),
        "raw_encode_chars": sum(len(s) for s in sentences),
        "raw_encode_s": round(raw_s, 2),
        "raw_encode_halves_s": [round(raw_before, 2), round(raw_after, 2)],
        "raw_sentences_per_s": round(len(sentences) / raw_s, 1),
        "raw_chars_per_s": round(sum(len(s) for s in sentences) / raw_s),
        "raw_chunks_per_s_equivalent": round(report.chunks_written / raw_s, 1),
        "raw_mb_per_min": round(mb / (raw_s / 60), 3),
        "ours_over_raw_throughput": round(raw_s / ours_s, 3),
        "encode_work_ratio_chars": round(encode["chars"] / max(sum(len(s) for s in sentences), 1), 2),
        "ours_encode_chars_per_s": round(encode["chars"] / max(encode["seconds"], 1e-9)),
        "calibration": calibration,
        "_files": files,
    }
    return result, assistant


# --- (b) incremental re-ingest ------------------------------------------------------------


def reingest(assistant: Any, files: list[Path], counting: CountingEmbedder, tmp: Path) -> dict[str, Any]:
    from rag.assistant import Assistant
    from rag.config import Settings
    from rag.corpus import discover, display_path
    from rag.indexing import fingerprint, stale_files

    subset_bytes = sum(p.stat().st_size for p in files)
    times, hash_times = [], []
    report = None
    for _ in range(3):
        counting.reset()
        started = time.perf_counter()
        report = assistant.ingest(files, progress=False)
        times.append(time.perf_counter() - started)
        assert report.files_unchanged == len(files) and report.chunks_written == 0 and counting.items == 0, report
        started = time.perf_counter()
        stale = stale_files(assistant.store, files, HTML_ROOT)
        hash_times.append(time.perf_counter() - started)
        assert not stale

    # The whole tree: every supported file (HTML pages and the _sources .txt files).
    everything = discover([HTML_ROOT])
    total_bytes = sum(p.stat().st_size for p in everything)
    all_bytes = sum(p.stat().st_size for p in HTML_ROOT.rglob("*") if p.is_file())
    # the manifest's own entries (content hash and embedding version), so nothing is stale;
    # computing them also warms the page cache
    manifest = {display_path(p, HTML_ROOT): fingerprint(p) for p in everything}
    fake = _ManifestOnly(manifest)
    full_hash = []
    for _ in range(3):
        started = time.perf_counter()
        stale = stale_files(fake, [HTML_ROOT], HTML_ROOT)  # type: ignore[arg-type]
        full_hash.append(time.perf_counter() - started)
        assert not stale
    # A real unchanged re-ingest of the whole tree: a store whose manifest lists every file.
    full = Assistant(Settings(corpus_dir=HTML_ROOT, data_dir=tmp / "b"), embedder=counting)
    full.store.set_manifest(manifest)
    full_times = []
    for _ in range(3):
        counting.reset()
        started = time.perf_counter()
        r = full.ingest([HTML_ROOT], progress=False)
        full_times.append(time.perf_counter() - started)
        assert r.files_unchanged == len(everything) and r.chunks_written == 0 and counting.items == 0, r
    t_sub, t_sub_hash, t_full_hash, t_full = median(times), median(hash_times), median(full_hash), median(full_times)
    scale = TARGET_MB * 1e6 / total_bytes
    fixed = max(t_sub - t_sub_hash, 0.0)
    return {
        "subset_files": len(files),
        "subset_mb": round(subset_bytes / 1e6, 3),
        "subset_reingest_s": round(t_sub, 3),
        "subset_reingest_runs_s": [round(t, 3) for t in times],
        "subset_hash_check_s": round(t_sub_hash, 3),
        "full_tree_files": len(everything),
        "full_tree_mb": round(total_bytes / 1e6, 2),
        "full_tree_mb_all_files": round(all_bytes / 1e6, 2),
        "full_hash_check_s": round(t_full_hash, 3),
        "full_hash_check_mb_per_s": round(total_bytes / 1e6 / t_full_hash, 1),
        "full_reingest_unchanged_s": round(t_full, 3),
        "full_reingest_runs_s": [round(t, 3) for t in full_times],
        "extrapolated_70mb_s": round(t_full * scale, 3),
        "extrapolated_70mb_from_hash_s": round(fixed + t_full_hash * scale, 3),
        "extrapolation": (
            f"measured: unchanged re-ingest of the whole tree ({len(everything)} files, {total_bytes / 1e6:.1f} MB; "
            f"store manifest pre-filled) x {TARGET_MB:.0f}/{total_bytes / 1e6:.1f} (all of it scaled linearly, "
            "an upper bound); check: fixed cost of the subset re-ingest (re-ingest minus its hash check) + "
            "full-tree stale_files time x the same factor"
        ),
    }


# --- (c) query latency vs corpus size -------------------------------------------------------


def stored_vectors(store: Any, chunks: list[Any]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The chunk vectors and per-chunk sentence vectors stored by (a), in chunk order."""
    chunk_vecs: dict[str, np.ndarray] = {}
    sent_vecs: dict[str, np.ndarray] = {}
    for collection, into in ((store.chunks, chunk_vecs), (store.sentences, sent_vecs)):
        total = collection.count()
        for offset in range(0, total, 2000):
            got = collection.get(limit=2000, offset=offset, include=["embeddings"])
            for i, v in zip(got["ids"], got["embeddings"], strict=True):
                into[i] = np.asarray(v, dtype=np.float32)
    cv = np.stack([chunk_vecs[c.id] for c in chunks])
    sv = [
        np.stack([sent_vecs[f"{c.id}:{i}"] for i in range(len(c.sentences))])
        if c.sentences
        else np.zeros((0, cv.shape[1]), np.float32)
        for c in chunks
    ]
    return cv, sv


class Grower:
    """Fills a ChromaStore with copies of the base chunks (new ids, same vectors)."""

    def __init__(self, store: Any, chunks: list[Any], cv: np.ndarray, sv: list[np.ndarray]) -> None:
        self.store, self.chunks, self.cv, self.sv = store, chunks, cv, sv
        self.size = 0
        self.sentences = 0

    def grow(self, target: int) -> dict[str, float]:
        started = time.perf_counter()
        added_chunks = added_sentences = 0
        batch: list[int] = []
        batch_sentences = 0
        while self.size < target:
            g = self.size
            j = g % len(self.chunks)
            n = len(self.chunks[j].sentences)
            if batch and (batch_sentences + n > CHROMA_MAX_BATCH or len(batch) >= 2000):
                self._flush(batch)
                batch, batch_sentences = [], 0
            batch.append(g)
            batch_sentences += n
            added_chunks += 1
            added_sentences += n
            self.size += 1
        if batch:
            self._flush(batch)
        self.sentences += added_sentences
        seconds = time.perf_counter() - started
        return {
            "added_chunks": added_chunks,
            "added_sentences": added_sentences,
            "seconds": round(seconds, 2),
            "rows_per_s": round((added_chunks + added_sentences) / max(seconds, 1e-9), 1),
        }

    def _flush(self, rows: list[int]) -> None:
        n = len(self.chunks)
        chunks, cvs, svs = [], [], []
        for g in rows:
            j, copy = g % n, g // n
            base = self.chunks[j]
            chunks.append(base if copy == 0 else replace(base, id=f"{base.id}-{copy}"))
            cvs.append(self.cv[j])
            svs.append(self.sv[j])
        self.store.upsert(chunks, np.stack(cvs), np.concatenate(svs))


def one_query_floor(model: Any, n: int = 50) -> float:
    """Median ms to embed one question alone (the reference floor, before any inserts)."""
    times = []
    for q in (QUESTIONS * 2)[:n]:
        started = time.perf_counter()
        model.encode([q], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        times.append(ms_since(started))
    return median(times)


def timed_pass(assistant: Any, model: Any) -> dict[str, Any]:
    """PASSES timed passes over the questions, each answer followed by the floor at the same
    moment (embedding the question alone), so background load shows in both."""
    latencies: list[float] = []
    stages: dict[str, list[float]] = {}
    floor: list[float] = []
    abstained = 0
    timed = time.perf_counter()
    for q in QUESTIONS * PASSES:
        started = time.perf_counter()
        answer = assistant.answer(q)
        latencies.append(ms_since(started))
        abstained += answer.abstained
        for stage, value in answer.timings.items():
            stages.setdefault(stage, []).append(value)
        started = time.perf_counter()
        model.encode([q], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        floor.append(ms_since(started))
    return {
        "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "stage_p50_ms": {k: round(median(v), 2) for k, v in stages.items()},
        "stage_p95_ms": {k: round(percentile(v, 95), 2) for k, v in stages.items()},
        "floor_embed_one_query_p50_ms": round(median(floor), 2),
        "floor_embed_one_query_p95_ms": round(percentile(floor, 95), 2),
        "p50_over_floor": round(percentile(latencies, 50) / max(median(floor), 1e-9), 2),
        "abstained": abstained // PASSES,
        "questions": len(QUESTIONS),
        "samples": len(latencies),
        "load_average": machine()["load_average_at_start"],
        "timed_pass_s": round(time.perf_counter() - timed, 2),
    }


def measure_size(
    store: Any, embedder: Any, answerer: Any, tmp: Path, warm_all: bool, reference_floor: float, deadline: float
) -> dict[str, Any]:
    """A fresh Assistant over the store (its BM25 build timed), warm-up, then a timed pass.
    When the floor measured during the pass shows the machine was busy (embedding a question
    alone took over 1.5x the reference), the pass is repeated after a pause, up to twice
    while time allows; the pass with the lowest floor is kept and every attempt reported."""
    from rag.assistant import Assistant
    from rag.config import Settings

    assistant = Assistant(
        Settings(corpus_dir=HTML_ROOT, data_dir=tmp / "c"), embedder=embedder, store=store, answerer=answerer
    )
    started = time.perf_counter()
    assistant.lexical()
    bm25_s = time.perf_counter() - started
    # The next process to start over this store (or a reader after another's re-index) loads
    # the index the first one saved: that is the start-up cost people see.
    again = Assistant(
        Settings(corpus_dir=HTML_ROOT, data_dir=tmp / "c"), embedder=embedder, store=store, answerer=answerer
    )
    started = time.perf_counter()
    again.lexical()
    bm25_load_s = time.perf_counter() - started
    for q in QUESTIONS if warm_all else QUESTIONS[:5]:
        assistant.answer(q)
    model = embedder._model
    best = timed_pass(assistant, model)
    attempts = [best]

    def busy(result: dict[str, Any]) -> bool:
        floor: float = result["floor_embed_one_query_p50_ms"]
        return floor > 1.5 * reference_floor and floor > reference_floor + 5

    while busy(best) and len(attempts) < 3 and time.perf_counter() + 5 + 1.5 * best["timed_pass_s"] < deadline:
        time.sleep(5)
        again = timed_pass(assistant, model)
        attempts.append(again)
        if again["floor_embed_one_query_p50_ms"] < best["floor_embed_one_query_p50_ms"]:
            best = again
    return {
        "chunks": store.count(),
        "sentences": store.sentence_count(),
        "bm25_build_s": round(bm25_s, 2),
        "bm25_load_s": round(bm25_load_s, 3),
        **best,
        "reference_floor_ms": round(reference_floor, 2),
        "busy_machine_retries": len(attempts) - 1,
        "attempts": [
            {k: a[k] for k in ("p50_ms", "p95_ms", "floor_embed_one_query_p50_ms", "load_average")} for a in attempts
        ],
        "still_busy": busy(best),
        "_assistant": assistant,
    }


def profile_answers(assistant: Any, n: int = 10) -> list[str]:
    """cProfile of n answers at the largest size: the top functions by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for q in QUESTIONS[:n]:
        assistant.answer(q)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    rows = []
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    for (file, line, func), (_cc, calls, tottime, cumtime, _callers) in sorted(
        stats.stats.items(),  # type: ignore[attr-defined]
        key=lambda kv: -kv[1][2],
    )[:8]:
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}" if file != "~" else "builtin"
        rows.append(
            f"{func} ({where}): own {tottime / n * 1000:.1f} ms/answer ({tottime / total:.0%}), "
            f"cum {cumtime / n * 1000:.1f} ms, {calls // n} calls/answer"
        )
    return rows


class _Cost:
    """Estimated seconds to grow the store to a size and measure there, from the last step:
    inserts at the measured rate, BM25 build linear in chunks, the answer passes growing
    like the square root of the size; all padded by 25% (inserts slow down as HNSW grows)."""

    def __init__(self, grower: Grower, last: dict[str, Any], rows_per_s: float) -> None:
        self.size = grower.size
        self.sentences_per_chunk = grower.sentences / max(grower.size, 1)
        self.bm25_per_chunk = last["bm25_build_s"] / max(last["chunks"], 1)
        self.pass_s, self.pass_size = last["timed_pass_s"], max(last["chunks"], 1)
        self.rows_per_s = rows_per_s

    def __call__(self, size: int) -> float:
        insert = (size - self.size) * (1 + self.sentences_per_chunk) / self.rows_per_s
        answers = 1.5 * self.pass_s * (size / self.pass_size) ** 0.5  # timed pass + warm-ups + profile
        return 1.25 * (insert + self.bm25_per_chunk * size + answers)


def query_scaling(base: Any, inner: Any, tmp: Path, budget_s: float) -> dict[str, Any]:
    from rag.store import ChromaStore, make_client

    started_c = time.perf_counter()
    chunks = list(base.store.iter_chunks())
    cv, sv = stored_vectors(base.store, chunks)
    store = ChromaStore(make_client(tmp / "c", None), "scale", inner)
    grower = Grower(store, chunks, cv, sv)
    answerer = base.answerer  # shares its word-vector cache between sizes, as a running server would
    reference_floor = one_query_floor(inner._model)
    steps: list[dict[str, Any]] = []
    rows_per_s = None
    largest = None
    targets = list(SIZES)
    target_100k = max(SIZES[-1], math.ceil(SIZES[-1] / len(chunks)) * len(chunks))  # 100k+: whole copies
    targets[-1] = target_100k
    note = ""
    for i, target in enumerate(targets):
        if rows_per_s is not None and steps:
            remaining = budget_s - (time.perf_counter() - started_c)
            cost = _Cost(grower, steps[-1], rows_per_s)
            if cost(target) > remaining:
                fit = grower.size
                while fit + 1000 <= target and cost(fit + 1000) <= remaining:
                    fit += 1000
                if fit < grower.size * 2:
                    note = (
                        f"stopped at {grower.size:,} chunks: at the measured {rows_per_s:.0f} rows/s, "
                        f"{target:,} chunks would need ~{cost(target):.0f} s more, over the "
                        f"{budget_s:.0f} s budget ({remaining:.0f} s left)"
                    )
                    break
                note = (
                    f"{target:,} chunks would need ~{cost(target):.0f} s at the measured {rows_per_s:.0f} rows/s, "
                    f"over the {budget_s:.0f} s budget ({remaining:.0f} s left): measured {fit:,} instead"
                )
                target = fit
        print(f"  growing the store to {target:,} chunks ...", flush=True)
        growth = grower.grow(target)
        rows_per_s = growth["rows_per_s"]
        started = time.perf_counter()
        measured = measure_size(store, inner, answerer, tmp, i == 0, reference_floor, started_c + budget_s + 60)
        measured["measure_s"] = round(time.perf_counter() - started, 2)
        measured["insert"] = growth
        largest = measured.pop("_assistant")
        print(
            f"  {measured['chunks']:>7,} chunks: p50 {measured['p50_ms']} ms, p95 {measured['p95_ms']} ms "
            f"(embedding the question alone: {measured['floor_embed_one_query_p50_ms']} ms), "
            f"BM25 build {measured['bm25_build_s']} s, load {measured['bm25_load_s']} s, insert {growth['seconds']} s",
            flush=True,
        )
        steps.append(measured)
    profile = profile_answers(largest) if largest is not None else []
    return {
        "base_chunks": len(chunks),
        "reference_floor_embed_one_query_ms": round(reference_floor, 2),
        "sizes": steps,
        "largest_chunks": steps[-1]["chunks"] if steps else 0,
        "reached_100k": bool(steps) and steps[-1]["chunks"] >= SIZES[-1],
        "note": note,
        "profile_largest_top_own_time": profile,
        "seconds": round(time.perf_counter() - started_c, 1),
        "duplicates_note": (
            "copies share text and vectors, so dense and BM25 top-20 lists fill with copies of a few chunks; "
            "latency, not answer quality, is what this measures"
        ),
    }


def main() -> None:
    global HTML_ROOT, SIZES  # one run, one tree: set once here, read by the steps below
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset-mb", type=float, default=1.0, help="HTML megabytes for (a), at most")
    parser.add_argument("--ingest-budget", type=float, default=120, help="seconds our ingest of (a) may take")
    parser.add_argument("--ingest-rounds", type=int, default=3, help="rounds of (a); the median round is reported")
    parser.add_argument("--budget-c", type=float, default=480, help="seconds for (c), inserts included")
    parser.add_argument("--html-root", type=Path, default=HTML_ROOT, help="the HTML tree (default: python3.11-doc)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="chunk counts for (c), comma-separated")
    args = parser.parse_args()
    HTML_ROOT = args.html_root.resolve()
    SIZES = tuple(int(n) for n in args.sizes.split(","))
    offline()
    quiet()
    if not HTML_ROOT.is_dir():
        sys.exit(f"{HTML_ROOT} is missing: run 'apt-get install -y python3.11-doc' (as root)")
    from rag.embedding import SentenceTransformerEmbedder

    started = time.perf_counter()
    inner = SentenceTransformerEmbedder()
    counting = CountingEmbedder(inner)
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    result: dict[str, Any] = machine()
    try:
        print("(a) ingestion ...", flush=True)
        t = time.perf_counter()
        ingest, assistant = ingestion(counting, tmp, args.subset_mb, args.ingest_budget, args.ingest_rounds)
        files = ingest.pop("_files")
        ingest["step_s"] = round(time.perf_counter() - t, 1)
        result["ingestion"] = ingest
        print(
            f"  {ingest['files']} files, {ingest['html_mb']} MB html, {ingest['chunks']} chunks, "
            f"{ingest['sentences']} sentences: ours {ingest['ours_s']} s ({ingest['ours_chunks_per_s']} chunks/s, "
            f"{ingest['ours_mb_per_min']} MB/min), raw encode of the sentences {ingest['raw_encode_s']} s; "
            f"ratio {ingest['ours_over_raw_throughput']}",
            flush=True,
        )
        ratio = ingest["ours_over_raw_throughput"]
        print(
            f"  ingestion throughput / raw encode: {ratio} (target >= {INGEST_TARGET}) "
            f"{'PASS' if ratio >= INGEST_TARGET else 'MISS'}; {ingest['html_mb']} MB took {ingest['ours_s']} s "
            f"({round(ingest['ours_s'] / max(ingest['html_mb'], 1e-9), 1)} s per MB)",
            flush=True,
        )
        print("(b) re-ingest ...", flush=True)
        t = time.perf_counter()
        result["reingest"] = reingest(assistant, files, counting, tmp)
        result["reingest"]["step_s"] = round(time.perf_counter() - t, 1)
        print(
            f"  subset {result['reingest']['subset_reingest_s']} s; full tree hash check "
            f"{result['reingest']['full_hash_check_s']} s, full unchanged re-ingest "
            f"{result['reingest']['full_reingest_unchanged_s']} s -> 70 MB ~{result['reingest']['extrapolated_70mb_s']} s",
            flush=True,
        )
        print("(c) query latency vs size ...", flush=True)
        result["query"] = query_scaling(assistant, inner, tmp, args.budget_c)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["seconds"] = round(time.perf_counter() - started, 1)
    path = write_json("scale.json", result)
    print(f"\nwritten to {shown(path)} ({result['seconds']} s)")


if __name__ == "__main__":
    main()
