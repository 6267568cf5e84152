"""Ingest a folder into an index with the fast hash embedder (for crash and concurrency
tests, where the embedding model is beside the point). Prints the report as JSON.

    python tests/scripts/ingest_worker.py CORPUS DATA [--answer QUESTION] [--repeat N]
                                          [--crash-at POINT[:N]] [--marker FILE] [--trace FILE]

--crash-at POINT kills this process with SIGKILL the first time the ingest reaches POINT
(one of rag.indexing.CHECKPOINTS; "chunks-written:N" waits until at least N chunks are
written), after writing POINT to --marker, so the test knows where it died.
--trace appends every checkpoint reached (and "done" at the end), so a kill from outside
can tell whether it landed mid-ingest.
"""

import hashlib
import json
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rag.assistant import Assistant
from rag.config import Settings
from rag.embedding import HashEmbedder
from rag.indexing import CHECKPOINTS


def _option(name: str) -> str | None:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else None


def _append(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())  # the marker must survive the SIGKILL that follows


def _checkpoint(crash_at: str | None, marker: str | None, trace: str | None):  # type: ignore[no-untyped-def]
    point, _, at_least = (crash_at or "").partition(":")
    if point and point not in CHECKPOINTS:
        raise SystemExit(f"unknown crash point {point!r}; known: {', '.join(CHECKPOINTS)}")

    def hook(name: str, written: int) -> None:
        if trace:
            _append(trace, name)
        if name == point and written >= int(at_least or 0):
            if marker:
                _append(marker, f"{name} {written}")
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def _digest(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def main() -> None:
    corpus, data = Path(sys.argv[1]), Path(sys.argv[2])
    assistant = Assistant(Settings(corpus_dir=corpus, data_dir=data, abstain_threshold=0.2), embedder=HashEmbedder(128))
    if "--answer" in sys.argv:
        question = _option("--answer") or ""
        repeat = int(_option("--repeat") or 1)
        assistant.ensure_index(progress=False)  # as `factsheet-qa ask` does
        shorts = [assistant.answer(question).short_answer for _ in range(repeat)]
        print(json.dumps({"answers": shorts, "count": assistant.store.count()}))
        return
    trace = _option("--trace")
    hook = _checkpoint(_option("--crash-at"), _option("--marker"), trace)
    report = assistant.ingest(progress=False, checkpoint=hook)
    if trace:
        _append(trace, "done")
    store = assistant.store
    print(
        json.dumps(
            {
                "seen": report.files_seen,
                "indexed": report.files_indexed,
                "skipped": len(report.skipped),
                "vectors": report.vectors,
                "sentences": store.sentence_count(),
                # What "exactly a clean build" means: the same chunk and sentence ids, the same manifest.
                "chunk_ids": _digest(store.chunks.get(include=[])["ids"]),
                "sentence_ids": _digest(store.sentences.get(include=[])["ids"]),
                "manifest": store.manifest(),
            }
        )
    )


if __name__ == "__main__":
    main()
