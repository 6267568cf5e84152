"""The Assistant: wires store, embedder, retriever and answerer into three stages (also
offered as a LangChain LCEL runnable, ``Assistant.chain``), keeps the index fresh, and
validates questions.

    understand (follow-ups, instructions) | retrieve (dense + BM25, fused) | answer
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.answering import Answerer, Evidence, ExtractiveAnswerer, abstention
from rag.config import Settings
from rag.corpus import discover, display_path
from rag.embedding import Embedder, SentenceTransformerEmbedder
from rag.indexing import Checkpoint, IngestReport, Progress, ingest, no_checkpoint, removed_sources, stale_files
from rag.lexical import BM25Index
from rag.library import Added, Document, DocumentError, check, copy_in, listing
from rag.question import Question, question_words, resolve, split_compound
from rag.retrieval import HybridRetriever
from rag.store import ChromaStore, IndexUnreadable, make_client
from rag.types import Answer, Chunk, Citation, Hit
from rag.wordsim import WordSimilarity

log = logging.getLogger(__name__)

History = Sequence[dict[str, str]]
REFRESH_SECONDS = 2.0  # how stale a reader's view of an index another process writes may get


class QuestionError(ValueError):
    """The question cannot be asked as given (empty, too long, not text)."""


def validate_question(question: object, limit: int) -> str:
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    cleaned = "".join(ch for ch in question if ch in "\n\t" or ch.isprintable()).strip()
    if not cleaned:
        raise QuestionError("the question is empty")
    if len(question) > limit:
        raise QuestionError(f"the question is too long ({len(question):,} characters; the limit is {limit:,})")
    return cleaned


def validate_history(history: object) -> list[dict[str, str]]:
    if history is None:
        return []
    if not isinstance(history, (list, tuple)):
        raise QuestionError("history must be a list of {'role', 'content'} messages")
    turns = []
    for turn in history:
        if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant"):
            raise QuestionError("each history message needs a role of 'user' or 'assistant'")
        content = turn.get("content")
        turns.append({"role": str(turn["role"]), "content": content if isinstance(content, str) else ""})
    return turns[-12:]  # the last few turns are all a follow-up can refer to


class Assistant:
    """Question answering over a corpus. Dependencies may be passed in; defaults come from settings."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        store: ChromaStore | None = None,
        answerer: Answerer | None = None,
        dense_only: bool = False,
        use_history: bool = True,
    ) -> None:
        self.settings = settings or Settings()
        self.embedder = embedder or SentenceTransformerEmbedder(self.settings.model_path)
        self._store = store
        if answerer is None:
            answerer = ExtractiveAnswerer(
                WordSimilarity(self.embedder), self.settings.abstain_threshold, self.settings.focus_penalty
            )
            if self.settings.reader == "learned":
                from rag.reading import LearnedAnswerer  # torch loads on the first answer, not here

                answerer = LearnedAnswerer(
                    answerer,
                    target_precision=self.settings.target_precision,
                    precision=self.settings.reader_precision,
                )
            if self.settings.answerer != "extractive":
                from rag.generative import make_answerer  # loads llama.cpp / langchain-openai only when asked for

                answerer = make_answerer(
                    self.settings.answerer,
                    answerer,
                    timeout_s=self.settings.answer_timeout_s,
                    max_passages=self.settings.top_k,
                    max_tokens=self.settings.answer_max_tokens,
                    env=self.settings.openai_env(),
                )
        self.answerer = answerer
        self.dense_only = dense_only
        self.use_history = use_history  # off: every question is read on its own (for comparisons)
        self._lexical: BM25Index | None = None
        self._lexical_key: str | None = None
        self._refreshed = 0.0
        self._lock = threading.RLock()
        self._write_lock = threading.Lock()
        self._chain: Any = None

    # --- index ------------------------------------------------------------------------

    @property
    def store(self) -> ChromaStore:
        with self._lock:
            if self._store is None:
                self.embedder.warm_up()  # the collection name carries the model's dimension
                try:
                    self._store = self._open_store()
                except IndexUnreadable as exc:
                    if self.settings.chroma_url:
                        raise
                    # The index is derived data: set the broken one aside (for inspection) and
                    # start afresh; ensure_index() then rebuilds it from the corpus.
                    broken = self.settings.data_dir / f"chroma.unreadable-{int(time.time())}"
                    (self.settings.data_dir / "chroma").rename(broken)
                    log.warning("the index could not be read (%s); moved it to %s and building a new one", exc, broken)
                    self._store = self._open_store()
            return self._store

    def _open_store(self) -> ChromaStore:
        client = make_client(self.settings.data_dir, self.settings.chroma_url)
        store = ChromaStore(client, self.settings.collection, self.embedder)
        if not self.settings.chroma_url:
            try:
                store.count()
                store.manifest()
            except Exception as exc:  # the files open but the collections do not read
                raise IndexUnreadable(
                    f"the index at {self.settings.data_dir / 'chroma'} cannot be read ({exc})"
                ) from None
        return store

    @property
    def roots(self) -> tuple[Path, Path]:
        """The folders sources are named by: 'corpus/<file>' and 'uploads/<file>'."""
        return (self.settings.corpus_dir, self.settings.uploads_path)

    @property
    def corpus_paths(self) -> list[Path]:
        uploads = self.settings.uploads_path
        return [self.settings.corpus_dir, *([uploads] if uploads.is_dir() else []), *self.settings.extra_paths]

    def is_stale(self) -> bool:
        paths = [p for p in self.corpus_paths if p.exists()]
        return bool(stale_files(self.store, paths, self.roots)) or bool(removed_sources(self.store, paths, self.roots))

    def ingest(
        self,
        paths: Sequence[Path] | None = None,
        *,
        rebuild: bool = False,
        progress: bool | None = None,
        checkpoint: Checkpoint = no_checkpoint,
        on_progress: Progress | None = None,
    ) -> IngestReport:
        """Index files (default: the corpus and uploads folders); only changed files are
        re-embedded. ``on_progress(done, total)`` follows the embedding work; ``checkpoint``
        is called at the points in ``rag.indexing.CHECKPOINTS`` (crash tests)."""
        with self._writing():
            return self._index(paths, rebuild, progress, checkpoint, on_progress)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One writer at a time: across processes (a file lock in the data folder) and across
        this process's threads. Readers take neither, so they keep answering meanwhile."""
        from filelock import FileLock

        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        with self._write_lock, FileLock(str(self.settings.data_dir / "ingest.lock")):
            yield

    def _index(
        self,
        paths: Sequence[Path] | None,
        rebuild: bool,
        progress: bool | None,
        checkpoint: Checkpoint,
        on_progress: Progress | None,
    ) -> IngestReport:
        checkpoint("locked", 0)
        if rebuild:
            with self._lock:
                self.store.drop()
                self._store = None
        report = ingest(
            self.store,
            self.embedder,
            list(paths or self.corpus_paths),
            self.roots,
            chunk_chars=self.settings.chunk_chars,
            progress=progress,
            on_progress=on_progress,
            max_file_bytes=int(self.settings.max_file_mb * 2**20),
            checkpoint=checkpoint,
        )
        # The BM25 index of the new library is built and saved here, by the one writer, so
        # readers in other processes load it rather than each rebuilding it (about 0.05 ms a
        # chunk; nothing when the library did not change).
        self.lexical()
        return report

    # --- documents --------------------------------------------------------------------

    def documents(self) -> list[Document]:
        """The indexed documents: title, source, format, chunks, size, when indexed."""
        return listing(self.store.documents(), self._files(), self.settings.uploads_path)

    def _files(self) -> dict[str, Path]:
        """source -> file, for every file under the corpus and uploads folders."""
        return {display_path(p, *self.roots): p for p in discover(q for q in self.corpus_paths if q.exists())}

    def add_documents(
        self, paths: Sequence[Path | str], *, on_progress: Progress | None = None, progress: bool | None = False
    ) -> Added:
        """Copy files into the uploads folder and index them. Files that cannot be added
        (format, size, unreadable, already indexed) are refused with a reason and change nothing."""
        started = time.perf_counter()
        with self._writing():
            hashes = {source: stamp.partition("/")[0] for source, stamp in self.store.manifest().items()}
            staged, rejected = check(paths, hashes, max_bytes=int(self.settings.max_file_mb * 2**20))
            if not staged:
                return Added(rejected=tuple(rejected), seconds=time.perf_counter() - started)
            copies = copy_in(staged, self.settings.uploads_path)
            try:
                report = self._index(copies, False, progress, no_checkpoint, on_progress)
            except BaseException:
                for copy in copies:  # nothing indexed under these names stays behind half-done
                    if display_path(copy, *self.roots) not in self.store.manifest():
                        copy.unlink(missing_ok=True)
                raise
            failed = {Path(path).resolve(): why for path, why in report.skipped}
            for copy, item in zip(copies, staged, strict=True):
                if copy.resolve() in failed:
                    rejected.append((item.path.name, failed[copy.resolve()]))
                    copy.unlink(missing_ok=True)
            added = tuple(display_path(c, *self.roots) for c in copies if c.resolve() not in failed)
            return Added(added=added, rejected=tuple(rejected), seconds=time.perf_counter() - started)

    def remove_document(self, source: str) -> None:
        """Take a document out of the index. An uploaded copy is deleted; a file in the corpus
        folder stays on disk and out of the index until it is ingested by name again."""
        with self._writing():
            manifest = self.store.manifest()
            if source not in manifest:
                raise DocumentError(f"no indexed document is called {source!r}")
            self.store.delete_source(source)
            manifest.pop(source)
            self.store.set_manifest(manifest)
            path = self._files().get(source)
            if path is not None and path.resolve().is_relative_to(self.settings.uploads_path.resolve()):
                path.unlink(missing_ok=True)
            elif path is not None:
                self.store.set_removed(self.store.removed() | {source})
            self._lexical = None

    def passage_context(self, chunk_id: str, around: int = 10) -> list[Chunk]:
        """A cited chunk with its neighbours in the document, for reading a citation in place."""
        found = self.store.get_chunks([chunk_id])
        if not found:
            raise DocumentError("that passage is no longer in the index")
        return self.store.neighbours(found[0].source, found[0].ordinal, around)

    def _scope(self, sources: Sequence[str] | None) -> list[str] | None:
        """Check a question's document scope against the index (None: every document)."""
        if sources is None:
            return None
        if isinstance(sources, str) or not all(isinstance(s, str) for s in sources):
            raise QuestionError("sources must be a list of document names")
        unknown = sorted(set(sources) - set(self.store.manifest()))
        if unknown:
            raise QuestionError(f"no indexed document is called {', '.join(map(repr, unknown))}")
        return sorted(set(sources)) or None

    def ensure_index(self, progress: bool | None = None) -> IngestReport | None:
        """Build or refresh the index when the corpus changed; None when it was current."""
        if self.store.count() and not self.is_stale():
            return None
        return self.ingest(progress=progress)

    def _refresh(self) -> None:
        """Re-read the collections at most every REFRESH_SECONDS: another process may have re-indexed."""
        now = time.monotonic()
        if now - self._refreshed > REFRESH_SECONDS:
            self.store.refresh()
            self._refreshed = now

    def library_version(self) -> str:
        """Changes whenever a document is added, changed or removed (by any process)."""
        with self._lock:
            self._refresh()
            return _digest(str(sorted(self.store.manifest().items())))

    def lexical(self) -> BM25Index:
        with self._lock:
            self._refresh()
            key = self._lexical_digest()
            if self._lexical is None or key != self._lexical_key:
                # Saved beside the index under what it was built from: the next start, and every
                # other process reading this store, loads it instead of reading and tokenising
                # every chunk again (11.7 s at 80k chunks).
                path = (
                    self.settings.data_dir / "lexical" / self.store.base / f"{key}.npz"
                )  # older ones of this collection are dropped
                index = BM25Index.load(path)
                if index is None:
                    index = BM25Index.build((c.id, c.embedding_text(), c.source) for c in self.store.iter_chunks())
                    if self._lexical_digest() == key:  # no ingest landed while it was built
                        _save_lexical(index, path)
                self._lexical, self._lexical_key = index, key
            return self._lexical

    def _lexical_digest(self) -> str:
        return _digest(str(sorted(self.store.manifest().items())))

    def status(self) -> dict[str, Any]:
        manifest = self.store.manifest()
        return {
            "documents": len(manifest),
            "chunks": self.store.count(),
            "sentences": self.store.sentence_count(),
            "model": self.embedder.name,
            "dimension": self.embedder.dimension,
            "store": self.settings.chroma_url or str(self.settings.data_dir / "chroma"),
            "uploads": str(self.settings.uploads_path),
            "collection": self.store.base,
        }

    def warm_up(self, vocabulary: int = 5000) -> None:
        """Load the model and the lexical index; embed the corpus's commonest words for
        the synonym matcher, so the first questions are as fast as later ones."""
        self.embedder.warm_up()
        self.lexical()
        reader_warm_up = getattr(self.answerer, "warm_up", None)
        if callable(reader_warm_up):
            reader_warm_up()
        words = getattr(self.answerer, "words", None)
        if vocabulary and isinstance(words, WordSimilarity):
            from collections import Counter

            from rag.text import STOPWORDS, tokens

            counts = Counter(
                t
                for chunk in self.store.iter_chunks()
                for t in tokens(chunk.text)
                if t.isalpha() and t not in STOPWORDS
            )
            words.vectors([w for w, _ in counts.most_common(vocabulary)])

    # --- the chain --------------------------------------------------------------------

    @property
    def chain(self) -> Any:
        """The LCEL runnable: {"question": str, "history": list} -> Answer."""
        if self._chain is None:
            from langchain_core.runnables import RunnableLambda

            self._chain = (
                RunnableLambda(self._understand, name="understand")
                | RunnableLambda(self._retrieve, name="retrieve")
                | RunnableLambda(self._answer, name="answer")
            )
        return self._chain

    def _run(self, state: dict[str, Any]) -> Answer:
        # The chain's three stages, called directly: importing langchain_core.runnables costs
        # about 0.3 s of a cold start and each invoke some GIL time; `chain` is the same
        # stages for LangChain users.
        return self._answer(self._retrieve(self._understand(state)))

    def _understand(self, state: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        question = resolve(state["question"], state.get("history") if self.use_history else None)
        return {**state, "parsed": question, "timings": {"understand": _ms(started)}}

    def _retrieve(self, state: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        question: Question = state["parsed"]
        texts = [question.retrieval_text]
        if question.retrieval_text != question.text:
            texts.append(question.text)  # a follow-up: retrieve with the conversation, judge by the question too
        words = getattr(self.answerer, "words", None)
        new_words = words.missing(question_words(question.text)) if isinstance(words, WordSimilarity) else []
        # One forward pass for the query and the question's words: a batch costs about one query.
        vectors = self.embedder.embed_queries(texts + new_words)
        vector, own_vector = vectors[0], vectors[len(texts) - 1]
        if new_words and isinstance(words, WordSimilarity):
            words.add(new_words, vectors[len(texts) :])
        embedded = time.perf_counter()
        lexical = self.lexical()
        retriever = HybridRetriever(
            self.store,
            lexical,
            self.settings.candidates,
            self.settings.top_k,
            self.dense_only,
            sources=state.get("sources"),
        )
        hits, sentence_vectors = _unflagged(retriever.retrieve(question.retrieval_text, vector), self.store)
        evidence = Evidence(
            question=question,
            hits=hits,
            query_vector=vector,
            question_vector=own_vector,
            sentence_vectors=sentence_vectors,
            idf=lexical.idf,
            df_ratio=lexical.df_ratio,
            resolve_term=lexical.resolve,
        )
        timings = {**state["timings"], "embed": _ms(started, embedded), "retrieve": _ms(embedded)}
        return {**state, "evidence": evidence, "timings": timings}

    def _answer(self, state: dict[str, Any]) -> Answer:
        started = time.perf_counter()
        answer = self.answerer.answer(state["evidence"])
        timings = {**state["timings"], "answer": _ms(started)}
        timings["total"] = round(sum(timings.values()), 3)
        if "generate" in answer.timings:  # part of "answer" already: shown, not added again
            timings["generate"] = answer.timings["generate"]
        from dataclasses import replace

        return replace(answer, timings=timings)

    def retrieve(
        self, question: str, history: History | None = None, sources: Sequence[str] | None = None
    ) -> list[Any]:
        """The hits retrieval finds for a question (for evals and debugging)."""
        text = validate_question(question, self.settings.max_question_chars)
        state = {"question": text, "history": validate_history(history), "sources": self._scope(sources)}
        return list(self._retrieve(self._understand(state))["evidence"].hits)

    def answer(self, question: str, history: History | None = None, sources: Sequence[str] | None = None) -> Answer:
        """Answer a question (with optional chat history), from every document or only the
        ``sources`` named (as ``documents()`` lists them). Raises QuestionError on bad input."""
        text = validate_question(question, self.settings.max_question_chars)
        turns = validate_history(history)
        scope = self._scope(sources)
        if not len(self.lexical()):
            return abstention(resolve(text, turns), "the index is empty; run 'factsheet-qa ingest'")
        parts = split_compound(text)
        if len(parts) > 1:
            return self._answer_parts(parts, turns, scope)
        return self._run({"question": text, "history": turns, "sources": scope})

    def stream(
        self, question: str, history: History | None = None, sources: Sequence[str] | None = None
    ) -> Generator[str, None, Answer]:
        """Yield a generative backend's text as it is produced; return the final Answer.

        The pieces are provisional: show the returned Answer's text at the end (the guard may
        have replaced the generated text). Without a streaming backend, one piece: the answer."""
        text = validate_question(question, self.settings.max_question_chars)
        turns = validate_history(history)
        scope = self._scope(sources)
        stream = getattr(self.answerer, "stream", None)
        if stream is None or len(split_compound(text)) > 1 or not len(self.lexical()):
            answer = self.answer(text, turns, scope)
            yield answer.text
            return answer
        state = self._retrieve(self._understand({"question": text, "history": turns, "sources": scope}))
        started = time.perf_counter()
        answer = yield from stream(state["evidence"])
        timings = {**state["timings"], "answer": _ms(started)}
        timings["total"] = round(sum(timings.values()), 3)
        from dataclasses import replace

        return replace(answer, timings=timings)

    def _answer_parts(self, parts: list[str], turns: list[dict[str, str]], scope: list[str] | None) -> Answer:
        """Answer each part of a compound question in turn (later parts may refer to earlier ones)."""
        answers: list[Answer] = []
        for part in parts:
            answer = self._run({"question": part, "history": turns, "sources": scope})
            answers.append(answer)
            turns = [*turns, {"role": "user", "content": part}, {"role": "assistant", "content": answer.text}]
        return merge_answers(answers)


def _unflagged(hits: list[Hit], store: ChromaStore) -> tuple[list[Hit], dict[str, Any]]:
    """The hits without their flagged sentences (planted instructions never reach an
    answerer, extractive or generative), and the stored vectors of the sentences kept,
    keyed by their new positions."""
    from dataclasses import replace

    stored = store.sentence_vectors([h.chunk for h in hits])
    kept_hits: list[Hit] = []
    vectors: dict[str, Any] = {}
    for hit in hits:
        chunk, kept = hit.chunk.without_flagged()
        if not kept:
            continue
        for new, old in enumerate(kept):
            vector = stored.get(f"{chunk.id}:{old}")
            if vector is not None:
                vectors[f"{chunk.id}:{new}"] = vector
        kept_hits.append(hit if chunk is hit.chunk else replace(hit, chunk=chunk))
    return kept_hits, vectors


def merge_answers(answers: Sequence[Answer]) -> Answer:
    """One reply from the answers to the parts of a question, citations renumbered.

    An abstention is never run together with an answer or its quotation (it would read as
    if the quotation said the documents are silent): the reply holds the answered parts,
    and the note names the parts the documents do not answer."""
    import re
    from dataclasses import replace

    answered = [a for a in answers if not a.abstained]
    if not answered:
        return replace(answers[0], timings=_sum_timings(answers))
    texts: list[str] = []
    citations: list[Citation] = []
    for answer in answered:
        offset = len(citations)

        def renumber(match: re.Match[str], offset: int = offset) -> str:
            return f"[{int(match.group(1)) + offset}]"

        texts.append(re.sub(r"\[(\d+)\]", renumber, answer.text))
        citations.extend(answer.citations)
    # By number, not by echoing the words: a question may carry figures of its own.
    unanswered = [str(n) for n, a in enumerate(answers, 1) if a.abstained]
    notes = [a.note for a in answered if a.note]
    if unanswered:
        parts = "part " + unanswered[0] if len(unanswered) == 1 else "parts " + ", ".join(unanswered)
        notes.append(f"The documents don't answer {parts} of the question.")
    return Answer(
        text="\n\n".join(texts),
        abstained=False,
        citations=tuple(citations),
        short_answer="; ".join(a.short_answer for a in answered),
        answer_type="+".join(a.answer_type for a in answered),
        computed=any(a.computed for a in answered),
        corrected=any(a.corrected for a in answered),
        resolved_question=" / ".join(a.resolved_question for a in answers),
        backend=answers[0].backend,
        guarded=any(a.guarded for a in answers),
        note=" ".join(dict.fromkeys(notes)),
        timings=_sum_timings(answers),
        confidence=min((a.confidence for a in answered if a.confidence is not None), default=None),
    )


def _sum_timings(answers: Sequence[Answer]) -> dict[str, float]:
    total: dict[str, float] = {}
    for answer in answers:
        for stage, ms in answer.timings.items():
            total[stage] = round(total.get(stage, 0.0) + ms, 3)
    return total


def _save_lexical(index: BM25Index, path: Path) -> None:
    """Save the lexical index and drop older ones; it is a cache, so a read-only data folder
    only costs the next start a rebuild."""
    try:
        index.save(path)
        for old in path.parent.glob("*.npz"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not save the lexical index to %s (%s); it will be rebuilt on the next start", path, exc)


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _ms(start: float, end: float | None = None) -> float:
    return round(((end or time.perf_counter()) - start) * 1000, 3)
